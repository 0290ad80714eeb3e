"""Pruning: masks as first-class state, schedules, and the IMP / T-IMP methods."""

from pipeline.prune.methods import PRUNERS, Masks, PruneResult, check_masks, prune_round, tree_edges
from pipeline.prune.schedule import keep_count, target_density

__all__ = [
    "PRUNERS",
    "Masks",
    "PruneResult",
    "check_masks",
    "keep_count",
    "prune_round",
    "target_density",
    "tree_edges",
]
