# Configuration and data (checked before any job starts), the grid, and the paths of every target.
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from pipeline.cli.configuration import inline_gpu_refusal, schema_text
from pipeline.config import load_config
from pipeline.data.locate import missing_data
from pipeline.fields import ConfigError, to_dict
from pipeline.runs import run_spec
from pipeline.prune import get_method, method_names
from pipeline.report.registry import figures, tables
from pipeline.store import RoundKey, paths

try:
    CFG = load_config(config)
except ConfigError as err:
    raise WorkflowError(f"invalid configuration: {err}") from None


def _write_if_changed(path, text):
    """Write ``text`` to ``path`` atomically, leaving the file (and its mtime) alone if equal."""
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = paths.sibling_partial(path)
        partial.write_text(text)
        partial.replace(path)
    return str(path)


# The schema of the code that runs (registered methods and architectures included);
# workflow/schemas/ keeps the committed reference copy.
validate(
    config,
    str(Path(_write_if_changed(paths.run_schema_file(), schema_text())).resolve()),
)

# Every pair's data set is looked for (not read) before any job, dry runs included: a missing
# one would otherwise surface only when its first round starts, on a compute node.
MISSING_DATA = missing_data(CFG.grid.pairs, CFG.data.root, CFG.data.download)
if MISSING_DATA:
    raise WorkflowError(*MISSING_DATA)

RESULTS = CFG.results
PAIRS = [tuple(pair.split("/")) for pair in CFG.grid.pairs]
HEAVY_THREADS = (
    max(CFG.recipe(arch, dataset).threads for arch, dataset in PAIRS)
    if CFG.launcher.backend in ("inline", "local")
    else 1
)
TABLES = list(tables())
FIGURES = list(figures())


RUN_HASH = {
    f"{arch}/{dataset}": run_spec(CFG, arch, dataset, 0).run_hash
    for arch, dataset in PAIRS
}


def _write_run_config(run_hash):
    """The validated configuration as the file a run's jobs read, named by the run hash.

    Its name changes only when the run's results would (the hash is in every output path),
    so settings that leave results alone (trials, launcher, data root) rerun nothing.
    """
    text = yaml.safe_dump(to_dict(CFG), sort_keys=True)
    return _write_if_changed(paths.run_config_file(run_hash), text)


RUN_CONFIG = {pair: _write_run_config(run_hash) for pair, run_hash in RUN_HASH.items()}


def run_config(wildcards):
    return RUN_CONFIG[f"{paths.arch_of_dir(wildcards.arch)}/{wildcards.dataset}"]


wildcard_constraints:
    arch=paths.ARCH_DIR_PATTERN,
    dataset="[a-z0-9-]+",
    run_hash="[0-9a-f]{10}",
    trial=r"\d+",
    method="|".join(method_names()),
    round=r"[1-9]\d*",


def round_path(arch, dataset, trial, method, round_index):
    run_hash = RUN_HASH[f"{arch}/{dataset}"]
    key = RoundKey(arch, dataset, run_hash, trial, round_index, method)
    return str(key.file(RESULTS))


def pair_round_files(arch, dataset):
    """Every round file of one pair: the shared dense round, then each method's rounds."""
    files = []
    for trial in range(CFG.grid.trials):
        files.append(round_path(arch, dataset, trial, None, 0))
        for method in CFG.grid.methods:
            for k in range(1, CFG.grid.rounds + 1):
                files.append(round_path(arch, dataset, trial, method, k))
    return files


def dense_round_files():
    return [
        round_path(arch, dataset, trial, None, 0)
        for arch, dataset in PAIRS
        for trial in range(CFG.grid.trials)
    ]


def all_round_files():
    return [f for arch, dataset in PAIRS for f in pair_round_files(arch, dataset)]


def round_key_args(wildcards):
    """The round's key as the launcher's command-line arguments."""
    return " ".join(RoundKey.from_wildcards(wildcards).to_args())


def previous_round(wildcards):
    """Round k - 1 of the same method; round 1 continues the shared dense round."""
    return str(RoundKey.from_wildcards(wildcards).previous.file(RESULTS))


def reference_args(wildcards, input):
    """``--reference FILE`` for a round that reads another method's round, else nothing."""
    return f"--reference {input.reference}" if input.reference else ""


def reference_round(wildcards):
    """A method that follows another (a control) reads its round of the same trial and index."""
    reference = RoundKey.from_wildcards(wildcards).reference_file(RESULTS)
    return [str(reference)] if reference else []


def figure_files(arch, dataset):
    return [paths.figure_file(RESULTS, arch, dataset, name) for name in FIGURES]


def final_outputs():
    targets = [
        paths.table_file(RESULTS, name, ext)
        for name in [*TABLES, "eta_tau"]
        for ext in paths.TABLE_FORMATS
    ]
    for arch, dataset in PAIRS:
        targets += figure_files(arch, dataset)
    return targets


def _gpus(resources):
    """The `gpus` of Snakemake resources (a rule's after set-resources, or --resources) when
    known before any job; an expression evaluated per job counts as none."""
    resource = resources.get("gpus")
    value = None if resource.is_evaluable() else resource.value
    return value if isinstance(value, int) else 0


def refuse_inline_gpus():
    """Stop a run that asks for GPUs while its rounds would train in Snakemake's own process:
    a rule's `gpus` (launcher.gpus, or set-resources) or a --resources gpus limit (the SLURM
    profile's) under launcher.backend inline, e.g. `--profile slurm --configfile my.yaml`
    without slurm/launcher.yaml. Called once every rule exists."""
    requests = [
        f"{rule.name}: gpus={_gpus(rule.resources)}"
        for rule in workflow.rules
        if _gpus(rule.resources)
    ]
    limit = _gpus(workflow.global_resources)
    if limit:
        requests.append(f"--resources gpus={limit}")
    refusal = inline_gpu_refusal(CFG.launcher.backend, requests)
    if refusal:
        raise WorkflowError(refusal)
