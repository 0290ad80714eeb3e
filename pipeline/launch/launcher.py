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

import fcntl
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import submitit

from pipeline.config import Config, LauncherConfig, load_config
from pipeline.fields import ConfigError
from pipeline.launch.accounting import slurm_account, write_account
from pipeline.launch.executors import make_executor, resources_for
from pipeline.launch.jobs import RoundJob
from pipeline.launch.poll import INCOMPLETE, SharedWatcher
from pipeline.runs import run_spec
from pipeline.store.key import RoundKey
from pipeline.store.paths import (
    attempt_files,
    checkpoint_dir,
    job_record,
    launch_file,
    launcher_lock,
    partial_file,
    scheduler_dir,
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


GROWS = {"OUT_OF_MEMORY": "mem_mb", "TIMEOUT": "time_min"}
"""Final states a resubmission with twice the resource can mend, and the resource."""


def _wait(job: submitit.Job, interval: float) -> None:
    """Block until the job is done: its result file appears, or the scheduler says it ended
    (cancelled, out of memory, node failure: jobs that never write a result). The scheduler is
    asked at most once per ``scheduler_poll_s`` for all launchers (``poll.SharedWatcher``)."""
    while not job.done():
        time.sleep(interval)


def _slurm_states(job_id: str) -> set[str]:
    """Every state ``sacct`` reports for a job and its steps (an OOM-killed step leaves the
    allocation FAILED and only the step OUT_OF_MEMORY), and ``squeue``'s view when the
    accounting database does not know the job yet."""
    states = set()
    for command in (["sacct", "-n", "-P", "-o", "State", "-j", job_id], ["squeue", "-h", "-j", job_id, "-o", "%T"]):
        try:
            out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        states |= {line.split()[0].upper() for line in out.splitlines() if line.strip()}
        if states:
            break
    return states


def _final_state(job: submitit.Job, err: Exception) -> str:
    """Why a job ended without a result: a state of ``GROWS`` if a bigger job may mend it."""
    if "timed-out" in str(err):  # submitit gave up requeueing inside the job
        return "TIMEOUT"
    if not isinstance(job, submitit.SlurmJob):
        return "ENDED"
    states = _slurm_states(job.job_id)
    return next((grown for grown in GROWS if grown in states), "/".join(sorted(states)) or "UNKNOWN")


@dataclass
class JobRecord:
    """Which jobs tried this round and with what: written atomically beside the output, so a
    relaunch adopts the live job and keeps what the attempts learned."""

    job_ids: list[str]
    folder: str
    temporary: str
    mem_mb: int
    time_min: int

    def write(self, path: Path) -> None:
        partial = partial_file(path)
        partial.write_text(json.dumps(asdict(self)))
        partial.replace(path)

    @classmethod
    def read(cls, path: Path) -> JobRecord | None:
        try:
            return cls(**json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as err:
            log.warning("unreadable job record %s (%s): submitting the round anew", path, err)
            return None

    @property
    def job(self) -> submitit.Job:
        return submitit.SlurmJob(self.folder, self.job_ids[-1])


def _adopt(record: JobRecord) -> bool:
    """Whether the recorded job is worth waiting on: it finished with a result that is a
    success, or the scheduler still runs it (or closes it)."""
    job = record.job
    if job.paths.result_pickle.exists():
        try:
            job.result()
        except Exception:  # its result is a failure: a rerun should try again, not repeat it
            log.info("the previous launcher's job %s failed: submitting the round anew", job.job_id)
            return False
        if Path(record.temporary).exists():
            log.info("taking the result of job %s, which finished after its launcher was gone", job.job_id)
            return True
        return False
    states = _slurm_states(job.job_id)
    if states & {*INCOMPLETE, "COMPLETED"}:  # COMPLETED: the result file may still be on its way
        log.info(
            "adopting job %s (%s) of a previous launcher instead of submitting the round again",
            job.job_id,
            "/".join(sorted(states)),
        )
        return True
    log.info(
        "the previous launcher's job %s ended %s without a result: submitting anew",
        job.job_id,
        "/".join(sorted(states)) or "unknown to SLURM",
    )
    return False


def _finish(job: submitit.Job, interval: float) -> str | None:
    """Wait for the job; None when it succeeded, else the final state a bigger job may mend."""
    _wait(job, interval)
    try:
        job.result()
    except submitit.core.utils.UncompletedJobError as err:  # FailedJobError too: it is a subclass
        state = _final_state(job, err)
        if state in GROWS:
            return state
        verb = "failed" if isinstance(err, submitit.core.utils.FailedJobError) else f"did not complete ({state})"
        raise RuntimeError(f"job {job.job_id} {verb}:\n{err}") from None
    return None


def _grown(requested: LauncherConfig, state: str) -> LauncherConfig:
    resource = GROWS[state]
    return replace(requested, **{resource: 2 * getattr(requested, resource)})


def _clean(out: Path) -> None:
    """The round is complete: remove its job record and what dead attempts left behind."""
    for path in (*attempt_files(out), job_record(out)):
        path.unlink(missing_ok=True)


@contextmanager
def _sole_launcher(out: Path) -> Iterator[bool]:
    """One launcher per round at a time (a killed Snakemake leaves its launchers running; the
    rerun's launcher of the same round waits for the old one). Yields whether the round is
    already done by then."""
    lock = launcher_lock(out)
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another launcher of this round is running: waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield out.exists()
        finally:
            lock.unlink(missing_ok=True)  # while holding it: a later launcher opens a new file


def launch_round(
    config_path: Path,
    key: RoundKey,
    *,
    out: Path,
    previous: Path | None,
    reference: Path | None = None,
    backend: str | None = None,
    resources: dict[str, Any] | None = None,
    poll_s: float | None = None,
) -> Path:
    """Run the round through ``backend`` (default: the config's) and move its file to ``out``.

    ``reference`` is the followed method's round (``RoundKey.reference``; default: its path
    under the config's results).
    ``resources`` override the config's launcher settings (``RESOURCE_KEYS``; None: unset).
    Under SLURM a job a killed launcher left running is adopted, not duplicated; a job that
    ends OUT_OF_MEMORY or TIMEOUT is resubmitted with twice that resource, ``launcher.retries``
    times at most (counting the attempts a killed launcher made).
    """
    config = load_config(config_path)
    spec = run_spec(config, key.arch, key.dataset, key.trial)
    if spec.run_hash != key.run_hash:
        raise ConfigError(
            f"the configuration hashes this run to {spec.run_hash}, but its output path says {key.run_hash}: "
            "the path is stale; let the workflow recompute its targets"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    handlers = {s: signal.signal(s, _raise_cancelled) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        with _sole_launcher(out) as done:
            if done:
                log.info("%s was completed by the previous launcher of this round", out)
                return out
            reference = reference or key.reference_file(config.results)
            return _launch(config, config_path, key, out, previous, reference, backend, resources, poll_s)
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


def _launch(
    config: Config,
    config_path: Path,
    key: RoundKey,
    out: Path,
    previous: Path | None,
    reference: Path | None,
    backend: str | None,
    resources: dict[str, Any] | None,
    poll_s: float | None,
) -> Path:
    """The round's job from submission (or adoption) to its file in place."""
    backend = backend or config.launcher.backend
    requested = resources_for(config.launcher, **(resources or {}))

    def job_for(temporary: Path) -> RoundJob:  # absolute paths: a cluster job need not start here
        return RoundJob(
            config_path=str(Path(config_path).resolve()),
            key=key,
            out=str(temporary.resolve()),
            previous=str(previous.resolve()) if previous else None,
            reference=str(reference.resolve()) if reference else None,
            checkpoint_dir=str(checkpoint_dir(out).resolve()),
        )

    slurm = backend == "slurm"
    record_path = job_record(out)
    record = JobRecord.read(record_path) if slurm else None
    submitted: submitit.Job | None = None
    temporary = launch_file(out)
    job_ids: list[str] = []
    if record is not None:
        job_ids = list(record.job_ids)
        requested = replace(requested, mem_mb=record.mem_mb, time_min=record.time_min)
        if _adopt(record):
            submitted, temporary = record.job, Path(record.temporary)
    watcher = SharedWatcher(scheduler_dir(config.launcher.log_dir), config.launcher.scheduler_poll_s) if slurm else None
    interval = poll_s if poll_s is not None else config.launcher.poll_s
    finished = False
    try:
        if backend == "inline":
            job_for(temporary)()
        while backend != "inline":
            if submitted is None:
                folder = submitit_folder(config.launcher.log_dir)
                submitted = make_executor(backend, folder, requested, key.name).submit(job_for(temporary))
                log.info("submitted %s job %s (logs: %s)", backend, submitted.job_id, submitted.paths.folder)
                job_ids.append(submitted.job_id)
                if slurm:
                    folder_text, temp_text = str(folder.resolve()), str(temporary.resolve())
                    JobRecord(job_ids, folder_text, temp_text, requested.mem_mb, requested.time_min).write(record_path)
            if watcher is not None:
                submitted.watcher = watcher
                watcher.register_job(submitted.job_id)
            state = _finish(submitted, interval)
            if watcher is not None:
                watcher.forget(submitted.job_id)
            if state is None:
                break
            tries = len(job_ids) if slurm else 1
            if tries > config.launcher.retries:
                raise RuntimeError(
                    f"job {submitted.job_id} ended {state} after {tries} attempts (launcher.retries = "
                    f"{config.launcher.retries}); its {GROWS[state]} was {getattr(requested, GROWS[state])}"
                )
            requested = _grown(requested, state)
            resource = GROWS[state]
            log.warning(
                "job %s ended %s: resubmitting with %s = %s",
                submitted.job_id,
                state,
                resource,
                getattr(requested, resource),
            )
            submitted = None
        finished = True
        if slurm:
            _account(temporary, job_ids)
        os.replace(temporary, out)
        _clean(out)
        return out
    except Cancelled as cancelled:
        if submitted is not None and not finished:
            log.warning("%s: cancelling job %s", cancelled, submitted.job_id)
            submitted.cancel(check=False)
            record_path.unlink(missing_ok=True)
        raise
    except RuntimeError:
        if submitted is not None:
            submitted.cancel(check=False)  # a state that is no final one must not leave a job behind
        record_path.unlink(missing_ok=True)  # a failed job: the next run submits anew
        raise
    finally:
        if submitted is not None and watcher is not None:
            watcher.forget(submitted.job_id)
        if not finished:
            temporary.unlink(missing_ok=True)


def _account(temporary: Path, job_ids: list[str]) -> None:
    """The scheduler's account into the round's file; never what fails a finished round."""
    try:
        account = slurm_account(job_ids)
        if account is not None:
            write_account(temporary, account)
    except Exception as err:  # sacct's formats vary by site: log, keep the round
        log.warning("could not record the scheduler's account of jobs %s: %s", ",".join(job_ids), err)
