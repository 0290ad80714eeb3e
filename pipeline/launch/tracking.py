"""Is a recorded job still running, and why did it end: SLURM's answer or the local process's.

A launcher asks when it decides to adopt a recorded job or submit another (rarely: one query
per decision) and, while it waits, whether the job ended without writing its round (cheaply:
SLURM through the workflow's shared ``sacct`` answer, a local job through ``/proc``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
from pathlib import Path

import submitit
from submitit.core.utils import pickle_load

from pipeline.launch.poll import INCOMPLETE, SharedWatcher
from pipeline.launch.records import JobRecord

log = logging.getLogger("pipeline.launch")

GROWS = {"OUT_OF_MEMORY": "mem_mb", "TIMEOUT": "time_min"}
"""Final states a resubmission with twice the resource can mend, and the resource."""

TIMED_OUT = "timed-out too many times"
"""What submitit's error says when a job reached its time limit with no requeue left."""

LOCAL_CONTROLLER = "pipeline.launch.local"
"""What a local job's controller process runs (its pid is the job id)."""


def slurm_states(job_id: str) -> set[str]:
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


def _local_alive(pid: str) -> bool:
    """The local controller still runs (not a zombie, not a recycled pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z" and LOCAL_CONTROLLER.encode() in command


def alive(record: JobRecord) -> bool:
    """Whether the recorded job may still write its rounds (queued, running, requeued)."""
    if record.backend == "local":
        return _local_alive(record.job_id)
    return bool(slurm_states(record.job_id) & set(INCOMPLETE))


def ended(record: JobRecord, watcher: SharedWatcher | None) -> bool:
    """The cheap check of the wait loop: the job is over (the round's file is checked first)."""
    if record.backend == "local" or watcher is None:
        return not _local_alive(record.job_id)
    watcher.register_job(record.job_id)
    return watcher.is_done(record.job_id)


def outcome(record: JobRecord, round_name: str) -> str:
    """Why a job ended without writing ``round_name``: a state of ``GROWS`` if a bigger job may
    mend it; otherwise raises RuntimeError with the job's own error."""
    states = slurm_states(record.job_id) if record.backend == "slurm" else set()
    grown = next((state for state in GROWS if state in states), None)
    if grown is not None:
        return grown
    result = record.job.paths.result_pickle
    error = ""
    if result.exists():
        try:
            kind, value = pickle_load(result)
            error = f":\n{value}" if kind == "error" else ""
        except Exception as err:  # a truncated pickle: its log says more
            error = f" (unreadable result: {err})"
    if TIMED_OUT in error:
        return "TIMEOUT"  # submitit ended the job at the time limit's signal, with no requeue left
    state = "/".join(sorted(states)) or "ended"
    raise RuntimeError(
        f"job {record.job_id} {state.lower()} without writing {round_name} (log: {record.job.paths.stderr}){error}"
    )


def cancel(record: JobRecord) -> None:
    """Cancel the recorded job: scancel, or SIGINT to the local controller (it stops its task)."""
    if record.backend == "local":
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(record.job_id), signal.SIGINT)
        return
    submitit.SlurmJob(record.folder, record.job_id).cancel(check=False)
