"""Architectures by name (SPEC §6), filled by the ``register_model`` decorator.

A builder takes keyword-only ``num_classes``, ``in_channels`` and ``input_size``; which data
sets an architecture is defined for is declared once, here, through data-set families.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from pipeline.data.registry import DATASETS, get_dataset_info

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    families: tuple[str, ...]
    family_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return (self.builder.__doc__ or "").strip().splitlines()[0]


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str, *, families: tuple[str, ...], family_kwargs: dict[str, dict[str, Any]] | None = None
) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` for the given data-set families."""

    def decorate(builder: Builder) -> Builder:
        if name in _REGISTRY:
            raise ValueError(f"an architecture named {name!r} is already registered")
        _REGISTRY[name] = ModelEntry(name, builder, families, family_kwargs or {})
        return builder

    return decorate


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def get_entry(arch: str) -> ModelEntry:
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise ValueError(f"no such architecture {arch!r}: choose from {list_models()}") from None


def datasets_for(arch: str) -> list[str]:
    """The data sets an architecture is defined for."""
    families = get_entry(arch).families
    return sorted(name for name, info in DATASETS.items() if info.family in families)


def valid_pairs() -> list[tuple[str, str]]:
    """Every (architecture, data set) pair the pipeline can run."""
    return [(arch, ds) for arch in list_models() for ds in datasets_for(arch)]


def build_model(arch: str, dataset: str, **overrides: Any) -> nn.Module:
    """The architecture shaped for the data set (input channels, size, class count)."""
    entry = get_entry(arch)
    info = get_dataset_info(dataset)
    if info.family not in entry.families:
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
