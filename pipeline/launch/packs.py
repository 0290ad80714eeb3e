"""Several rounds in one allocation (``launcher.pack``): which rounds, and the job that runs them.

The DAG of record stays one Snakemake job per round. What a pack changes is how rounds map to
scheduler jobs: ``round`` submits one job per round; ``chain`` one per (pair, trial, method)
chain of pruning rounds, a control in the chain of the method it follows; ``trial`` one per
(pair, trial), its dense round and then every chain. ``launcher.rounds_per_job`` cuts a pack into
consecutive segments of at most that many rounds. The first launcher of a segment submits it;
the launchers of its later rounds find the job in their round's record and wait for their file.

A :class:`PackJob` is one warm process (torch imported, data on the device once), or
``concurrent`` worker processes that run independent chains side by side. Each round is written
to its launcher's temporary name; the launcher moves it into place, as for a single round.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import submitit

from pipeline.config import Config, LauncherConfig
from pipeline.launch.jobs import RoundJob, log_to_stderr
from pipeline.launch.records import CONFIRM_S, current_job_id, owns
from pipeline.prune import get_method
from pipeline.store.key import RoundKey
from pipeline.store.paths import checkpoint_dir
from pipeline.store.runfile import read_attrs

log = logging.getLogger("pipeline.launch")

PACKS = ("round", "chain", "trial")


def _chain_root(method: str, methods: Sequence[str]) -> str:
    """The method whose chain runs ``method``: a control follows its method's chain (when the
    grid has that method), recursively."""
    follows = get_method(method).follows
    return _chain_root(follows, methods) if follows in methods else method


def _chain(dense: RoundKey, root: str, methods: Sequence[str], rounds: int) -> list[RoundKey]:
    """Rounds 1..R of ``root`` and of the methods that follow it, in dependency order."""
    members = [m for m in methods if _chain_root(m, methods) == root]
    members.sort(key=lambda m: m != root)  # the followed method first in every round
    return [replace(dense, round=k, method=m) for k in range(1, rounds + 1) for m in members]


def pack_of(config: Config, key: RoundKey) -> list[RoundKey]:
    """The rounds one job runs together with ``key``, in dependency order (``key`` among them)."""
    grid, mode = config.grid, config.launcher.pack
    dense, methods = replace(key, round=0, method=None), list(grid.methods)
    if mode == "round" or (mode == "chain" and key.round == 0) or key.method not in (None, *methods):
        pack = [key]  # a round outside the grid (run by hand) packs alone
    elif mode == "chain":
        pack = _chain(dense, _chain_root(key.method, methods), methods, grid.rounds)
    else:
        roots = list(dict.fromkeys(_chain_root(m, methods) for m in methods))
        pack = [dense] + [k for root in roots for k in _chain(dense, root, methods, grid.rounds)]
    cap = config.launcher.rounds_per_job or len(pack)
    start = pack.index(key) // cap * cap
    return pack[start : start + cap]


START_S = 120.0
"""Start-up a job's time request allows for (interpreter, torch, CUDA, data), in seconds."""

MARGIN = 1.5
"""How much longer than the recorded rounds a job's time request allows them to take."""


def _recorded_round_s(config: Config, key: RoundKey) -> float | None:
    """The longest a finished round of the same run took in its process (its ``wall_seconds``)."""
    run_dir = key.file(config.results).parents[1 if key.round == 0 else 2]
    seconds = []
    for path in sorted(run_dir.glob("trial*/**/round*.h5"))[:64]:
        try:
            seconds.append(read_attrs(path).wall_seconds)
        except (OSError, ValueError, KeyError):  # a file being written, or of another schema
            continue
    return max(seconds, default=None)


def allocation(config: Config, requested: LauncherConfig, keys: list[RoundKey]) -> LauncherConfig:
    """What a job of ``keys`` asks for: memory for the rounds it runs at once, and the time its
    rounds took before in this run plus start-up, with a margin (``requested.time_min`` when
    nothing is recorded yet, and at most that)."""
    concurrent = min(config.launcher.concurrent, len(keys))
    per_round = _recorded_round_s(config, keys[0])
    time_min = requested.time_min
    if per_round is not None:
        serial = math.ceil(len(keys) / concurrent)
        time_min = min(time_min, math.ceil((START_S + MARGIN * per_round * serial) / 60))
    return replace(requested, mem_mb=requested.mem_mb * concurrent, time_min=time_min)


def _settled(final: str | None, produced: dict[str, str], into: Path) -> str | None:
    """A stable path to an input round: its final file, or a link to the temporary name this job
    wrote it to (the round's launcher may move that file at any moment)."""
    if final is None or final not in produced:
        return final
    for _ in range(100):
        if Path(final).exists():
            return final
        link = into / f"input-{Path(final).name}"
        try:
            link.unlink(missing_ok=True)
            os.link(produced[final], link)
            return str(link)
        except FileNotFoundError:  # moved meanwhile: its final file is there now
            time.sleep(0.05)
    return final


def run_step(job: RoundJob, produced: dict[str, str]) -> str:
    """One round of a pack, its inputs resolved to files this job or earlier ones wrote."""
    scratch = Path(job.checkpoint_dir or checkpoint_dir(job.final or job.out or "round.h5"))
    scratch.mkdir(parents=True, exist_ok=True)
    resolved = replace(
        job, previous=_settled(job.previous, produced, scratch), reference=_settled(job.reference, produced, scratch)
    )
    return resolved()


def _worker_start(gpus: int, counter: object) -> None:
    """A pool worker: its share of the allocation's GPUs; the timeout signal is the pack's, not its."""
    signal.signal(submitit.JobEnvironment._usr_sig(), signal.SIG_IGN)
    with counter.get_lock():  # type: ignore[attr-defined]
        index = counter.value  # type: ignore[attr-defined]
        counter.value += 1  # type: ignore[attr-defined]
    if gpus > 1:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(index % gpus)


@dataclass
class PackJob(submitit.helpers.Checkpointable):
    """Rounds of one allocation in dependency order; each ``RoundJob`` names its ``final`` output.

    Requeued (time limit, preemption, ``scontrol requeue``), the same object runs again: rounds
    already written are skipped and the one in flight resumes from its epoch checkpoint. A round
    whose record no longer names this job (another job took it over) is skipped, and so is every
    round that needs one that failed; the job fails at the end if any round failed.
    """

    rounds: list[RoundJob]
    concurrent: int = 1
    gpus: int = 0
    ledger: str | None = None  # a file each written round appends "name job_id time" to
    confirm_s: float = CONFIRM_S
    failures: dict[str, str] = field(default_factory=dict, init=False)  # key name: why

    def __call__(self) -> list[str]:
        log_to_stderr()
        self.failures = {}
        produced = {r.final: r.out for r in self.rounds if r.final and r.out}
        todo = [r for r in self.rounds if not self._written(r)]
        if todo and not owns(todo[0].final, todo[0].out, wait_s=self.confirm_s):
            log.warning("no launcher recorded this job for %s: it was superseded; exiting", todo[0].key.name)
            return []
        if self.concurrent > 1 and len(todo) > 1:
            self._run_pool(todo, produced)
        else:
            self._run_all(todo, produced)
        if self.failures:
            raise RuntimeError(
                "rounds failed in this job:\n" + "\n".join(f"{k}: {e}" for k, e in self.failures.items())
            )
        return [r.out for r in self.rounds if r.out]

    @staticmethod
    def _written(r: RoundJob) -> bool:
        return any(p is not None and Path(p).exists() for p in (r.final, r.out))

    def _may_run(self, r: RoundJob) -> bool:
        """No if ``r`` needs a round that failed here (it fails too) or another job owns it now."""
        failed = {j.final for j in self.rounds if j.key.name in self.failures}
        needed = [name for name in (r.previous, r.reference) if name in failed]
        if needed:
            log.warning("skipping %s: it needs %s, which failed", r.key.name, needed[0])
            self.failures[r.key.name] = f"skipped: it needs {needed[0]}, which failed"
            return False
        if not owns(r.final, r.out):
            log.warning("skipping %s: its record names another job", r.key.name)
            return False
        return True

    def _ended(self, r: RoundJob, error: BaseException | None) -> None:
        """Note a written round in the ledger, or keep why it failed (the job goes on without it)."""
        if error is not None:
            log.error("%s failed: %s: %s", r.key.name, type(error).__name__, error)
            self.failures[r.key.name] = f"{type(error).__name__}: {error}"
        elif self.ledger:
            with open(self.ledger, "a") as ledger:
                ledger.write(f"{r.key.name} {current_job_id()} {time.time():.0f}\n")

    def _run_all(self, todo: list[RoundJob], produced: dict[str, str]) -> None:
        for r in todo:
            if not self._may_run(r):
                continue
            try:
                run_step(r, produced)
            except submitit.core.utils.UncompletedJobError:
                raise  # the time limit with no requeue left: the whole job ends here, its launchers resubmit
            except Exception as err:  # the job goes on with the rounds that do not need this one
                log.exception("%s failed", r.key.name)
                self._ended(r, err)
            else:
                self._ended(r, None)

    def _run_pool(self, todo: list[RoundJob], produced: dict[str, str]) -> None:
        """Up to ``concurrent`` rounds at once, each as soon as the rounds it needs are written."""
        context = get_context("spawn")  # CUDA cannot be forked; each worker imports torch once
        counter = context.Value("i", 0)
        pending = list(todo)
        running: dict[Future, RoundJob] = {}
        with ProcessPoolExecutor(self.concurrent, context, _worker_start, (self.gpus, counter)) as pool:
            while pending or running:
                for r in [r for r in pending if self._ready(r, pending, running)]:
                    pending.remove(r)
                    if self._may_run(r):
                        running[pool.submit(run_step, r, produced)] = r
                if running:
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        self._ended(running.pop(future), future.exception())

    @staticmethod
    def _ready(r: RoundJob, pending: list[RoundJob], running: dict[Future, RoundJob]) -> bool:
        """No round this one reads is still to run or running in this job."""
        waiting = {j.final for j in (*pending, *running.values())}
        return not ({r.previous, r.reference} & waiting)
