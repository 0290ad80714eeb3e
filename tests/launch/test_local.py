"""The ``local`` backend: a round as a submitit subprocess that survives its timeout signal."""

from pathlib import Path

import numpy as np
import pytest
import submitit
import yaml

from pipeline.config import load_config
from pipeline.launch import RoundJob, make_executor
from pipeline.launch.local import LocalExecutor
from pipeline.rounds import run_round
from pipeline.store import checkpoint_dir, read_round
from tests.conftest import round_key, tiny_settings
from tests.launch.slow_job import SlowToStart


def test_a_timed_out_local_job_requeues_and_resumes_from_its_checkpoint(tmp_path):
    """The local controller signals the job 10 s into every 30 s window (submitit's timeout
    path); the round checkpoints, exits for a requeue, and the next attempt resumes."""
    settings = tiny_settings(tmp_path / "results", training={"epochs": 300, "track_np": False})
    settings["launcher"] = {"max_requeues": 30}
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    config = load_config(config_path)
    key = round_key(config, 0)
    out = tmp_path / "round0.h5"
    job = RoundJob(str(config_path), key, str(out), None, str(checkpoint_dir(out)))
    executor = make_executor("local", tmp_path / "submitit" / "%j", config.launcher, key.name)
    executor.update_parameters(timeout_min=0.5, signal_delay_s=20)
    submitted = executor.submit(job)
    try:
        assert Path(submitted.result()) == out
    finally:
        submitted.cancel(check=False)
    log = "".join(p.read_text() for p in (tmp_path / "submitit").rglob("*_log.err"))
    assert "resumed from the checkpoint after epoch" in log
    resumed = read_round(out)
    assert 0 < resumed.attrs.resumed_from_epoch < 300
    reference = read_round(run_round(config, key, out=tmp_path / "reference.h5"))
    for name in reference.weights:
        assert np.array_equal(resumed.weights[name], reference.weights[name]), name


def slow_local_executor(folder: Path, requeues: int) -> LocalExecutor:
    """The timeout signal 3 s after each start (a 12 s window, signalled 9 s before its end)."""
    executor = LocalExecutor(folder=folder / "%j", max_num_timeout=requeues)
    executor.update_parameters(timeout_min=0.2, signal_delay_s=9)
    return executor


def test_a_local_task_killed_by_the_timeout_signal_while_starting_is_restarted(tmp_path, capfd):
    """submitit's own controller ended such a job at once, with no result."""
    submitted = slow_local_executor(tmp_path, 3).submit(SlowToStart(str(tmp_path / "started-once")))
    try:
        assert submitted.result() == "started"
    finally:
        submitted.cancel(check=False)
    assert "attempt 1 died of SIGUSR2 before it could checkpoint; restarting it" in capfd.readouterr().err


def test_the_local_controller_restarts_as_often_as_the_requeues_allow(tmp_path, capfd):
    """Six requeues: seven starts, one more than submitit's own controller makes, and no more."""
    submitted = slow_local_executor(tmp_path, 6).submit(SlowToStart())
    with pytest.raises(submitit.core.utils.UncompletedJobError):
        submitted.result()
    err = capfd.readouterr().err
    assert "attempt 7 died of SIGUSR2" in err and "attempt 8" not in err
    assert "the task was started 7 times, the most its requeues allow" in err
