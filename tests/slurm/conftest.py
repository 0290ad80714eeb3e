"""The local SLURM cluster: used when up, skipped with the reason when not (CI requires it)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

START = "tests/slurm/start.sh"


def cluster_problem() -> str | None:
    if shutil.which("sbatch") is None:
        return f"sbatch not found: install and start the test cluster with {START} (as root)"
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
        sacct = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return f"the SLURM controller does not answer within 15 s: restart it with {START}"
    if "UP" not in ping.stdout:
        return f"the SLURM controller is down ({ping.stdout.strip() or ping.stderr.strip()}): run {START}"
    if sacct.returncode != 0:
        return f"sacct fails ({sacct.stderr.strip()}): accounting (slurmdbd) is down; run {START}"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    problem = cluster_problem()
    if problem:
        if os.environ.get("REQUIRE_SLURM") == "1":
            pytest.fail(f"REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)
