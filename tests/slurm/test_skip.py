"""Without a cluster the SLURM tests skip with a reason that says how to start one."""

import shutil

from tests.slurm import conftest


def test_missing_sbatch_gives_a_reason_naming_the_start_script(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    problem = conftest.cluster_problem()
    assert problem is not None and "tests/slurm/start.sh" in problem
