"""Cluster campaigns (issue 13): a dead workflow's jobs are adopted, not run twice; launchers
share one scheduler query; a job that runs out of memory is retried with more."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.store import RoundKey, read_round
from tests.slurm.test_cluster import SLURM, job_ids, profile_run, settings, squeue_ids, start_profile, wait_until
from tests.workflow.conftest import ROOT, snakemake, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]


def _jobs_by_name(names: set[str], since: str) -> dict[str, list[str]]:
    """Every SLURM job (any state) of the given job names submitted since ``since``, in order."""
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobName,State", "--name", ",".join(sorted(names)), "-S", since],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    jobs: dict[str, list[str]] = {}
    for line in out.splitlines():
        name, state = line.split("|")
        jobs.setdefault(name, []).append(state.split()[0])
    return jobs


def _now() -> str:
    """The scheduler's clock, to ask for the jobs of this test only (job names repeat across tests)."""
    time.sleep(1)
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def _round_names(workdir: Path) -> set[str]:
    names = set()
    for path in (workdir / "results/runs").rglob("*.h5"):
        a = read_round(path).attrs
        names.add(RoundKey(a.arch, a.dataset, a.run_hash, a.trial, a.round, None if a.round == 0 else a.method).name)
    return names


def _leftovers(workdir: Path) -> list[Path]:
    return [p for p in (workdir / "results/runs").rglob(".*") if p.is_file()]


def _launchers(session: int) -> list[int]:
    out = subprocess.run(["pgrep", "-s", str(session), "-f", "pipeline.launch round"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def _running(workdir: Path, count: int) -> bool:
    ids = set(job_ids(workdir))
    return (
        len(ids) >= count and ids <= squeue_ids() and len(list((workdir / "results/runs").rglob("state.pt"))) >= count
    )


def test_a_killed_launchers_job_is_adopted_and_the_round_trains_once(tmp_path):
    since = _now()
    write_config(
        tmp_path, settings(grid={"rounds": 1, "methods": ["imp"]}, training={"epochs": 400, "track_np": False})
    )
    proc = start_profile(tmp_path)
    try:
        wait_until(lambda: _running(tmp_path, 1), 180, "the dense round's job to checkpoint an epoch")
        (orphan,) = job_ids(tmp_path)
        for pid in _launchers(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=120)  # the rule failed; nothing else can run
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert orphan in squeue_ids(), "kill -9 of a launcher leaves its job running"
    records = list((tmp_path / "results/runs").rglob(".round0.h5.job"))
    assert len(records) == 1 and json.loads(records[0].read_text())["job_ids"] == [orphan]

    result = profile_run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    log = next((tmp_path / "results/logs/runs").rglob("round0.log")).read_text()
    assert f"adopting job {orphan}" in log
    names = _round_names(tmp_path)
    assert len(names) == 2
    wait_until(lambda: "RUNNING" not in str(_jobs_by_name(names, since)), 60, "the jobs to end")
    jobs = _jobs_by_name(names, since)
    assert all(states == ["COMPLETED"] for states in jobs.values()), jobs
    assert _leftovers(tmp_path) == [], "no temporary file, job record or lock remains"


def test_killing_the_workflow_with_rounds_in_flight_trains_no_round_twice(tmp_path):
    """kill -9 of Snakemake and every launcher (a dead login node) with two dense rounds running;
    --unlock, rerun: each round was one SLURM job, and the results equal an inline run's."""
    since = _now()
    grid = {"rounds": 1, "methods": ["imp"], "trials": 2}
    slurm_dir, inline_dir = tmp_path / "slurm", tmp_path / "inline"
    for d in (slurm_dir, inline_dir):
        write_config(d, settings(grid=grid, training={"epochs": 30, "track_np": False}))
    proc = start_profile(slurm_dir)
    try:
        wait_until(lambda: _running(slurm_dir, 2), 240, "both dense rounds to checkpoint an epoch")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    in_flight = set(job_ids(slurm_dir))
    assert len(in_flight) == 2 and in_flight <= squeue_ids()
    snakemake(
        slurm_dir,
        "--profile",
        str(ROOT / "slurm"),
        "--configfile",
        "config/config.yaml",
        "slurm-test.yaml",
        "--unlock",
        check=True,
    )
    result = profile_run(slurm_dir, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    names = _round_names(slurm_dir)
    assert len(names) == 4
    wait_until(lambda: "RUNNING" not in str(_jobs_by_name(names, since)), 60, "the jobs to end")
    jobs = _jobs_by_name(names, since)
    assert all(states == ["COMPLETED"] for states in jobs.values()), jobs
    assert _leftovers(slurm_dir) == []

    snakemake(inline_dir, "--cores", "2", check=True, timeout=600)
    for path in sorted((slurm_dir / "results/runs").rglob("*.h5")):
        a, b = read_round(path), read_round(inline_dir / path.relative_to(slurm_dir))
        for name in a.weights:
            assert np.array_equal(a.weights[name], b.weights[name]), (path, name)


def test_sixteen_waiting_launchers_share_one_scheduler_query(tmp_path):
    """sacct calls per minute with 16 launchers waiting at once: one shared query per interval
    (2 s here), against submitit's one per launcher and check."""
    import submitit

    wrapper = tmp_path / "bin"
    wrapper.mkdir()
    calls = tmp_path / "sacct-calls.log"
    real = subprocess.run(["which", "sacct"], capture_output=True, text=True, check=True).stdout.strip()
    (wrapper / "sacct").write_text(f'#!/bin/sh\necho "$$" >> {calls}\nexec {real} "$@"\n')
    (wrapper / "sacct").chmod(0o755)
    executor = submitit.SlurmExecutor(folder=tmp_path / "jobs" / "%j")
    executor.update_parameters(time=5, cpus_per_task=1, mem="64M", partition="debug")
    jobs: list = []
    env = {**os.environ, "PATH": f"{wrapper}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    rates = {}
    try:
        for mode in ("per-launcher", "shared"):
            jobs = [executor.submit(time.sleep, 25) for _ in range(16)]
            calls.unlink(missing_ok=True)
            shared = str(tmp_path / "scheduler") if mode == "shared" else "-"
            start = time.monotonic()
            waiters = [
                subprocess.Popen(
                    [sys.executable, "-m", "tests.slurm.waiter", str(tmp_path / "jobs" / "%j"), job.job_id, shared],
                    env=env,
                    cwd=ROOT,
                )
                for job in jobs
            ]
            for w in waiters:
                assert w.wait(timeout=240) == 0
            minutes = (time.monotonic() - start) / 60
            rates[mode] = len(calls.read_text().splitlines()) / minutes if calls.exists() else 0.0
    finally:
        for job in jobs:
            job.cancel(check=False)
    print(f"sacct calls per minute with 16 waiting launchers: {rates}")
    assert rates["shared"] <= 60 / 2.0 + 8, rates  # one per 2-s interval, plus start-up slack
    assert rates["per-launcher"] >= 4 * rates["shared"], rates


def test_a_round_out_of_memory_is_retried_with_more_memory(tmp_path):
    from pipeline.config import load_config
    from pipeline.launch.launcher import launch_round
    from tests.conftest import round_key

    since = _now()
    config = settings(training={"epochs": 1, "track_np": False})
    config["launcher"] = {**SLURM, "mem_mb": 100, "retries": 4, "log_dir": str(tmp_path / "launcher")}
    config["results"] = str(tmp_path / "results")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    key = round_key(load_config(path), 0)
    out = tmp_path / "round0.h5"
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("pipeline.launch").addHandler(handler)
    logging.getLogger("pipeline.launch").setLevel(logging.INFO)
    try:
        launch_round(path, key, out=out, previous=None, resources={"mem_mb": 100})
    finally:
        logging.getLogger("pipeline.launch").removeHandler(handler)
    retries = [r for r in records if "OUT_OF_MEMORY: resubmitting with mem_mb" in r]
    attrs = read_round(out).attrs
    assert attrs.round == 0 and len(attrs.job_ids.split(",")) == len(retries) + 1
    assert attrs.peak_rss_mb > 100 and attrs.elapsed_s > 0 and attrs.queue_wait_s >= 0 and attrs.node == "vm"
    assert retries and retries[0].endswith("mem_mb = 200"), records
    wait_until(lambda: _jobs_by_name({key.name}, since)[key.name][-1] != "RUNNING", 60, "the last job to end")
    states = _jobs_by_name({key.name}, since)[key.name]
    assert states[-1] == "COMPLETED" and set(states[:-1]) == {"FAILED"}, states  # the allocation of an OOM step
