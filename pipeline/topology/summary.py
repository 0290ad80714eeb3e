"""Everything one layer graph's topology says, in one record: a row of ``python -m pipeline
analyze``, and the quantities a round file stores for each of its graphs (``store.record``).

Sizes and η_τ from the present weights' forest, NP from the convention's diagram, the top-α
overlap with its bound (dense layers) and its chance level. Convolutions count the overlap,
like η_τ's parameter level, over distinct kernel parameters (docs/science.md §2-§4). One name
per quantity: code, HDF5 attributes, tables and the analyze output all use these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.fields import doc, optional
from pipeline.topology.diagram import LayerPersistence
from pipeline.topology.eta import EtaCount, counted
from pipeline.topology.graphs import ConvLayer
from pipeline.topology.null import LayerNull, NullInterval
from pipeline.topology.overlap import log10_chance_at_least, lower_bound, overlap


@dataclass(frozen=True)
class LayerSummary:
    """One layer graph's sizes, η_τ, NP and overlap; None where a value does not apply."""

    layer: str = doc("the graph: a weight tensor's state_dict name, `name[gate]` for a gate or q/k/v block")
    kind: str = doc("`linear`, `conv`, `recurrent` or `attention`")
    m: int = doc("input vertices")
    n: int = doc("output vertices")
    vertices: int = doc("vertices of the graph (conv: of its Toeplitz graph)")
    weights: int = doc("present edges (weights not masked and not zero)")
    tree_edges: int = doc("edges of the present weights' maximum spanning forest")
    components: int = doc("components of that forest (vertices - tree_edges)")
    eta_tau: float = doc("η_τ at the edge level: weights / tree_edges")
    w_max: float = doc("the scale of the diagram, w' = |w| / w_max (convention `w_max`)")
    np: float = doc("neural persistence of the diagram (docs/science.md §2)")
    normalized_np: float = doc("NP over the convention's normaliser (§2 says when it can exceed 1)")
    essential: int = doc("essential points (1, 0) counted in NP (convention `essential`)")
    diagram_components: int = doc(
        "components of the diagram's forest (with `pruned: zero`, masked edges join it at weight 0)"
    )
    degenerate: bool = doc("the graph's present weights are all zero")
    alpha: int = doc("α: the forest's distinct weights (conv: kernel parameters)")
    shared: int = doc("how many of the α heaviest weights (conv: kernel parameters) the forest uses")
    overlap: float = doc("shared / α (NaN when α = 0)")
    params: int | None = optional("conv: present kernel parameters")
    tree_params: int | None = optional("conv: kernel parameters the forest uses")
    eta_tau_params: float | None = optional("conv: η_τ at the parameter level, params / tree_params")
    bound: float | None = optional("Theorem 3.3's lower bound on the overlap (dense layers, docs/science.md §4)")
    log10_subset_chance: float | None = optional(
        "the paper's chance level: log10 of the chance that two random α-subsets of the edges share at least "
        "`shared` (hypergeometric) — a spanning tree is no random subset, so this is not the null (`overlap_null_*`)"
    )
    null_draws: int | None = optional("permutations behind the `*_null_*` fields (absent: no null was drawn)")
    overlap_null_mean: float | None = optional("mean overlap of the layer's values permuted over its edges (§4)")
    overlap_null_low: float | None = optional("2.5 % quantile of that null")
    overlap_null_high: float | None = optional("97.5 % quantile of that null")
    overlap_percentile: float | None = optional("percent of the null's draws below the observed overlap (ties: half)")
    np_null_mean: float | None = optional("mean NP of the permuted layers")
    np_null_low: float | None = optional("2.5 % quantile of that null")
    np_null_high: float | None = optional("97.5 % quantile of that null")
    np_percentile: float | None = optional("percent of the null's draws below the observed NP (ties: half)")
    normalized_np_null_mean: float | None = optional("mean normalised NP of the permuted layers")
    normalized_np_null_low: float | None = optional("2.5 % quantile of that null")
    normalized_np_null_high: float | None = optional("97.5 % quantile of that null")

    def eta_count(self) -> EtaCount:
        """The sizes behind η_τ, for the Conv / Dense / Final aggregates."""
        return EtaCount(
            self.layer, self.kind, self.m, self.n, self.weights, self.tree_edges, self.params, self.tree_params
        )


def _bound(r: LayerPersistence) -> float | None:
    """Theorem 3.3's bound for a dense layer; none where the corollary's assumptions fail."""
    layer = r.layer
    if isinstance(layer, ConvLayer) or layer.n_weights == 0:
        return None
    try:
        return lower_bound(layer.m, layer.n, layer.n_weights / (layer.m * layer.n))
    except ValueError:
        return None


def _null_fields(r: LayerPersistence, overlap_fraction: float, null: LayerNull | None) -> dict[str, float | int]:
    """The observed overlap and NP against their permutation null."""
    if null is None or null.draws == 0:
        return {}
    normalized = NullInterval.of(r.normalized, null.normalized_np)
    return {
        "null_draws": null.draws,
        **NullInterval.of(overlap_fraction, null.overlap).fields("overlap"),
        **NullInterval.of(r.neural_persistence, null.np).fields("np"),
        **{k: v for k, v in normalized.fields("normalized_np").items() if not k.endswith("percentile")},
    }


def summarize(r: LayerPersistence, null: LayerNull | None = None) -> LayerSummary:
    """The one map from a layer's persistence (its forests and diagram) and its permutation
    null (``null.layer_null``) to its quantities."""
    layer = r.layer
    eta = counted(layer, r.tree)
    shared = overlap(layer, r.tree)
    population = layer.n_params if isinstance(layer, ConvLayer) else layer.n_weights
    fraction = shared.fraction if shared.alpha else math.nan
    chance = log10_chance_at_least(population, shared.alpha, shared.shared) if shared.alpha else None
    return LayerSummary(
        layer=layer.name,
        kind=layer.kind,
        m=layer.m,
        n=layer.n,
        vertices=r.forest.n_vertices,
        weights=eta.weights,
        tree_edges=eta.tree_edges,
        components=r.tree.n_components,
        eta_tau=eta.eta_tau,
        w_max=r.diagram.w_max,
        np=r.neural_persistence,
        normalized_np=r.normalized,
        essential=r.diagram.n_essential,
        diagram_components=r.forest.n_components,
        degenerate=r.diagram.degenerate,
        alpha=shared.alpha,
        shared=shared.shared,
        overlap=fraction,
        params=eta.params,
        tree_params=eta.tree_params,
        eta_tau_params=eta.eta_tau_params,
        bound=_bound(r),
        log10_subset_chance=chance,
        **_null_fields(r, fraction, null),
    )
