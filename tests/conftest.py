"""Shared fixtures: tiny configurations that run real rounds on the shipped data in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.config import Config, load_config
from pipeline.runs import run_spec
from pipeline.store import RoundKey


def tiny_settings(results: Path, **sections) -> dict:
    """FCN on the shipped mnist-5k, 2 epochs per round, 20 null draws: a real round in about a second."""
    data = {
        "grid": {"pairs": ["fcn/mnist-5k"], "methods": ["imp", "timp"], "trials": 1, "rounds": 2},
        "training": {"epochs": 2, "lr": 0.05, "batch_size": 128},
        "nulls": {"draws": 20},
        "results": str(results),
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return data


def tiny_config(results: Path, **sections) -> Config:
    return load_config(tiny_settings(results, **sections))


@pytest.fixture
def tiny(tmp_path: Path) -> Config:
    return tiny_config(tmp_path / "results")


def round_key(config: Config, round_index: int, method: str | None = None, arch: str = "fcn") -> RoundKey:
    """The key of a round of trial 0 of ``arch`` on the shipped mnist-5k under ``config``."""
    run_hash = run_spec(config, arch, "mnist-5k", 0).run_hash
    return RoundKey(arch, "mnist-5k", run_hash, 0, round_index, method if round_index else None)


def differing_datasets(path: Path, twin: Path) -> list[str]:
    """The datasets of round file ``path`` that differ from ``twin``'s (NaN equals NaN; the epoch
    times aside): what running a round elsewhere, packed or inline, may not change."""
    import h5py  # here: only the tests that compare whole files need it

    def datasets(file: Path) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with h5py.File(file) as f:
            f.visititems(lambda name, obj: found.update({name: obj[()]}) if isinstance(obj, h5py.Dataset) else None)
        return found

    a, b = datasets(path), datasets(twin)
    if a.keys() != b.keys():
        return sorted(a.keys() ^ b.keys())
    same = lambda x, y: np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")  # noqa: E731
    return [k for k in a if k != "metrics/seconds" and not same(a[k], b[k])]
