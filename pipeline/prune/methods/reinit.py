"""Reinit control (the lottery-ticket control): IMP's mask, weights from a fresh initialisation.

Round k takes IMP's round-k mask of the same trial unchanged and trains from a new random
initialisation (``RoundKey.init_seed``: a seed no trial or round of another method uses), so
what differs from IMP is exactly the starting weights.
"""

from __future__ import annotations

import numpy as np

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.schedule import target_density


def prune(ctx: PruneContext) -> PruneResult:
    assert ctx.reference is not None
    masks = {w.name: np.asarray(ctx.reference[w.name], dtype=bool).copy() for w in ctx.weights}
    counts = {name: int(mask.sum()) for name, mask in masks.items()}
    return PruneResult(masks, target_density(ctx.cfg, ctx.round_index), counts)


register_method(
    Method(
        name="reinit",
        label="Reinit",
        color="#8c564b",
        marker="v",
        prune=prune,
        control=True,
        needs=frozenset({"reference"}),
        follows="imp",
        fresh_start=True,
        summary="control: IMP's mask of the same round, trained from a fresh initialisation",
    )
)
