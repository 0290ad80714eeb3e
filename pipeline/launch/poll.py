"""One scheduler query per interval for every launcher of a workflow, not one per launcher.

Each launcher waiting on a SLURM job registers the job id as a file in a shared directory.
Whichever launcher finds the shared ``sacct`` answer older than the interval refreshes it for
every registered job at once, under a file lock; the others read that answer. So the query rate
is one per interval whatever the number of launchers (submitit alone asks ``sacct`` once per
launcher and check). The result file stays the fast path: a finished job is seen without any
query at all.
"""

from __future__ import annotations

import fcntl
import logging
import subprocess
import time
from pathlib import Path

from submitit.slurm.slurm import SlurmInfoWatcher

from pipeline.store.paths import partial_file, scheduler_active, scheduler_answer, scheduler_lock

log = logging.getLogger("pipeline.launch")

INCOMPLETE = (
    "PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "COMPLETING", "CONFIGURING", "SUSPENDED",
    "RESIZING", "STAGE_OUT", "SIGNALING", "PREEMPTED",
)  # fmt: skip
"""SLURM states of a job that may still write its result (more than submitit's own list)."""


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


class SharedWatcher(SlurmInfoWatcher):
    """submitit's SLURM watcher, reading the workflow's shared ``sacct`` answer.

    ``directory`` is shared by the launchers (``paths.scheduler_dir``); ``interval_s`` is the
    oldest answer a launcher accepts before refreshing it for everyone.
    """

    def __init__(self, directory: str | Path, interval_s: float) -> None:
        super().__init__(delay_s=max(1, int(interval_s)))
        self.directory = Path(directory)
        self.interval_s = interval_s
        self.active = scheduler_active(self.directory)
        self.active.mkdir(parents=True, exist_ok=True)

    def register_job(self, job_id: str) -> None:
        super().register_job(job_id)
        (self.active / job_id).touch()

    def is_done(self, job_id: str, mode: str = "standard") -> bool:
        """Done once the shared answer shows a final state (a job it does not list yet, UNKNOWN,
        is waited on: the next refresh includes every registered job)."""
        state = self.get_state(job_id, mode=mode).split()[0].upper()
        return state not in (*INCOMPLETE, "UNKNOWN")

    def forget(self, job_id: str) -> None:
        """The launcher stopped waiting on ``job_id``: leave it out of later queries."""
        (self.active / job_id).unlink(missing_ok=True)

    def update(self) -> None:
        if not self._registered - self._finished:
            return
        self._info_dict.update(self.read_info(self._answer()))
        self._last_status_check = time.time()
        for job_id in self._registered - self._finished:
            if self.is_done(job_id, mode="cache"):
                self._finished.add(job_id)

    def _answer(self) -> bytes:
        answer = scheduler_answer(self.directory)
        if _age(answer) < self.interval_s:
            return answer.read_bytes()
        with open(scheduler_lock(self.directory), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # whoever holds it is refreshing: wait, then read its answer
            if _age(answer) >= self.interval_s:
                self._refresh(answer)
        return answer.read_bytes() if answer.exists() else b""

    def _refresh(self, answer: Path) -> None:
        ids = sorted({p.name for p in self.active.iterdir()} | (self._registered - self._finished))
        if not ids:
            return
        command = ["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-j", ",".join(ids)]
        self._num_calls += 1
        try:
            output = subprocess.check_output(command, timeout=60)
        except (OSError, subprocess.SubprocessError) as err:
            log.warning("sacct failed (%s); job states may be stale", err)
            answer.touch()  # the others wait an interval before trying again
            return
        partial = partial_file(answer)
        partial.write_bytes(output)
        partial.replace(answer)
        self._prune(output)

    def _prune(self, output: bytes) -> None:
        """Drop from later queries the registered jobs this answer shows ended (a launcher that
        was killed never unregisters its job)."""
        for job_id, info in self.read_info(output).items():
            if info.get("State", "").split()[0:1] and info["State"].split()[0].upper() not in INCOMPLETE:
                (self.active / job_id).unlink(missing_ok=True)
