"""The pipeline's configuration: frozen dataclasses, validated before any job starts.

Every field carries its help text, default and constraints in ``field(metadata=...)``; the
same metadata drives validation (``load_config``), the JSON schema of the workflow
(``json_schema``, written to ``workflow/schemas/config.schema.yaml``) and the documentation.
A bad key, type or value raises ``ConfigError`` naming the key and what is allowed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.topology.conventions import Convention


class ConfigError(ValueError):
    """An invalid configuration: the message names the key and the allowed values."""


def opt(
    default: Any,
    help: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: float | None = None,
    exclusive_maximum: float | None = None,
    pattern: str | None = None,
    choices: Callable[[], list[str]] | None = None,
    also: Callable[[], str] | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with its documentation and constraints in one place (``factory``:
    a default computed when a config is built, e.g. from a registry)."""
    metadata = {
        "help": help,
        "minimum": minimum,
        "maximum": maximum,
        "exclusiveMinimum": exclusive_minimum,
        "exclusiveMaximum": exclusive_maximum,
        "pattern": pattern,
        "choices": choices,
        "also": also,
    }
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    if isinstance(default, list | dict | tuple) or dataclasses.is_dataclass(default):
        return field(default_factory=lambda: default, metadata=metadata)
    return field(default=default, metadata=metadata)


def _valid_pairs() -> list[str]:
    from pipeline.models.registry import valid_pairs

    return [f"{arch}/{dataset}" for arch, dataset in valid_pairs()]


def _torchvision_pairs() -> str:
    from pipeline.models.registry import torchvision_pattern

    return torchvision_pattern(with_dataset=True)


def _torchvision_keys() -> str:
    from pipeline.models.registry import torchvision_pattern

    return torchvision_pattern(with_dataset=False)


def _method_names() -> list[str]:
    from pipeline.prune.registry import method_names

    return method_names()


def _default_methods() -> tuple[str, ...]:
    from pipeline.prune.registry import default_methods

    return default_methods()


def _rate_keys() -> list[str]:
    from pipeline.topology.graphs import LayerKind

    return ["output", *typing.get_args(LayerKind)]


def _recipe_keys() -> list[str]:
    from pipeline.models.registry import list_models

    return sorted(list_models() + _valid_pairs())


@dataclass(frozen=True)
class GridConfig:
    """Which runs exist: architecture x data set pairs, methods, trials and rounds."""

    pairs: tuple[str, ...] = opt(
        ("fcn/mnist-5k",),
        "architecture/data-set pairs to run (docs/science.md §6); tv:NAME/DATASET runs any torchvision classifier",
        choices=_valid_pairs,
        also=_torchvision_pairs,
    )
    methods: tuple[str, ...] = opt(
        None,
        "pruning methods compared (default: every method that is not a control)",
        choices=_method_names,
        factory=_default_methods,
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
class PruningConfig:
    """How each round prunes (docs/science.md §1, §5)."""

    schedule: Literal["geometric", "linear"] = opt(
        "geometric",
        "geometric: remove `rate` of the survivors per round; linear: reach `target` density linearly",
    )
    rate: float = opt(
        0.2,
        "geometric schedule: fraction of surviving weights removed per round",
        exclusive_minimum=0,
        exclusive_maximum=1,
    )
    target: float = opt(
        0.05,
        "linear schedule: density reached after `linear_rounds`",
        exclusive_minimum=0,
        exclusive_maximum=1,
    )
    linear_rounds: int = opt(10, "linear schedule: rounds to reach `target`", minimum=1)
    scope: Literal["local", "global"] = opt("local", "rank weights per layer (local) or across all layers")
    rates: dict[str, float] = opt(
        {},
        "geometric schedule: per-round rates of their own for the classifier (`output`) or a layer kind",
        choices=_rate_keys,
    )
    rewind: str = opt(
        "init",
        "weights a round restarts from: init, epoch:E or step:N (of round 0; late rewinding) or none (keep training)",
        pattern=r"^(init|none|epoch:[1-9][0-9]*|step:[1-9][0-9]*)$",
    )
    prune_output: bool = opt(True, "prune the classifier (last layer) like the others")
    timp_short_budget: Literal["cap", "heaviest"] = opt(
        "cap", "T-IMP when the budget k < |MST|: keep the whole MST (cap) or its k heaviest edges"
    )

    def rewind_step(self, steps_per_epoch: int) -> int | None:
        """The optimizer step of round 0 whose weights later rounds restart from (``epoch:E`` is
        step E x steps_per_epoch); None for ``init`` and ``none``."""
        kind, _, count = self.rewind.partition(":")
        if kind == "epoch":
            return int(count) * steps_per_epoch
        return int(count) if kind == "step" else None

    def _rate_key(self, kind: str, is_output: bool) -> str | None:
        """The ``rates`` key that sets a layer's rate: the classifier's own, else its kind's."""
        if is_output and "output" in self.rates:
            return "output"
        return kind if kind in self.rates else None

    def rate_of(self, kind: str, is_output: bool) -> float:
        """The per-round rate of a layer: its ``rates`` entry, else ``rate``."""
        key = self._rate_key(kind, is_output)
        return self.rate if key is None else self.rates[key]

    def has_own_rate(self, kind: str, is_output: bool) -> bool:
        """Whether ``rates`` sets this layer's rate (global scope then prunes it on its own)."""
        return self._rate_key(kind, is_output) is not None


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
    time_min: int = opt(60, "time limit per training job in minutes", minimum=1)
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
    launcher: LauncherConfig = opt(LauncherConfig(), "job launcher")
    seed: int = opt(0, "base seed: trial t uses seed + t", minimum=0, maximum=2**30)
    results: str = opt("results", "output directory")

    def recipe(self, arch: str, dataset: str) -> TrainingConfig:
        """The training recipe of a pair: defaults, then the arch's, then the pair's overrides."""
        merged = to_dict(self.training)
        for key in (arch, f"{arch}/{dataset}"):
            merged.update(self.recipes.get(key, {}))
        return parse(TrainingConfig, merged, "training")


# --- parsing and validation -------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _check_constraints(value: Any, meta: Mapping[str, Any], key: str) -> None:
    bounds = (
        ("minimum", lambda v, b: v >= b, ">="),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusiveMinimum", lambda v, b: v > b, ">"),
        ("exclusiveMaximum", lambda v, b: v < b, "<"),
    )
    for name, ok, sign in bounds:
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise ConfigError(f"config key '{key}' = {value!r}: must be {sign} {bound}")
    pattern = meta.get("pattern")
    if pattern is not None:
        import re

        if not re.fullmatch(pattern, value):
            raise ConfigError(f"config key '{key}' = {value!r}: must match {pattern}")


def _allowed(item: Any, meta: Mapping[str, Any]) -> bool:
    """An item is one of the field's choices, or matches its ``also`` pattern."""
    import re

    choices, also = meta.get("choices"), meta.get("also")
    if choices is None or item in choices():
        return True
    return also is not None and isinstance(item, str) and re.fullmatch(also(), item) is not None


def _allowed_text(meta: Mapping[str, Any]) -> str:
    also = meta.get("also")
    return f"{meta['choices']()}" + (f", or a match of {also()}" if also else "")


def _convert(tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' = {value!r}: allowed values are {list(args)}")
        return value
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(inner, value, key, meta)
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, key)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key '{key}' = {value!r}: expected a list")
        items = tuple(_convert(args[0], v, f"{key}[{i}]", {}) for i, v in enumerate(value))
        for i, item in enumerate(items):
            if not _allowed(item, meta):
                raise ConfigError(f"config key '{key}[{i}]' = {item!r}: allowed values are {_allowed_text(meta)}")
        return items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' = {value!r}: expected a mapping")
        for k in value:
            if not _allowed(k, meta):
                raise ConfigError(f"config key '{key}.{k}': unknown key; allowed keys are {_allowed_text(meta)}")
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(bool)}")
    elif tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(int)}")
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(float)}")
        value = float(value)
    elif tp is str and not isinstance(value, str):
        raise ConfigError(f"config key '{key}' = {value!r}: expected {_type_name(str)}")
    _check_constraints(value, meta, key)
    return value


def parse(cls: type, data: Any, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, validating every key on the way."""
    if not isinstance(data, Mapping):
        hint = " (leave the key out for the defaults)" if data is None else ""
        raise ConfigError(f"config key '{prefix or '<root>'}' = {data!r}: expected a mapping{hint}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(f"config key '{where}': unknown key; allowed keys are {sorted(known)}")
    values = {}
    for name, f in known.items():
        if name in data:
            key = f"{prefix}.{name}" if prefix else name
            values[name] = _convert(hints[name], data[name], key, f.metadata)
    return cls(**values)


def _check_grid(grid: GridConfig) -> None:
    if not grid.methods and grid.rounds > 0:
        raise ConfigError(
            f"config key 'grid.methods' = []: name at least one method (allowed values are "
            f"{_method_names()}), or set grid.rounds: 0 to train dense networks only"
        )
    for key in ("pairs", "methods"):
        values = list(getattr(grid, key))
        if len(set(values)) != len(values):
            raise ConfigError(f"config key 'grid.{key}' = {values}: entries must be unique")


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
    from pipeline.data.registry import get_dataset_info

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
    from pipeline.data.registry import train_count

    whole = train_count(dataset, data.test_fraction)
    return min(data.train_subset, whole) if data.train_subset else whole


def _check_methods(grid: GridConfig) -> None:
    from pipeline.prune.registry import get_method

    for name in grid.methods:
        follows = get_method(name).follows
        if follows and follows not in grid.methods:
            raise ConfigError(
                f"config key 'grid.methods' = {list(grid.methods)}: {name!r} reads {follows!r}'s masks "
                f"of the same round; add {follows!r}"
            )


def _check_torchvision(config: Config) -> None:
    """A ``tv:`` architecture must name a torchvision classifier that trains on the data set's
    images (``zoo.check_pair``: torch is imported only when a ``tv:`` name appears)."""
    from pipeline.models.registry import TORCHVISION, is_torchvision

    for i, pair in enumerate(config.grid.pairs):
        arch, dataset = pair.split("/")
        if is_torchvision(arch):
            from pipeline.models.zoo import check_pair

            try:
                check_pair(arch, dataset)
            except ValueError as err:
                raise ConfigError(f"config key 'grid.pairs[{i}]' = {pair!r}: {err}") from None
    for key in config.recipes:
        if is_torchvision(key):
            from pipeline.models.zoo import check_name

            try:
                check_name(key.split("/")[0].removeprefix(TORCHVISION))
            except ValueError as err:
                raise ConfigError(f"config key 'recipes.{key}': {err}") from None


def _check_config(config: Config) -> Config:
    _check_grid(config.grid)
    _check_torchvision(config)
    _check_methods(config.grid)
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


def read_yaml(path: Path) -> Any:
    """A YAML file's data; a missing file or a syntax error is one line naming file, line, column."""
    if not path.is_file():
        raise ConfigError(f"no such config file: {path}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        context = err.context_mark
        opened = (
            f" ({err.context} at line {context.line + 1}, column {context.column + 1})"
            if err.context and context and context is not mark
            else ""
        )
        raise ConfigError(f"{path}{where}: invalid YAML: {err.problem}{opened}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: invalid YAML: {' '.join(str(err).split())}") from None


def load_config(source: str | Path | Mapping[str, Any], overrides: Mapping[str, Any] | None = None) -> Config:
    """Read and validate a configuration file (or mapping), with optional overrides merged in."""
    if isinstance(source, str | Path):
        path = Path(source)
        data = read_yaml(path) or {}
    else:
        data = dict(source)
    if overrides:
        data = _deep_merge(data, overrides)
    return _check_config(parse(Config, data))


def _deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def to_dict(obj: Any) -> Any:
    """Plain JSON-ready data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


# --- run identity ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """One run: a pair, a trial and the settings that decide its results."""

    arch: str
    dataset: str
    trial: int
    training: TrainingConfig
    pruning: PruningConfig
    topology: Convention
    data: DataConfig
    seed: int

    @property
    def trial_seed(self) -> int:
        return self.seed + self.trial

    @property
    def run_hash(self) -> str:
        return run_hash(self)

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def run_spec(config: Config, arch: str, dataset: str, trial: int) -> RunSpec:
    from pipeline.models.registry import is_valid_pair

    pair = f"{arch}/{dataset}"
    if not is_valid_pair(arch, dataset):
        raise ConfigError(f"pair {pair!r} is not valid: allowed pairs are {_valid_pairs()} or tv:NAME/DATASET")
    return RunSpec(
        arch=arch,
        dataset=dataset,
        trial=trial,
        training=config.recipe(arch, dataset),
        pruning=config.pruning,
        topology=config.topology,
        data=config.data,
        seed=config.seed,
    )


def _non_default(obj: Any) -> Any:
    """The fields of a dataclass that differ from their defaults, recursively."""
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            nested = _non_default(value)
            if nested:
                out[f.name] = nested
            continue
        if value != _default_of(f):
            out[f.name] = to_dict(value)
    return out


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def run_hash(spec: RunSpec) -> str:
    """Short hash of everything that decides a run's numbers except the trial.

    Only non-default fields enter (canonical JSON), so adding a field with a default keeps
    existing run directories valid. The data root and the launcher do not enter: where the
    data lie and where the job runs do not change the results.
    """
    placement = dataclasses.replace(
        spec.data, root=DataConfig.root, download=DataConfig.download, verify_checksums=True
    )
    payload = _non_default(dataclasses.replace(spec, trial=0, data=placement))
    payload["arch"], payload["dataset"] = spec.arch, spec.dataset
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


# --- JSON schema -------------------------------------------------------------------------


def _schema_of(tp: Any, meta: Mapping[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if dataclasses.is_dataclass(tp):
        return json_schema(tp)
    if origin is tuple:
        items = _schema_of(args[0], {})
        if meta.get("choices"):
            items = {"enum": meta["choices"]()}
        if meta.get("also"):
            items = {"anyOf": [items, {"type": "string", "pattern": f"^{meta['also']()}$"}]}
        return {"type": "array", "items": items}
    if origin is dict:
        schema: dict[str, Any] = {"type": "object"}
        if meta.get("choices"):
            schema["propertyNames"] = {"enum": meta["choices"]()}
        if meta.get("also"):
            schema["propertyNames"] = {"anyOf": [schema["propertyNames"], {"pattern": f"^{meta['also']()}$"}]}
        scalar = args[1] in (bool, int, float, str)
        schema["additionalProperties"] = _schema_of(args[1], {}) if scalar else {"type": "object"}
        return schema
    schema = {
        bool: {"type": "boolean"},
        int: {"type": "integer"},
        float: {"type": "number"},
        str: {"type": "string"},
    }[tp]
    schema = dict(schema)
    for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern"):
        if meta.get(key) is not None:
            schema[key] = meta[key]
    return schema


def json_schema(cls: type = Config) -> dict[str, Any]:
    """JSON schema of a config dataclass, generated from its fields (help, defaults, limits)."""
    hints = typing.get_type_hints(cls)
    properties = {}
    for f in dataclasses.fields(cls):
        schema = _schema_of(hints[f.name], f.metadata)
        schema["description"] = f.metadata.get("help", "")
        default = _default_of(f)
        if not dataclasses.is_dataclass(default):
            schema["default"] = to_dict(default)
        properties[f.name] = schema
    out: dict[str, Any] = {
        "type": "object",
        "description": (cls.__doc__ or "").strip().splitlines()[0],
        "properties": properties,
        "additionalProperties": False,
    }
    if cls is Config:
        out = {"$schema": "https://json-schema.org/draft/2020-12/schema", **out}
    return out


def markdown_cell(text: str) -> str:
    """A Markdown table cell: a literal ``|`` (as in ``|V|`` or a regex) must not split it."""
    return text.replace("|", "\\|")


def markdown_reference(cls: type = Config, prefix: str = "") -> str:
    """The configuration reference (config/README.md), generated from the fields."""
    hints = typing.get_type_hints(cls)
    lines: list[str] = []
    rows: list[str] = []
    nested: list[tuple[str, type]] = []
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        schema = _schema_of(hints[f.name], f.metadata)
        if dataclasses.is_dataclass(hints[f.name]):
            nested.append((key, hints[f.name]))
            continue
        allowed = (
            schema.get("enum") or schema.get("items", {}).get("enum") or schema.get("propertyNames", {}).get("enum")
        )
        limits = [
            f"{sign} {schema[name]}"
            for name, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<"))
            if name in schema
        ]
        if "pattern" in schema:
            limits.append(f"matches `{schema['pattern']}`")
        constraint = ", ".join(f"`{a}`" for a in allowed) if allowed else ", ".join(limits)
        default = json.dumps(to_dict(_default_of(f)))
        cells = [f"`{key}`", schema.get("type", "enum"), f"`{default}`", constraint, f.metadata["help"]]
        rows.append("| " + " | ".join(markdown_cell(c) for c in cells) + " |")
    if rows:
        title = prefix.rstrip(".") or "top level"
        lines += [f"### `{title}`", "", (cls.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|", *rows, ""]
    for key, nested_cls in nested:
        lines.append(markdown_reference(nested_cls, f"{key}."))
    return "\n".join(lines)
