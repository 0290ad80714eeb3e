"""The job record beside a round's output: which job writes the round, to which temporary name.

Launchers write it (atomically) once a job is submitted; a later launcher of the same round — a
relaunch, or the next round of a packed job — reads it to adopt that job instead of submitting
another. The job reads it too: it trains a round only while the record names it
(:func:`owns`), so a job whose launcher died before recording it never trains anything.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import submitit

from pipeline.store.paths import job_record, partial_file

log = logging.getLogger("pipeline.launch")

CONFIRM_S = 60.0
"""How long a job's first round waits for its launcher to record it before the job gives up."""


@dataclass
class JobRecord:
    """Which jobs tried this round and with what: a relaunch adopts the live job and keeps what
    the attempts learned (``job_ids`` counts them, the last one is current)."""

    job_ids: list[str]
    folder: str
    temporary: str
    mem_mb: int
    time_min: int
    backend: str = "slurm"  # records written before packing were SLURM's only
    rounds: int = 1  # rounds the job writes (its pack)
    position: int = 0  # this round's place among them (0: the first, charged the queue wait)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)  # a later round's directory may not exist yet
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
    def job_id(self) -> str:
        return self.job_ids[-1]

    @property
    def job(self) -> submitit.Job:
        if self.backend == "local":
            return submitit.LocalJob(self.folder, self.job_id)
        return submitit.SlurmJob(self.folder, self.job_id)


def current_job_id() -> str | None:
    """This process's submitit job id (SLURM's job id, the local controller's pid); None outside a job."""
    try:
        return str(submitit.JobEnvironment().job_id)
    except RuntimeError:
        return None


def owns(final: str | Path, temporary: str | Path, wait_s: float = 0.0) -> bool:
    """Whether this job is the recorded writer of ``final`` (to ``temporary``), waiting up to
    ``wait_s`` for its launcher to record it. A job started outside submitit always is."""
    me = current_job_id()
    if me is None:
        return True
    deadline = time.monotonic() + wait_s
    while True:
        record = JobRecord.read(job_record(final))
        if record is not None and record.job_id == me and record.temporary == os.fspath(temporary):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)
