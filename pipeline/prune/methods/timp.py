"""T-IMP: keep every maximum-spanning-tree edge, fill the budget by magnitude (docs/science.md §5).

The protected set is the present weights' spanning forest of the previous round's trained
weights: its edges for dense layers, the trees of all gate blocks of a recurrent matrix, the
kernel parameters behind the tree for convolutions. It does not depend on the ``pruned``
diagram convention (docs/science.md §2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.retention import persistence_of, trees_of
from pipeline.prune.select import keep_top, magnitudes, prunable

if TYPE_CHECKING:
    from pipeline.models.probe import PrunableWeight


def tree_edges(weight: PrunableWeight, value: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Flat indices (into the weight) of its maximum spanning forest(s) under the mask."""
    from pipeline.topology.conventions import PAPER  # here: the topology package loads numba

    trees = trees_of(persistence_of([weight], {weight.name: value}, {weight.name: mask}, PAPER))
    return trees.get(weight.name, np.zeros(0, dtype=np.int64))


def prune(ctx: PruneContext) -> PruneResult:
    layers = prunable(ctx)
    if ctx.trees is not None:  # the round computed the previous forests once, for its record too
        trees = {w.name: ctx.trees[w.name] for w in layers}
    else:
        trees = {w.name: tree_edges(w, ctx.values[w.name], ctx.masks[w.name]) for w in layers}
    return keep_top(ctx, magnitudes(ctx), trees, ctx.cfg.timp_short_budget)


register_method(
    Method(
        name="timp",
        label="T-IMP",
        color="#d62728",
        marker="s",
        prune=prune,
        summary="topological IMP: keep every spanning-tree edge, then the largest magnitudes",
    )
)
