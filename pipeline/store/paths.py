"""Every path the pipeline writes, built in one place (the workflow imports these too).

Layout (under the configured ``results`` directory)::

    runs/{arch}/{dataset}/{run_hash}/trial{t}/round0.h5          dense round, shared by methods
    runs/{arch}/{dataset}/{run_hash}/trial{t}/{method}/round{k}.h5
    tables/…, figures/…                                         aggregates (workflow)

``run_hash`` hashes every setting that decides the numbers (``pipeline.config.run_hash``), so
runs of different configurations never overwrite each other.
"""

from __future__ import annotations

import os
from pathlib import Path

ROUND_PATTERN = "runs/{arch}/{dataset}/{run_hash}/trial{trial}/{method}/round{round}.h5"
DENSE_PATTERN = "runs/{arch}/{dataset}/{run_hash}/trial{trial}/round0.h5"


def run_dir(results: str | Path, arch: str, dataset: str, run_hash: str) -> Path:
    return Path(results) / "runs" / arch / dataset / run_hash


def round_file(
    results: str | Path, arch: str, dataset: str, run_hash: str, trial: int, method: str, round_index: int
) -> Path:
    """The HDF5 file of one round; round 0 is shared by all methods of a trial."""
    if round_index == 0:
        return Path(results) / DENSE_PATTERN.format(arch=arch, dataset=dataset, run_hash=run_hash, trial=trial)
    return Path(results) / ROUND_PATTERN.format(
        arch=arch, dataset=dataset, run_hash=run_hash, trial=trial, method=method, round=round_index
    )


def checkpoint_dir(out: str | Path) -> Path:
    """Training checkpoints of the round that writes ``out`` (removed when it completes)."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def partial_file(out: str | Path) -> Path:
    """Where a round file is written before it is complete (renamed into place at the end)."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial-{os.getpid()}")
