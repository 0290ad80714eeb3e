"""Architectures by name (docs/science.md §6), filled by the ``register_model`` decorator.

A builder takes keyword-only ``num_classes``, ``in_channels`` and ``input_size``. Which data
sets an architecture is defined for is declared once, in ``FAMILIES``, and can be read
without importing torch (the workflow validates configurations with it before any job);
the builders themselves load on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.data.registry import DATASETS, get_dataset_info

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[..., "nn.Module"]

IMAGE_FAMILIES = ("mnist", "cifar", "tiny-imagenet")

FAMILIES: dict[str, tuple[str, ...]] = {
    "fcn": IMAGE_FAMILIES,
    "conv": IMAGE_FAMILIES,
    "vgg11": IMAGE_FAMILIES,
    "resnet20": IMAGE_FAMILIES,
    "resnet18": IMAGE_FAMILIES,
    "lstm": IMAGE_FAMILIES,
    "gru": IMAGE_FAMILIES,
}
"""The data-set families (``DatasetInfo.family``) each architecture is defined for: every image
architecture takes every image data set, its builder adapting channels, size and classes."""

BUILDER_MODULES = tuple(f"pipeline.models.{name}" for name in ("mnist", "vgg", "resnet", "recurrent"))


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    family_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, family_kwargs: dict[str, dict[str, Any]] | None = None
) -> Callable[[Builder], Builder]:
    """Register a builder under ``name``, which must be declared in ``FAMILIES``."""

    def decorate(builder: Builder) -> Builder:
        if name not in FAMILIES:
            raise ValueError(f"architecture {name!r} is not declared in FAMILIES")
        if name in _REGISTRY:
            raise ValueError(f"an architecture named {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, builder, family_kwargs or {})
        return builder

    return decorate


def list_models() -> list[str]:
    return sorted(FAMILIES)


def _check(arch: str) -> None:
    if arch not in FAMILIES:
        raise ValueError(f"no such architecture {arch!r}: choose from {list_models()}")


def get_entry(arch: str) -> ModelEntry:
    _check(arch)
    for module in BUILDER_MODULES:
        importlib.import_module(module)
    return _REGISTRY[arch]


def datasets_for(arch: str) -> list[str]:
    """The data sets an architecture is defined for."""
    _check(arch)
    return sorted(name for name, info in DATASETS.items() if info.family in FAMILIES[arch])


def valid_pairs() -> list[tuple[str, str]]:
    """Every (architecture, data set) pair the pipeline can run."""
    return [(arch, ds) for arch in list_models() for ds in datasets_for(arch)]


def build_model(arch: str, dataset: str, **overrides: Any) -> nn.Module:
    """The architecture shaped for the data set (input channels, size, class count)."""
    entry = get_entry(arch)
    info = get_dataset_info(dataset)
    if info.family not in FAMILIES[arch]:
        raise ValueError(
            f"architecture {arch!r} is not defined for data set {dataset!r}; it runs on {datasets_for(arch)}"
        )
    kwargs: dict[str, Any] = {
        "num_classes": info.num_classes,
        "in_channels": info.channels,
        "input_size": info.size,
        **entry.family_kwargs.get(info.family, {}),
        **overrides,
    }
    return entry.builder(**kwargs)
