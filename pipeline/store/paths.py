"""Every path the pipeline writes, built in one place (the workflow, the launcher, training and
the tests import these).

Layout (under the configured ``results`` directory)::

    runs/{arch}/{dataset}/{run_hash}/trial{t}/round0.h5          dense round, shared by methods
    runs/{arch}/{dataset}/{run_hash}/trial{t}/{method}/round{k}.h5
    runs/…/round{k}.h5.ckpt/state.pt                            epoch checkpoint while it trains
    logs/runs/…/round{k}.log, benchmarks/runs/…/round{k}.tsv    one per round job
    tables/{name}.{csv,md}, figures/{arch}/{dataset}/{name}.png  aggregates
    logs/tables.log, logs/eta_tau.log, logs/figures/{arch}/{dataset}.log
    report.html

``run_hash`` hashes every setting that decides the numbers (``pipeline.runs.run_hash``), so
runs of different configurations never overwrite each other.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from pipeline.models.registry import TORCHVISION

ROUND_PATTERN = "runs/{arch}/{dataset}/{run_hash}/trial{trial}/{method}/round{round}.h5"
DENSE_PATTERN = "runs/{arch}/{dataset}/{run_hash}/trial{trial}/round0.h5"
FIGURE_PATTERN = "figures/{arch}/{dataset}/{name}.png"
TABLE_PATTERN = "tables/{name}.{ext}"
TABLE_FORMATS = ("csv", "md")
CHECKPOINT_NAME = "state.pt"
RUN_CONFIG_DIR = Path(".snakemake/pipeline")
TORCHVISION_DIR = TORCHVISION.replace(":", "-")

REPOSITORY = Path(__file__).resolve().parents[2]
"""The checkout: the report's captions and the reference docs generated from the code."""
CAPTION_DIR = REPOSITORY / "workflow" / "report"
CONFIG_SCHEMA = REPOSITORY / "workflow" / "schemas" / "config.schema.yaml"
CONFIG_REFERENCE = REPOSITORY / "config" / "README.md"
HDF5_REFERENCE = REPOSITORY / "docs" / "hdf5-schema.md"


def arch_dir(arch: str) -> str:
    """An architecture as a path component: ``tv:NAME`` is ``tv-NAME`` (a colon is awkward in
    shells and refused by some file systems); a registered name is itself (it has no hyphen)."""
    return arch.replace(TORCHVISION, TORCHVISION_DIR, 1) if arch.startswith(TORCHVISION) else arch


def arch_of_dir(name: str) -> str:
    """The architecture a path component names (``arch_dir`` read back, e.g. from a wildcard)."""
    return name.replace(TORCHVISION_DIR, TORCHVISION, 1) if name.startswith(TORCHVISION_DIR) else name


ARCH_DIR_PATTERN = f"({TORCHVISION_DIR})?[a-z0-9_]+"
"""What an architecture's path component matches (the workflow's ``arch`` wildcard)."""


def round_file(
    results: str | Path, arch: str, dataset: str, run_hash: str, trial: int, method: str | None, round_index: int
) -> Path:
    """The HDF5 file of one round; round 0 is shared by all methods of a trial."""
    if round_index == 0:
        return Path(results) / DENSE_PATTERN.format(
            arch=arch_dir(arch), dataset=dataset, run_hash=run_hash, trial=trial
        )
    return Path(results) / ROUND_PATTERN.format(
        arch=arch_dir(arch), dataset=dataset, run_hash=run_hash, trial=trial, method=method, round=round_index
    )


def log_of(results: str | Path, pattern: str) -> str:
    """The log file of a job whose output is ``results/pattern`` (a path or wildcard pattern)."""
    return f"{results}/logs/{Path(pattern).with_suffix('.log')}"


def benchmark_of(results: str | Path, pattern: str) -> str:
    """The Snakemake ``benchmark:`` file of a round job (it times the launcher, queue wait included)."""
    return f"{results}/benchmarks/{Path(pattern).with_suffix('.tsv')}"


def table_file(results: str | Path, name: str, ext: str) -> str:
    return f"{results}/{TABLE_PATTERN.format(name=name, ext=ext)}"


def figure_file(results: str | Path, arch: str, dataset: str, name: str) -> str:
    return f"{results}/{FIGURE_PATTERN.format(arch=arch_dir(arch), dataset=dataset, name=name)}"


def in_dir(directory: str | Path, pattern: str, **fields: str) -> Path:
    """A table or figure file inside ``directory`` (what ``--out-dir`` names): the pattern's
    file name, e.g. ``in_dir(out, TABLE_PATTERN, name="accuracy", ext="csv")``."""
    return Path(directory) / Path(pattern).name.format(**fields)


def report_file(results: str | Path) -> str:
    return f"{results}/report.html"


def run_config_file(run_hash: str) -> Path:
    """The validated configuration a run's jobs read, named by the run hash."""
    return RUN_CONFIG_DIR / f"config-{run_hash}.yaml"


def run_schema_file() -> Path:
    """The configuration schema generated from the running code, for Snakemake's validation."""
    return RUN_CONFIG_DIR / "config.schema.yaml"


def checkpoint_dir(out: str | Path) -> Path:
    """Training checkpoints of the round that writes ``out`` (removed when it completes)."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def checkpoint_lock(directory: str | Path) -> Path:
    """The lock a round's job holds while it writes its checkpoint directory (one writer at a time)."""
    directory = Path(directory)
    return directory.with_name(f".{directory.name}.lock")


def checkpoint_file(directory: str | Path) -> Path:
    return Path(directory) / CHECKPOINT_NAME


def partial_file(out: str | Path) -> Path:
    """Where a round file is written before it is complete (renamed into place at the end)."""
    out = Path(out)
    return out.with_name(f".{out.name}.partial-{os.getpid()}")


def launch_file(out: str | Path) -> Path:
    """Where a launcher's job writes a round before the launcher moves it to ``out``."""
    out = Path(out)
    return out.with_name(f".{out.name}.launch-{uuid.uuid4().hex[:8]}")


def job_record(out: str | Path) -> Path:
    """Which scheduler job is writing ``out`` (a launcher records it; a relaunch adopts it)."""
    out = Path(out)
    return out.with_name(f".{out.name}.job")


def attempt_files(out: str | Path) -> list[Path]:
    """Temporary files of every attempt at ``out``: launch targets, their partial writes, partial
    records."""
    out = Path(out)
    patterns = (
        f".{out.name}.launch-*",
        f"..{out.name}.launch-*",
        f".{out.name}.partial-*",
        f"..{out.name}.job.partial-*",
    )
    return sorted({p for pattern in patterns for p in out.parent.glob(pattern)})


def finished_link(out: str | Path) -> Path:
    """A second name of a finished round, kept until the workflow has seen the round in place."""
    out = Path(out)
    return out.with_name(f".{out.name}.done")


def round_ledger(log_dir: str | Path) -> Path:
    """One line per round a job wrote (name, job id, time): what counts rounds trained twice."""
    return Path(log_dir) / "rounds.ledger"


def pack_lock(log_dir: str | Path, first: str) -> Path:
    """Held while a launcher decides which job writes a round of the pack whose first round is named ``first``."""
    return Path(log_dir) / "packs" / f"{first}.lock"


def launcher_lock(out: str | Path) -> Path:
    """The lock of the one launcher of ``out`` at a time."""
    out = Path(out)
    return out.with_name(f".{out.name}.launcher")


def scheduler_dir(log_dir: str | Path) -> Path:
    """Where the launchers of a workflow share one view of the scheduler (``pipeline.launch.poll``)."""
    return Path(log_dir) / "scheduler"


def scheduler_answer(directory: str | Path) -> Path:
    """The shared ``sacct`` answer in a scheduler directory (``scheduler_dir``)."""
    return Path(directory) / "sacct.out"


def scheduler_lock(directory: str | Path) -> Path:
    """Held by the launcher that refreshes the shared answer."""
    return Path(directory) / "lock"


def scheduler_active(directory: str | Path) -> Path:
    """One empty file per job id some launcher waits on (the ids the next query asks about)."""
    return Path(directory) / "active"


def caption_name(kind: str, name: str) -> str:
    """The caption file of a registered figure or table, in ``CAPTION_DIR``."""
    return f"{kind}_{name}.rst"


def sibling_partial(path: str | Path) -> Path:
    """The temporary name of a small file (checkpoint, run config) written then renamed."""
    path = Path(path)
    return path.with_name(path.name + ".partial")


def submitit_folder(log_dir: str | Path) -> Path:
    """Where submitit keeps a job's script, pickles and logs: one folder per job id."""
    return Path(log_dir) / "%j"
