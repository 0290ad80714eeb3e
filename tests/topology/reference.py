"""Independent references for the topology tests: networkx and a plain-Python Kruskal."""

from __future__ import annotations

import networkx as nx
import numpy as np


def networkx_forest_magnitudes(weight: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Sorted |w| of a maximum spanning forest of the bipartite graph, by networkx."""
    rows, cols = weight.shape
    graph = nx.Graph()
    graph.add_nodes_from(range(rows + cols))
    for i in range(rows):
        for j in range(cols):
            if mask is None or mask[i, j]:
                graph.add_edge(i, rows + j, weight=abs(float(weight[i, j])))
    tree = nx.maximum_spanning_tree(graph)
    return np.sort([d["weight"] for _, _, d in tree.edges(data=True)])


def kruskal_indices(edges: list[tuple[float, int, int, int]], n_vertices: int) -> list[int]:
    """Flat ids accepted by Kruskal over (magnitude, id, u, v), heaviest first, ties by id."""
    parent = list(range(n_vertices))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    accepted = []
    for _, ident, u, v in sorted(edges, key=lambda e: (-e[0], e[1])):
        ru, rv = find(u), find(v)
        if ru != rv:
            parent[ru] = rv
            accepted.append(ident)
    return accepted


def dense_edges(weight: np.ndarray, mask: np.ndarray | None = None) -> list[tuple[float, int, int, int]]:
    rows, cols = weight.shape
    return [
        (abs(float(weight[i, j])), i * cols + j, i, rows + j)
        for i in range(rows)
        for j in range(cols)
        if mask is None or mask[i, j]
    ]


def toeplitz_edges(kernel: np.ndarray, geometry, mask: np.ndarray | None = None) -> list[tuple[float, int, int, int]]:
    """Every edge of the materialised multi-channel Toeplitz graph: (|w|, param, in, out).

    The id of an edge is ``param * positions + position``, so ties between copies of one
    parameter are broken by output position, as in the package.
    """
    _, c_in, f1, f2 = kernel.shape
    hp, wp = geometry.padded_size
    ho, wo = geometry.output_size
    sh, sw = geometry.stride
    n_in = c_in * hp * wp
    flat = kernel.ravel()
    keep = None if mask is None else mask.ravel()
    edges = []
    for p in range(flat.size):
        if keep is not None and not keep[p]:
            continue
        o, rest = divmod(p, c_in * f1 * f2)
        c, rest = divmod(rest, f1 * f2)
        dy, dx = divmod(rest, f2)
        for y in range(ho):
            for x in range(wo):
                src = c * hp * wp + (y * sh + dy) * wp + x * sw + dx
                dst = n_in + o * ho * wo + y * wo + x
                edges.append((abs(float(flat[p])), p * ho * wo + y * wo + x, src, dst))
    return edges


def convolution_edges(
    kernel: np.ndarray, geometry, mask: np.ndarray | None = None
) -> list[tuple[float, int, int, int]]:
    """The Toeplitz graph as torch's own convolution defines it: (|w|, param·positions + q, in, out).

    Independent of the package's index arithmetic: every padded input vertex holds its id + 1,
    and a convolution (stride, dilation, groups as torch applies them) with a one-hot kernel at
    parameter p writes, at every output it reaches, the id of the input vertex that p joins it to.
    """
    import torch
    import torch.nn.functional as F

    (hp, wp), (ho, wo) = geometry.padded_size, geometry.output_size
    c_in_group = kernel.shape[1]
    c_in = c_in_group * geometry.groups
    ids = torch.arange(1, c_in * hp * wp + 1, dtype=torch.float64).reshape(1, c_in, hp, wp)
    n_in, positions = c_in * hp * wp, ho * wo
    flat = kernel.ravel()
    edges = []
    for p in range(flat.size):
        if mask is not None and not mask.ravel()[p]:
            continue
        one_hot = torch.zeros(flat.size, dtype=torch.float64)
        one_hot[p] = 1.0
        out = F.conv2d(
            ids,
            one_hot.reshape(kernel.shape),
            stride=geometry.stride,
            dilation=geometry.dilation,
            groups=geometry.groups,
        )[0]
        assert tuple(out.shape[1:]) == (ho, wo)
        for o, y, x in torch.nonzero(out).tolist():
            q = y * wo + x
            edges.append((abs(float(flat[p])), p * positions + q, int(out[o, y, x]) - 1, n_in + o * positions + q))
    return edges
