"""``python -m pipeline.launch``: run one round through an explicit backend and block on it.

What a Snakemake rule's ``shell:`` calls. The round writes to a temporary name next to the
output, renamed into place only after success: a job orphaned by a killed workflow can never
resurrect an output Snakemake already deleted. SIGINT, SIGTERM and SIGHUP cancel the
submitted job before the launcher exits. Remote tracebacks go to stderr (the rule's log).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import submitit

from pipeline.config import ConfigError, load_config, run_spec
from pipeline.launch.executors import RESOURCE_KEYS, make_executor, resources_for
from pipeline.launch.jobs import RoundJob
from pipeline.prune import get_method
from pipeline.store.key import RoundKey
from pipeline.store.paths import checkpoint_dir, launch_file, submitit_folder

log = logging.getLogger("pipeline.launch")


class Cancelled(Exception):
    """The launcher received a termination signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"received {signal.Signals(signum).name}")
        self.signum = signum


def _raise_cancelled(signum: int, frame: FrameType | None) -> None:
    raise Cancelled(signum)


SCHEDULER_CHECK_S = 30.0
"""How often the scheduler itself (sacct) is asked; in between only the result file is checked."""


def _wait(job: submitit.Job, interval: float) -> None:
    """Block until the job is done: its result file appears, or the scheduler says it ended
    (cancelled, out of memory, node failure: jobs that never write a result)."""
    last_check = time.monotonic()
    while True:
        force = time.monotonic() - last_check >= SCHEDULER_CHECK_S
        if job.done(force_check=force):
            return
        if force:
            last_check = time.monotonic()
        time.sleep(interval)


def launch_round(
    config_path: Path,
    key: RoundKey,
    *,
    out: Path,
    previous: Path | None,
    backend: str | None = None,
    resources: dict[str, Any] | None = None,
    poll_s: float | None = None,
) -> Path:
    """Run the round through ``backend`` (default: the config's) and move its file to ``out``.

    ``resources`` override the config's launcher settings (``RESOURCE_KEYS``; None: unset).
    """
    config = load_config(config_path)
    spec = run_spec(config, key.arch, key.dataset, key.trial)
    if spec.run_hash != key.run_hash:
        raise ConfigError(
            f"the configuration hashes this run to {spec.run_hash}, but its output path says {key.run_hash}: "
            "the path is stale; let the workflow recompute its targets"
        )
    backend = backend or config.launcher.backend
    requested = resources_for(config.launcher, **(resources or {}))
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = launch_file(out)
    follows = get_method(key.method).follows if key.method else None
    reference = key.of_method(follows).file(config.results) if follows else None
    job = RoundJob(  # absolute paths: a cluster job need not start in this directory
        config_path=str(Path(config_path).resolve()),
        key=key,
        out=str(temporary.resolve()),
        previous=str(previous.resolve()) if previous else None,
        reference=str(reference.resolve()) if reference else None,
        checkpoint_dir=str(checkpoint_dir(out).resolve()),
    )
    handlers = {s: signal.signal(s, _raise_cancelled) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    submitted: submitit.Job | None = None
    try:
        if backend == "inline":
            job()
        else:
            folder = submitit_folder(config.launcher.log_dir)
            submitted = make_executor(backend, folder, requested, key.name).submit(job)
            log.info("submitted %s job %s (logs: %s)", backend, submitted.job_id, submitted.paths.folder)
            interval = poll_s if poll_s is not None else config.launcher.poll_s
            _wait(submitted, interval)
            try:
                submitted.result()
            except submitit.core.utils.FailedJobError as err:
                raise RuntimeError(f"job {submitted.job_id} failed:\n{err}") from None
            except submitit.core.utils.UncompletedJobError as err:
                raise RuntimeError(f"job {submitted.job_id} did not complete:\n{err}") from None
        os.replace(temporary, out)
        return out
    except Cancelled as cancelled:
        if submitted is not None:
            log.warning("%s: cancelling job %s", cancelled, submitted.job_id)
            submitted.cancel(check=False)
        raise
    finally:
        for s, handler in handlers.items():
            signal.signal(s, handler)
        temporary.unlink(missing_ok=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.launch",
        description="Run one pruning round through an explicit backend (inline, local, slurm) and wait for it.",
    )
    sub = parser.add_subparsers(dest="verb", required=True)
    rnd = sub.add_parser("round", help="launch one round")
    rnd.add_argument("--config", type=Path, required=True, help="resolved pipeline configuration (YAML)")
    RoundKey.add_arguments(rnd)
    rnd.add_argument("--out", type=Path, required=True)
    rnd.add_argument("--previous", type=Path)
    rnd.add_argument("--backend", choices=("inline", "local", "slurm"), help="default: the config's launcher.backend")
    group = rnd.add_argument_group("resources (from the rule's resources)")
    for name in ("gpus", "cpus", "mem-mb", "time-min", "max-requeues"):
        group.add_argument(f"--{name}", type=int)
    for name in ("partition", "account", "qos"):
        group.add_argument(f"--{name}", default="")
    group.add_argument("--gpu-request", choices=("gres", "gpus"))
    rnd.add_argument("--poll-s", type=float, help="seconds between job polls (default: the config's)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args = build_parser().parse_args(argv)
    resources = {name: getattr(args, name) for name in RESOURCE_KEYS}
    try:
        launch_round(
            args.config,
            RoundKey.from_args(args),
            out=args.out,
            previous=args.previous,
            backend=args.backend,
            resources=resources,
            poll_s=args.poll_s,
        )
    except Cancelled as cancelled:
        print(f"pipeline.launch: {cancelled}; the job was cancelled and no output was written", file=sys.stderr)
        return 128 + cancelled.signum
    except ConfigError as err:
        print(f"pipeline.launch: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError) as err:
        print(f"pipeline.launch: error: {err}", file=sys.stderr)
        return 1
    return 0
