"""Whole rounds of every method, timed: the dense round, then rounds 1..K of each method.

    python -m benchmarks.bench_rounds --config config/gpu-smoke.yaml [--out DIR]

Runs ``run_round`` in this process for the first pair and trial 0 of the configuration, every
method of ``grid.methods`` (a control after the method it follows), on the GPU when torch sees
one. It is the GPU smoke check of training (docs/benchmarks.md) and a per-method cost table:
prints one Markdown row per round with its device, wall time, accuracy and tree retention.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import torch

from benchmarks.bench_topology import machine
from pipeline.config import load_config
from pipeline.prune import get_method
from pipeline.rounds import run_round
from pipeline.runs import run_spec
from pipeline.store import RoundKey, read_round


def ordered(methods: tuple[str, ...]) -> list[str]:
    """Methods with every followed method first."""
    first = [m for m in methods if get_method(m).follows is None]
    return first + [m for m in methods if m not in first]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--out", type=Path, help="results folder (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="bench-rounds-"))
    config = load_config(args.config, {"results": str(out)})
    arch, dataset = config.grid.pairs[0].split("/")
    run_hash = run_spec(config, arch, dataset, 0).run_hash
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"_{dt.date.today().isoformat()} — {machine()}, torch {torch.__version__}, device: {device}_\n")
    print(f"{arch} on {dataset}, trial 0, {config.recipe(arch, dataset).epochs} epochs per round.\n")
    print("| method | round | device | seconds | test acc | compression | tree kept | NP retained |")
    print("|---|---|---|---|---|---|---|---|")
    keys = [RoundKey(arch, dataset, run_hash, 0, 0)]
    keys += [
        RoundKey(arch, dataset, run_hash, 0, k, m)
        for m in ordered(config.grid.methods)
        for k in range(1, config.grid.rounds + 1)
    ]
    for key in keys:
        a = read_round(run_round(config, key, progress=False), diagrams=False, metrics=False).attrs
        kept = f"{a.tree_kept:.3f}" if a.tree_kept is not None else "—"
        np_kept = f"{a.np_retained:.3f}" if a.np_retained is not None else "—"
        row = [a.method, a.round, a.device, f"{a.wall_seconds:.1f}", f"{a.test_acc:.4f}", f"{a.compression:.1f}"]
        print("| " + " | ".join(str(c) for c in [*row, kept, np_kept]) + " |", flush=True)


if __name__ == "__main__":
    main()
