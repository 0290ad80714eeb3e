"""What every method shares: the masks' contract, the round's budgets, keeping the top scores.

A method scores the surviving weights (and may name weights it must keep); ``keep_top`` turns
that into masks with the schedule's budget, per layer (local scope) or over all prunable
weights (global), ranking by the package's total order (score, then flat index; across
layers, layer order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pipeline.prune.registry import PruneContext, PruneResult, get_method
from pipeline.prune.schedule import keep_count, target_density

if TYPE_CHECKING:
    from pipeline.models.probe import PrunableWeight
    from pipeline.prune.settings import PruningConfig

ShortBudget = Literal["cap", "heaviest"]


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


def prunable(ctx: PruneContext) -> list[PrunableWeight]:
    """The weights this round prunes (all, or all but the classifier)."""
    return [w for w in ctx.weights if ctx.cfg.prune_output or not w.is_output]


def _keep(shape: tuple[int, ...], indices: np.ndarray) -> np.ndarray:
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[indices] = True
    return mask.reshape(shape)


def _select(
    scores: np.ndarray, present: np.ndarray, budget: int, protected: np.ndarray, short_budget: ShortBudget
) -> tuple[np.ndarray, bool]:
    """Flat indices to keep: all ``protected`` then the best-scored others, within ``budget``.

    If the budget cannot hold the protected set: ``cap`` keeps all of it (returns capped=True),
    ``heaviest`` keeps its ``budget`` best-scored members.
    """
    from pipeline.topology.order import top_k  # here: the topology package loads numba

    budget = min(budget, int(present.sum()))
    if protected.size > budget:
        if short_budget == "cap":
            return protected, True
        inside = np.zeros_like(present)
        inside[protected] = True
        return top_k(scores, budget, inside), False
    others = present.copy()
    others[protected] = False
    extra = top_k(scores, budget - protected.size, others)
    return np.union1d(protected, extra), False


def layer_budgets(ctx: PruneContext, at: float | None = None) -> dict[str, int]:
    """Weights each layer keeps after ``at`` rounds (default: this round) under local scope,
    each at its own rate (``PruningConfig.rate_of``)."""
    at = ctx.round_index if at is None else at
    return {
        w.name: keep_count(int(np.prod(w.shape)), target_density(ctx.cfg, at, ctx.cfg.rate_of(w.kind, w.is_output)))
        for w in prunable(ctx)
    }


def keep_top(
    ctx: PruneContext,
    scores: Mapping[str, np.ndarray],
    protected: Mapping[str, np.ndarray] | None = None,
    short_budget: ShortBudget = "cap",
    *,
    at: float | None = None,
    budgets: Mapping[str, int] | None = None,
) -> PruneResult:
    """Keep the schedule's budget of the highest-scored survivors, ``protected`` first.

    ``scores`` and ``protected`` (flat indices) are keyed by weight name and cover the weights
    this round prunes; the others keep their masks. ``at``: the (fractional) round whose
    budgets apply, default this round; ``budgets``: per-layer counts that replace the schedule's.
    Under global scope, layers with a rate of their own (``pruning.rates``) keep their own
    budgets and the others share one ranking.
    """
    at = ctx.round_index if at is None else at
    density = target_density(ctx.cfg, at)
    layers = prunable(ctx)
    none = np.zeros(0, dtype=np.int64)
    guard = {w.name: (protected or {}).get(w.name, none) for w in layers}
    new = {name: np.asarray(mask).copy() for name, mask in ctx.masks.items()}
    capped: dict[str, bool] = {}
    own = dict(budgets) if budgets is not None else layer_budgets(ctx, at)
    if budgets is None and ctx.cfg.scope == "global":
        own = {w.name: own[w.name] for w in layers if ctx.cfg.has_own_rate(w.kind, w.is_output)}
    for w in layers:
        if w.name in own:
            present = np.asarray(ctx.masks[w.name]).ravel()
            score = np.asarray(scores[w.name]).ravel()
            keep, capped[w.name] = _select(score, present, own[w.name], guard[w.name], short_budget)
            new[w.name] = _keep(w.shape, keep)
    shared = [w for w in layers if w.name not in own]
    if not shared:
        return PruneResult(new, density, own, capped)

    sizes = [int(np.prod(w.shape)) for w in shared]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    score = np.concatenate([np.asarray(scores[w.name]).ravel() for w in shared])
    present = np.concatenate([np.asarray(ctx.masks[w.name]).ravel() for w in shared])
    joint = np.concatenate([guard[w.name] + offsets[i] for i, w in enumerate(shared)])
    total = keep_count(int(offsets[-1]), density)
    keep, was_capped = _select(score, present, total, joint, short_budget)
    flat = _keep((int(offsets[-1]),), keep)
    for i, w in enumerate(shared):
        new[w.name] = flat[offsets[i] : offsets[i + 1]].reshape(w.shape)
        capped[w.name] = was_capped
    return PruneResult(new, density, {**own, "global": total}, capped)


def magnitudes(ctx: PruneContext) -> dict[str, np.ndarray]:
    """|w| of the previous round's trained weights, for every weight this round prunes."""
    return {w.name: np.abs(ctx.values[w.name]) for w in prunable(ctx)}


def prune_round(
    method: str,
    weights: Sequence[PrunableWeight],
    values: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray],
    cfg: PruningConfig,
    round_index: int,
    **inputs: Any,
) -> PruneResult:
    """New masks for round ``round_index`` >= 1 from the previous round's trained weights;
    ``inputs`` are the optional ``PruneContext`` fields the method needs."""
    chosen = get_method(method)
    if round_index < 1:
        raise ValueError("round 0 is the dense network; pruning starts at round 1")
    check_masks(weights, masks)
    missing = sorted(need for need in chosen.needs if inputs.get(need) is None)
    if missing:
        raise ValueError(f"method {method!r} needs {missing} to prune")
    return chosen.prune(PruneContext(weights, values, masks, cfg, round_index, **inputs))
