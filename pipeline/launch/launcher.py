"""``python -m pipeline.launch``: run one round through an explicit backend and block on it.

What a Snakemake rule's ``shell:`` calls. The round writes to a temporary name next to the
output, renamed into place only after success: a job orphaned by a killed workflow can never
resurrect an output Snakemake already deleted. SIGINT, SIGTERM and SIGHUP cancel the
submitted job before the launcher exits. A launcher killed outright (kill -9, a dead login
node) leaves its SLURM job running and a record of it beside the output; the next launcher of
the round adopts that job instead of submitting a second one. Remote tracebacks go to stderr
(the rule's log).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import submitit

from pipeline.config import ConfigError, LauncherConfig, load_config, run_spec
from pipeline.launch.accounting import slurm_account, write_account
from pipeline.launch.executors import RESOURCE_KEYS, make_executor, resources_for
from pipeline.launch.jobs import RoundJob
from pipeline.launch.poll import SharedWatcher
from pipeline.prune import get_method
from pipeline.store.key import RoundKey
from pipeline.store.paths import (
    attempt_files,
    checkpoint_dir,
    checkpoint_lock,
    job_record,
    launch_file,
    scheduler_dir,
    sibling_partial,
    submitit_folder,
)

log = logging.getLogger("pipeline.launch")


class Cancelled(Exception):
    """The launcher received a termination signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


def _raise_cancelled(signum: int, frame: FrameType | None) -> None:
    raise Cancelled(signum)


INCOMPLETE = ("READY", "PENDING", "RUNNING", "REQUEUED", "COMPLETING", "PREEMPTED", "CONFIGURING", "SUSPENDED")
"""SLURM states of a job that may still write its result."""

GROWS = {"OUT_OF_MEMORY": "mem_mb", "TIMEOUT": "time_min"}
"""Final states a resubmission with twice the resource can mend, and the resource."""


def _wait(job: submitit.Job, interval: float, scheduler_s: float) -> None:
    """Block until the job is done: its result file appears, or the scheduler says it ended
    (cancelled, out of memory, node failure: jobs that never write a result)."""
    last_check = time.monotonic()
    while True:
        force = time.monotonic() - last_check >= scheduler_s
        if job.done(force_check=force):
            return
        if force:
            last_check = time.monotonic()
        time.sleep(interval)


def _final_state(job: submitit.Job) -> str:
    """Why a job ended without a result, first word only ("CANCELLED by 0" -> CANCELLED).

    A SLURM job killed for memory is FAILED as an allocation and OUT_OF_MEMORY only in its
    step, which submitit's watcher does not read: one ``sacct`` call over the steps decides.
    """
    state = (job.watcher.get_state(job.job_id, mode="cache") or "UNKNOWN").split()[0].upper()
    if not isinstance(job, submitit.SlurmJob):
        return state
    try:
        out = subprocess.run(
            ["sacct", "-n", "-P", "-o", "State", "-j", job.job_id], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return state
    states = {line.split()[0].upper() for line in out.splitlines() if line.strip()}
    return next((grown for grown in GROWS if grown in states), state)


def _write_record(record: Path, job: submitit.Job, folder: Path, temporary: Path) -> None:
    """Which job writes this round, where: written atomically beside the output."""
    payload = {"job_id": job.job_id, "folder": str(folder.resolve()), "temporary": str(temporary.resolve())}
    partial = sibling_partial(record)
    partial.write_text(json.dumps(payload))
    partial.replace(record)


def _adopt(record: Path) -> tuple[submitit.Job, Path] | None:
    """The job a previous launcher submitted for this round, if it is still worth waiting on:
    pending, running, or finished with a result. One ``sacct`` call; None: submit anew."""
    if not record.exists():
        return None
    try:
        payload = json.loads(record.read_text())
        job = submitit.SlurmJob(payload["folder"], str(payload["job_id"]))
        temporary = Path(payload["temporary"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.warning("unreadable job record %s (%s): submitting the round anew", record, err)
        return None
    if job.paths.result_pickle.exists():
        try:
            job.result()
        except Exception:  # its result is a failure: a rerun should try again, not repeat it
            log.info("the previous launcher's job %s failed: submitting the round anew", job.job_id)
            return None
        if temporary.exists():
            log.info("taking the result of job %s, which finished after its launcher was gone", job.job_id)
            return job, temporary
        return None
    state = job.watcher.get_state(job.job_id, mode="force").split()[0].upper()
    if state in INCOMPLETE:
        log.info("adopting job %s (%s) of a previous launcher instead of submitting the round again", job.job_id, state)
        return job, temporary
    log.info("the previous launcher's job %s ended %s without a result: submitting the round anew", job.job_id, state)
    return None


def _finish(job: submitit.Job, interval: float, scheduler_s: float) -> str | None:
    """Wait for the job; None when it succeeded, else the final state a bigger job may mend."""
    _wait(job, interval, scheduler_s)
    try:
        job.result()
    except submitit.core.utils.FailedJobError as err:
        raise RuntimeError(f"job {job.job_id} failed:\n{err}") from None
    except submitit.core.utils.UncompletedJobError as err:
        state = _final_state(job)
        if state in GROWS:
            return state
        raise RuntimeError(f"job {job.job_id} did not complete ({state}):\n{err}") from None
    return None


def _grown(requested: LauncherConfig, state: str) -> LauncherConfig:
    resource = GROWS[state]
    return replace(requested, **{resource: 2 * getattr(requested, resource)})


def _clean(out: Path) -> None:
    """The round is complete: remove its job record and what dead attempts left behind."""
    for path in (*attempt_files(out), job_record(out), checkpoint_lock(checkpoint_dir(out))):
        path.unlink(missing_ok=True)


def launch_round(
    config_path: Path,
    key: RoundKey,
    *,
    out: Path,
    previous: Path | None,
    backend: str | None = None,
    resources: dict[str, Any] | None = None,
    poll_s: float | None = None,
) -> Path:
    """Run the round through ``backend`` (default: the config's) and move its file to ``out``.

    ``resources`` override the config's launcher settings (``RESOURCE_KEYS``; None: unset).
    Under SLURM a job a killed launcher left running is adopted, not duplicated; a job that
    ends OUT_OF_MEMORY or TIMEOUT is resubmitted with twice that resource, ``launcher.retries``
    times at most.
    """
    config = load_config(config_path)
    spec = run_spec(config, key.arch, key.dataset, key.trial)
    if spec.run_hash != key.run_hash:
        raise ConfigError(
            f"the configuration hashes this run to {spec.run_hash}, but its output path says {key.run_hash}: "
            "the path is stale; let the workflow recompute its targets"
        )
    backend = backend or config.launcher.backend
    requested = resources_for(config.launcher, **(resources or {}))
    out.parent.mkdir(parents=True, exist_ok=True)
    follows = get_method(key.method).follows if key.method else None
    reference = key.of_method(follows).file(config.results) if follows else None

    def job_for(temporary: Path) -> RoundJob:  # absolute paths: a cluster job need not start here
        return RoundJob(
            config_path=str(Path(config_path).resolve()),
            key=key,
            out=str(temporary.resolve()),
            previous=str(previous.resolve()) if previous else None,
            reference=str(reference.resolve()) if reference else None,
            checkpoint_dir=str(checkpoint_dir(out).resolve()),
        )

    handlers = {s: signal.signal(s, _raise_cancelled) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    record = job_record(out)
    adopted = _adopt(record) if backend == "slurm" else None  # a local job can be waited on only by its launcher
    submitted, temporary = adopted if adopted else (None, launch_file(out))
    attempts = [submitted.job_id] if submitted is not None else []
    slurm = backend == "slurm"
    watcher = SharedWatcher(scheduler_dir(config.launcher.log_dir), config.launcher.scheduler_poll_s) if slurm else None
    interval = poll_s if poll_s is not None else config.launcher.poll_s
    try:
        if backend == "inline":
            job_for(temporary)()
        for attempt in range(config.launcher.retries + 1 if backend != "inline" else 0):
            if submitted is None:
                folder = submitit_folder(config.launcher.log_dir)
                submitted = make_executor(backend, folder, requested, key.name).submit(job_for(temporary))
                log.info("submitted %s job %s (logs: %s)", backend, submitted.job_id, submitted.paths.folder)
                attempts.append(submitted.job_id)
                if slurm:
                    _write_record(record, submitted, folder, temporary)
            if watcher is not None:
                submitted.watcher = watcher
                watcher.register_job(submitted.job_id)
            state = _finish(submitted, interval, config.launcher.scheduler_poll_s)
            if state is None:
                break
            if attempt == config.launcher.retries:
                raise RuntimeError(
                    f"job {submitted.job_id} ended {state} {attempt + 1} times (launcher.retries = "
                    f"{config.launcher.retries}); last {GROWS[state]} = {getattr(requested, GROWS[state])}"
                )
            requested = _grown(requested, state)
            log.warning(
                "job %s ended %s: resubmitting with %s = %s", submitted.job_id, state, GROWS[state],
                getattr(requested, GROWS[state]),
            )  # fmt: skip
            submitted = None
        if slurm:
            account = slurm_account(attempts)
            if account is not None:
                write_account(temporary, account)
        os.replace(temporary, out)
        _clean(out)
        return out
    except Cancelled as cancelled:
        if submitted is not None:
            log.warning("%s: cancelling job %s", cancelled, submitted.job_id)
            submitted.cancel(check=False)
            record.unlink(missing_ok=True)
        raise
    except RuntimeError:
        record.unlink(missing_ok=True)  # a failed job: the next run submits anew
        raise
    finally:
        if submitted is not None and watcher is not None:
            watcher.forget(submitted.job_id)
        for s, handler in handlers.items():
            signal.signal(s, handler)
        temporary.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.launch",
        description="Run one pruning round through an explicit backend (inline, local, slurm) and wait for it.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    rnd = sub.add_parser("round", help="launch one round")
    rnd.add_argument("--config", type=Path, required=True, help="resolved pipeline configuration (YAML)")
    RoundKey.add_arguments(rnd)
    rnd.add_argument("--out", type=Path, required=True)
    rnd.add_argument("--previous", type=Path)
    rnd.add_argument("--backend", choices=("inline", "local", "slurm"), help="default: the config's launcher.backend")
    group = rnd.add_argument_group("resources (from the rule's resources)")
    for name in ("gpus", "cpus", "mem-mb", "time-min", "max-requeues"):
        group.add_argument(f"--{name}", type=int)
    for name in ("partition", "account", "qos"):
        group.add_argument(f"--{name}", default="")
    group.add_argument("--gpu-request", choices=("gres", "gpus"))
    rnd.add_argument("--poll-s", type=float, help="seconds between job polls (default: the config's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    resources = {name: getattr(args, name) for name in RESOURCE_KEYS}
    try:
        launch_round(
            args.config,
            RoundKey.from_args(args),
            out=args.out,
            previous=args.previous,
            backend=args.backend,
            resources=resources,
            poll_s=args.poll_s,
        )
    except Cancelled as cancelled:
        print(f"pipeline.launch: {cancelled}; the job was cancelled and no output was written", file=sys.stderr)
        return 128 + cancelled.signum
    except ConfigError as err:
        print(f"pipeline.launch: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as err:
        print(f"pipeline.launch: error: {err}", file=sys.stderr)
        return 1
    return 0
