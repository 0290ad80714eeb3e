"""Run the real workflow (snakemake CLI) in a throw-away working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))


def snakemake_env() -> dict[str, str]:
    """The jobs' `python` must be this interpreter: put its directory first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def snakemake(workdir: Path, *args: str, timeout: float = 600, check: bool = False) -> subprocess.CompletedProcess:
    command = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=snakemake_env())
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def write_config(workdir: Path, settings: dict, name: str = "config/config.yaml") -> Path:
    path = workdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(settings))
    return path


TINY = {
    "grid": {"pairs": ["fcn/mnist-5k"], "methods": ["imp", "timp"], "trials": 1, "rounds": 2},
    "training": {"epochs": 1, "lr": 0.05, "threads": 1},
    "results": "results",
}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A project directory holding only config/config.yaml (the tiny grid)."""
    write_config(tmp_path, TINY)
    return tmp_path
