"""Shared fixtures: tiny configurations that run real rounds on the shipped data in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Config, load_config
from pipeline.runs import run_spec
from pipeline.store import RoundKey


def tiny_settings(results: Path, **sections) -> dict:
    """FCN on the shipped mnist-5k, 2 epochs per round, 20 null draws: a real round in about a second."""
    data = {
        "grid": {"pairs": ["fcn/mnist-5k"], "trials": 1, "rounds": 2},
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
