"""Where a result came from: library versions, the code revision, and the process that made it."""

from __future__ import annotations

import os
import platform
import resource
import socket
import subprocess
from pathlib import Path

import h5py
import numba
import numpy as np
import torch

import pipeline
from pipeline.store.record import JobAccount


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


def process_account(wall_s: float, cuda: bool) -> JobAccount:
    """The round's cost as its own process sees it (the inline and local backends keep this)."""
    return JobAccount(
        job_ids=os.environ.get("SLURM_JOB_ID", ""),
        node=socket.gethostname(),
        requeues=int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0),
        queue_wait_s=0.0,
        elapsed_s=wall_s,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        gpus=int(cuda),
    )
