"""``python -m pipeline.launch round ...``: the command the workflow's round rules run.

Light to import (the launchers are many and long-lived): argparse, the key's options and the
launcher; the round itself is built inside the job.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.cli.keys import add_key_arguments, key_from_args
from pipeline.fields import ConfigError
from pipeline.launch.executors import RESOURCE_KEYS
from pipeline.launch.launcher import Cancelled, launch_round


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.launch",
        description="Run one pruning round through an explicit backend (inline, local, slurm) and wait for it.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    rnd = sub.add_parser("round", help="launch one round")
    rnd.add_argument("--config", type=Path, required=True, help="resolved pipeline configuration (YAML)")
    add_key_arguments(rnd)
    rnd.add_argument("--out", type=Path, required=True)
    rnd.add_argument("--previous", type=Path)
    rnd.add_argument("--reference", type=Path, help="the followed method's round (a control's)")
    rnd.add_argument("--backend", choices=("inline", "local", "slurm"), help="default: the config's launcher.backend")
    group = rnd.add_argument_group("resources (from the rule's resources)")
    for name in ("gpus", "cpus", "mem-mb", "time-min", "max-requeues"):
        group.add_argument(f"--{name}", type=int)
    for name in ("partition", "account", "qos"):
        group.add_argument(f"--{name}", default="")
    group.add_argument("--gpu-request", choices=("gres", "gpus"))
    rnd.add_argument("--poll-s", type=float, help="seconds between job polls (default: the config's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    resources = {name: getattr(args, name) for name in RESOURCE_KEYS}
    try:
        launch_round(
            args.config,
            key_from_args(args),
            out=args.out,
            previous=args.previous,
            reference=args.reference,
            backend=args.backend,
            resources=resources,
            poll_s=args.poll_s,
        )
    except Cancelled as cancelled:
        print(f"pipeline.launch: {cancelled}; the job was cancelled and no output was written", file=sys.stderr)
        return 128 + cancelled.signum
    except ConfigError as err:
        print(f"pipeline.launch: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as err:
        print(f"pipeline.launch: error: {err}", file=sys.stderr)
        return 1
    return 0
