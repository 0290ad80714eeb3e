"""How much of the previous round's spanning tree a new mask keeps, and how much NP.

The paper's claim is that IMP keeps the maximum spanning tree "with high probability"; this is
what tests it against the controls, round after round. The tree is the present weights'
spanning forest of the previous round's trained weights under its masks (docs/science.md §2):
its edges (for a convolution, every Toeplitz edge, each standing for one kernel parameter) and
the distinct parameters behind them. NP is measured on the same trained weights under the old
and the new masks, so the ratio is what pruning alone removed, before any retraining.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pipeline.models.probe import PrunableWeight
    from pipeline.topology.conventions import Convention
    from pipeline.topology.diagram import LayerPersistence
    from pipeline.topology.null import NullSettings


@dataclass(frozen=True)
class TreeRetention:
    """One weight tensor's tree before pruning and what of it the new mask keeps."""

    edges: int
    kept_edges: int
    params: int
    kept_params: int
    np_before: float
    np_after: float
    null_kept_edges: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per permutation of the previous weights (``topology.null.retention_null``): the tree
    edges magnitude pruning to the same count keeps."""


def persistence_of(weights: Sequence[PrunableWeight], values, masks, convention: Convention) -> list[LayerPersistence]:
    """Every graph's persistence (forests, diagram, NP) of ``values`` under ``masks``."""
    # here: the probe loads torch and the topology package numba; the method registry loads this module
    from pipeline.models.probe import network_graphs
    from pipeline.topology import network_persistence

    return network_persistence(network_graphs(weights, values, masks), convention)


def trees_of(results: Sequence[LayerPersistence]) -> dict[str, np.ndarray]:
    """Per weight tensor, the distinct flat indices of its present-weight forest(s): a conv's
    kernel parameters, a dense graph's weights (a gate block's offset added). T-IMP keeps these."""
    from pipeline.topology.mst import ConvForest  # here: the topology package loads numba

    parts: dict[str, list[np.ndarray]] = {}
    for p in results:
        tree = p.tree.used_params if isinstance(p.tree, ConvForest) else p.layer.offset + np.unique(p.tree.indices)
        parts.setdefault(p.layer.tensor, []).append(tree)
    return {name: np.unique(np.concatenate(trees)) for name, trees in parts.items()}


def tree_retention(
    weights: Sequence[PrunableWeight],
    before: Sequence[LayerPersistence],
    values: Mapping[str, np.ndarray],
    new: Mapping[str, np.ndarray],
    convention: Convention,
    null: NullSettings | None = None,
) -> dict[str, TreeRetention]:
    """Per weight tensor: the old masks' present-weight forest (``before``: ``persistence_of``
    the same ``values``), how much of it ``new`` keeps, and (``null``) how much magnitude
    pruning to the same count would keep of the trees of the values permuted."""
    from pipeline.topology.null import retention_null  # here: the topology package loads numba

    after = persistence_of(weights, values, new, convention)
    edges: dict[str, list[np.ndarray]] = {w.name: [] for w in weights}
    np_before = dict.fromkeys(edges, 0.0)
    np_after = dict.fromkeys(edges, 0.0)
    for p in before:  # the tree is each graph's present-weight forest, flat indices into its tensor
        edges[p.layer.tensor].append(p.layer.offset + p.tree.indices)
        np_before[p.layer.tensor] += p.neural_persistence
    for p in after:
        np_after[p.layer.tensor] += p.neural_persistence
    out = {}
    for w in weights:
        index = np.concatenate(edges[w.name]) if edges[w.name] else np.zeros(0, dtype=np.int64)
        params = np.unique(index)
        kept = np.asarray(new[w.name]).ravel()
        graphs = [p for p in before if p.layer.tensor == w.name]
        draws = null.draws if null is not None else 0
        null_kept = retention_null(graphs, kept.size, int(kept.sum()), draws, null.seed if null else 0)
        out[w.name] = TreeRetention(
            edges=int(index.size),
            kept_edges=int(kept[index].sum()),
            params=int(params.size),
            kept_params=int(kept[params].sum()),
            np_before=np_before[w.name],
            np_after=np_after[w.name],
            null_kept_edges=null_kept,
        )
    return out
