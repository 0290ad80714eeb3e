"""Maximum spanning trees (forests) of layer graphs — the whole 0-dimensional diagram.

``dense_forest`` handles any masked bipartite weight matrix in two passes over the weights.
``conv_forest`` handles the exact multi-channel Toeplitz graph of a convolution without
materialising its edge list: the distinct kernel parameters are ranked once and their
translated copies united (Kruskal), stopping as soon as the forest spans.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.topology import _kernels
from pipeline.topology.graphs import ConvGeometry
from pipeline.topology.order import sort_desc

_NO_MASK = np.ones((1, 1), dtype=bool)
# Heavy edges kept per vertex in step 2 of dense_forest: enough to join the Borůvka
# components of any layer seen so far, small enough that sorting them is cheap.
_HEAVY_EDGES_PER_VERTEX = 8
_SAMPLE = 1 << 16
# Up to this many Borůvka components the contraction of step 3 is cheaper than step 2.
_DIRECT_PRIM_COMPONENTS = 512
# Above this many components the contracted k x k matrices would cost more than sorting edges.
_MAX_CONTRACTED_COMPONENTS = 4096


@dataclass(frozen=True, eq=False)
class SpanningForest:
    """Edges of a maximum spanning forest, ordered by flat index.

    ``indices`` are flat indices into the weight tensor (for a convolution: the kernel
    parameter behind each Toeplitz edge, repeated once per copy in the tree); ``magnitudes``
    are the edges' ``|w|``.
    """

    indices: np.ndarray
    magnitudes: np.ndarray
    n_vertices: int

    @property
    def n_edges(self) -> int:
        return int(self.indices.size)

    @property
    def n_components(self) -> int:
        return self.n_vertices - self.n_edges


@dataclass(frozen=True, eq=False)
class ConvForest(SpanningForest):
    """A conv layer's forest plus the kernel parameters it uses (docs/science.md §3, exact convention).

    ``edges`` lists every tree edge as (kernel parameter, input node, output node) in the
    layer's total order (input node ``c·Hp·Wp + y·Wp + x`` of the padded input, output node
    ``o·Ho·Wo + y·Wo + x``): where each Toeplitz copy sits, for the whole-network graph.
    """

    used_params: np.ndarray
    param_counts: np.ndarray
    edges: np.ndarray

    @property
    def n_used_params(self) -> int:
        return int(self.used_params.size)


def _as_float(weight: np.ndarray) -> np.ndarray:
    weight = np.asarray(weight)
    if weight.dtype not in (np.float32, np.float64):
        weight = weight.astype(np.float64)
    return weight


def _heavy_threshold(weight: np.ndarray, mask: np.ndarray | None, fraction: float) -> float:
    """Magnitude above which about ``fraction`` of the present weights lie, from a sample."""
    flat = weight.ravel()
    keep = None if mask is None else mask.ravel()
    if flat.size > _SAMPLE:
        positions = np.random.default_rng(0).integers(0, flat.size, size=_SAMPLE)
        flat = flat[positions]
        keep = None if keep is None else keep[positions]
    sample = np.abs(flat) if keep is None else np.abs(flat[keep])
    if sample.size == 0:
        return 0.0
    rank = min(sample.size - 1, int(sample.size * (1.0 - fraction)))
    return float(np.partition(sample, rank)[rank])


def _kruskal_above(w, mask, tau, cap, comp, k, parent, size, active, edges, n_edges):
    """Kruskal over the present inter-component edges of magnitude >= ``tau``.

    By Kruskal's prefix property the accepted edges are exactly the forest's edges above
    ``tau``. With a ``cap`` the step is skipped when more edges qualify (the caller goes on
    with the components it has); without one every qualifying edge is taken.
    Returns the new edge count, component labels and component count.
    """
    mask_arg, has_mask = (_NO_MASK, False) if mask is None else (mask, True)
    r, c = w.shape
    limit = cap if cap is not None else min(w.size, 1 << 20)
    while True:
        values, indices, count = _kernels.collect_heavy_edges(w, mask_arg, has_mask, comp, tau, limit)
        if count <= limit:
            break
        if cap is not None:
            return n_edges, comp, k
        limit = count
    ordered = indices[:count][np.argsort(-values[:count], kind="stable")]
    n_edges = _kernels.kruskal_bipartite(ordered, c, r, parent, size, edges, n_edges)
    comp, k = _kernels.component_labels(parent, active)
    return n_edges, comp, k


def dense_forest(weight: np.ndarray, mask: np.ndarray | None = None) -> SpanningForest:
    """Maximum spanning forest of the bipartite graph of a 2-D weight matrix.

    Rows and columns are the two vertex sets; ``mask == False`` marks absent edges.

    1. One Borůvka step: every vertex's heaviest edge is in the forest (one contiguous pass).
    2. The heaviest few percent of the remaining inter-component edges (a second pass with a
       threshold taken from a sample) go through Kruskal; by Kruskal's prefix property the
       edges it accepts are exactly the forest's edges above the threshold.
    3. If components remain, the graph contracted to them is finished by a dense Prim in
       O(k²) — or, when more than a few thousand remain (a heavily pruned layer falls apart),
       by Kruskal over all remaining inter-component edges, so memory stays O(edges).
    Vertices without any present edge never join anything and are left out of all steps.
    Two to three passes over the weights in all, whatever the shape.
    """
    w = np.ascontiguousarray(_as_float(weight))
    if w.ndim != 2:
        raise ValueError(f"dense_forest needs a 2-D weight, got shape {w.shape}")
    if mask is not None:
        mask = np.ascontiguousarray(mask, dtype=bool)
        if mask.shape != w.shape:
            raise ValueError(f"mask shape {mask.shape} does not match weight shape {w.shape}")
    mask_arg, has_mask = (_NO_MASK, False) if mask is None else (mask, True)
    r, c = w.shape
    edges, n_edges, parent, size, active = _kernels.boruvka_step(w, mask_arg, has_mask)
    comp, k = _kernels.component_labels(parent, active)
    budget = _HEAVY_EDGES_PER_VERTEX * (r + c)
    if k > _DIRECT_PRIM_COMPONENTS and budget < w.size // 4:
        tau = _heavy_threshold(w, mask, budget / w.size)
        n_edges, comp, k = _kruskal_above(w, mask, tau, 2 * budget, comp, k, parent, size, active, edges, n_edges)
    if k > _MAX_CONTRACTED_COMPONENTS:
        n_edges, comp, k = _kruskal_above(w, mask, 0.0, None, comp, k, parent, size, active, edges, n_edges)
    elif k > 1:
        n_edges = _kernels.contract_and_prim(w, mask_arg, has_mask, comp, k, edges, n_edges)
    edges = np.sort(edges[:n_edges])
    return SpanningForest(edges, np.abs(w.ravel()[edges]).astype(np.float64), r + c)


def conv_components(shape: tuple[int, ...], geometry: ConvGeometry, mask: np.ndarray | None = None) -> int:
    """Connected components of the Toeplitz graph of the present kernel parameters."""
    geo = geometry.as_array()
    if mask is not None and not np.asarray(mask).all():
        present = np.ascontiguousarray(mask, dtype=bool).ravel()
        return int(_kernels.conv_support_components(present, np.array(shape, dtype=np.int64), geo))
    # All parameters present: inside a group, channels merge completely under every window,
    # so each group's graph is the single-channel position graph plus C_in/groups - 1 extra
    # isolated copies of every padded input position that no window covers.
    _, c_in, f1, f2 = shape
    single_geo = geo.copy()
    single_geo[-1] = 1
    single = int(
        _kernels.conv_support_components(
            np.ones(f1 * f2, dtype=bool), np.array([1, 1, f1, f2], dtype=np.int64), single_geo
        )
    )
    hp, wp = geometry.padded_size
    ho, wo = geometry.output_size
    sh, sw = geometry.stride
    dh, dw = geometry.dilation
    covered_rows = np.zeros(hp, dtype=bool)
    covered_cols = np.zeros(wp, dtype=bool)
    for d in range(f1):
        covered_rows[d * dh : d * dh + sh * (ho - 1) + 1 : sh] = True
    for d in range(f2):
        covered_cols[d * dw : d * dw + sw * (wo - 1) + 1 : sw] = True
    uncovered = hp * wp - int(covered_rows.sum()) * int(covered_cols.sum())
    return geometry.groups * (single + (c_in - 1) * uncovered)


def conv_forest(weight: np.ndarray, geometry: ConvGeometry, mask: np.ndarray | None = None) -> ConvForest:
    """Maximum spanning forest of a convolution's exact Toeplitz graph, never materialised.

    Kruskal over the distinct kernel parameters, taken in chunks of growing size — the
    parameters between two magnitude thresholds read off a sample, each chunk sorted by the
    total order — and every parameter's translated copies united in output-position order.
    The loop stops once the forest has as many edges as the graph can span (known in advance
    from ``conv_components``), usually after a small fraction of the parameters.
    """
    magnitudes = np.abs(_as_float(weight))
    if magnitudes.ndim != 4:
        raise ValueError(f"conv_forest needs a 4-D weight, got shape {magnitudes.shape}")
    if tuple(magnitudes.shape[2:]) != geometry.kernel_size:
        raise ValueError(f"kernel {magnitudes.shape[2:]} does not match geometry {geometry.kernel_size}")
    shape = tuple(int(s) for s in magnitudes.shape)
    c_out, c_in = shape[0], shape[1] * geometry.groups
    if c_out % geometry.groups:
        raise ValueError(f"{c_out} output channels do not split into {geometry.groups} groups")
    hp, wp = geometry.padded_size
    ho, wo = geometry.output_size
    n_vertices = c_in * hp * wp + c_out * ho * wo
    flat = magnitudes.ravel()
    present = None if mask is None else np.asarray(mask, dtype=bool).ravel()
    n_present = flat.size if present is None else int(present.sum())
    target = n_vertices - conv_components(shape, geometry, mask)

    parent = np.arange(n_vertices)
    size = np.ones(n_vertices, dtype=np.int64)
    used_count = np.zeros(flat.size, dtype=np.int64)
    edges = np.empty((target, 3), dtype=np.int64)
    shape_arr = np.array(shape, dtype=np.int64)
    geo = geometry.as_array()
    n_unions = 0
    chunk = max(256, 4 * (n_vertices // (ho * wo)))
    upper = np.inf
    while n_unions < target and upper > 0:
        lower = _heavy_threshold(flat, present, chunk / n_present) if chunk < n_present else 0.0
        if lower == 0.0:
            lower = -1.0
        take = (flat >= lower) & (flat < upper)
        if present is not None:
            take &= present
        batch = np.flatnonzero(take)
        order = batch[sort_desc(flat[batch], batch)]
        n_unions = _kernels.conv_kruskal(order, shape_arr, geo, parent, size, used_count, n_unions, target, edges)
        upper = lower
        chunk *= 4

    used = np.flatnonzero(used_count)
    counts = used_count[used]
    return ConvForest(
        indices=np.repeat(used, counts),
        magnitudes=np.repeat(flat[used].astype(np.float64), counts),
        n_vertices=n_vertices,
        used_params=used,
        param_counts=counts,
        edges=edges[:n_unions],
    )
