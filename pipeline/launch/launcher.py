"""``python -m pipeline.launch``: run one round through an explicit backend and block on it.

What a Snakemake rule's ``shell:`` calls. The round is written to a temporary name next to the
output and moved into place by its launcher only: a job orphaned by a killed workflow can never
resurrect an output Snakemake already deleted. Under ``local`` and ``slurm`` the round runs in a
job of its pack (``launcher.pack``: the round alone, its chain or its trial, ``packs.py``): the
job is recorded beside the output of each of its rounds (``records.py``), and a later launcher of
any of them — a relaunch, or the next round of the pack — adopts it instead of submitting again.
SIGINT, SIGTERM and SIGHUP cancel the job before the launcher exits; a launcher killed outright
(kill -9, a dead login node) leaves the job running for the next launcher to adopt. A finished
round keeps a second name until the workflow ends (``_finished``), so a workflow killed before it
saw the round, which deletes the round as incomplete on its rerun, gets it back instead of
training it again. Remote tracebacks go to stderr (the rule's log).
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from pipeline.config import Config, load_config
from pipeline.fields import ConfigError
from pipeline.launch.accounting import packed_share, slurm_account, write_account
from pipeline.launch.executors import make_executor, resources_for
from pipeline.launch.jobs import RoundJob
from pipeline.launch.packs import PackJob, allocation, pack_of
from pipeline.launch.poll import SharedWatcher
from pipeline.launch.records import JobRecord
from pipeline.launch.tracking import GROWS, alive, cancel, ended, outcome
from pipeline.runs import run_spec
from pipeline.store.key import RoundKey
from pipeline.store.paths import (
    attempt_files,
    checkpoint_dir,
    finished_link,
    job_record,
    launch_file,
    launcher_lock,
    pack_lock,
    round_ledger,
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
    Under ``local`` and ``slurm`` the round runs in a job of its pack (``launcher.pack``): a
    recorded job that may still write the round is adopted, not duplicated; a job that ends
    OUT_OF_MEMORY or TIMEOUT is resubmitted with twice that resource, ``launcher.retries`` times
    at most (counting the attempts a killed launcher made), from the round it reached.
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
            if _restored(out, previous, reference):
                return out
            launch = _Launch(config, Path(config_path), key, out, previous, reference, backend, resources, poll_s)
            return launch.run()
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)


class _Launch:
    """One launcher's round: submit (or adopt) the job of its pack, wait for the round's file."""

    def __init__(
        self,
        config: Config,
        config_path: Path,
        key: RoundKey,
        out: Path,
        previous: Path | None,
        reference: Path | None,
        backend: str | None,
        resources: dict[str, Any] | None,
        poll_s: float | None,
    ) -> None:
        self.config, self.config_path, self.key, self.out = config, config_path, key, out
        self.previous, self.reference = previous, reference  # this round's; the others' are the workflow's paths
        self.backend = backend or config.launcher.backend
        self.requested = resources_for(config.launcher, **(resources or {}))
        self.interval = poll_s if poll_s is not None else config.launcher.poll_s
        slurm = self.backend == "slurm"
        log_dir = config.launcher.log_dir
        self.watcher = SharedWatcher(scheduler_dir(log_dir), config.launcher.scheduler_poll_s) if slurm else None

    def run(self) -> Path:
        if self.backend == "inline":
            temporary = launch_file(self.out)
            try:
                self._round_job(self.key, self.out, temporary)()
                return _finished(temporary, self.out)
            finally:
                temporary.unlink(missing_ok=True)
        record: JobRecord | None = None
        try:
            while True:
                record = self._take_or_submit()
                if self._wait(record):
                    self._account(record)
                    return _finished(Path(record.temporary), self.out)
                if _resubmitted(self.out, record):
                    continue  # another launcher of the pack submitted the rest of it, this round included
                self._mend(record, outcome(record, self.key.name))
        except Cancelled as cancelled:
            if record is not None:
                log.warning("%s: cancelling job %s", cancelled, record.job_id)
                cancel(record)
                job_record(self.out).unlink(missing_ok=True)
            raise
        except RuntimeError:
            if record is not None and alive(record):
                cancel(record)  # a state that is no final one must not leave a job behind
            job_record(self.out).unlink(missing_ok=True)  # a failed job: the next run submits anew
            raise

    def _take_or_submit(self) -> JobRecord:
        """The job that writes this round: the recorded one if it wrote the round or may still,
        else a new job for the rest of the pack (decided under the pack's lock, so two launchers
        whose job ended do not both submit)."""
        segment = pack_of(self.config, self.key)
        with _pack_lock(self.config.launcher.log_dir, segment[0]):
            record = JobRecord.read(job_record(self.out))
            if record is not None and record.backend == self.backend:
                if Path(record.temporary).exists():
                    log.info("job %s has written this round already", record.job_id)
                    return record
                if alive(record):
                    log.info("adopting job %s, which writes this round", record.job_id)
                    return record
                mem, time_min = max(self.requested.mem_mb, record.mem_mb), max(self.requested.time_min, record.time_min)
                self.requested = replace(self.requested, mem_mb=mem, time_min=time_min)
            return self._submit(segment[segment.index(self.key) :])

    def _submit(self, candidates: list[RoundKey]) -> JobRecord:
        """Submit this round and every later round of its segment that is neither written nor
        another live job's and whose inputs are written or come first in this job."""
        results, keys = self.config.results, [self.key]
        live: dict[str, bool] = {}
        for k in candidates[1:]:
            out, record = k.file(results), JobRecord.read(job_record(k.file(results)))
            if out.exists() or (record is not None and Path(record.temporary).exists()):
                continue  # written (its launcher takes it)
            if record is not None and live.setdefault(record.job_id, alive(record)):
                continue
            needs = [n for n in (k.previous, k.reference) if n is not None]
            if all(n in keys or n.file(results).exists() for n in needs):
                keys.append(k)
        outs = {k: self.out if k == self.key else k.file(results) for k in keys}
        rounds = [self._round_job(k, outs[k], launch_file(outs[k])) for k in keys]
        folder = submitit_folder(self.config.launcher.log_dir)
        resources = allocation(self.config, self.requested, keys)
        concurrent = min(self.config.launcher.concurrent, len(rounds))
        ledger = str(round_ledger(self.config.launcher.log_dir).resolve())
        job = PackJob(rounds, concurrent, resources.gpus, ledger)
        name = self.key.name if len(keys) == 1 else f"{self.key.name}+{len(keys) - 1}"
        submitted = make_executor(self.backend, folder, resources, name).submit(job)
        log.info("submitted %s job %s for %d round(s) (logs: %s)", self.backend, submitted.job_id, len(keys), folder)
        records = []
        for position, (k, r) in enumerate(zip(keys, rounds, strict=True)):
            before = JobRecord.read(job_record(outs[k]))
            ids = [*(before.job_ids if before else []), submitted.job_id]
            folder_text, mem, time_min = str(folder.resolve()), resources.mem_mb, resources.time_min
            records.append(JobRecord(ids, folder_text, str(r.out), mem, time_min, self.backend, len(keys), position))
            records[-1].write(job_record(outs[k]))
        return records[0]

    def _round_job(self, key: RoundKey, out: Path, temporary: Path) -> RoundJob:
        """Absolute paths: a cluster job need not start here."""
        results, mine = self.config.results, key == self.key
        previous = (self.previous if mine else None) or (key.previous.file(results) if key.previous else None)
        reference = (self.reference if mine else None) or key.reference_file(results)
        return RoundJob(
            config_path=str(self.config_path.resolve()),
            key=key,
            out=str(temporary.resolve()),
            previous=str(Path(previous).resolve()) if previous else None,
            reference=str(Path(reference).resolve()) if reference else None,
            checkpoint_dir=str(checkpoint_dir(out).resolve()),
            final=str(out.resolve()),
        )

    def _wait(self, record: JobRecord) -> bool:
        """Wait until the round's file is written (True) or its job ended without it (False)."""
        temporary = Path(record.temporary)
        try:
            while not temporary.exists():
                if ended(record, self.watcher):
                    return temporary.exists()
                time.sleep(self.interval)
            return True
        finally:
            if self.watcher is not None:
                self.watcher.forget(record.job_id)

    def _mend(self, record: JobRecord, state: str) -> None:
        """A job that ran out of memory or time: the next submission asks for twice as much."""
        tries = len(record.job_ids)
        resource = GROWS[state]
        if tries > self.config.launcher.retries:
            raise RuntimeError(
                f"job {record.job_id} ended {state} after {tries} attempts (launcher.retries = "
                f"{self.config.launcher.retries}); its {resource} was {getattr(record, resource)}"
            )
        self.requested = replace(self.requested, **{resource: 2 * getattr(record, resource)})
        log.warning(
            "job %s ended %s: resubmitting with %s = %s", record.job_id, state, resource, 2 * getattr(record, resource)
        )

    def _account(self, record: JobRecord) -> None:
        """The scheduler's account into the round's file; never what fails a finished round."""
        if record.backend != "slurm":
            return
        try:
            account = slurm_account(record.job_ids)
            if account is not None:
                write_account(Path(record.temporary), packed_share(account, record.rounds, record.position))
        except Exception as err:  # sacct's formats vary by site: log, keep the round
            log.warning("could not record the scheduler's account of jobs %s: %s", ",".join(record.job_ids), err)


def _resubmitted(out: Path, record: JobRecord) -> bool:
    """The round's record names another attempt than ``record`` now."""
    current = JobRecord.read(job_record(out))
    return current is not None and current.temporary != record.temporary


def _finished(temporary: Path, out: Path) -> Path:
    """Move the round into place, keep a link to it until the workflow has seen it (a workflow
    killed meanwhile would delete ``out`` as incomplete; its rerun restores the link instead of
    training the round again) and remove what earlier attempts left."""
    os.replace(temporary, out)
    done = finished_link(out)
    done.unlink(missing_ok=True)
    os.link(out, done)
    for path in (*attempt_files(out), job_record(out)):
        path.unlink(missing_ok=True)
    return out


def _restored(out: Path, *inputs: Path | None) -> bool:
    """Put back a round a killed workflow deleted as incomplete although it was finished, unless
    an input was written after it (then the round is trained again, as Snakemake asked)."""
    done = finished_link(out)
    try:
        written = done.stat().st_mtime
    except FileNotFoundError:
        return False
    if any(p is not None and Path(p).exists() and Path(p).stat().st_mtime > written for p in inputs):
        done.unlink(missing_ok=True)
        return False
    os.link(done, out)
    log.info("%s was finished before the last workflow stopped: restored, not trained again", out)
    return True


def forget_finished(outs: list[str]) -> None:
    """The workflow ended and has seen every round in place: drop their links (``_finished``)."""
    for out in outs:
        if Path(out).exists():
            finished_link(out).unlink(missing_ok=True)


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


@contextmanager
def _pack_lock(log_dir: str, first: RoundKey) -> Iterator[None]:
    """Held while a launcher decides which job writes a round of the pack that starts at ``first``."""
    lock = pack_lock(log_dir, first.name)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
