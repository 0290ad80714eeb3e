"""Pruning: masks as first-class state, schedules, and the registry of methods.

Light to import (the workflow reads the method names before any job): the methods and what
they share load on first use.
"""

from pipeline.lazy import lazy_attributes
from pipeline.prune.registry import (
    Method,
    PruneContext,
    PruneResult,
    default_methods,
    get_method,
    method_names,
    register_method,
    registry,
)

_LAZY = {
    "check_masks": "pipeline.prune.select",
    "keep_top": "pipeline.prune.select",
    "prune_round": "pipeline.prune.select",
    "keep_count": "pipeline.prune.schedule",
    "target_density": "pipeline.prune.schedule",
    "tree_edges": "pipeline.prune.methods.timp",
}


__getattr__ = lazy_attributes(__name__, _LAZY)


__all__ = [
    *_LAZY,
    "Method",
    "PruneContext",
    "PruneResult",
    "default_methods",
    "get_method",
    "method_names",
    "register_method",
    "registry",
]
