"""Pruning methods by name: every module of ``pipeline.prune.methods`` registers one.

A method says what the rest of the pipeline needs to know about it — its name, label and plot
style, whether it is a control or baseline, what it needs to score — and how it prunes. Every list of
method names (configuration, schema, wildcards, command lines, figures, tables) comes from
here, so a new method is one new module. Method modules import only numpy at module level (the
workflow reads this registry before any job); heavy imports go inside their functions.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pipeline.prune import methods as method_modules

if TYPE_CHECKING:
    from pipeline.models.probe import PrunableWeight
    from pipeline.prune.settings import PruningConfig

Need = Literal["rewind", "rng", "model", "batch", "reference", "network_trees"]
"""Inputs a method may ask for beyond the trained weights and current masks."""


@dataclass(frozen=True)
class PruneResult:
    """New masks, the budget each pruned layer had, and the layers kept above their budget."""

    masks: dict[str, np.ndarray]
    density: float
    budgets: dict[str, int]
    capped: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class PruneContext:
    """Everything a method may score with; the optional inputs are filled when it needs them.

    ``values`` are the previous round's trained weights, ``masks`` its masks; ``rewind`` the
    rewind point; ``rng`` a generator seeded per trial and round (the same for every method);
    ``model`` the network at the rewind point and ``batch`` (images, labels) from the training
    data, for gradient-based scores; ``reference`` the masks of the same trial and round of the
    method this one ``follows`` (the controls copy IMP's counts or mask); ``trees`` the distinct
    flat indices of each weight's present-weight spanning forest under ``masks``
    (``retention.trees_of``), when the round has computed them already; ``network_trees`` the
    same for the whole network's present-weight forest (docs/science.md §10), per weight tensor.
    """

    weights: Sequence[PrunableWeight]
    values: Mapping[str, np.ndarray]
    masks: Mapping[str, np.ndarray]
    cfg: PruningConfig
    round_index: int
    rewind: Mapping[str, np.ndarray] | None = None
    rng: np.random.Generator | None = None
    model: Any = None
    batch: Any = None
    reference: Mapping[str, np.ndarray] | None = None
    trees: Mapping[str, np.ndarray] | None = None
    network_trees: Mapping[str, np.ndarray] | None = None


@dataclass(frozen=True)
class Method:
    """A registered pruning method.

    ``control``: a control or baseline (random, reinit, SynFlow, SNIP): drawn dashed, and left
    out of a grid that names no methods. ``follows``: the method whose round of the same trial
    and index this one reads (its masks, as ``PruneContext.reference``); the workflow runs that
    round first. ``fresh_start``: the
    round trains from a fresh initialisation (``RoundKey.init_seed``) instead of the rewind point.
    """

    name: str
    label: str
    color: str
    prune: Callable[[PruneContext], PruneResult]
    marker: str = "o"
    control: bool = False
    needs: frozenset[Need] = frozenset()
    summary: str = ""
    follows: str | None = None
    fresh_start: bool = False

    def __post_init__(self) -> None:
        if ("reference" in self.needs) != (self.follows is not None):
            raise ValueError(f"method {self.name!r}: a method that needs 'reference' names the method it follows")


DENSE = "dense"
"""The ``method`` a round-0 file records: the dense round belongs to no method (reserved)."""

REFERENCE = "imp"
"""The method every other is compared with, trial by trial, in the tables and figures."""

_METHODS: dict[str, Method] = {}
_DISCOVERED = False


def register_method(method: Method) -> Method:
    """Add ``method`` to the registry (a method module calls this at import)."""
    where = method.prune.__module__
    if method.name == DENSE:
        raise ValueError(f"{where}: the method name {DENSE!r} is reserved for round 0")
    if method.name in _METHODS:
        other = _METHODS[method.name].prune.__module__
        raise ValueError(f"{where}: a pruning method named {method.name!r} is already registered by {other}")
    if not method.name.isidentifier() or method.name != method.name.lower():
        raise ValueError(f"{where}: method name {method.name!r}: use lower-case letters, digits and underscores")
    _METHODS[method.name] = method
    ordered = sorted(_METHODS.items())  # by name, whatever order the modules load in
    _METHODS.clear()
    _METHODS.update(ordered)
    return method


def registry() -> dict[str, Method]:
    """Every registered method, by name (the order of tables and legends)."""
    global _DISCOVERED
    if not _DISCOVERED:
        for info in pkgutil.iter_modules(method_modules.__path__):
            importlib.import_module(f"{method_modules.__name__}.{info.name}")
        _DISCOVERED = True
    return _METHODS


def method_names() -> list[str]:
    return list(registry())


def default_methods() -> tuple[str, ...]:
    """What a grid compares when it names no methods: every method that is not a control or baseline."""
    return tuple(name for name, method in registry().items() if not method.control)


def get_method(name: str) -> Method:
    methods = registry()
    if name not in methods:
        raise ValueError(f"no such pruning method {name!r}: allowed values are {list(methods)}")
    return methods[name]
