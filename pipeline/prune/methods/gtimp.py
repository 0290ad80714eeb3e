"""Global T-IMP: keep every edge of the whole network's spanning tree, fill the budget by
magnitude (docs/science.md §10).

T-IMP's rule one level up: the protected set is the present-weight maximum spanning forest of
the *network graph* (every layer graph placed on the network's shared units) of the previous
round's trained weights — recomputed every round — instead of each layer's own forest. With
``pruning.scope: global`` the rest of the budget goes to the largest magnitudes of the whole
network; a budget below the tree is capped or filled with the tree's heaviest edges like
T-IMP's (``pruning.timp_short_budget``). The network forest orders edges by ``w'`` across
layers, so it follows ``topology.w_max`` (docs/science.md §10); a model must have a network
graph (the configuration check traces every pair's model before any job).
"""

from __future__ import annotations

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.select import keep_top, magnitudes


def prune(ctx: PruneContext) -> PruneResult:
    assert ctx.network_trees is not None  # prune_round checks the method's needs
    return keep_top(ctx, magnitudes(ctx), ctx.network_trees, ctx.cfg.timp_short_budget)


register_method(
    Method(
        name="gtimp",
        label="global T-IMP",
        color="#9467bd",
        marker="P",
        prune=prune,
        needs=frozenset({"network_trees"}),
        summary="global T-IMP: keep every edge of the whole network's spanning tree, then the largest magnitudes",
    )
)
