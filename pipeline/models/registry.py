"""Architectures by name (docs/science.md §6), filled by the ``register_model`` decorator.

A builder takes keyword-only ``num_classes``, ``in_channels`` and ``input_size``. An
architecture is declared in one place, its decorator: ``@register_model("fcn",
families=IMAGE_FAMILIES)`` in whichever module of this package defines it. The workflow and every
launcher must know the architectures and their data-set families without importing torch (64
launchers would each load it), so ``declared_families()`` reads the decorator calls from the modules'
source (``ast``, no import); the builders themselves load on first use.
"""

from __future__ import annotations

import argparse
import ast
import functools
import importlib
import pkgutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.data.registry import DATASETS, get_dataset_info
from pipeline.errors import first_line

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[..., "nn.Module"]

IMAGE_FAMILIES = ("mnist", "cifar", "tiny-imagenet")

"""Every image architecture takes every image data set, its builder adapting channels, size and classes."""


def _literal(node: ast.expr) -> Any:
    return IMAGE_FAMILIES if isinstance(node, ast.Name) and node.id == "IMAGE_FAMILIES" else ast.literal_eval(node)


@functools.cache
def declared_families() -> dict[str, tuple[str, ...]]:
    """Each declared architecture's data-set families (``DatasetInfo.family``), read from the
    ``@register_model(NAME, families=...)`` calls in this package's modules without importing them."""
    return declarations(Path(__file__).parent, __package__)


def declarations(directory: Path, package: str) -> dict[str, tuple[str, ...]]:
    """The ``register_model`` calls in the modules of ``directory``: name -> families."""
    found: dict[str, tuple[tuple[str, ...], str]] = {}
    for path in sorted(directory.glob("*.py")):
        module = f"{package}.{path.stem}"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            callee = getattr(node, "func", None)
            if not isinstance(node, ast.Call) or getattr(callee, "id", getattr(callee, "attr", "")) != "register_model":
                continue
            try:
                name = ast.literal_eval(node.args[0])
                given = {k.arg: _literal(k.value) for k in node.keywords if k.arg == "families"}
            except (IndexError, ValueError) as err:
                raise ValueError(f"{path}:{node.lineno}: register_model takes a literal name and families") from err
            if name in found:
                raise ValueError(f"{module}: architecture {name!r} is declared already in {found[name][1]}")
            found[name] = (tuple(given.get("families", IMAGE_FAMILIES)), module)
    return {name: fams for name, (fams, _) in sorted(found.items())}


TORCHVISION = "tv:"
"""Prefix of an architecture that is a torchvision classifier (``tv:resnet18``, pipeline.models.zoo)."""


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Builder
    family_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    *,
    families: tuple[str, ...] = IMAGE_FAMILIES,
    family_kwargs: dict[str, dict[str, Any]] | None = None,
) -> Callable[[Builder], Builder]:
    """Register a builder under ``name`` for data sets of ``families`` (literals: ``declared_families()``
    reads them from the source), with builder arguments of its own per family."""

    def decorate(builder: Builder) -> Builder:
        where = f"{builder.__module__}.{builder.__qualname__}"
        if declared_families().get(name) != tuple(families):
            raise ValueError(
                f"{where} registers architecture {name!r} outside a module of {__package__} or with families "
                f"that are not literals: {families}"
            )
        if name in _REGISTRY:
            other = _REGISTRY[name].builder
            raise ValueError(f"{where}: architecture {name!r} is registered already by {other.__module__}")
        _REGISTRY[name] = ModelEntry(name, builder, family_kwargs or {})
        return builder

    return decorate


def list_models() -> list[str]:
    """The registered architectures (any ``tv:NAME`` is valid beside them)."""
    return sorted(declared_families())


def is_torchvision(arch: str) -> bool:
    return arch.startswith(TORCHVISION)


def torchvision_pattern(*, with_dataset: bool) -> str:
    """Names ``tv:NAME`` (with ``/DATASET`` for a pair) that may name a torchvision classifier."""
    datasets = "|".join(sorted(DATASETS))
    return f"{TORCHVISION}[a-z0-9_]+" + (f"/({datasets})" if with_dataset else f"(/({datasets}))?")


def _check(arch: str) -> None:
    if is_torchvision(arch):
        from pipeline.models.zoo import check_name  # here: torch

        check_name(arch.removeprefix(TORCHVISION))
    elif arch not in declared_families():
        raise ValueError(f"no such architecture {arch!r}: choose from {list_models()} or tv:NAME (torchvision)")


def get_entry(arch: str) -> ModelEntry:
    """The builder of a declared architecture: every module of this package is imported (torch),
    so a builder is found wherever it is defined, with no second list of modules."""
    _check(arch)
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{__package__}.{info.name}")
    if arch not in _REGISTRY:
        raise ValueError(f"architecture {arch!r} is declared in {__package__} but no module registers it")
    return _REGISTRY[arch]


def arch_argument(arch: str) -> str:
    """argparse ``type`` of an architecture option: a registered name or ``tv:NAME``."""
    try:
        _check(arch)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return arch


def _families(arch: str) -> tuple[str, ...]:
    return IMAGE_FAMILIES if is_torchvision(arch) else declared_families()[arch]


def datasets_for(arch: str) -> list[str]:
    """The data sets an architecture is defined for."""
    _check(arch)
    return sorted(name for name, info in DATASETS.items() if info.family in _families(arch))


def is_valid_pair(arch: str, dataset: str) -> bool:
    """Whether the pipeline can run ``arch`` on ``dataset`` (a torchvision name is checked on use)."""
    if dataset not in DATASETS:
        return False
    if is_torchvision(arch):
        return DATASETS[dataset].family in IMAGE_FAMILIES
    return arch in declared_families() and DATASETS[dataset].family in declared_families()[arch]


def valid_pairs() -> list[tuple[str, str]]:
    """Every (architecture, data set) pair the pipeline can run."""
    return [(arch, ds) for arch in list_models() for ds in datasets_for(arch)]


def build_model(arch: str, dataset: str, **overrides: Any) -> nn.Module:
    """The architecture shaped for the data set (input channels, size, class count)."""
    info = get_dataset_info(dataset)
    if is_torchvision(arch):
        from pipeline.models.zoo import TorchvisionClassifier  # here: torch

        if info.family not in IMAGE_FAMILIES:
            raise ValueError(f"architecture {arch!r} is not defined for data set {dataset!r}: it takes images")
        shape = {"num_classes": info.num_classes, "in_channels": info.channels, "input_size": info.size}
        return TorchvisionClassifier(arch.removeprefix(TORCHVISION), **{**shape, **overrides})
    entry = get_entry(arch)
    if info.family not in declared_families()[arch]:
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


def check_pair(arch: str, dataset: str) -> None:
    """Build ``arch`` for ``dataset`` on the meta device (no memory, no weights) and probe it: a
    model that cannot take the data set's images, or whose layers the pipeline cannot read as
    graphs, or that does not train on one output of the class count, fails here, in one line,
    before any job."""
    import torch  # here: the workflow checks configurations with this module before any job

    from pipeline.models.probe import prunable_weights  # here: the probe imports torch
    from pipeline.models.zoo import check_name  # here: torch

    check_name(arch.removeprefix(TORCHVISION))
    info = get_dataset_info(dataset)
    size = "x".join(map(str, info.input_shape))
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_model(arch, dataset)
            prunable_weights(model, torch.zeros(1, *info.input_shape))
            out = model.train()(torch.zeros(2, *info.input_shape))
    except Exception as err:  # torchvision's own checks: say which pair and why, once
        raise ValueError(f"{arch} cannot run on {dataset}'s {size} images: {first_line(err)}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, info.num_classes):
        raise ValueError(f"{arch} does not return one tensor of {info.num_classes} class scores when training")
