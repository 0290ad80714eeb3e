"""A round as a submitit job: picklable, light, and resumable after a requeue."""

from __future__ import annotations

import fcntl
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import submitit

from pipeline.config import load_config
from pipeline.store.key import RoundKey
from pipeline.store.paths import checkpoint_lock


@dataclass
class RoundJob(submitit.helpers.Checkpointable):
    """Holds only the round's key and paths; the model and data are built inside the job.

    On preemption or time-out submitit calls ``checkpoint`` (inherited), which resubmits this
    same light object; the requeued job then resumes training from the epoch checkpoint that
    ``run_round`` keeps on disk, instead of starting over.
    """

    config_path: str
    key: RoundKey
    out: str | None = None  # None: the workflow's path for this round
    previous: str | None = None
    checkpoint_dir: str | None = None  # not `checkpoint`: that name is submitit's requeue hook
    progress: bool | None = False
    reference: str | None = None  # a control's followed round (None: run_round's default path)
    final: str | None = None  # the workflow's output, when `out` is a launcher's temporary name for it

    def __call__(self) -> str:
        from pipeline.rounds import run_round  # here: torch loads in the job, not in the launchers that pickle it

        log_to_stderr()
        config = load_config(self.config_path)
        with sole_writer(self.checkpoint_dir):
            path = run_round(
                config,
                self.key,
                out=self.out,
                previous=self.previous,
                reference=self.reference,
                checkpoint=self.checkpoint_dir,
                progress=self.progress,
                finishing=timeout_deferred(),
            )
        return str(path)


def log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)


@contextmanager
def timeout_deferred() -> Iterator[None]:
    """Hold the timeout signal while the trained round writes its record and file.

    That part takes seconds and has no checkpoint to resume from: a requeue there would redo it
    after a queue wait. The scheduler signals ``signal_delay_s`` before its hard limit, so the
    round finishes inside that grace and a signal that came meanwhile is dropped; if the part
    fails instead, the signal is handled then (checkpoint and requeue, as before).
    """
    timeout = submitit.JobEnvironment._usr_sig()
    came: list[int] = []
    handler = signal.signal(timeout, lambda signum, _frame: came.append(signum))
    try:
        yield
    except BaseException:
        signal.signal(timeout, handler)
        if came and callable(handler):
            handler(timeout, None)
        raise
    signal.signal(timeout, handler)


@contextmanager
def sole_writer(directory: str | None) -> Iterator[None]:
    """Hold the checkpoint directory's lock for the round: a second job of the same round (two
    launchers, two workflows) fails at once instead of writing the same checkpoints."""
    if directory is None:
        yield
        return
    lock = checkpoint_lock(directory)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another job is writing this round's checkpoints (it holds {lock})") from None
        yield
        lock.unlink(missing_ok=True)  # the round is written; unlinked while held, so no two holders
