"""0-dimensional persistence diagrams and neural persistence (docs/science.md §2).

The diagram of a layer is ``{(1, w'_e) : e in MaxST}`` with ``w' = |w| / w_max``; neural
persistence is the p-norm of the points' persistences ``1 - w'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.topology.conventions import PAPER, Convention, PrunedEdges
from pipeline.topology.graphs import ConvLayer, Layer
from pipeline.topology.mst import SpanningForest, conv_forest, dense_forest


@dataclass(frozen=True, eq=False)
class Diagram:
    """A layer's diagram: one point (1, death) per spanning-forest edge, plus essential points.

    ``indices[i]`` is the flat index, into the whole parameter tensor, of the weight (for a
    convolution, the kernel parameter) behind point i — a gate block's offset included.
    ``n_essential`` points (1, 0) are counted when the convention asks for them.
    ``degenerate`` flags a layer whose present weights are all zero, whatever ``w_max`` is
    (every death is then 0).
    """

    deaths: np.ndarray
    indices: np.ndarray
    n_vertices: int
    n_essential: int
    w_max: float
    degenerate: bool

    @property
    def births(self) -> np.ndarray:
        return np.ones_like(self.deaths)

    @property
    def persistence(self) -> np.ndarray:
        return 1.0 - self.deaths


def effective_weight(layer: Layer, pruned: PrunedEdges) -> tuple[np.ndarray, np.ndarray | None]:
    """Weight and mask of the graph a convention sees: masked weights absent, or zero edges."""
    if layer.mask is None:
        return layer.weight, None
    if pruned == "absent":
        return layer.weight, layer.mask
    return np.where(layer.mask, layer.weight, 0), None


def spanning_forest(layer: Layer, pruned: PrunedEdges = "absent") -> SpanningForest:
    """The layer's maximum spanning forest under the given pruned-edge convention."""
    weight, mask = effective_weight(layer, pruned)
    if isinstance(layer, ConvLayer):
        return conv_forest(weight, layer.geometry, mask)
    return dense_forest(weight, mask)


def layer_w_max(layer: Layer) -> float:
    """Largest present |w| of a layer (0 for a layer with no present weight)."""
    weight, mask = effective_weight(layer, "absent")
    present = np.abs(weight) if mask is None else np.abs(weight)[mask]
    return float(present.max()) if present.size else 0.0


def diagram(
    layer: Layer,
    convention: Convention = PAPER,
    *,
    w_max: float | None = None,
    forest: SpanningForest | None = None,
) -> Diagram:
    """The layer's diagram. ``w_max`` overrides the layer's own (for the global convention)."""
    if forest is None:
        forest = spanning_forest(layer, convention.pruned)
    own = layer_w_max(layer)
    scale = own if w_max is None else float(w_max)
    deaths = np.zeros(forest.n_edges) if scale == 0.0 else forest.magnitudes / scale
    if np.any(deaths > 1.0 + 1e-12):
        raise ValueError(f"layer {layer.name!r}: w_max {scale} is below the layer's largest weight")
    return Diagram(
        deaths=np.minimum(deaths, 1.0),
        indices=layer.stored(forest.indices),
        n_vertices=forest.n_vertices,
        n_essential=forest.n_components if convention.essential else 0,
        w_max=scale,
        degenerate=own == 0.0,
    )


def neural_persistence(d: Diagram, p: float = 2.0) -> float:
    """``(Σ (1 - w'_e)^p + #essential)^(1/p)``."""
    return float((np.sum(d.persistence**p) + d.n_essential) ** (1.0 / p))


def normalized_neural_persistence(d: Diagram, convention: Convention = PAPER) -> float:
    """Neural persistence divided by ``(|V| - 1)^(1/p)`` (or ``|V| - 2``).

    At most 1 under the ``paper`` convention. Under others it can exceed 1: a global ``w_max``
    with the essential class or with the ``|V| - 2`` normaliser, and an all-zero (degenerate)
    layer under the essential class or ``|V| - 2`` (the bound of each: docs/science.md §2).
    """
    offset = 1 if convention.normalizer == "vertices-1" else 2
    bound = (d.n_vertices - offset) ** (1.0 / convention.p) if d.n_vertices > offset else 0.0
    value = neural_persistence(d, convention.p)
    if bound == 0.0:
        if value == 0.0:
            return 0.0
        raise ValueError(f"a graph of {d.n_vertices} vertices has no {convention.normalizer} normaliser")
    return value / bound


@dataclass(frozen=True, eq=False)
class LayerPersistence:
    """One layer's diagram and summaries, as every report consumes them.

    ``forest`` is the spanning forest of the graph the convention sees (the diagram's edges);
    ``tree`` is the spanning forest of the present weights, which α, top-α, η_τ and T-IMP
    count. They differ only under ``pruned: zero``, where ``forest`` adds the zero edges that
    join the present tree's components (docs/science.md §2).
    """

    layer: Layer
    forest: SpanningForest
    tree: SpanningForest
    diagram: Diagram
    neural_persistence: float
    normalized: float


def layer_persistence(
    layer: Layer, convention: Convention = PAPER, global_max: float | None = None
) -> LayerPersistence:
    """One layer's forests, diagram and NP; ``global_max`` is the network's w_max under the
    global convention (``network_persistence`` computes it)."""
    tree = spanning_forest(layer, "absent")
    zero_edges = convention.pruned == "zero" and layer.mask is not None and not layer.mask.all()
    forest = spanning_forest(layer, "zero") if zero_edges else tree
    d = diagram(layer, convention, w_max=global_max if convention.w_max == "global" else None, forest=forest)
    return LayerPersistence(
        layer=layer,
        forest=forest,
        tree=tree,
        diagram=d,
        neural_persistence=neural_persistence(d, convention.p),
        normalized=normalized_neural_persistence(d, convention),
    )


def network_w_max(layers: Sequence[Layer]) -> float:
    """The largest present |w| of the network: the scale of the global convention."""
    return max((layer_w_max(layer) for layer in layers), default=0.0)


def network_persistence(layers: Sequence[Layer], convention: Convention = PAPER) -> list[LayerPersistence]:
    """Diagrams and NP of all layers; with ``w_max="global"`` one scale serves the network."""
    global_max = network_w_max(layers) if convention.w_max == "global" else None
    return [layer_persistence(layer, convention, global_max) for layer in layers]


def total_neural_persistence(results: Sequence[LayerPersistence]) -> float:
    """Total NP of a network: the sum of its layers' NP (docs/science.md §2)."""
    return float(sum(r.neural_persistence for r in results))
