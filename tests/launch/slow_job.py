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


class Units(submitit.helpers.Checkpointable):
    """Checkpointed work: ``target`` units of ``unit_s`` each, one line per unit appended to
    ``log`` (its line count is the progress a restart resumes from). Attempt k (counted in
    ``starts``) first sleeps ``start_delays[k]`` seconds while unpickling, before any signal
    handler exists: a seeded mix of slow and quick starts against the timeout signal."""

    def __init__(self, log: str, starts: str, target: int, unit_s: float, start_delays: list[float]) -> None:
        self.log, self.starts, self.target, self.unit_s, self.start_delays = log, starts, target, unit_s, start_delays

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        with open(self.starts, "a") as starts:
            starts.write("start\n")
        attempt = len(Path(self.starts).read_text().splitlines()) - 1
        time.sleep(self.start_delays[attempt] if attempt < len(self.start_delays) else 0.0)

    def __call__(self) -> int:
        log = Path(self.log)
        done = len(log.read_text().splitlines()) if log.exists() else 0
        for unit in range(done, self.target):
            time.sleep(self.unit_s)
            with open(log, "a") as out:
                out.write(f"{unit}\n")
        return self.target
