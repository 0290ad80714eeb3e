"""Verbs on runs: ``round`` (run one pruning round) and ``inspect`` (summarise round files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from pipeline.cli.keys import add_key_arguments, key_from_args
from pipeline.config import load_config
from pipeline.launch.jobs import RoundJob
from pipeline.report.formats import FORMATS, render
from pipeline.runs import run_spec
from pipeline.store import read_round


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    rnd = subparsers.add_parser(
        "round",
        help="run one pruning round of one run and store it as HDF5",
        formatter_class=fmt,
        description=(
            "Round 0 trains the dense network (shared by every method of a trial; no --method).\n"
            "Round K >= 1 reads round K-1 of the same method (or --previous), prunes it with --method,\n"
            "rewinds as configured, retrains, measures every layer's diagram, and writes --out\n"
            "(default: the workflow's path under results/runs/). Training checkpoints every\n"
            "epoch next to the output; rerunning a killed round resumes from the last epoch."
        ),
        epilog=(
            "example: python -m pipeline round --config config/config.yaml --arch fcn --dataset mnist-5k "
            "--method imp --trial 0 --round 1"
        ),
    )
    rnd.add_argument("--config", type=Path, required=True, help="pipeline configuration (YAML)")
    add_key_arguments(rnd, run_hash=False)
    rnd.add_argument("--out", type=Path, help="output HDF5 file")
    rnd.add_argument("--previous", type=Path, help="round K-1's file (default: the workflow's path)")
    rnd.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar")
    rnd.set_defaults(func=run_round_verb)

    ins = subparsers.add_parser(
        "inspect",
        help="summarise round files: accuracy, compression, η_τ, NP per round and per layer",
        formatter_class=fmt,
        description=(
            "One file: its run, round and provenance, then one row per prunable layer.\n"
            "Several files: one row per file (method, round, compression, accuracy, NP)."
        ),
    )
    ins.add_argument("files", type=Path, nargs="+", help="round files (.h5)")
    ins.add_argument("--format", choices=FORMATS, default="table")
    ins.set_defaults(func=run_inspect)


def run_round_verb(args: argparse.Namespace) -> None:
    run_hash = run_spec(load_config(args.config), args.arch, args.dataset, args.trial).run_hash
    job = RoundJob(
        str(args.config),
        key_from_args(args, run_hash),
        out=str(args.out) if args.out else None,
        previous=str(args.previous) if args.previous else None,
        progress=args.progress,
    )
    print(job())


SUMMARY = [
    "arch",
    "dataset",
    "method",
    "trial",
    "round",
    "compression",
    "density",
    "capped",
    "test_acc",
    "eta_tau",
    "total_np",
]


def round_summary(paths: list[Path]) -> pd.DataFrame:
    rows = []
    for path in paths:
        attrs = read_round(path, diagrams=False, metrics=False).attrs
        rows.append({"file": str(path), **{key: attrs[key] for key in SUMMARY}})
    return pd.DataFrame(rows).sort_values(["arch", "dataset", "trial", "method", "round"], kind="stable")


def _pooled_null(graphs: list) -> float:
    """The permutation null's mean of a tensor's pooled overlap (α-weighted; NaN if none drawn)."""
    if not graphs or any(g.overlap_null_mean is None for g in graphs):
        return float("nan")
    return sum(g.alpha * g.overlap_null_mean for g in graphs) / max(sum(g.alpha for g in graphs), 1)


def layer_summary(path: Path) -> pd.DataFrame:
    data = read_round(path, metrics=False)
    rows = []
    for name, attrs in data.layer_attrs.items():
        graphs = [d.attrs for g, d in data.diagrams.items() if d.attrs.tensor == name]
        rows.append(
            {
                "layer": name,
                "kind": attrs.kind,
                "weights": attrs.n_weights,
                "kept": attrs.n_kept,
                "compression": attrs.compression,
                "capped": attrs.capped,
                "eta_tau": sum(g.weights for g in graphs) / max(sum(g.tree_edges for g in graphs), 1),
                "np": sum(g.np for g in graphs),
                "normalized_np": sum(g.normalized_np for g in graphs) / max(len(graphs), 1),
                "overlap": sum(g.shared for g in graphs) / max(sum(g.alpha for g in graphs), 1),
                "overlap_null_mean": _pooled_null(graphs),
            }
        )
    return pd.DataFrame(rows)


def run_inspect(args: argparse.Namespace) -> None:
    if len(args.files) > 1:
        sys.stdout.write(render(round_summary(args.files), args.format))
        return
    path = args.files[0]
    data = read_round(path, diagrams=False)
    a = data.attrs
    if args.format == "table":
        print(f"{path}")
        print(f"  run        {a.arch}/{a.dataset}  hash {a.run_hash}  trial {a.trial}  seed {a.seed}")
        print(
            f"  round      {a.round} ({a.method})  density {a.density:.4f}  "
            f"compression {a.compression:.2f}x{'  (some layer kept above its budget)' if a.capped else ''}"
        )
        print(f"  accuracy   test {a.test_acc:.4f}  train {a.train_acc:.4f}  after {a.epochs} epochs")
        print(f"  topology   η_τ {a.eta_tau:.3f}  total NP {a.total_np:.4f}  [{a.convention}]")
        if a.tree_kept is not None:
            null = "" if a.tree_kept_null_mean is None else f"  (null {a.tree_kept_null_mean:.3f}, docs/science.md §4)"
            print(f"  pruning    kept {a.tree_kept:.3f} of the previous tree's edges{null}")
        if a.network_tree_kept is not None:
            null = f"  (null {a.network_tree_kept_null_mean:.3f})" if a.network_tree_kept_null_mean is not None else ""
            print(f"  network    kept {a.network_tree_kept:.3f} of the previous network forest's edges{null}")
        print(f"  provenance {a.code_revision}  {a.created}  {a.device}  {a.wall_seconds:.1f}s")
        print()
    sys.stdout.write(render(layer_summary(path), args.format))
