"""A round as a submitit job: picklable, light, and resumable after a requeue."""

from __future__ import annotations

from dataclasses import dataclass

import submitit

from pipeline.config import load_config
from pipeline.store.key import RoundKey


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

    def __call__(self) -> str:
        import logging
        import sys

        from pipeline.rounds import run_round

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
        config = load_config(self.config_path)
        path = run_round(
            config,
            self.key,
            out=self.out,
            previous=self.previous,
            reference=self.reference,
            checkpoint=self.checkpoint_dir,
            progress=self.progress,
        )
        return str(path)
