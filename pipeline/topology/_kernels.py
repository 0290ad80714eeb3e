"""Compiled inner loops of the spanning-tree computations (numba, cached on disk).

Every edge order here is the strict total order of the package: larger magnitude first, and
among equal magnitudes the smaller index first. Under a strict total order the maximum
spanning forest is unique, so every routine below returns the same forest as any other
correct algorithm (Kruskal, Prim, networkx) run with the same tie-breaking.

Absent edges are encoded as magnitude ``-1`` (magnitudes are never negative).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_CACHE = True


@njit(cache=_CACHE, inline="always")
def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@njit(cache=_CACHE, inline="always")
def _union(parent: np.ndarray, size: np.ndarray, a: int, b: int) -> bool:
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra == rb:
        return False
    if size[ra] < size[rb]:
        ra, rb = rb, ra
    parent[rb] = ra
    size[ra] += size[rb]
    return True


@njit(cache=_CACHE, inline="always")
def _magnitude(w: np.ndarray, mask: np.ndarray, has_mask: bool, i: int, j: int, absent: float) -> float:
    if has_mask and not mask[i, j]:
        return absent
    return abs(w[i, j])


@njit(cache=_CACHE)
def boruvka_step(w: np.ndarray, mask: np.ndarray, has_mask: bool):
    """One Borůvka step on the bipartite graph of ``w`` (r x c): every vertex's heaviest edge.

    Rows and columns are the two vertex sides (row i is vertex i, column j vertex r + j);
    entry (i, j) is the edge of magnitude ``|w[i, j]|``, absent where ``mask`` is False.
    Each vertex's heaviest edge is in the maximum spanning forest (cut property), and all of
    them are found in one contiguous pass. Returns the forest edges found (flat indices,
    ``i * c + j``), their count, the union-find arrays, and which vertices have any edge.
    """
    r, c = w.shape
    nv = r + c
    absent = -np.ones(1, dtype=w.dtype)[0]
    col_best = np.full(c, absent, dtype=w.dtype)
    col_arg = np.full(c, -1, dtype=np.int64)
    row_arg = np.full(r, -1, dtype=np.int64)
    for i in range(r):
        best = absent
        arg = -1
        for j in range(c):
            v = _magnitude(w, mask, has_mask, i, j, absent)
            if v > best:
                best = v
                arg = j
            if v > col_best[j]:
                col_best[j] = v
                col_arg[j] = i
        row_arg[i] = arg

    parent = np.arange(nv)
    size = np.ones(nv, dtype=np.int64)
    active = np.zeros(nv, dtype=np.bool_)
    edges = np.empty(max(nv - 1, 0), dtype=np.int64)
    n_edges = 0
    for i in range(r):
        active[i] = row_arg[i] >= 0
    for j in range(c):
        active[r + j] = col_arg[j] >= 0
    for i in range(r):
        j = row_arg[i]
        if j >= 0 and _union(parent, size, i, r + j):
            edges[n_edges] = i * c + j
            n_edges += 1
    for j in range(c):
        i = col_arg[j]
        if i >= 0 and _union(parent, size, i, r + j):
            edges[n_edges] = i * c + j
            n_edges += 1
    return edges, n_edges, parent, size, active


@njit(cache=_CACHE)
def component_labels(parent: np.ndarray, active: np.ndarray):
    """Dense labels 0..k-1 of the components of the active vertices (isolated ones: -1), and k.

    A vertex without any present edge stays a singleton forever; leaving it out keeps the
    contracted graph as small as the part of the layer that can still be joined.
    """
    nv = parent.shape[0]
    comp = np.full(nv, -1, dtype=np.int64)
    label = np.full(nv, -1, dtype=np.int64)
    k = 0
    for v in range(nv):
        if not active[v]:
            continue
        root = _find(parent, v)
        if label[root] < 0:
            label[root] = k
            k += 1
        comp[v] = label[root]
    return comp, k


@njit(cache=_CACHE)
def collect_heavy_edges(w: np.ndarray, mask: np.ndarray, has_mask: bool, comp: np.ndarray, tau: float, cap: int):
    """Present edges with magnitude >= ``tau`` between different components, in flat order.

    Returns (magnitudes, flat indices, count); a count above ``cap`` means the buffer
    overflowed and the caller must not use the result.
    """
    r, c = w.shape
    values = np.empty(cap, dtype=w.dtype)
    indices = np.empty(cap, dtype=np.int64)
    count = 0
    for i in range(r):
        ci = comp[i]
        for j in range(c):
            v = abs(w[i, j])
            if v >= tau and comp[r + j] != ci and (not has_mask or mask[i, j]):
                if count < cap:
                    values[count] = v
                    indices[count] = i * c + j
                count += 1
    return values, indices, count


@njit(cache=_CACHE)
def kruskal_bipartite(
    ordered: np.ndarray, c: int, r: int, parent: np.ndarray, size: np.ndarray, edges: np.ndarray, n_edges: int
) -> int:
    """Kruskal over flat edge indices already in the total order; appends accepted edges."""
    for t in range(ordered.shape[0]):
        e = ordered[t]
        if _union(parent, size, e // c, r + e % c):
            edges[n_edges] = e
            n_edges += 1
    return n_edges


@njit(cache=_CACHE)
def contract_and_prim(
    w: np.ndarray, mask: np.ndarray, has_mask: bool, comp: np.ndarray, k: int, edges: np.ndarray, n_edges: int
) -> int:
    """Finish the forest on the graph contracted to its k current components.

    One pass keeps, for every ordered pair of components, the heaviest edge between them
    (first in flat order among equals); a dense Prim in O(k^2) then joins the components.
    """
    r, c = w.shape
    absent = -np.ones(1, dtype=w.dtype)[0]
    best_w = np.full((k, k), absent, dtype=w.dtype)
    best_i = np.full((k, k), -1, dtype=np.int64)
    for i in range(r):
        ci = comp[i]
        base = i * c
        for j in range(c):
            cj = comp[r + j]
            if ci == cj or (has_mask and not mask[i, j]):
                continue
            v = abs(w[i, j])
            if v > best_w[ci, cj]:
                best_w[ci, cj] = v
                best_i[ci, cj] = base + j
    _symmetrise(best_w, best_i)
    return _dense_prim(best_w, best_i, edges, n_edges)


@njit(cache=_CACHE, inline="always")
def _better(w1: float, i1: int, w2: float, i2: int) -> bool:
    """Whether edge (w1, i1) precedes edge (w2, i2) in the package's total order."""
    return w1 > w2 or (w1 == w2 and i1 >= 0 and (i2 < 0 or i1 < i2))


@njit(cache=_CACHE)
def _symmetrise(w: np.ndarray, idx: np.ndarray) -> None:
    k = w.shape[0]
    block = 64
    for a0 in range(0, k, block):
        for b0 in range(a0, k, block):
            for a in range(a0, min(a0 + block, k)):
                for b in range(max(b0, a + 1), min(b0 + block, k)):
                    if _better(w[b, a], idx[b, a], w[a, b], idx[a, b]):
                        w[a, b] = w[b, a]
                        idx[a, b] = idx[b, a]
                    else:
                        w[b, a] = w[a, b]
                        idx[b, a] = idx[a, b]


@njit(cache=_CACHE)
def _dense_prim(w: np.ndarray, idx: np.ndarray, edges: np.ndarray, n_edges: int) -> int:
    """Prim's forest on a symmetric dense graph; appends the chosen edge ids to ``edges``."""
    k = w.shape[0]
    key_w = np.full(k, -np.ones(1, dtype=w.dtype)[0], dtype=w.dtype)
    key_i = np.full(k, -1, dtype=np.int64)
    remaining = np.arange(k)
    n_rem = k
    u = 0
    remaining[0] = remaining[n_rem - 1]
    n_rem -= 1
    while n_rem > 0:
        best_pos = 0
        for t in range(n_rem):
            v = remaining[t]
            if _better(w[u, v], idx[u, v], key_w[v], key_i[v]):
                key_w[v] = w[u, v]
                key_i[v] = idx[u, v]
            b = remaining[best_pos]
            if _better(key_w[v], key_i[v], key_w[b], key_i[b]):
                best_pos = t
        u = remaining[best_pos]
        if key_i[u] >= 0:
            edges[n_edges] = key_i[u]
            n_edges += 1
        remaining[best_pos] = remaining[n_rem - 1]
        n_rem -= 1
    return n_edges


@njit(cache=_CACHE, inline="always")
def _conv_unpack(geometry: np.ndarray):
    """The fields of ``ConvGeometry.as_array()``."""
    return (
        geometry[0], geometry[1], geometry[2], geometry[3], geometry[4],
        geometry[5], geometry[6], geometry[7], geometry[8],
    )  # fmt: skip


@njit(cache=_CACHE)
def conv_kruskal(
    order: np.ndarray,
    shape: np.ndarray,
    geometry: np.ndarray,
    parent: np.ndarray,
    size: np.ndarray,
    used_count: np.ndarray,
    n_unions: int,
    target: int,
    edges: np.ndarray,
) -> int:
    """Unite the translated copies of kernel parameters, in the given order, until spanning.

    ``order`` lists flat parameter indices (already sorted by the total order); ``shape`` is
    (C_out, C_in / groups, f1, f2); ``geometry`` is ``ConvGeometry.as_array()``. Input node
    (c, y, x) of the padded input is ``c*Hp*Wp + y*Wp + x``; output node (o, y, x) follows all
    input nodes; output channel o of group g reads input channels g·C_in/groups onwards.
    ``used_count[p]`` receives how many copies of parameter p join the forest, and row
    ``n_unions`` of ``edges`` (target x 3) each accepted copy's (parameter, input node, output
    node), in the order accepted — the layer's total order of its Toeplitz edges.
    Returns the number of unions made so far (stops at ``target``).
    """
    c_out, c_in, f1, f2 = shape[0], shape[1], shape[2], shape[3]
    hp, wp, ho, wo, sh, sw, dh, dw, groups = _conv_unpack(geometry)
    per_group = c_out // groups
    n_in = groups * c_in * hp * wp
    for t in range(order.shape[0]):
        if n_unions >= target:
            break
        p = order[t]
        dx = p % f2
        rest = p // f2
        dy = rest % f1
        rest //= f1
        ci = (rest // c_in // per_group) * c_in + rest % c_in
        o = rest // c_in
        in_base = ci * hp * wp + dy * dh * wp + dx * dw
        out_base = n_in + o * ho * wo
        count = 0
        for y in range(ho):
            in_row = in_base + y * sh * wp
            out_row = out_base + y * wo
            for x in range(wo):
                if _union(parent, size, in_row + x * sw, out_row + x):
                    edges[n_unions + count, 0] = p
                    edges[n_unions + count, 1] = in_row + x * sw
                    edges[n_unions + count, 2] = out_row + x - n_in
                    count += 1
        used_count[p] += count
        n_unions += count
    return n_unions


@njit(cache=_CACHE)
def kruskal_pairs(tails: np.ndarray, heads: np.ndarray, parent: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Kruskal over edges (tails[i], heads[i]) already in the total order: which are accepted."""
    accepted = np.zeros(tails.shape[0], dtype=np.bool_)
    for i in range(tails.shape[0]):
        accepted[i] = _union(parent, size, tails[i], heads[i])
    return accepted


@njit(cache=_CACHE)
def conv_support_components(present: np.ndarray, shape: np.ndarray, geometry: np.ndarray) -> int:
    """Number of connected components of the Toeplitz graph of the present parameters.

    For a fixed kernel offset d and output position q, the edges of d at q form a copy of the
    bipartite channel graph B_d (output channel o -- input channel c for every present
    (o, c, d)); a spanning forest of B_d has the same connectivity, so uniting the copies of
    that forest (at most C_in + C_out - 1 edges per offset and position) replaces uniting
    every Toeplitz edge.
    """
    c_out, c_in, f1, f2 = shape[0], shape[1], shape[2], shape[3]
    hp, wp, ho, wo, sh, sw, dh, dw, groups = _conv_unpack(geometry)
    per_group = c_out // groups
    n_in = groups * c_in * hp * wp
    nv = n_in + c_out * ho * wo
    n_channels = c_out + groups * c_in
    parent = np.arange(nv)
    size = np.ones(nv, dtype=np.int64)
    n_components = nv
    ch_parent = np.empty(n_channels, dtype=np.int64)
    ch_size = np.empty(n_channels, dtype=np.int64)
    forest_o = np.empty(n_channels, dtype=np.int64)
    forest_c = np.empty(n_channels, dtype=np.int64)
    for dy in range(f1):
        for dx in range(f2):
            for v in range(n_channels):
                ch_parent[v] = v
                ch_size[v] = 1
            n_forest = 0
            for o in range(c_out):
                first = (o // per_group) * c_in
                for ci in range(c_in):
                    if present[((o * c_in + ci) * f1 + dy) * f2 + dx] and _union(
                        ch_parent, ch_size, o, c_out + first + ci
                    ):
                        forest_o[n_forest] = o
                        forest_c[n_forest] = first + ci
                        n_forest += 1
            for e in range(n_forest):
                in_base = forest_c[e] * hp * wp + dy * dh * wp + dx * dw
                out_base = n_in + forest_o[e] * ho * wo
                for y in range(ho):
                    for x in range(wo):
                        if _union(parent, size, in_base + y * sh * wp + x * sw, out_base + y * wo + x):
                            n_components -= 1
    return n_components
