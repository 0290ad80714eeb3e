"""The whole-network engine against the network graph written out edge by edge.

The reference never uses the engine's code: every edge of every layer graph is listed with its
network vertices (a convolution's Toeplitz copies found by torch's own convolution with one-hot
kernels), and scipy computes the maximum spanning forest as the minimum spanning forest of
``2 - w'`` (every present edge then weighs at least 1, so scipy drops none as an explicit zero;
masked weights under ``pruned: zero`` weigh exactly 2). Parallel edges keep the heaviest,
self-loops go. ``tests/models/test_structure.py`` uses these helpers for traced models.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from torch import nn

from pipeline.models import model_layers
from pipeline.models.structure import network_structure
from pipeline.topology.conventions import PAPER, RIECK, Convention
from pipeline.topology.diagram import spanning_forest
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer
from pipeline.topology.network import (
    NetworkGraph,
    Placement,
    layer_shares,
    network_diagram,
    summarize_network,
)

CONVENTIONS = [
    PAPER,
    Convention(w_max="global"),
    Convention(pruned="zero"),
    RIECK,  # global w_max, essential class, zero edges
    Convention(w_max="global", normalizer="vertices-2", p=1.0),
]
"""Both normalisations, both pruned-edge readings, the essential class and another p."""


# --- the independent reference -------------------------------------------------------------


@dataclass
class Edges:
    """Every edge of one layer graph: network vertices, |w|, whether the weight is present, and
    the flat index of the weight behind it (a conv: its kernel parameter, once per copy)."""

    tails: np.ndarray
    heads: np.ndarray
    magnitudes: np.ndarray
    present: np.ndarray
    flat: np.ndarray

    def relabel(self, labels: np.ndarray) -> Edges:
        """The same edges on other vertex ids (units joined into network vertices)."""
        return Edges(labels[self.tails], labels[self.heads], self.magnitudes, self.present, self.flat)


def dense_edges(weight: np.ndarray, mask: np.ndarray | None, inputs: np.ndarray, outputs: np.ndarray) -> Edges:
    """A Linear weight (out, in): input j -> output i for every entry."""
    rows, cols = np.indices(weight.shape)
    present = np.ones(weight.shape, bool) if mask is None else mask.astype(bool)
    return Edges(
        inputs[cols.ravel()],
        outputs[rows.ravel()],
        np.abs(weight.astype(np.float64)).ravel(),
        present.ravel(),
        np.arange(weight.size),
    )


def conv_hits(kernel_shape: tuple[int, ...], padded_shape: tuple[int, int, int], **conv) -> np.ndarray:
    """``hits[p, y, x]``: the padded input position (flat, c·Hp·Wp + y·Wp + x) that kernel
    parameter p joins to output position (y, x) of its output channel, as torch's conv2d says:
    an image holding each position's id + 1, convolved with one one-hot kernel per parameter."""
    n_params = int(np.prod(kernel_shape))
    per_channel = int(np.prod(kernel_shape[1:]))
    bank = torch.zeros(n_params, per_channel, dtype=torch.float64)
    bank[torch.arange(n_params), torch.arange(n_params) % per_channel] = 1.0
    ids = torch.arange(1, int(np.prod(padded_shape)) + 1, dtype=torch.float64).reshape(1, *padded_shape)
    out = F.conv2d(ids, bank.reshape(n_params, *kernel_shape[1:]), **conv)[0]
    return out.round().long().numpy() - 1


def conv_edges(weight: np.ndarray, mask: np.ndarray | None, padded: np.ndarray, outputs: np.ndarray, **conv) -> Edges:
    """Every Toeplitz copy of every kernel parameter: ``padded`` (C_in, Hp, Wp) and ``outputs``
    (C_out, Ho, Wo) hold the vertices; ``conv`` is stride, dilation, groups for torch."""
    hits = conv_hits(weight.shape, padded.shape, **conv)
    assert hits.shape[1:] == outputs.shape[1:], "output size differs from torch's"
    n_params, positions = hits.shape[0], int(np.prod(hits.shape[1:]))
    param = np.repeat(np.arange(n_params), positions)
    channel = param // int(np.prod(weight.shape[1:]))
    present = np.ones(weight.size, bool) if mask is None else mask.astype(bool).ravel()
    return Edges(
        padded.ravel()[hits.ravel()],
        outputs.reshape(outputs.shape[0], -1)[channel, np.tile(np.arange(positions), n_params)],
        np.abs(weight.astype(np.float64)).ravel()[param],
        present[param],
        param,
    )


def scales(layers: list[Edges], w_max: str) -> list[float]:
    """Each layer graph's w_max (its largest present |w|), or the network's."""
    own = [float(e.magnitudes[e.present].max(initial=0.0)) for e in layers]
    return [max(own)] * len(own) if w_max == "global" else own


def explicit_graph(layers: list[Edges], w_max: str, pruned: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tails, heads, w') of the whole network's edges under the convention."""
    tails, heads, deaths = [], [], []
    for e, scale in zip(layers, scales(layers, w_max), strict=True):
        keep = e.present if pruned == "absent" else np.ones_like(e.present)
        w = np.where(e.present, e.magnitudes / scale if scale else 0.0, 0.0)
        tails.append(e.tails[keep])
        heads.append(e.heads[keep])
        deaths.append(np.minimum(w[keep], 1.0))
    return np.concatenate(tails), np.concatenate(heads), np.concatenate(deaths)


@dataclass
class Reference:
    deaths: np.ndarray  # sorted w' of the maximum spanning forest
    n_components: int
    n_vertices: int

    @property
    def n_edges(self) -> int:
        return int(self.deaths.size)


def scipy_forest(n_vertices: int, tails: np.ndarray, heads: np.ndarray, deaths: np.ndarray) -> Reference:
    """Maximum spanning forest by scipy: minimum spanning forest of ``2 - w'`` on the simple graph."""
    loop = tails == heads
    a, b = np.minimum(tails, heads)[~loop], np.maximum(tails, heads)[~loop]
    w = deaths[~loop]
    order = np.lexsort((-w, b, a))  # per vertex pair, the heaviest edge first
    a, b, w = a[order], b[order], w[order]
    first = np.r_[True, (a[1:] != a[:-1]) | (b[1:] != b[:-1])] if a.size else np.zeros(0, bool)
    graph = coo_matrix((2.0 - w[first], (a[first], b[first])), shape=(n_vertices, n_vertices)).tocsr()
    assert graph.nnz == int(first.sum()), "an edge was dropped or summed"
    tree = minimum_spanning_tree(graph)
    n_components = connected_components(graph, directed=False)[0]
    found = np.sort(2.0 - tree.data)
    assert found.size == n_vertices - n_components
    return Reference(found, int(n_components), n_vertices)


def reference(n_vertices: int, layers: list[Edges], w_max: str, pruned: str) -> Reference:
    return scipy_forest(n_vertices, *explicit_graph(layers, w_max, pruned))


def check_against_reference(graph: NetworkGraph, layers: list[Edges], convention: Convention) -> None:
    """The engine's forests, diagram, NP and summary against scipy on the explicit graph."""
    p = network_diagram(graph, convention)
    tree = reference(graph.n_vertices, layers, convention.w_max, "absent")
    forest = reference(graph.n_vertices, layers, convention.w_max, convention.pruned)

    assert p.tree.n_edges == tree.n_edges
    assert p.tree.n_components == tree.n_components
    np.testing.assert_allclose(np.sort(p.tree.deaths), tree.deaths, rtol=0, atol=1e-12)
    np.testing.assert_allclose(p.tree.deaths.sum(), tree.deaths.sum(), rtol=1e-12)

    assert p.forest.n_components == forest.n_components
    np.testing.assert_allclose(np.sort(p.diagram.deaths), forest.deaths, rtol=0, atol=1e-12)
    gained = int((p.diagram.deaths == 0).sum() - (p.tree.deaths == 0).sum())
    assert gained == tree.n_components - forest.n_components  # the (1, 0) points of zero edges

    essential = forest.n_components if convention.essential else 0
    value = (np.sum((1 - forest.deaths) ** convention.p) + essential) ** (1 / convention.p)
    offset = 1 if convention.normalizer == "vertices-1" else 2
    assert p.diagram.n_essential == essential
    np.testing.assert_allclose(p.neural_persistence, value, rtol=1e-10)
    np.testing.assert_allclose(p.normalized, value / (graph.n_vertices - offset) ** (1 / convention.p), rtol=1e-10)

    s = summarize_network(p)
    assert s.vertices == graph.n_vertices
    assert s.weights == sum(int(e.present.sum()) for e in layers)  # every Toeplitz copy
    assert s.params == sum(int(np.unique(e.flat[e.present]).size) for e in layers)
    assert (s.tree_edges, s.components, s.diagram_components) == (tree.n_edges, tree.n_components, forest.n_components)

    # every network-forest edge is the weight it names, scaled as the convention says
    for k, (layer, scale) in enumerate(zip(graph.layers, scales(layers, convention.w_max), strict=True)):
        on = p.tree.layer == k
        values = np.abs(np.asarray(layer.weight, np.float64)).ravel()[p.tree.indices[on] - layer.offset]
        np.testing.assert_array_equal(p.tree.magnitudes[on], values)
        np.testing.assert_allclose(p.tree.deaths[on], values / scale, rtol=1e-12)
        assert layer.mask is None or layer.mask.ravel()[p.tree.indices[on] - layer.offset].all()


def check_lemma(graph: NetworkGraph, convention: Convention = PAPER) -> None:
    """Every network-forest edge of layer k is an edge of layer k's own forest (docs/science.md §10)."""
    p = network_diagram(graph, convention)
    for forest, pruned in ((p.tree, "absent"), (p.forest, convention.pruned)):
        for k, layer in enumerate(graph.layers):
            own = set(spanning_forest(layer, pruned).indices.tolist())
            used = set((forest.indices[forest.layer == k] - layer.offset).tolist())
            assert used <= own, f"layer {layer.name}: {sorted(used - own)[:5]} outside its own forest"
            assert forest.own_tree_edges[k] == spanning_forest(layer, pruned).n_edges


def check_spans(graph: NetworkGraph, layers: list[Edges]) -> None:
    """Dense layers only (one edge per weight): the engine's edges, looked up in the explicit
    graph, are a forest with as many components as the present graph has."""
    p = network_diagram(graph)
    tails, heads = [], []
    for k, e in enumerate(layers):
        flat = p.tree.indices[p.tree.layer == k] - graph.layers[k].offset
        tails.append(e.tails[flat])
        heads.append(e.heads[flat])
    a, b = np.concatenate(tails), np.concatenate(heads)
    n = graph.n_vertices
    forest = coo_matrix((np.ones(a.size), (a, b)), shape=(n, n))
    assert connected_components(forest, directed=False)[0] == n - a.size  # no cycle
    assert n - a.size == reference(n, layers, "layer", "absent").n_components


# --- networks -------------------------------------------------------------------------------


def mlp(sizes: tuple[int, ...], masks: dict[int, np.ndarray], seed: int) -> tuple[NetworkGraph, list[Edges]]:
    """An MLP placed by hand: the units of each width follow each other."""
    rng = np.random.default_rng(seed)
    starts = np.cumsum((0, *sizes))
    layers, places, edges = [], [], []
    for k, (m, n) in enumerate(itertools.pairwise(sizes)):
        weight = rng.standard_normal((n, m)).astype(np.float32)
        inputs, outputs = np.arange(starts[k], starts[k + 1]), np.arange(starts[k + 1], starts[k + 2])
        layers.append(DenseLayer(f"fc{k}.weight", weight, masks.get(k)))
        places.append(Placement(inputs, outputs))
        edges.append(dense_edges(weight, masks.get(k), inputs, outputs))
    return NetworkGraph(tuple(layers), tuple(places), int(starts[-1])), edges


def isolating_masks(rng: np.random.Generator) -> dict[int, np.ndarray]:
    """20-15-10-5 masks: input 3 loses all its weights, hidden unit 7 of the first hidden layer
    loses its in- and out-going ones (isolated in the network, not in either layer), the rest
    keep about 60%."""
    masks = {k: rng.random(shape) < 0.6 for k, shape in enumerate([(15, 20), (10, 15), (5, 10)])}
    masks[0][:, 3] = False
    masks[0][7, :] = False
    masks[1][:, 7] = False
    return masks


@pytest.mark.parametrize("convention", CONVENTIONS, ids=lambda c: c.name)
@pytest.mark.parametrize("masked", [False, True])
def test_mlp_placed_by_hand(convention, masked):
    """The smallest whole network: a hidden unit is one vertex of two layer graphs."""
    masks = isolating_masks(np.random.default_rng(1)) if masked else {}
    graph, edges = mlp((20, 15, 10, 5), masks, seed=2)
    assert graph.n_vertices == 50
    check_against_reference(graph, edges, convention)
    check_lemma(graph, convention)
    check_spans(graph, edges)
    if masked:
        p = network_diagram(graph, convention)
        assert p.tree.n_components >= 3  # the two isolated vertices and the rest, at least


def test_mlp_with_a_dead_layer():
    """A layer with no present weight has w_max 0: under pruned zero its edges all die at 0."""
    masks = {1: np.zeros((10, 15), bool)}
    graph, edges = mlp((20, 15, 10, 5), masks, seed=3)
    for convention in CONVENTIONS:
        check_against_reference(graph, edges, convention)
        check_lemma(graph, convention)


def test_mlp_traced_matches_hand_placement():
    """``network_structure`` on Flatten-Linear-ReLU-...: the same vertices as the hand placement."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(20, 15), nn.ReLU(), nn.Linear(15, 10), nn.ReLU(), nn.Linear(10, 5))
    x = torch.zeros(1, 4, 5)
    rng = np.random.default_rng(5)
    by_index = isolating_masks(rng)
    masks = {f"{i}.weight": by_index[k] for k, i in enumerate((1, 3, 5))}
    structure = network_structure(model, x)
    graph = structure.graph(model_layers(model, x, masks))
    assert graph.n_vertices == 50
    starts = np.cumsum((0, 20, 15, 10, 5))
    edges = []
    for k, i in enumerate((1, 3, 5)):
        inputs, outputs = np.arange(starts[k], starts[k + 1]), np.arange(starts[k + 1], starts[k + 2])
        edges.append(dense_edges(model[i].weight.detach().numpy(), masks[f"{i}.weight"], inputs, outputs))
        # the traced placement is the hand one up to the vertices' names
        found = graph.placements[k]
        assert np.unique(found.inputs).size == inputs.size and np.unique(found.outputs).size == outputs.size
        if k:
            np.testing.assert_array_equal(found.inputs, graph.placements[k - 1].outputs)
    assert np.intersect1d(graph.placements[0].inputs, graph.placements[2].outputs).size == 0
    labels = relabel_to(graph, edges)
    for convention in CONVENTIONS:
        check_against_reference(graph, [e.relabel(labels) for e in edges], convention)


def relabel_to(graph: NetworkGraph, edges: list[Edges]) -> np.ndarray:
    """The map from hand vertex ids to the graph's, read off the dense placements (row i of a
    dense layer is output i, column j input j in both)."""
    labels = np.full(graph.n_vertices, -1)
    for place, e in zip(graph.placements, edges, strict=True):
        m = place.inputs.size
        labels[e.tails] = place.inputs[e.flat % m]
        labels[e.heads] = place.outputs[e.flat // m]
    assert (labels >= 0).all() and np.unique(labels).size == labels.size
    return labels


def test_the_lemma_on_the_784_300_100_10_mlp():
    """The network forest spans 1,194 vertices with 1,193 edges, a subset of the layers' 1,591."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10)
    )
    x = torch.zeros(1, 1, 28, 28)
    graph = network_structure(model, x).graph(model_layers(model, x))
    p = network_diagram(graph)
    s = summarize_network(p)
    assert (s.vertices, s.tree_edges, s.components, s.layer_tree_edges) == (1194, 1193, 1, 1591)
    assert [share.own_tree_edges for share in layer_shares(p)] == [1083, 399, 109]
    assert sum(share.network_tree_edges for share in layer_shares(p)) == 1193
    check_lemma(graph)
    starts = np.cumsum((0, 784, 300, 100, 10))
    edges = [
        dense_edges(
            model[i].weight.detach().numpy(),
            None,
            np.arange(starts[k], starts[k + 1]),
            np.arange(starts[k + 1], starts[k + 2]),
        )
        for k, i in enumerate((1, 3, 5))
    ]
    edges = [e.relabel(relabel_to(graph, edges)) for e in edges]
    check_against_reference(graph, edges, PAPER)
    check_against_reference(graph, edges, Convention(w_max="global"))


def conv_network(seed: int, groups: int, masked: bool, keep: float = 0.7) -> tuple[NetworkGraph, list[Edges]]:
    """A conv (padding 1, stride 2, dilation 1) placed by hand on a 2x6x5 input, then a Linear
    on its flattened output: padding positions are the conv's own vertices, some of them in no
    window (the last padded column), so isolated."""
    rng = np.random.default_rng(seed)
    c_in, c_out, (h, w) = 2, 4, (6, 5)
    geometry = ConvGeometry((h, w), (3, 3), stride=(2, 2), padding=(1, 1), groups=groups)
    kernel = rng.standard_normal((c_out, c_in // groups, 3, 3)).astype(np.float32)
    (hp, wp), (ho, wo) = geometry.padded_size, geometry.output_size
    image = np.arange(c_in * h * w).reshape(c_in, h, w)
    padded = np.full((c_in, hp, wp), -1)
    padded[:, 1 : 1 + h, 1 : 1 + w] = image
    padded[padded < 0] = np.arange(image.size, image.size + int((padded < 0).sum()))
    first = padded.size
    outputs = np.arange(first, first + c_out * ho * wo).reshape(c_out, ho, wo)
    classes = np.arange(outputs.max() + 1, outputs.max() + 4)
    fc = rng.standard_normal((3, outputs.size)).astype(np.float32)
    kmask = rng.random(kernel.shape) < keep if masked else None
    fmask = rng.random(fc.shape) < 0.5 if masked else None
    layers = (ConvLayer("conv.weight", kernel, geometry, kmask), DenseLayer("fc.weight", fc, fmask))
    places = (Placement(padded.ravel(), outputs.ravel()), Placement(outputs.ravel(), classes))
    edges = [
        conv_edges(kernel, kmask, padded, outputs, stride=2, groups=groups),
        dense_edges(fc, fmask, outputs.ravel(), classes),
    ]
    return NetworkGraph(layers, places, int(classes.max() + 1)), edges


@pytest.mark.parametrize("convention", CONVENTIONS, ids=lambda c: c.name)
@pytest.mark.parametrize("groups", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_conv_network_placed_by_hand(convention, groups, masked):
    """Toeplitz copies of one kernel parameter are separate edges of the network graph."""
    graph, edges = conv_network(seed=6 + groups, groups=groups, masked=masked)
    check_against_reference(graph, edges, convention)
    check_lemma(graph, convention)


@pytest.mark.parametrize("groups", [1, 2])
def test_zero_edges_of_a_conv_die_at_zero(groups):
    """Under ``pruned: zero`` a masked kernel parameter is an edge of weight 0 in every copy, so
    wherever the diagram's forest uses one its point is (1, 0), as for a dense layer."""
    graph, _ = conv_network(seed=6 + groups, groups=groups, masked=True, keep=0.3)
    p = network_diagram(graph, Convention(pruned="zero"))
    conv = graph.layers[0]
    on = p.forest.layer == 0
    masked = ~conv.mask.ravel()[p.forest.indices[on]]
    assert masked.any()  # the case is exercised
    np.testing.assert_array_equal(p.forest.deaths[on][masked], 0.0)
    np.testing.assert_array_equal(p.forest.magnitudes[on][masked], 0.0)


def test_network_graph_refuses_misplaced_layers():
    graph, _ = mlp((4, 3, 2), {}, seed=0)
    with pytest.raises(ValueError, match="placed on"):
        NetworkGraph(graph.layers, (Placement(np.arange(3), np.arange(3)), graph.placements[1]), graph.n_vertices)
    with pytest.raises(ValueError, match="outside the network"):
        NetworkGraph(graph.layers, graph.placements, 5)
    with pytest.raises(ValueError, match="placements"):
        NetworkGraph(graph.layers, graph.placements[:1], graph.n_vertices)
