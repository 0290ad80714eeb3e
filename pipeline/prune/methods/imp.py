"""IMP: keep the largest surviving magnitudes (docs/science.md §1)."""

from __future__ import annotations

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.select import keep_top, magnitudes


def prune(ctx: PruneContext) -> PruneResult:
    return keep_top(ctx, magnitudes(ctx))


register_method(
    Method(
        name="imp",
        label="IMP",
        color="#1f77b4",
        marker="o",
        prune=prune,
        summary="iterative magnitude pruning: keep the largest surviving magnitudes",
    )
)
