"""Where a result came from: library versions and the code revision."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import h5py
import numba
import numpy as np
import torch

import pipeline


def library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "pipeline": pipeline.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "numba": numba.__version__,
        "h5py": h5py.__version__,
    }


def code_revision() -> str:
    """``git describe`` of the package's checkout (``-dirty`` if modified), or 'unknown'."""
    root = Path(pipeline.__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"
