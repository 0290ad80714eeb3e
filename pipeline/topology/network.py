"""The whole network as one graph: its maximum spanning forest and diagram (docs/science.md §10).

A network's layers share their units: a hidden neuron is an output vertex of one layer graph
and an input vertex of the next. ``NetworkGraph`` places every layer graph of §2 on one vertex
set (``Placement``: the network vertex of each of the layer's input and output vertices; the
structural joins of pooling, residual additions and the like are already in those labels).
Edges are the present weights, ``w' = |w| / w_max`` with the convention's scale (the layer's or
the network's).

The forest is never built from the whole edge set. Every edge outside its own layer's maximum
spanning forest is the lightest edge of a cycle inside that layer, and the cycle survives in the
network graph (identifying vertices keeps a cycle a closed walk through the edge), so the
network's forest is the maximum spanning forest of the union of the layers' forests (§10). The
layers' forests come from the per-layer engine (a convolution's Toeplitz graph is never
materialised); Kruskal then runs once over their ``Σ |V_l|`` edges in the network's total
order: larger ``w'`` first, then layer order, then the layer's own order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.fields import doc
from pipeline.topology import _kernels
from pipeline.topology.conventions import PAPER, Convention, PrunedEdges
from pipeline.topology.diagram import Diagram, effective_weight, layer_w_max, neural_persistence, spanning_forest
from pipeline.topology.graphs import ConvLayer, Layer
from pipeline.topology.mst import ConvForest, SpanningForest
from pipeline.topology.order import sort_desc


@dataclass(frozen=True, eq=False)
class Placement:
    """Where one layer graph's vertices sit in the network: ``inputs[j]`` is the network vertex
    of the layer's input vertex j (a conv: of padded input position ``c·Hp·Wp + y·Wp + x``),
    ``outputs[i]`` that of its output vertex i (a conv: ``o·Ho·Wo + y·Wo + x``)."""

    inputs: np.ndarray
    outputs: np.ndarray


@dataclass(frozen=True, eq=False)
class NetworkGraph:
    """Layer graphs in forward order, each placed on the network's ``n_vertices`` vertices."""

    layers: tuple[Layer, ...]
    placements: tuple[Placement, ...]
    n_vertices: int

    def __post_init__(self) -> None:
        if len(self.layers) != len(self.placements):
            raise ValueError(f"{len(self.layers)} layer graphs but {len(self.placements)} placements")
        for layer, place in zip(self.layers, self.placements, strict=True):
            if place.inputs.shape != (layer.m,) or place.outputs.shape != (layer.n,):
                raise ValueError(
                    f"layer {layer.name!r}: placed on {place.inputs.shape} inputs and {place.outputs.shape} "
                    f"outputs, its graph has {layer.m} and {layer.n}"
                )
            ends = np.concatenate([place.inputs, place.outputs])
            if ends.size and (ends.min() < 0 or ends.max() >= self.n_vertices):
                raise ValueError(f"layer {layer.name!r}: a vertex outside the network's {self.n_vertices}")

    def with_layers(self, layers: Sequence[Layer]) -> NetworkGraph:
        """The same placement with other weights or masks (a later round, a permutation)."""
        return NetworkGraph(tuple(layers), self.placements, self.n_vertices)


@dataclass(frozen=True, eq=False)
class NetworkForest(SpanningForest):
    """The network's maximum spanning forest, edge by edge in Kruskal's order (not by index).

    ``layer[e]`` is the position of edge e's layer graph in ``NetworkGraph.layers``,
    ``indices[e]`` the flat index into that graph's tensor of the weight behind it (a conv:
    its kernel parameter; a gate block's offset included), ``deaths[e]`` its ``w'``;
    ``own_tree_edges[l]`` counts layer graph l's own forest, the candidates.
    """

    layer: np.ndarray
    deaths: np.ndarray
    own_tree_edges: np.ndarray

    def per_layer(self, n_layers: int) -> np.ndarray:
        """Forest edges in each layer graph."""
        return np.bincount(self.layer, minlength=n_layers)

    def params(self, tensors: Sequence[str]) -> dict[str, np.ndarray]:
        """Per weight tensor (``tensors[l]`` names layer graph l's), the distinct flat indices
        the forest uses: what global T-IMP protects."""
        out: dict[str, np.ndarray] = {name: np.zeros(0, dtype=np.int64) for name in tensors}
        for k, name in enumerate(tensors):
            out[name] = np.union1d(out[name], self.indices[self.layer == k])
        return out


def _scales(graph: NetworkGraph, convention: Convention) -> np.ndarray:
    """Each layer's ``w_max``: its own, or the network's largest present |w|."""
    own = np.array([layer_w_max(layer) for layer in graph.layers], dtype=np.float64)
    return np.full_like(own, own.max(initial=0.0)) if convention.w_max == "global" else own


def _layer_edges(layer: Layer, pruned: PrunedEdges) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A layer's own forest as (input vertex, output vertex, |w|, flat index), in its total order."""
    forest = spanning_forest(layer, pruned)
    if isinstance(forest, ConvForest):
        params, tails, heads = forest.edges.T
        magnitudes = np.abs(np.asarray(effective_weight(layer, pruned)[0], dtype=np.float64)).ravel()[params]
        return tails, heads, magnitudes, params
    order = sort_desc(forest.magnitudes, forest.indices)
    flat = forest.indices[order]
    return flat % layer.m, flat // layer.m, forest.magnitudes[order], flat


def network_forest(
    graph: NetworkGraph, convention: Convention = PAPER, pruned: PrunedEdges = "absent"
) -> NetworkForest:
    """The maximum spanning forest of the whole network under ``pruned`` (absent or zero edges)."""
    scales = _scales(graph, convention)
    parts = []
    for k, (layer, place) in enumerate(zip(graph.layers, graph.placements, strict=True)):
        tails, heads, magnitudes, flat = _layer_edges(layer, pruned)
        deaths = np.zeros(magnitudes.size) if scales[k] == 0.0 else np.minimum(magnitudes / scales[k], 1.0)
        parts.append((place.inputs[tails], place.outputs[heads], deaths, magnitudes, layer.stored(flat), k))
    own = np.array([p[0].size for p in parts], dtype=np.int64)
    if not parts or own.sum() == 0:
        empty = np.zeros(0, dtype=np.int64)
        return NetworkForest(empty, np.zeros(0), graph.n_vertices, empty, np.zeros(0), own)
    tails, heads, deaths, magnitudes, flat = (np.concatenate([p[i] for p in parts]) for i in range(5))
    # the edges lie in layer order, each layer's in its own order: a stable sort by w' is the total order
    order = np.argsort(-deaths, kind="stable")
    parent = np.arange(graph.n_vertices)
    size = np.ones(graph.n_vertices, dtype=np.int64)
    accepted = order[_kernels.kruskal_pairs(tails[order], heads[order], parent, size)]
    layer = np.searchsorted(np.cumsum(own), accepted, side="right")
    return NetworkForest(flat[accepted], magnitudes[accepted], graph.n_vertices, layer, deaths[accepted], own)


@dataclass(frozen=True, eq=False)
class NetworkPersistence:
    """The whole network's forests and diagram, as ``LayerPersistence`` is one layer's: ``tree``
    is the present weights' forest (η_τ, global T-IMP), ``forest`` the diagram's (they differ
    only under ``pruned: zero``)."""

    graph: NetworkGraph
    tree: NetworkForest
    forest: NetworkForest
    diagram: Diagram
    neural_persistence: float
    normalized: float
    convention: Convention


def network_diagram(graph: NetworkGraph, convention: Convention = PAPER) -> NetworkPersistence:
    """The network's forests, its 0-dimensional diagram and NP under ``convention``."""
    tree = network_forest(graph, convention, "absent")
    masked = any(layer.mask is not None and not layer.mask.all() for layer in graph.layers)
    forest = network_forest(graph, convention, "zero") if convention.pruned == "zero" and masked else tree
    scales = _scales(graph, convention)
    d = Diagram(
        deaths=forest.deaths,
        indices=forest.indices,
        n_vertices=graph.n_vertices,
        n_essential=forest.n_components if convention.essential else 0,
        w_max=float(scales.max(initial=0.0)) if convention.w_max == "global" else float("nan"),
        degenerate=bool(scales.max(initial=0.0) == 0.0),
    )
    value = neural_persistence(d, convention.p)
    offset = 1 if convention.normalizer == "vertices-1" else 2
    bound = (graph.n_vertices - offset) ** (1.0 / convention.p) if graph.n_vertices > offset else 0.0
    return NetworkPersistence(graph, tree, forest, d, value, value / bound if bound else 0.0, convention)


def _present_params(layer: Layer) -> int:
    return int(layer.weight.size if layer.mask is None else layer.mask.sum())


@dataclass(frozen=True)
class NetworkSummary:
    """The whole network's quantities: the row of kind ``network`` (docs/science.md §10)."""

    layer: str = doc("`network`")
    kind: str = doc("`network`")
    vertices: int = doc("vertices of the network graph (units after the structural joins, §10)")
    weights: int = doc("present edges of all layer graphs (conv: every Toeplitz copy)")
    tree_edges: int = doc("edges of the network's present-weight maximum spanning forest")
    components: int = doc("components of that forest (vertices - tree_edges)")
    eta_tau: float = doc("whole-network η_τ at the edge level: weights / tree_edges")
    params: int = doc("present prunable weights (conv: kernel parameters)")
    tree_params: int = doc("distinct weights (conv: kernel parameters) the network's forest uses")
    eta_tau_params: float = doc("whole-network η_τ at the parameter level: params / tree_params")
    layer_tree_edges: int = doc("edges of the layers' own forests together (the network's forest is a subset)")
    np: float = doc("neural persistence of the network's diagram (unnormalised p-norm)")
    normalized_np: float = doc("NP over the convention's normaliser on the network's vertices")
    essential: int = doc("essential points (1, 0) counted in NP (convention `essential`)")
    diagram_components: int = doc("components of the diagram's forest")
    w_max: float = doc("the network's largest |w| under `w_max: global`; NaN when every layer has its own")


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def summarize_network(p: NetworkPersistence) -> NetworkSummary:
    """The one map from the network's persistence to its quantities."""
    layers = p.graph.layers
    weights = sum(_present_params(layer) * (layer.positions if isinstance(layer, ConvLayer) else 1) for layer in layers)
    params = sum(_present_params(layer) for layer in layers)
    tree_params = sum(np.unique(p.tree.indices[p.tree.layer == k]).size for k in range(len(layers)))
    return NetworkSummary(
        layer="network",
        kind="network",
        vertices=p.graph.n_vertices,
        weights=weights,
        tree_edges=p.tree.n_edges,
        components=p.tree.n_components,
        eta_tau=_ratio(weights, p.tree.n_edges),
        params=params,
        tree_params=tree_params,
        eta_tau_params=_ratio(params, tree_params),
        layer_tree_edges=int(p.tree.own_tree_edges.sum()),
        np=p.neural_persistence,
        normalized_np=p.normalized,
        essential=p.diagram.n_essential,
        diagram_components=p.forest.n_components,
        w_max=p.diagram.w_max,
    )


@dataclass(frozen=True)
class LayerShare:
    """What one layer graph holds of the network's forest."""

    layer: str = doc("the layer graph")
    network_tree_edges: int = doc("edges of the network's forest in this layer graph")
    network_tree_share: float = doc("their share of the network's forest")
    own_tree_edges: int = doc("edges of the layer's own forest (§2)")
    own_tree_in_network: float = doc(
        "share of the layer's own forest that the network's forest uses (every network-forest edge "
        "of a layer is in its own forest, §10)"
    )


def layer_shares(p: NetworkPersistence) -> list[LayerShare]:
    """Per layer graph: its part of the network's present-weight forest, and of its own forest."""
    counts = p.tree.per_layer(len(p.graph.layers))
    total = p.tree.n_edges
    return [
        LayerShare(
            layer=layer.name,
            network_tree_edges=int(counts[k]),
            network_tree_share=_ratio(int(counts[k]), total),
            own_tree_edges=int(p.tree.own_tree_edges[k]),
            own_tree_in_network=_ratio(int(counts[k]), int(p.tree.own_tree_edges[k])),
        )
        for k, layer in enumerate(p.graph.layers)
    ]
