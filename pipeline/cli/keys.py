"""A round's key as command-line options: ``--arch --dataset [--run-hash] --trial --round [--method]``.

The choices come from the registries (light imports: the launchers use this before any job).
"""

from __future__ import annotations

import argparse

from pipeline.data.registry import DATASETS
from pipeline.models.registry import arch_argument
from pipeline.prune.registry import method_names
from pipeline.store.key import RoundKey


def add_key_arguments(parser: argparse.ArgumentParser, *, run_hash: bool = True) -> None:
    """The key's options; without ``run_hash`` it is computed from the configuration."""
    parser.add_argument("--arch", required=True, type=arch_argument, help="a registered architecture or tv:NAME")
    parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
    if run_hash:
        parser.add_argument("--run-hash", required=True, help="the run hash the output path was built with")
    parser.add_argument("--trial", type=int, required=True)
    parser.add_argument("--round", type=int, required=True, dest="round_index", metavar="K")
    parser.add_argument("--method", choices=method_names(), help="the pruning method (rounds >= 1)")


def key_from_args(args: argparse.Namespace, run_hash: str | None = None) -> RoundKey:
    if args.round_index == 0 and args.method is not None:
        raise ValueError("round 0 (the dense network) belongs to no method: leave out --method")
    if args.round_index > 0 and args.method is None:
        raise ValueError(f"round {args.round_index} needs --method")
    return RoundKey(args.arch, args.dataset, run_hash or args.run_hash, args.trial, args.round_index, args.method)
