"""Random control: a uniformly random mask among the survivors with IMP's per-layer counts.

Each layer keeps exactly as many weights as IMP's mask of the same trial and round (so under
local scope the schedule's counts, under global scope the counts IMP's ranking gave that
layer), drawn from this method's own survivors with the generator seeded per trial and round.
"""

from __future__ import annotations

import numpy as np

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.select import keep_top, prunable


def prune(ctx: PruneContext) -> PruneResult:
    assert ctx.reference is not None and ctx.rng is not None
    layers = prunable(ctx)
    counts = {w.name: int(np.asarray(ctx.reference[w.name]).sum()) for w in layers}
    scores = {w.name: ctx.rng.random(w.shape) for w in layers}
    return keep_top(ctx, scores, budgets=counts)


register_method(
    Method(
        name="random",
        label="Random",
        color="#7f7f7f",
        marker="x",
        prune=prune,
        control=True,
        needs=frozenset({"rng", "reference"}),
        follows="imp",
        summary="control: uniformly random survivors, IMP's per-layer counts of the same round",
    )
)
