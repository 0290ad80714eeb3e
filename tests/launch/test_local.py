"""The ``local`` backend: a round as a submitit subprocess that survives its timeout signal."""

import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import submitit
import torch
import yaml

from pipeline.config import load_config
from pipeline.launch import RoundJob, make_executor
from pipeline.launch.local import LocalExecutor
from pipeline.rounds import run_round
from pipeline.store import checkpoint_dir, read_round
from pipeline.store.paths import checkpoint_file
from tests.conftest import round_key, tiny_settings
from tests.launch.slow_job import SlowToStart, Units

EPOCHS = 100


def _checkpointed_epoch(out: Path) -> int:
    """The last epoch the round has checkpointed (written whole, then renamed), or 0."""
    try:
        return int(torch.load(checkpoint_file(checkpoint_dir(out)), weights_only=False)["epoch"])
    except (FileNotFoundError, EOFError, RuntimeError):
        return 0


def test_a_timed_out_local_job_requeues_and_resumes_from_its_checkpoint(tmp_path):
    """The timeout signal (SIGUSR2) reaches the round's task once epoch 2 is checkpointed; the
    round checkpoints, exits for a requeue, the local controller restarts it and the next attempt
    resumes. The signal is sent when the round has something to resume, not by a timer: with
    10-s windows, this test needed more requeues than it allowed whenever start-up (~6 s) and a
    slow or loaded machine (0.5 s an epoch) left a window too little training. The timer's own
    path is tested below (slow starts, seeded mixes, the bound on restarts)."""
    settings = tiny_settings(tmp_path / "results", training={"epochs": EPOCHS, "track_np": False})
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    config = load_config(config_path)
    key = round_key(config, 0)
    out = tmp_path / "round0.h5"
    job = RoundJob(str(config_path), key, str(out), None, str(checkpoint_dir(out)))
    executor = make_executor("local", tmp_path / "submitit" / "%j", config.launcher, key.name)
    executor.update_parameters(timeout_min=30)
    submitted = executor.submit(job)
    try:
        deadline = time.monotonic() + 600
        while _checkpointed_epoch(out) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        controller = submitted._process.pid
        (task,) = Path(f"/proc/{controller}/task/{controller}/children").read_text().split()
        os.kill(int(task), signal.SIGUSR2)
        assert Path(submitted.result()) == out
    finally:
        submitted.cancel(check=False)
    log = "".join(p.read_text() for p in (tmp_path / "submitit").rglob("*_log.err"))
    assert "Requeued job" in log and "resumed from the checkpoint after epoch" in log
    resumed = read_round(out)
    assert 0 < resumed.attrs.resumed_from_epoch < EPOCHS
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


@pytest.mark.parametrize("seed", [1, 3, 5, 6])  # 1, 2, 6 and 1 attempts die starting (5 and 6: the first)
def test_seeded_mixes_of_slow_starts_and_timeouts_lose_no_work_and_do_none_twice(tmp_path, seed):
    """Each attempt gets the signal 3 s after it starts; a seeded draw decides which attempts
    start too slowly to handle it (they die of it). Counted: starts, units done, units done twice,
    and what the job folder holds besides submitit's own files."""
    rng = random.Random(seed)
    delays = [rng.choice([0.0, 0.0, 5.0]) for _ in range(12)]
    log, starts = tmp_path / "units.log", tmp_path / "starts.log"
    job = Units(str(log), str(starts), target=12, unit_s=0.5, start_delays=delays)
    submitted = slow_local_executor(tmp_path / "jobs", 11).submit(job)
    try:
        assert submitted.result() == 12
    finally:
        submitted.cancel(check=False)
    units = [int(line) for line in log.read_text().splitlines()]
    assert units == list(range(12)), f"seed {seed}: units lost or done twice: {units}"
    n_starts = len(starts.read_text().splitlines())
    assert n_starts >= 2 and n_starts <= 12, (seed, n_starts, delays)
    left = {p.name.split("_", 1)[-1] for p in (tmp_path / "jobs").rglob("*") if p.is_file()}
    assert left <= {"submitted.pkl", "0_result.pkl", "0_log.out", "0_log.err"}, left
