"""The ``local`` backend: a round as a submitit subprocess that survives its timeout signal."""

from pathlib import Path

import numpy as np
import yaml

from pipeline.config import load_config
from pipeline.launch import RoundJob, make_executor
from pipeline.rounds import run_round
from pipeline.store import checkpoint_dir, read_round
from tests.conftest import round_key, tiny_settings


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
