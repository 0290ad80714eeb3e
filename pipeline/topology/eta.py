"""Topologically critical compression ratio η_τ = |W| / |MaxST| (docs/science.md §3).

Closed forms describe complete (unpruned) layers from their shapes alone; counted values
come from the actual, possibly pruned, graph. Network aggregates are ratios of sums.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.topology.conventions import ConvGraph
from pipeline.topology.graphs import ConvGeometry, ConvLayer, Layer, require_present
from pipeline.topology.mst import ConvForest, SpanningForest, conv_components


@dataclass(frozen=True)
class EtaCount:
    """Sizes behind one η_τ value. ``params``/``tree_params`` only for exact conv layers."""

    layer: str
    kind: str
    m: int
    n: int
    weights: int
    tree_edges: int
    params: int | None = None
    tree_params: int | None = None

    @property
    def eta_tau(self) -> float:
        return self.weights / self.tree_edges if self.tree_edges else float("inf")

    @property
    def eta_tau_params(self) -> float | None:
        if self.params is None or not self.tree_params:
            return None
        return self.params / self.tree_params


def dense_closed_form(m: int, n: int) -> tuple[int, int]:
    """(|W|, |MaxST|) of a complete m -> n layer: m·n and m + n - 1."""
    return m * n, m + n - 1


def recurrent_closed_form(hidden: int) -> tuple[int, int]:
    """(|W|, |MaxST|) of an ℓ x ℓ hidden-to-hidden block: ℓ² and 2ℓ - 1."""
    return dense_closed_form(hidden, hidden)


def conv_closed_form(geometry: ConvGeometry) -> tuple[int, int, int, int]:
    """Single-channel Toeplitz graph (docs/science.md §3): (m, n, |W| = n·f1·f2, m + n - 1)."""
    (hp, wp), (ho, wo) = geometry.padded_size, geometry.output_size
    m, n = hp * wp, ho * wo
    f1, f2 = geometry.kernel_size
    return m, n, n * f1 * f2, m + n - 1


def paper_conv_geometry(layer: ConvLayer) -> ConvGeometry | None:
    """The paper's single-channel geometry: the output resolution as a stride-1 'same' conv.

    Returns None for 1x1 convolutions, which the paper leaves out (in the networks of docs/science.md §6
    these are exactly the ResNet projection shortcuts).
    """
    f1, f2 = layer.geometry.kernel_size
    if (f1, f2) == (1, 1):
        return None
    return ConvGeometry(layer.geometry.output_size, (f1, f2), (1, 1), ((f1 - 1) // 2, (f2 - 1) // 2))


def closed_form(layer: Layer, conv_graph: ConvGraph = "exact") -> EtaCount | None:
    """η_τ sizes of the complete layer from its shape (None: left out by the paper convention)."""
    if not isinstance(layer, ConvLayer):
        weights, mst = dense_closed_form(layer.m, layer.n)
        return EtaCount(layer.name, layer.kind, layer.m, layer.n, weights, mst)
    if conv_graph == "paper":
        geometry = paper_conv_geometry(layer)
        if geometry is None:
            return None
        m, n, weights, mst = conv_closed_form(geometry)
        return EtaCount(layer.name, layer.kind, m, n, weights, mst)
    n_params = layer.weight.size
    components = conv_components(layer.weight.shape, layer.geometry)
    return EtaCount(
        layer.name,
        layer.kind,
        layer.m,
        layer.n,
        n_params * layer.positions,
        layer.n_vertices - components,
        params=n_params,
    )


def counted(layer: Layer, forest: SpanningForest) -> EtaCount:
    """η_τ sizes counted on the actual graph: present edges over their forest's edges."""
    if isinstance(layer, ConvLayer):
        if not isinstance(forest, ConvForest):
            raise TypeError(f"layer {layer.name!r}: a conv layer needs a ConvForest")
        require_present(layer, forest.used_params)
        return EtaCount(
            layer.name,
            layer.kind,
            layer.m,
            layer.n,
            layer.n_weights,
            forest.n_edges,
            params=layer.n_params,
            tree_params=forest.n_used_params,
        )
    require_present(layer, forest.indices)
    return EtaCount(layer.name, layer.kind, layer.m, layer.n, layer.n_weights, forest.n_edges)


AGGREGATES: dict[str, tuple[str, ...]] = {
    "conv": ("conv",),
    "dense": ("linear",),
    "recurrent": ("recurrent",),
    "final": ("conv", "linear", "recurrent"),
}
"""Aggregate rows and the layer kinds each sums over ("Conv", "Dense", "Final" in docs/science.md §3)."""


def aggregate(rows: Iterable[EtaCount]) -> list[EtaCount]:
    """Ratio-of-sums aggregates; a group with no layers is left out (except ``final``)."""
    rows = list(rows)
    out = []
    for name, kinds in AGGREGATES.items():
        members: Sequence[EtaCount] = [r for r in rows if r.kind in kinds]
        if not members and name != "final":
            continue
        with_params = [r for r in members if r.params is not None]
        params_known = name == "conv" and with_params and all(r.tree_params is not None for r in with_params)
        out.append(
            EtaCount(
                layer=name,
                kind="aggregate",
                m=sum(r.m for r in members),
                n=sum(r.n for r in members),
                weights=sum(r.weights for r in members),
                tree_edges=sum(r.tree_edges for r in members),
                params=sum(r.params or 0 for r in with_params) if params_known else None,
                tree_params=sum(r.tree_params or 0 for r in with_params) if params_known else None,
            )
        )
    return out
