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
    from pipeline.topology.network import NetworkPersistence
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
        tree = p.tree.used_params if isinstance(p.tree, ConvForest) else np.unique(p.layer.stored(p.tree.indices))
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
        edges[p.layer.tensor].append(p.layer.stored(p.tree.indices))
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


@dataclass(frozen=True)
class NetworkRetention:
    """What a new mask keeps of the previous round's whole-network forest (docs/science.md §10)."""

    edges: int
    kept_edges: int
    params: int
    kept_params: int
    null_kept_edges: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Per permutation of every layer's previous values over its edges: the network-forest edges
    magnitude pruning to the new per-tensor counts keeps."""


def _kept(
    layer: np.ndarray, indices: np.ndarray, tensors: Sequence[str], masks: Mapping[str, np.ndarray]
) -> np.ndarray:
    """Which network-forest edges (their layer graph and flat index) the masks keep."""
    kept = np.zeros(indices.size, dtype=bool)
    for k, name in enumerate(tensors):
        here = layer == k
        kept[here] = np.asarray(masks[name]).ravel()[indices[here]]
    return kept


def network_retention(before, masks: Mapping[str, np.ndarray], null: NullSettings | None = None) -> NetworkRetention:
    """The previous round's network forest (``before``: a ``NetworkPersistence`` of the
    previous trained weights under their masks) against the new ``masks``; with ``null``, what
    magnitude pruning to the same per-tensor counts keeps of the forest of those weights
    permuted over each layer graph's edges."""
    graph, tree = before.graph, before.tree
    tensors = [layer.tensor for layer in graph.layers]
    kept = _kept(tree.layer, tree.indices, tensors, masks)
    pairs = np.unique(np.stack([tree.layer, tree.indices]), axis=1)
    kept_pairs = _kept(pairs[0], pairs[1], tensors, masks)
    draws = null.draws if null is not None else 0
    return NetworkRetention(
        edges=tree.n_edges,
        kept_edges=int(kept.sum()),
        params=int(pairs.shape[1]),
        kept_params=int(kept_pairs.sum()),
        null_kept_edges=_network_null(before, masks, draws, null.seed if null else 0),
    )


def _network_null(before: NetworkPersistence, masks: Mapping[str, np.ndarray], draws: int, seed: int) -> np.ndarray:
    """Per permutation: network-forest edges kept by magnitude pruning of permuted weights."""
    # here: the topology package loads numba; the method registry loads this module
    from pipeline.topology.network import network_forest
    from pipeline.topology.null import NETWORK, permuted, stream
    from pipeline.topology.order import top_k

    graph = before.graph
    tensors = [layer.tensor for layer in graph.layers]
    counts = {name: int(np.asarray(masks[name]).sum()) for name in set(tensors)}
    rngs = [stream(seed, layer.name, NETWORK) for layer in graph.layers]
    present = {name: np.zeros(np.asarray(masks[name]).size, dtype=bool) for name in counts}
    for layer in graph.layers:  # a permutation keeps every graph's present edges: once for all draws
        present[layer.tensor][layer.block] = True if layer.mask is None else layer.in_stored_order(layer.mask)
    out = np.empty(draws, dtype=np.int64)
    for d in range(draws):
        layers = [permuted(layer, rng) for layer, rng in zip(graph.layers, rngs, strict=True)]
        values = {name: np.zeros(np.asarray(masks[name]).size) for name in counts}
        for layer in layers:
            values[layer.tensor][layer.block] = layer.in_stored_order(np.abs(layer.weight))
        new = {}
        for name in counts:
            keep = np.zeros(values[name].size, dtype=bool)
            keep[top_k(values[name], min(counts[name], int(present[name].sum())), present[name])] = True
            new[name] = keep
        forest = network_forest(graph.with_layers(layers), before.convention)  # the observed forest's scale
        out[d] = int(_kept(forest.layer, forest.indices, tensors, new).sum())
    return out
