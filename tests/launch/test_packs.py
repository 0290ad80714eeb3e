"""launcher.pack: which rounds share a job, and a packed grid run with the local backend."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from pipeline.config import load_config
from pipeline.fields import ConfigError
from pipeline.launch.packs import pack_of
from tests.conftest import differing_datasets, round_key, tiny_settings
from tests.workflow.conftest import snakemake, write_config


def _names(keys) -> list[str]:
    return [k.label + str(k.round) for k in keys]


def _config(pack: str, rounds_per_job: int = 0, methods=("imp", "random", "timp")):
    settings = tiny_settings(Path("results"), grid={"methods": list(methods), "rounds": 3})
    settings["launcher"] = {"backend": "local", "pack": pack, "rounds_per_job": rounds_per_job}
    return load_config(settings)


def test_a_round_pack_is_the_round_and_a_chain_runs_a_control_beside_its_method():
    config = _config("round")
    key = round_key(config, 2, "random")
    assert pack_of(config, key) == [key]
    config = _config("chain")
    assert _names(pack_of(config, round_key(config, 2, "random"))) == [
        "imp1", "random1", "imp2", "random2", "imp3", "random3",
    ]  # fmt: skip
    assert _names(pack_of(config, round_key(config, 3, "timp"))) == ["timp1", "timp2", "timp3"]
    assert _names(pack_of(config, round_key(config, 0))) == ["dense0"]


def test_a_trial_pack_runs_the_dense_round_then_every_chain_and_rounds_per_job_cuts_it():
    config = _config("trial")
    every = ["dense0", "imp1", "random1", "imp2", "random2", "imp3", "random3", "timp1", "timp2", "timp3"]
    for key in (round_key(config, 0), round_key(config, 2, "timp")):
        assert _names(pack_of(config, key)) == every
    config = _config("trial", rounds_per_job=4)
    assert _names(pack_of(config, round_key(config, 2, "random"))) == every[4:8]
    assert _names(pack_of(config, round_key(config, 3, "timp"))) == every[8:]
    other_trial = replace(round_key(config, 1, "imp"), trial=1)
    assert {k.trial for k in pack_of(config, other_trial)} == {1}


def test_packing_rounds_under_the_inline_backend_is_refused_naming_the_key():
    settings = tiny_settings(Path("results"))
    settings["launcher"] = {"pack": "chain"}
    with pytest.raises(ConfigError, match=r"launcher\.pack' = 'chain' needs launcher\.backend 'local' or 'slurm'"):
        load_config(settings)


def _submitted(workdir: Path) -> list[str]:
    logs = (workdir / "results/logs").rglob("round*.log")
    return [line for log in logs for line in log.read_text().splitlines() if "submitted local job" in line]


GRID = {"methods": ["imp", "random", "timp"], "rounds": 1, "trials": 1}  # 4 rounds; chain: 3 jobs, trial: 1


@pytest.fixture(scope="module")
def inline(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("inline")
    write_config(workdir, tiny_settings(Path("results"), grid=GRID))
    snakemake(workdir, "--cores", "2", check=True)
    return workdir


@pytest.mark.parametrize(("pack", "concurrent"), [("chain", 1), ("trial", 2)])
def test_a_packed_local_grid_writes_the_inline_runs_files_with_one_job_per_pack(tmp_path, inline, pack, concurrent):
    """Bit for bit (timings aside), also with two rounds at once in a job (imp and timp of a trial)."""
    launcher = {"backend": "local", "pack": pack, "concurrent": concurrent}
    write_config(tmp_path, tiny_settings(Path("results"), grid=GRID, launcher=launcher))
    snakemake(tmp_path, "--cores", "2", check=True)
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "results/runs").rglob("*.h5"))
    assert len(files) == 4
    for name in files:
        assert differing_datasets(tmp_path / name, inline / name) == [], name
    jobs = _submitted(tmp_path)
    assert len(jobs) == (1 if pack == "trial" else 3), jobs  # chain: dense, imp (with random), timp
    assert [p for p in (tmp_path / "results/runs").rglob(".*")] == [], "no temporary file, record or link remains"


def test_a_job_its_launcher_never_recorded_trains_nothing(tmp_path):
    """The window between submitting and recording: a launcher killed there leaves a job that
    no record names; it gives up (the next launcher submits anew) instead of training."""
    from pipeline.config import LauncherConfig
    from pipeline.launch import make_executor
    from pipeline.launch.jobs import RoundJob
    from pipeline.launch.packs import PackJob

    settings = tiny_settings(tmp_path / "results")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(settings))
    key = round_key(load_config(tmp_path / "c.yaml"), 0)
    out = tmp_path / "round0.h5"
    step = RoundJob(str(tmp_path / "c.yaml"), key, str(tmp_path / ".round0.h5.launch-1"), final=str(out))
    ledger = tmp_path / "ledger"
    job = PackJob([step], ledger=str(ledger), confirm_s=1.0)
    submitted = make_executor("local", tmp_path / "jobs", LauncherConfig(), key.name).submit(job)
    assert submitted.result() == []
    assert not ledger.exists() and not list(tmp_path.glob("*round0*"))


def test_a_round_written_while_no_launcher_waited_is_taken_and_a_finished_one_restored(tmp_path, monkeypatch):
    from pipeline.launch import launcher
    from pipeline.launch.records import JobRecord
    from pipeline.store.paths import finished_link, job_record

    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(tiny_settings(Path("results"), launcher={"backend": "local"})))
    key = round_key(load_config(tmp_path / "c.yaml"), 0)
    out = key.file("results")
    out.parent.mkdir(parents=True)
    temporary = out.with_name(".round0.h5.launch-feed")
    temporary.write_bytes(b"the job's round")
    JobRecord(["999999999"], str(tmp_path / "jobs"), str(temporary.resolve()), 4096, 60, "local").write(job_record(out))
    monkeypatch.setattr(launcher._Launch, "_submit", lambda *a: pytest.fail("submitted a written round again"))
    launcher.launch_round(tmp_path / "c.yaml", key, out=out, previous=None)
    assert out.read_bytes() == b"the job's round" and not temporary.exists() and not job_record(out).exists()

    out.unlink()  # a killed workflow's rerun deletes the round as incomplete
    launcher.launch_round(tmp_path / "c.yaml", key, out=out, previous=None)
    assert out.read_bytes() == b"the job's round"
    launcher.forget_finished([str(out)])  # the workflow ended with the round in place
    assert not finished_link(out).exists()
    out.unlink()  # deleted by hand now: the round is trained again
    with pytest.raises(pytest.fail.Exception, match="submitted a written round again"):
        launcher.launch_round(tmp_path / "c.yaml", key, out=out, previous=None)


def test_a_finished_round_whose_input_was_rewritten_is_not_restored(tmp_path):
    from pipeline.launch.launcher import _restored
    from pipeline.store.paths import finished_link

    out, previous = tmp_path / "round2.h5", tmp_path / "round1.h5"
    finished_link(out).write_bytes(b"old round 2")
    time.sleep(0.05)
    previous.write_bytes(b"round 1, trained again")
    assert not _restored(out, previous, None) and not out.exists() and not finished_link(out).exists()


def test_a_job_asks_for_the_time_its_rounds_took_before_and_memory_for_its_concurrent_rounds(inline):
    from pipeline.launch.packs import allocation
    from pipeline.store import read_attrs

    settings = tiny_settings(inline / "results", grid=GRID, launcher={"backend": "local", "pack": "trial"})
    config = load_config({**settings, "launcher": {**settings["launcher"], "concurrent": 2, "time_min": 90}})
    keys = pack_of(config, round_key(config, 0))
    longest = max(read_attrs(p).wall_seconds for p in (inline / "results/runs").rglob("*.h5"))
    asked = allocation(config, config.launcher, keys)
    assert asked.time_min == min(90, math.ceil((120 + 1.5 * longest * 2) / 60))  # 4 rounds, 2 at a time
    assert asked.mem_mb == 2 * config.launcher.mem_mb
    fresh = load_config({**settings, "results": "nowhere"})
    assert allocation(fresh, fresh.launcher, keys).time_min == fresh.launcher.time_min  # nothing recorded yet
