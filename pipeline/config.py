"""The pipeline's configuration: its sections, their cross-registry checks, and ``load_config``.

Each section is a frozen dataclass built with ``pipeline.fields.opt`` (help, default and limits
in one place; the same metadata validates, and generates ``workflow/schemas/config.schema.yaml``
and config/README.md). The pruning section lives beside the methods (``pipeline.prune.settings``)
and run identity in ``pipeline.runs``. A bad key, type or value raises ``ConfigError`` naming the
key and what is allowed, before any job starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pipeline.data.registry import get_dataset_info, train_count
from pipeline.fields import ConfigError, deep_merge, opt, parse, read_yaml, to_dict
from pipeline.models.registry import (
    TORCHVISION,
    check_pair,
    is_torchvision,
    list_models,
    torchvision_pattern,
    valid_pairs,
)
from pipeline.prune.registry import default_methods, get_method, method_names
from pipeline.prune.settings import PruningConfig
from pipeline.topology.conventions import Convention
from pipeline.topology.null import NullSettings


def valid_pair_names() -> list[str]:
    """Every registered architecture/data-set pair, as the configuration spells it."""
    return [f"{arch}/{dataset}" for arch, dataset in valid_pairs()]


def _torchvision_pairs() -> str:
    return torchvision_pattern(with_dataset=True)


def _torchvision_keys() -> str:
    return torchvision_pattern(with_dataset=False)


def _recipe_keys() -> list[str]:
    return sorted(list_models() + valid_pair_names())


@dataclass(frozen=True)
class GridConfig:
    """Which runs exist: architecture x data set pairs, methods, trials and rounds."""

    pairs: tuple[str, ...] = opt(
        ("fcn/mnist-5k",),
        "architecture/data-set pairs to run (docs/science.md §6); tv:NAME/DATASET runs any torchvision classifier",
        choices=valid_pair_names,
        also=_torchvision_pairs,
    )
    methods: tuple[str, ...] = opt(
        None,
        "pruning methods compared (default: every method that is not a control)",
        choices=method_names,
        factory=default_methods,
    )
    trials: int = opt(2, "independent trials (seeds) per pair", minimum=1)
    rounds: int = opt(3, "pruning rounds after the dense round 0", minimum=0)


@dataclass(frozen=True)
class DataConfig:
    """Where data sets live and whether torchvision may download them."""

    root: str = opt("data", "torchvision data root (relative to the working directory)")
    download: bool = opt(False, "let torchvision download missing data sets (needs internet)")
    test_fraction: float = opt(
        0.2,
        "share of mnist-5k held out for testing (stratified, fixed)",
        exclusive_minimum=0,
        exclusive_maximum=1,
    )
    verify_checksums: bool = opt(True, "check torchvision's md5 sums of CIFAR batch files")
    train_subset: int = opt(
        0, "train on a fixed, class-stratified subset of this many training images (0: all of them)", minimum=0
    )
    test_subset: int = opt(
        0, "evaluate on a fixed, class-stratified subset of this many test images (0: all of them)", minimum=0
    )
    subset_seed: int = opt(0, "seed that picks the subsets (the same subsets for every trial and method)", minimum=0)


@dataclass(frozen=True)
class TrainingConfig:
    """One training recipe; ``recipes`` override it per architecture or pair."""

    optimizer: Literal["sgd", "adam"] = opt("sgd", "optimizer")
    lr: float = opt(0.1, "learning rate", exclusive_minimum=0)
    momentum: float = opt(0.9, "SGD momentum", minimum=0, exclusive_maximum=1)
    nesterov: bool = opt(False, "Nesterov momentum (SGD)")
    weight_decay: float = opt(1e-4, "L2 weight decay", minimum=0)
    epochs: int = opt(10, "epochs per round", minimum=1)
    batch_size: int = opt(128, "training batch size", minimum=1)
    lr_schedule: Literal["constant", "step", "cosine"] = opt("constant", "learning-rate schedule (per epoch)")
    milestones: tuple[int, ...] = opt((), "epochs at which the step schedule multiplies lr by gamma")
    gamma: float = opt(0.1, "step schedule factor", exclusive_minimum=0, maximum=1)
    label_smoothing: float = opt(0.0, "cross-entropy label smoothing", minimum=0, exclusive_maximum=1)
    augment: bool = opt(True, "random crop + flip where the data set defines them (CIFAR, Tiny-ImageNet)")
    track_np: bool = opt(True, "record every layer's neural persistence after every epoch (docs/science.md §7)")
    threads: int = opt(2, "CPU threads for torch (fixed so results do not depend on the host)", minimum=1)
    eval_batch_size: int = opt(1000, "batch size for evaluation", minimum=1)


@dataclass(frozen=True)
class LauncherConfig:
    """Where heavy jobs run and what each asks a scheduler for (rules may override per job).

    ``pipeline.launch.executors.resources_for`` merges a rule's resources into these values.
    """

    backend: Literal["inline", "local", "slurm"] = opt(
        "inline", "inline: in the Snakemake job's process; local: a submitit subprocess; slurm: a SLURM job"
    )
    partition: str = opt("", "SLURM partition (empty: the cluster's default)")
    account: str = opt("", "SLURM account (empty: none)")
    qos: str = opt("", "SLURM QoS (empty: none)")
    gpus: int = opt(0, "GPUs per training job", minimum=0)
    gpu_request: Literal["gres", "gpus"] = opt("gres", "ask for GPUs as --gres=gpu:N or --gpus-per-node=N")
    cpus: int = opt(2, "CPUs per training job", minimum=1)
    mem_mb: int = opt(4096, "memory per training job in MiB (Snakemake's unit)", minimum=1)
    time_min: int = opt(
        60,
        "the most time a job asks for, in minutes (less when earlier rounds of its run say it needs less)",
        minimum=1,
    )
    pack: Literal["round", "chain", "trial"] = opt(
        "round",
        "rounds per job (local, slurm): round: one job each; chain: one per (pair, trial, method) chain of rounds, "
        "controls in their method's chain; trial: one per (pair, trial), its dense round and every chain",
    )
    concurrent: int = opt(
        1,
        "rounds a job runs at once: independent chains side by side, over its GPUs (memory grows with it)",
        minimum=1,
    )
    rounds_per_job: int = opt(0, "cut a pack into jobs of at most this many rounds (0: no cut)", minimum=0)
    max_requeues: int = opt(3, "preemptions/timeouts a job may be requeued after", minimum=0)
    poll_s: float = opt(5.0, "seconds between checks for a job's result file", exclusive_minimum=0)
    scheduler_poll_s: float = opt(
        30.0, "seconds between scheduler queries: one sacct call for all of a workflow's launchers", exclusive_minimum=0
    )
    retries: int = opt(
        2, "resubmissions, with twice the memory or time, of a job that ended OUT_OF_MEMORY or TIMEOUT", minimum=0
    )
    log_dir: str = opt("results/launcher", "where submitit writes job scripts and logs")


@dataclass(frozen=True)
class Config:
    """The whole pipeline configuration (config/config.yaml)."""

    grid: GridConfig = opt(GridConfig(), "the experiment grid")
    data: DataConfig = opt(DataConfig(), "data sets")
    training: TrainingConfig = opt(TrainingConfig(), "default training recipe")
    recipes: dict[str, dict[str, Any]] = opt(
        {},
        "training overrides keyed by architecture or architecture/data-set pair",
        choices=_recipe_keys,
        also=_torchvision_keys,
    )
    pruning: PruningConfig = opt(PruningConfig(), "pruning")
    topology: Convention = opt(Convention(), "the diagram convention every stored result is computed under")
    nulls: NullSettings = opt(NullSettings(), "permutation nulls of the overlap, NP and tree retention (science §4)")
    launcher: LauncherConfig = opt(LauncherConfig(), "job launcher")
    seed: int = opt(0, "base seed: trial t uses seed + t", minimum=0, maximum=2**30)
    results: str = opt("results", "output directory")

    def recipe(self, arch: str, dataset: str) -> TrainingConfig:
        """The training recipe of a pair: defaults, then the arch's, then the pair's overrides."""
        merged = to_dict(self.training)
        for key in (arch, f"{arch}/{dataset}"):
            merged.update(self.recipes.get(key, {}))
        return parse(TrainingConfig, merged, "training")


def _check_grid(grid: GridConfig) -> None:
    if not grid.methods and grid.rounds > 0:
        raise ConfigError(
            f"config key 'grid.methods' = []: name at least one method (allowed values are "
            f"{method_names()}), or set grid.rounds: 0 to train dense networks only"
        )
    for key in ("pairs", "methods"):
        values = list(getattr(grid, key))
        if len(set(values)) != len(values):
            raise ConfigError(f"config key 'grid.{key}' = {values}: entries must be unique")


def _check_launcher(launcher: LauncherConfig) -> None:
    if launcher.pack != "round" and launcher.backend == "inline":
        raise ConfigError(
            f"config key 'launcher.pack' = {launcher.pack!r} needs launcher.backend 'local' or 'slurm' (the inline "
            "backend trains each round in its own Snakemake job): set the backend or pack: round"
        )


def _check_pruning(config: Config) -> None:
    pruning = config.pruning
    for key, rate in pruning.rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate < 1:
            raise ConfigError(f"config key 'pruning.rates.{key}' = {rate!r}: must be a number > 0 and < 1")
    if pruning.rates and pruning.schedule != "geometric":
        raise ConfigError(f"config key 'pruning.rates' = {dict(pruning.rates)}: needs pruning.schedule: geometric")
    if "output" in pruning.rates and not pruning.prune_output:
        raise ConfigError("config key 'pruning.rates.output': the classifier is not pruned (pruning.prune_output)")
    for pair in config.grid.pairs:
        arch, dataset = pair.split("/")
        recipe = config.recipe(arch, dataset)
        steps_per_epoch = -(-train_size(config.data, dataset) // recipe.batch_size)
        step = pruning.rewind_step(steps_per_epoch)
        if step is not None and step > recipe.epochs * steps_per_epoch:
            raise ConfigError(
                f"config key 'pruning.rewind' = {pruning.rewind!r}: pair {pair} trains only {recipe.epochs} epochs "
                f"of {steps_per_epoch} steps ({recipe.epochs * steps_per_epoch} steps)"
            )


def _check_data(config: Config) -> None:
    subset = config.data.train_subset
    for pair in config.grid.pairs:
        dataset = pair.split("/")[1]
        available = train_size(dataclasses.replace(config.data, train_subset=0), dataset)
        classes = get_dataset_info(dataset).num_classes
        if subset and not classes <= subset <= available:
            raise ConfigError(
                f"config key 'data.train_subset' = {subset}: {dataset} has {available} training images "
                f"and {classes} classes; choose {classes} to {available} (or 0 for all)"
            )
        if 0 < config.data.test_subset < classes:
            raise ConfigError(
                f"config key 'data.test_subset' = {config.data.test_subset}: {dataset} has {classes} classes; "
                f"choose at least {classes} (or 0 for all)"
            )


def train_size(data: DataConfig, dataset: str) -> int:
    """Training images a run of ``dataset`` sees under ``data`` (its subset, or its whole split)."""
    whole = train_count(dataset, data.test_fraction)
    return min(data.train_subset, whole) if data.train_subset else whole


def _check_methods(grid: GridConfig) -> None:
    for name in grid.methods:
        follows = get_method(name).follows
        if follows and follows not in grid.methods:
            raise ConfigError(
                f"config key 'grid.methods' = {list(grid.methods)}: {name!r} reads {follows!r}'s masks "
                f"of the same round; add {follows!r}"
            )


def _check_torchvision(config: Config) -> None:
    """A ``tv:`` architecture must name a torchvision classifier that trains on the data set's
    images (``check_pair``: torch is imported only when a ``tv:`` name appears)."""
    for i, pair in enumerate(config.grid.pairs):
        arch, dataset = pair.split("/")
        if is_torchvision(arch):
            try:
                check_pair(arch, dataset)
            except ValueError as err:
                raise ConfigError(f"config key 'grid.pairs[{i}]' = {pair!r}: {err}") from None
    for key in config.recipes:
        if is_torchvision(key):
            from pipeline.models.zoo import check_name  # here: torch, only for a tv: name

            try:
                check_name(key.split("/")[0].removeprefix(TORCHVISION))
            except ValueError as err:
                raise ConfigError(f"config key 'recipes.{key}': {err}") from None


def _check_network(grid: GridConfig) -> None:
    """A method that prunes by the whole network's tree (``gtimp``) needs every pair's model to
    have a network graph (docs/science.md §10): traced here, before any job."""
    needing = [name for name in grid.methods if "network_trees" in get_method(name).needs]
    if not needing:
        return
    from pipeline.models.structure import check_network  # here: torch, only when such a method is asked for

    for i, pair in enumerate(grid.pairs):
        try:
            check_network(*pair.split("/"))
        except ValueError as err:
            raise ConfigError(
                f"config key 'grid.pairs[{i}]' = {pair!r}: {needing[0]!r} needs the whole network's graph: {err}"
            ) from None


def _check_config(config: Config) -> Config:
    _check_grid(config.grid)
    _check_launcher(config.launcher)
    _check_torchvision(config)
    _check_methods(config.grid)
    _check_network(config.grid)
    for key, overrides in config.recipes.items():
        if not isinstance(overrides, Mapping):
            raise ConfigError(f"config key 'recipes.{key}' = {overrides!r}: expected a mapping of training keys")
        merged = {**to_dict(config.training), **overrides}
        parse(TrainingConfig, merged, f"recipes.{key}")
    for pair in config.grid.pairs:
        arch, dataset = pair.split("/")
        recipe = config.recipe(arch, dataset)
        for m in recipe.milestones:
            if not 0 < m < recipe.epochs:
                raise ConfigError(
                    f"config key 'training.milestones' = {list(recipe.milestones)} (pair {pair}): "
                    f"milestones must lie between 1 and epochs - 1 = {recipe.epochs - 1}"
                )
    _check_pruning(config)
    _check_data(config)
    return config


def load_config(source: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a configuration file (or mapping), with optional overrides merged in."""
    if isinstance(source, str | Path):
        path = Path(source)
        data = read_yaml(path) or {}
    else:
        data = dict(source)
    if overrides:
        data = deep_merge(data, overrides)
    return _check_config(parse(Config, data))
