# Configuration (validated before any job starts), the grid, and the paths of every target.
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from pipeline.config import ConfigError, load_config, run_spec, to_dict
from pipeline.report import FIGURES
from pipeline.store import paths

try:
    CFG = load_config(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None
validate(config, "../schemas/config.schema.yaml")

RESULTS = CFG.results
PAIRS = [tuple(pair.split("/")) for pair in CFG.grid.pairs]
HEAVY_THREADS = (
    max(CFG.recipe(arch, dataset).threads for arch, dataset in PAIRS)
    if CFG.launcher.backend in ("inline", "local")
    else 1
)
TABLES = ["accuracy", "overlap", "np_rounds", "np_epochs"]


RUN_HASH = {
    f"{arch}/{dataset}": run_spec(CFG, arch, dataset, 0).run_hash
    for arch, dataset in PAIRS
}


def _write_run_config(run_hash):
    """The validated configuration as the file a run's jobs read, named by the run hash.

    Its name changes only when the run's results would (the hash is in every output path),
    so settings that leave results alone (trials, launcher, data root) rerun nothing.
    """
    path = Path(".snakemake/pipeline") / f"config-{run_hash}.yaml"
    text = yaml.safe_dump(to_dict(CFG), sort_keys=True)
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_text(text)
        partial.replace(path)
    return str(path)


RUN_CONFIG = {pair: _write_run_config(run_hash) for pair, run_hash in RUN_HASH.items()}


def run_config(wildcards):
    return RUN_CONFIG[f"{wildcards.arch}/{wildcards.dataset}"]


wildcard_constraints:
    arch="[a-z0-9]+",
    dataset="[a-z0-9-]+",
    run_hash="[0-9a-f]{10}",
    trial=r"\d+",
    method="imp|timp",
    round=r"[1-9]\d*",


def round_path(arch, dataset, trial, method, round_index):
    run_hash = RUN_HASH[f"{arch}/{dataset}"]
    return str(
        paths.round_file(RESULTS, arch, dataset, run_hash, trial, method, round_index)
    )


def pair_round_files(arch, dataset):
    """Every round file of one pair: the shared dense round, then each method's rounds."""
    files = []
    for trial in range(CFG.grid.trials):
        files.append(round_path(arch, dataset, trial, "dense", 0))
        for method in CFG.grid.methods:
            for k in range(1, CFG.grid.rounds + 1):
                files.append(round_path(arch, dataset, trial, method, k))
    return files


def dense_round_files():
    return [
        round_path(arch, dataset, trial, "dense", 0)
        for arch, dataset in PAIRS
        for trial in range(CFG.grid.trials)
    ]


def all_round_files():
    return [f for arch, dataset in PAIRS for f in pair_round_files(arch, dataset)]


def previous_round(wildcards):
    """Round k - 1 of the same method; round 1 continues the shared dense round."""
    k = int(wildcards.round)
    method = wildcards.method if k > 1 else "dense"
    return str(
        paths.round_file(
            RESULTS,
            wildcards.arch,
            wildcards.dataset,
            wildcards.run_hash,
            int(wildcards.trial),
            method,
            k - 1,
        )
    )


def figure_files(arch, dataset):
    return [f"{RESULTS}/figures/{arch}/{dataset}/{name}.png" for name in FIGURES]


def final_outputs():
    targets = [
        f"{RESULTS}/tables/{name}.{ext}"
        for name in [*TABLES, "eta_tau"]
        for ext in ("csv", "md")
    ]
    for arch, dataset in PAIRS:
        targets += figure_files(arch, dataset)
    return targets
