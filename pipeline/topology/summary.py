"""Everything one layer's topology says, in one record (what ``python -m pipeline analyze`` prints).

Sizes and η_τ from the present weights' forest, NP from the convention's diagram, the top-α
overlap with its bound (dense layers) and its chance level. Convolutions count the overlap,
like η_τ's parameter level, over distinct kernel parameters (docs/science.md §3-§4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.topology.diagram import LayerPersistence
from pipeline.topology.eta import counted
from pipeline.topology.graphs import ConvLayer
from pipeline.topology.overlap import log10_chance_at_least, lower_bound, overlap


@dataclass(frozen=True)
class LayerSummary:
    """One graph's sizes, η_τ, NP and overlap; ``None`` where a value does not apply."""

    layer: str
    kind: str
    m: int
    n: int
    weights: int
    tree_edges: int
    components: int
    eta_tau: float
    params: int | None
    tree_params: int | None
    eta_tau_params: float | None
    w_max: float
    np: float
    normalized_np: float
    degenerate: bool
    alpha: int
    shared: int
    overlap: float
    bound: float | None
    log10_chance: float | None


def _bound(r: LayerPersistence) -> float | None:
    """Theorem 3.3's bound for a dense layer; none where the corollary's assumptions fail."""
    layer = r.layer
    if isinstance(layer, ConvLayer) or layer.n_weights == 0:
        return None
    try:
        return lower_bound(layer.m, layer.n, layer.n_weights / (layer.m * layer.n))
    except ValueError:
        return None


def summarize(r: LayerPersistence) -> LayerSummary:
    """The summary of one layer's persistence (its forests and diagram)."""
    layer = r.layer
    eta = counted(layer, r.tree)
    shared = overlap(layer, r.tree)
    population = layer.n_params if isinstance(layer, ConvLayer) else layer.n_weights
    chance = log10_chance_at_least(population, shared.alpha, shared.shared) if shared.alpha else None
    return LayerSummary(
        layer=layer.name,
        kind=layer.kind,
        m=layer.m,
        n=layer.n,
        weights=eta.weights,
        tree_edges=eta.mst_edges,
        components=r.tree.n_components,
        eta_tau=eta.eta_tau,
        params=eta.params,
        tree_params=eta.mst_params,
        eta_tau_params=eta.eta_tau_params,
        w_max=r.diagram.w_max,
        np=r.neural_persistence,
        normalized_np=r.normalized,
        degenerate=r.diagram.degenerate,
        alpha=shared.alpha,
        shared=shared.shared,
        overlap=shared.fraction if shared.alpha else math.nan,
        bound=_bound(r),
        log10_chance=chance,
    )
