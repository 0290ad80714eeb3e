"""Pruning methods: one pure function per method, registered by name (docs/science.md §1, §5).

A method takes the prunable weights (their values and current masks) and the number of
weights to keep, and returns new masks. ``imp`` keeps the largest magnitudes; ``timp`` first
keeps every maximum-spanning-tree edge of every layer (for convolutions the kernel
parameters the exact-convention tree uses), then fills the budget by magnitude. Ranking
follows the package's total order (magnitude, then flat index; across layers: layer order).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import PruningConfig
from pipeline.models.probe import PrunableWeight, graphs_of
from pipeline.prune.schedule import keep_count, target_density
from pipeline.topology.diagram import spanning_forest
from pipeline.topology.mst import ConvForest
from pipeline.topology.order import top_k

Masks = dict[str, np.ndarray]


@dataclass(frozen=True)
class PruneResult:
    """New masks, the budget each pruned layer had, and the layers T-IMP capped at |MST|."""

    masks: Masks
    density: float
    budgets: dict[str, int]
    capped: dict[str, bool] = field(default_factory=dict)


def check_masks(weights: Sequence[PrunableWeight], masks: Mapping[str, np.ndarray]) -> None:
    """Masks must cover exactly the prunable weights, with their shapes, as booleans."""
    names = {w.name for w in weights}
    missing, extra = sorted(names - set(masks)), sorted(set(masks) - names)
    if missing or extra:
        raise ValueError(f"masks do not match the prunable weights: missing {missing}, unexpected {extra}")
    for w in weights:
        mask = np.asarray(masks[w.name])
        if mask.shape != w.shape:
            raise ValueError(f"mask of {w.name!r} has shape {mask.shape}, the weight {w.shape}")
        if mask.dtype != np.bool_:
            raise ValueError(f"mask of {w.name!r} must be boolean, got {mask.dtype}")


def tree_edges(weight: PrunableWeight, value: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Flat indices (into the weight) of its maximum spanning forest(s) under the mask.

    A gated recurrent matrix contributes the forests of all its gate blocks; a convolution
    contributes the kernel parameters its exact Toeplitz forest uses.
    """
    parts = []
    for layer in graphs_of(weight, value, mask):
        forest = spanning_forest(layer, "absent")
        if isinstance(forest, ConvForest):
            parts.append(forest.used_params)
        else:
            parts.append(layer.offset + np.unique(forest.indices))
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


def _keep(shape: tuple[int, ...], indices: np.ndarray) -> np.ndarray:
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[indices] = True
    return mask.reshape(shape)


def _select(
    magnitudes: np.ndarray, present: np.ndarray, budget: int, protected: np.ndarray, short_budget: str
) -> tuple[np.ndarray, bool]:
    """Flat indices to keep: all ``protected`` then the heaviest others, within ``budget``.

    If the budget cannot hold the protected set: ``cap`` keeps all of it (returns capped=True),
    ``heaviest`` keeps its ``budget`` heaviest members.
    """
    budget = min(budget, int(present.sum()))
    if protected.size > budget:
        if short_budget == "cap":
            return protected, True
        inside = np.zeros_like(present)
        inside[protected] = True
        return top_k(magnitudes, budget, inside), False
    others = present.copy()
    others[protected] = False
    extra = top_k(magnitudes, budget - protected.size, others)
    return np.union1d(protected, extra), False


Pruner = Callable[
    [Sequence[PrunableWeight], Mapping[str, np.ndarray], Mapping[str, np.ndarray], PruningConfig, int],
    PruneResult,
]
PRUNERS: dict[str, Pruner] = {}


def register_pruner(name: str) -> Callable[[Pruner], Pruner]:
    def decorate(fn: Pruner) -> Pruner:
        if name in PRUNERS:
            raise ValueError(f"a pruning method named {name!r} is already registered")
        PRUNERS[name] = fn
        return fn

    return decorate


def prune_round(
    method: str,
    weights: Sequence[PrunableWeight],
    values: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    cfg: PruningConfig,
    round_index: int,
) -> PruneResult:
    """New masks for round ``round_index`` >= 1 from the previous round's trained weights."""
    if method not in PRUNERS:
        raise ValueError(f"no such pruning method {method!r}: choose from {sorted(PRUNERS)}")
    if round_index < 1:
        raise ValueError("round 0 is the dense network; pruning starts at round 1")
    check_masks(weights, masks)
    return PRUNERS[method](weights, values, masks, cfg, round_index)


def _prunable(weights: Sequence[PrunableWeight], cfg: PruningConfig) -> list[PrunableWeight]:
    return [w for w in weights if cfg.prune_output or not w.is_output]


def _protected_sets(method: str, weights, values, masks) -> dict[str, np.ndarray]:
    if method == "imp":
        return {w.name: np.zeros(0, dtype=np.int64) for w in weights}
    return {w.name: tree_edges(w, values[w.name], masks[w.name]) for w in weights}


def _prune(method: str, weights, values, masks, cfg: PruningConfig, round_index: int) -> PruneResult:
    density = target_density(cfg, round_index)
    new = {name: np.asarray(mask).copy() for name, mask in masks.items()}
    prunable = _prunable(weights, cfg)
    protected = _protected_sets(method, prunable, values, masks)
    budgets: dict[str, int] = {}
    capped: dict[str, bool] = {}
    if cfg.scope == "local":
        for w in prunable:
            budgets[w.name] = keep_count(int(np.prod(w.shape)), density)
            magnitudes = np.abs(values[w.name]).ravel()
            present = np.asarray(masks[w.name]).ravel()
            keep, capped[w.name] = _select(
                magnitudes, present, budgets[w.name], protected[w.name], cfg.timp_short_budget
            )
            new[w.name] = _keep(w.shape, keep)
        return PruneResult(new, density, budgets, capped)

    sizes = [int(np.prod(w.shape)) for w in prunable]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    magnitudes = np.concatenate([np.abs(values[w.name]).ravel() for w in prunable])
    present = np.concatenate([np.asarray(masks[w.name]).ravel() for w in prunable])
    joint = np.concatenate([protected[w.name] + offsets[i] for i, w in enumerate(prunable)])
    total = keep_count(int(offsets[-1]), density)
    keep, was_capped = _select(magnitudes, present, total, joint, cfg.timp_short_budget)
    flat = _keep((int(offsets[-1]),), keep)
    for i, w in enumerate(prunable):
        new[w.name] = flat[offsets[i] : offsets[i + 1]].reshape(w.shape)
        capped[w.name] = was_capped
    return PruneResult(new, density, {"global": total}, capped)


@register_pruner("imp")
def imp(weights, values, masks, cfg: PruningConfig, round_index: int) -> PruneResult:
    """Iterative magnitude pruning: keep the largest surviving magnitudes."""
    return _prune("imp", weights, values, masks, cfg, round_index)


@register_pruner("timp")
def timp(weights, values, masks, cfg: PruningConfig, round_index: int) -> PruneResult:
    """Topological IMP: keep every maximum-spanning-tree edge, fill the rest by magnitude."""
    return _prune("timp", weights, values, masks, cfg, round_index)
