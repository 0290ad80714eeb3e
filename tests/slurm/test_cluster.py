"""`snakemake --profile slurm` and the launcher against a real one-node SLURM cluster.

Every wait is bounded: a misbehaving cluster fails a test with a message, never hangs it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.config import LauncherConfig, load_config
from pipeline.launch import RoundJob, make_executor
from pipeline.report.registry import figures
from pipeline.rounds import run_round
from pipeline.store import RoundKey, checkpoint_dir, paths, read_round
from tests.conftest import round_key, tiny_settings
from tests.fixtures import place_data
from tests.workflow.conftest import ROOT, SNAKEMAKE, snakemake, snakemake_env, write_config

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

SLURM = {
    "backend": "slurm",
    "partition": "gpu",
    "gpus": 1,
    "cpus": 1,
    "mem_mb": 1024,
    "time_min": 10,
    "poll_s": 0.5,
    "log_dir": "results/launcher",
}


def settings(**sections) -> dict:
    """The tiny grid, one training thread (SLURM jobs get one CPU), results in the workdir."""
    sections["training"] = {"threads": 1, **sections.get("training", {})}
    return tiny_settings(Path("results"), **sections)


def profile_run(workdir: Path, *extra: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`snakemake --profile slurm` with the test's config and the launcher override."""
    write_config(workdir, {"launcher": SLURM}, "slurm-test.yaml")
    return snakemake(
        workdir,
        "--profile",
        str(ROOT / "slurm"),
        "--configfile",
        "config/config.yaml",
        "slurm-test.yaml",
        *extra,
        timeout=timeout,
    )


def start_profile(workdir: Path) -> subprocess.Popen:
    """`snakemake --profile slurm` in the background, in a session of its own (to signal or kill
    it with its launchers)."""
    write_config(workdir, {"launcher": SLURM}, "slurm-test.yaml")
    command = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--profile", str(ROOT / "slurm")]
    command += ["--configfile", "config/config.yaml", "slurm-test.yaml"]
    return subprocess.Popen(
        command,
        cwd=workdir,
        env=snakemake_env(),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def job_ids(workdir: Path) -> list[str]:
    """Every SLURM job the launchers of this workdir submitted (from the rule logs)."""
    ids = []
    for log in (workdir / "results/logs/runs").rglob("*.log"):
        ids += re.findall(r"submitted slurm job (\d+)", log.read_text())
    return ids


def sacct(ids: list[str]) -> list[dict[str, str]]:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,JobName,State,AllocTRES", "-j", ",".join(ids)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return [dict(zip(["id", "name", "state", "tres"], line.split("|"), strict=True)) for line in out.splitlines()]


def squeue_ids() -> set[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, timeout=30).stdout
    return set(out.split())


def wait_until(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def test_profile_runs_every_round_as_a_gpu_job_with_inline_results(tmp_path):
    slurm_dir, inline_dir = tmp_path / "slurm", tmp_path / "inline"
    for d in (slurm_dir, inline_dir):
        write_config(d, settings())
    result = profile_run(slurm_dir)
    assert result.returncode == 0, result.stdout + result.stderr

    ids = job_ids(slurm_dir)
    rounds = sorted((slurm_dir / "results/runs").rglob("*.h5"))
    assert len(ids) == len(rounds) == 5, "every round is its own SLURM job"
    jobs = sacct(ids)
    assert {j["state"] for j in jobs} == {"COMPLETED"}
    assert all("gres/gpu=1" in j["tres"] for j in jobs), jobs
    run_hash = read_round(rounds[0]).attrs.run_hash
    keys = [RoundKey("fcn", "mnist-5k", run_hash, 0, 0)]
    keys += [RoundKey("fcn", "mnist-5k", run_hash, 0, k, m) for m in ("imp", "timp") for k in (1, 2)]
    assert sorted(j["name"] for j in jobs) == sorted(key.name for key in keys)  # e.g. fcn-mnist-5k-{hash}-t0-dense-r0

    snakemake(inline_dir, "--cores", "2", check=True, timeout=600)
    for path in rounds:
        twin = inline_dir / path.relative_to(slurm_dir)
        a, b = read_round(path), read_round(twin)
        assert a.attrs["run_hash"] == b.attrs["run_hash"]
        for name in a.weights:
            assert np.array_equal(a.weights[name], b.weights[name]), (path, name)
            assert np.array_equal(a.masks[name], b.masks[name]), (path, name)
        assert np.array_equal(a.metrics["test_acc"], b.metrics["test_acc"])


def test_a_failing_job_shows_its_traceback_and_fails_only_its_rules(tmp_path):
    """Full MNIST's files are there by name (the check before any job passes) but empty: its job fails."""
    config = settings(grid={"pairs": ["fcn/mnist-5k", "fcn/mnist"], "rounds": 1, "methods": ["imp"]})
    config["data"] = {"root": str(tmp_path / "empty-data")}
    place_data(tmp_path / "empty-data", ["mnist"])
    write_config(tmp_path, config)
    result = profile_run(tmp_path)
    assert result.returncode != 0
    logs = {
        p.relative_to(tmp_path / "results/logs/runs").parts[:2]: p
        for p in (tmp_path / "results/logs/runs").rglob("round0.log")
    }
    failed = logs[("fcn", "mnist")].read_text()
    assert "Traceback" in failed and "train-images-idx3-ubyte" in failed, failed[-3000:]
    assert len(list((tmp_path / "results/runs/fcn/mnist-5k").rglob("*.h5"))) == 2, "--keep-going ran the rest"
    assert all(Path(paths.figure_file(tmp_path / "results", "fcn", "mnist-5k", f)).exists() for f in figures())
    assert not list((tmp_path / "results/runs/fcn/mnist").rglob("*.h5"))


def test_ctrl_c_cancels_the_running_jobs_and_the_rerun_finishes(tmp_path):
    config = settings(grid={"rounds": 1, "methods": ["imp"]}, training={"epochs": 150, "track_np": False})
    write_config(tmp_path, config)
    proc = start_profile(tmp_path)
    try:
        wait_until(lambda: job_ids(tmp_path) and set(job_ids(tmp_path)) <= squeue_ids(), 120, "a running round job")
        wait_until(
            lambda: list((tmp_path / "results/runs").rglob(paths.CHECKPOINT_NAME)), 120, "the round's first checkpoint"
        )
        ours = set(job_ids(tmp_path))
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    wait_until(lambda: not (ours & squeue_ids()), 20, "the cancelled jobs to leave the queue")
    assert not list((tmp_path / "results/runs").rglob("*.h5")), "nothing at a final name after Ctrl-C"

    result = profile_run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted((tmp_path / "results/runs").rglob("*.h5"))
    assert len(files) == 2
    assert read_round(next(f for f in files if f.name == "round0.h5")).attrs["resumed_from_epoch"] > 0


def test_preempted_round_requeues_and_resumes_from_its_checkpoint(tmp_path):
    settings_ = settings(training={"epochs": 60, "track_np": False})
    settings_["results"] = str(tmp_path / "results")
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(settings_))
    out = tmp_path / "preempted.h5"
    key = round_key(load_config(config_path), 0)
    job = RoundJob(str(config_path), key, str(out), None, str(checkpoint_dir(out)))
    executor = make_executor(
        "slurm",
        tmp_path / "submitit" / "%j",
        LauncherConfig(cpus=1, mem_mb=1024, time_min=10, partition="gpu"),
        key.name,
    )
    submitted = executor.submit(job)
    state = paths.checkpoint_file(checkpoint_dir(out))

    def epoch() -> int:
        try:
            return int(torch.load(state, weights_only=False)["epoch"]) if state.exists() else 0
        except (EOFError, RuntimeError, OSError):
            return 0

    try:
        wait_until(lambda: epoch() >= 3, 180, "three epochs checkpointed")
        submitted._interrupt()  # what SLURM does on preemption: SIGTERM, then the USR2 signal
        deadline = time.monotonic() + 300
        while not submitted.done(force_check=True):
            assert time.monotonic() < deadline, "the requeued round did not finish within 300 s"
            time.sleep(1)
        assert Path(submitted.result()) == out
    finally:
        submitted.cancel(check=False)
    resumed = read_round(out)
    assert resumed.attrs["resumed_from_epoch"] >= 3, "the requeued job resumed instead of starting over"
    reference = read_round(run_round(load_config(config_path), key, out=tmp_path / "reference.h5"))
    for name in reference.weights:
        assert np.array_equal(resumed.weights[name], reference.weights[name]), name


def test_an_impossible_request_fails_at_submit_with_a_clear_message(tmp_path):
    write_config(tmp_path, settings() | {"launcher": SLURM})
    config = load_config(tmp_path / "config/config.yaml")
    from pipeline.runs import run_spec

    run_hash = run_spec(config, "fcn", "mnist-5k", 0).run_hash
    command = [
        "python",
        "-m",
        "pipeline.launch",
        "round",
        "--config",
        "config/config.yaml",
        "--run-hash",
        run_hash,
        "--arch",
        "fcn",
        "--dataset",
        "mnist-5k",
        "--trial",
        "0",
        "--round",
        "0",
        "--out",
        "out.h5",
        "--gpus",
        "3",
    ]
    start = time.monotonic()
    result = subprocess.run(command, cwd=tmp_path, env=snakemake_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and time.monotonic() - start < 60
    assert "Requested node configuration is not available" in result.stderr
    assert not (tmp_path / "out.h5").exists()
