"""Run identity: which settings decide a run's numbers, and the hash that names its directory.

A run is a pair, a trial and every setting that changes its results; ``run_hash`` hashes the
non-default ones, so adding a setting with a default keeps existing runs valid, and the data
root or the launcher (where data lie, where jobs run) rename nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline.config import Config, DataConfig, TrainingConfig, valid_pair_names
from pipeline.fields import ConfigError, default_of, to_dict
from pipeline.models.registry import is_valid_pair
from pipeline.prune.settings import PruningConfig
from pipeline.topology.conventions import Convention
from pipeline.topology.null import NullSettings


@dataclass(frozen=True)
class RunSpec:
    """One run: a pair, a trial and the settings that decide its results."""

    arch: str
    dataset: str
    trial: int
    training: TrainingConfig
    pruning: PruningConfig
    topology: Convention
    nulls: NullSettings
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
    pair = f"{arch}/{dataset}"
    if not is_valid_pair(arch, dataset):
        raise ConfigError(f"pair {pair!r} is not valid: allowed pairs are {valid_pair_names()} or tv:NAME/DATASET")
    return RunSpec(
        arch=arch,
        dataset=dataset,
        trial=trial,
        training=config.recipe(arch, dataset),
        pruning=config.pruning,
        topology=config.topology,
        nulls=config.nulls,
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
        if value != default_of(f):
            out[f.name] = to_dict(value)
    return out


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
