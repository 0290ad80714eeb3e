"""What a round cost: where it ran, how long it queued and ran, its peak memory, its GPUs.

The job records what its own process sees (``provenance.process_account``: host, SLURM's
requeue count, wall time, peak RSS); under SLURM the launcher then writes the scheduler's
account of every attempt over it (one ``sacct`` call per finished round, a few while SLURM
closes the job's record). A Snakemake ``benchmark:`` file times the launcher instead: queue
wait included, the job's own memory not.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import h5py

from pipeline.store.record import JobAccount

FINAL = (
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
    "REVOKED",
)  # fmt: skip


def _mib(text: str) -> float:
    """sacct's MaxRSS ("123456K", "1.5G") in MiB."""
    if not text:
        return 0.0
    units = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2}
    return float(text[:-1]) * units[text[-1]] if text[-1] in units else float(text) / 2**20


def _seconds_between(start: str, end: str) -> float:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return 0.0


def _gpus(tres: str) -> int | None:
    """GPUs in AllocTRES (``gres/gpu=2`` or ``gres/gpu:a100=2``); None where the site does not
    account GPUs (the job's own count stands)."""
    for item in tres.split(","):
        if item.startswith("gres/gpu") and "=" in item:
            return int(item.split("=")[1])
    return None


def _sacct(job_ids: Sequence[str]) -> list[dict[str, str]]:
    fields = ["JobID", "State", "NodeList", "Submit", "Start", "ElapsedRaw", "MaxRSS", "AllocTRES"]
    command = ["sacct", "-n", "-P", "--duplicates", "-o", ",".join(fields), "-j", ",".join(job_ids)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    return [dict(zip(fields, line.split("|"), strict=False)) for line in out.splitlines() if line.strip()]


def slurm_account(job_ids: Sequence[str], settle_s: float = 10.0) -> JobAccount | None:
    """The scheduler's account of a round's attempts (the last one finished it). A job's result
    file appears before SLURM closes its record: ask again, every 2 s, until it is final."""
    deadline = time.monotonic() + settle_s
    while True:
        try:
            rows = _sacct(job_ids)
        except (OSError, subprocess.SubprocessError):
            return None
        allocations = [r for r in rows if "." not in r["JobID"]]  # every run, requeues included
        last = next((r for r in reversed(allocations) if r["JobID"] == job_ids[-1]), None)
        if (last is not None and (last["State"].split() or [""])[0] in FINAL) or time.monotonic() > deadline:
            break
        time.sleep(2.0)
    if last is None:
        return None
    steps = [r for r in rows if r["JobID"].startswith(f"{job_ids[-1]}.")]
    return JobAccount(
        job_ids=",".join(job_ids),
        node=last["NodeList"],
        queue_wait_s=max(0.0, _seconds_between(last["Submit"], last["Start"])),
        elapsed_s=float(sum(int(r["ElapsedRaw"] or 0) for r in allocations)),
        peak_rss_mb=max((_mib(r["MaxRSS"]) for r in steps), default=0.0) or None,  # None: not gathered
        gpus=_gpus(last["AllocTRES"]),
    )


def packed_share(account: JobAccount, rounds: int, position: int) -> JobAccount:
    """One round's share of its job's account: the job's node, GPUs, ids and length; the queue
    wait charged to the job's first round only; in a pack of several rounds the round's own
    elapsed time and peak memory (already in its file) stand instead of the whole job's."""
    shared = replace(account, job_rounds=rounds, allocation_s=account.elapsed_s)
    if rounds == 1:
        return shared
    return replace(
        shared, elapsed_s=None, peak_rss_mb=None, queue_wait_s=account.queue_wait_s if position == 0 else 0.0
    )


def write_account(path: Path, account: JobAccount) -> None:
    """Write the scheduler's account over the job's own into a round file (not yet in place)."""
    with h5py.File(path, "r+") as f:
        for key, value in account.to_attrs().items():
            if value is not None:  # a site that gathers no MaxRSS keeps the job's own peak
                f.attrs[key] = value
