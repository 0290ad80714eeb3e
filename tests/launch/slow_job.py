"""A job for the local controller's tests, in a module of its own: a job's module is imported
before its signal handler is installed, so it must import nothing slow (the test module imports torch)."""

import time
from pathlib import Path

import submitit


class SlowToStart(submitit.helpers.Checkpointable):
    """A job still unpickling (no signal handler yet) when the timeout signal comes: on its first
    attempt only while ``marker`` does not exist yet, on every attempt without a marker."""

    def __init__(self, marker: str | None = None) -> None:
        self.marker = marker

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if self.marker is None or not Path(self.marker).exists():
            if self.marker is not None:
                Path(self.marker).touch()
            time.sleep(30)

    def __call__(self) -> str:
        return "started"
