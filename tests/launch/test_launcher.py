"""The launcher hands a job absolute paths, so a job that starts elsewhere finds its inputs."""

from pathlib import Path

import numpy as np
import yaml

from pipeline.config import load_config
from pipeline.launch.launcher import launch_round
from pipeline.store import read_round
from tests.conftest import round_key, tiny_settings


def test_a_control_launched_from_the_workflow_directory_reads_imps_round_from_anywhere(tmp_path, monkeypatch):
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    settings = tiny_settings("results", grid={"methods": ["imp", "random"]}, training={"epochs": 1})
    settings["data"] = {"train_subset": 300}
    (workdir / "c.yaml").write_text(yaml.safe_dump(settings))
    config = load_config(workdir / "c.yaml")
    for method, k in ((None, 0), ("imp", 1)):
        key = round_key(config, k, method)
        launch_round(
            workdir / "c.yaml", key, out=key.file("results"), previous=key.previous and key.previous.file("results")
        )
    key = round_key(config, 1, "random")
    job = []

    def record(self):
        job.append(self)
        Path(self.out).touch()

    monkeypatch.setattr("pipeline.launch.launcher.RoundJob.__call__", record)
    launch_round(workdir / "c.yaml", key, out=tmp_path / "unused.h5", previous=key.previous.file("results"))
    assert job[0].reference == str((workdir / round_key(config, 1, "imp").file("results")).resolve())
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)  # the job starts outside the workflow directory
    data = read_round(job[0].__class__(**{**vars(job[0]), "out": str(tmp_path / "random1.h5")})())
    imp = read_round(workdir / round_key(config, 1, "imp").file("results"))
    assert all(data.masks[n].sum() == m.sum() for n, m in imp.masks.items())
    assert not all(np.array_equal(data.masks[n], m) for n, m in imp.masks.items())


def test_a_completed_round_finds_every_file_its_dead_attempts_left(tmp_path):
    from pipeline.store.paths import attempt_files, job_record

    out = tmp_path / "round1.h5"
    left = [
        tmp_path / ".round1.h5.launch-1a2b3c4d",  # an attempt's file
        tmp_path / "..round1.h5.launch-1a2b3c4d.partial-4242",  # the job's partial write of it
        tmp_path / ".round1.h5.partial-17",  # an inline write
        tmp_path / "..round1.h5.job.partial-99",  # a record being written
    ]
    for path in [*left, out, job_record(out), tmp_path / ".round10.h5.launch-ffff0000"]:
        path.touch()
    assert attempt_files(out) == sorted(left)


def test_a_job_record_round_trips_and_an_unreadable_one_is_ignored(tmp_path):
    from pipeline.launch.launcher import JobRecord

    path = tmp_path / ".round1.h5.job"
    record = JobRecord(["41", "42"], str(tmp_path / "%j"), str(tmp_path / ".round1.h5.launch-x"), 8192, 120)
    record.write(path)
    assert JobRecord.read(path) == record and record.job.job_id == "42"
    assert not list(tmp_path.glob("*.partial-*"))
    path.write_text("{not json")
    assert JobRecord.read(path) is None
    assert JobRecord.read(tmp_path / "missing") is None
