"""Traced network vertices against a hand-written walk of each model's forward pass.

``Builder`` hands out unit ids as the forward pass creates them and joins them as docs/science.md
§10 says: a pooling window's units and the pooled unit are one vertex (windows found by running
torch's own pooling on one-hot images), a residual addition makes its operands one, a conv's
padding positions are its own fresh vertices. Each weighted layer's edges are listed one by one
(``tests/topology/test_network.py``), so scipy gives the forest the engine must match, and the
traced placement must equal the hand one up to the names of the vertices.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import nn

from pipeline.analysis import analyze
from pipeline.data import get_dataset_info
from pipeline.models import build_model, example_input, model_layers
from pipeline.models.structure import Structure, network_structure
from pipeline.topology.network import NetworkGraph, network_diagram
from tests.topology.test_network import (
    CONVENTIONS,
    Edges,
    check_against_reference,
    check_lemma,
    conv_edges,
    conv_hits,
    dense_edges,
)

# --- the hand-written walk ------------------------------------------------------------------


class Builder:
    """Units and their joins, and every weighted layer's edges on them.

    With ``explicit=False`` (a model too large to list its Toeplitz copies) a layer adds only
    links that connect what its graph connects: each input to the first output channel at every
    position its window reaches, each output to the first channel at its position.
    """

    def __init__(self, explicit: bool = True) -> None:
        self.explicit = explicit
        self.count = 0
        self.joins: list[tuple[np.ndarray, np.ndarray]] = []
        self.links: list[tuple[np.ndarray, np.ndarray]] = []
        self.edges: dict[str, Edges] = {}
        self.ends: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def fresh(self, *shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        self.count += n
        return np.arange(self.count - n, self.count).reshape(shape)

    def join(self, a: np.ndarray, b: np.ndarray) -> None:
        self.joins.append((a.ravel(), b.ravel()))

    def window(self, x: np.ndarray, op: nn.Module) -> np.ndarray:
        """A pooling op: each output unit joins the units under its window (a one-hot image
        through ``op`` is non-zero exactly at the outputs whose window holds the hot pixel)."""
        c, h, w = x.shape
        hot = op(torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w))
        pixel, _, y, z = torch.nonzero(hot, as_tuple=True)
        pooled = self.fresh(c, *hot.shape[2:])
        self.join(x.reshape(c, -1)[:, pixel.numpy()], pooled[:, y.numpy(), z.numpy()])
        return pooled

    def conv(self, name: str, conv: nn.Conv2d, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        ph, pw = conv.padding
        c, h, w = x.shape
        padded = np.full((c, h + 2 * ph, w + 2 * pw), -1)
        padded[:, ph : ph + h, pw : pw + w] = x
        padded[padded < 0] = self.fresh(int((padded < 0).sum()))
        geometry = {"stride": conv.stride, "dilation": conv.dilation}
        taps = conv_hits((1, 1, *conv.kernel_size), (1, *padded.shape[1:]), **geometry)  # (taps, Ho, Wo)
        out = self.fresh(conv.out_channels, *taps.shape[1:])
        self.ends[name] = (padded.ravel(), out.ravel())
        if self.explicit:
            weight = conv.weight.detach().numpy()
            self.edges[name] = conv_edges(weight, mask, padded, out, groups=conv.groups, **geometry)
        else:
            assert conv.groups == 1
            first = np.tile(out[0].ravel(), taps.shape[0])
            self.links.append((padded.reshape(c, -1)[:, taps.ravel()], np.broadcast_to(first, (c, first.size))))
            self.links.append((out, np.broadcast_to(out[0], out.shape)))
        return out

    def dense(self, name: str, linear: nn.Linear, x: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        out = self.fresh(linear.out_features)
        self.ends[name] = (x, out)
        if self.explicit:
            self.edges[name] = dense_edges(linear.weight.detach().numpy(), mask, x, out)
        else:
            self.links += [(x, np.full_like(x, out[0])), (out, np.full_like(out, x[0]))]
        return out

    def vertices(self) -> tuple[int, np.ndarray]:
        """Network vertices: the units' classes under the joins."""
        a, b = (np.concatenate([np.zeros(0, np.int64)] + [p[i].ravel() for p in self.joins]) for i in (0, 1))
        joined = coo_matrix((np.ones(a.size), (a, b)), shape=(self.count, self.count))
        n, labels = connected_components(joined, directed=False)
        return int(n), labels

    def components(self) -> int:
        """Components of the network graph with every weight present (joins and links)."""
        pairs = self.joins + self.links
        a, b = (np.concatenate([np.asarray(p[i]).ravel() for p in pairs]) for i in (0, 1))
        graph = coo_matrix((np.ones(a.size), (a, b)), shape=(self.count, self.count))
        return int(connected_components(graph, directed=False)[0])

    def layer_edges(self, graph: NetworkGraph) -> list[Edges]:
        """The hand edges of the graph's layers, in its order, on the hand vertices."""
        _, labels = self.vertices()
        return [self.edges[layer.name].relabel(labels) for layer in graph.layers]


def assert_same_vertices(built: Builder, structure: Structure) -> None:
    """The traced placement is the hand one up to the vertices' names: the same weights, the
    same number of vertices, and one bijection between the ids over every layer end."""
    n, labels = built.vertices()
    assert structure.n_vertices == n
    assert set(structure.ends) == set(built.ends)
    mine, theirs = [], []
    for name, (i, o) in built.ends.items():
        ti, to = structure.ends[name]
        assert ti.shape == i.shape and to.shape == o.shape, name
        mine += [labels[i], labels[o]]
        theirs += [ti, to]
    pairs = np.unique(np.concatenate(mine).astype(np.int64) * n + np.concatenate(theirs))
    assert np.unique(pairs // n).size == pairs.size, "one hand vertex is two traced ones"
    assert np.unique(pairs % n).size == pairs.size, "one traced vertex is two hand ones"


def random_masks(model: nn.Module, keep: float, seed: int) -> dict[str, np.ndarray]:
    """A mask keeping about ``keep`` of every weight matrix or kernel (all of it at 1.0)."""
    rng = np.random.default_rng(seed)
    return {
        name: rng.random(tuple(p.shape)) < keep
        for name, p in model.named_parameters()
        if name.split(".")[-1].startswith("weight") and p.dim() >= 2
    }


def engine(model: nn.Module, x: torch.Tensor, masks: dict[str, np.ndarray] | None = None):
    """The code under test: the traced structure and the network graph of the model's layers."""
    structure = network_structure(model, x)
    return structure, structure.graph(model_layers(model, x, masks))


# --- models ---------------------------------------------------------------------------------


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


class SmallCNN(nn.Module):
    """conv -> batch norm -> ReLU -> 2x2 max pool -> residual block -> adaptive average pool ->
    flatten -> Linear, on a 2x12x12 input (pooled 5x5: a 2x2 adaptive pool has overlapping windows)."""

    def __init__(self, pooled: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(2, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.block = Residual(4)
        self.gap = nn.AdaptiveAvgPool2d(pooled)
        self.fc = nn.Linear(4 * pooled * pooled, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(F.relu(self.bn(self.stem(x))))
        return self.fc(torch.flatten(self.gap(self.block(x)), 1))


def small_cnn_by_hand(model: SmallCNN, masks: dict[str, np.ndarray]) -> Builder:
    b = Builder()
    x = b.fresh(2, 12, 12)
    x = b.window(b.conv("stem.weight", model.stem, x, masks["stem.weight"]), model.pool)
    h = b.conv("block.conv1.weight", model.block.conv1, x, masks["block.conv1.weight"])
    h = b.conv("block.conv2.weight", model.block.conv2, h, masks["block.conv2.weight"])
    b.join(x, h)  # x + conv2(...): the operands at one position are one unit
    b.dense("fc.weight", model.fc, b.window(x, model.gap).ravel(), masks["fc.weight"])
    return b


@pytest.mark.parametrize("convention", CONVENTIONS, ids=lambda c: c.name)
@pytest.mark.parametrize("pooled", [1, 2])
@pytest.mark.parametrize("keep", [1.0, 0.5])
def test_small_cnn_with_pooling_and_a_residual_block(convention, pooled, keep):
    """Pooling windows, residual operands and (global) average pooling join units; padding
    positions are each conv's own vertices."""
    torch.manual_seed(10 + pooled)
    model = SmallCNN(pooled)
    masks = random_masks(model, keep, seed=pooled)
    x = torch.zeros(1, 2, 12, 12)
    structure, graph = engine(model, x, masks)
    built = small_cnn_by_hand(model, masks)
    assert_same_vertices(built, structure)
    if pooled == 1:  # everything after the stem is one vertex per channel, or a padding position
        assert graph.n_vertices == 2 * 144 + 4 + 4 * 25 + 2 * 4 * (49 - 25) + 3
    check_against_reference(graph, built.layer_edges(graph), convention)
    check_lemma(graph, convention)


def grouped_net() -> nn.Sequential:
    """A dilated grouped conv (groups 2), a strided depthwise one (its last padded row and column
    lie in no window: isolated vertices), batch norm, flatten, Linear."""
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=2, dilation=2, groups=2),
        nn.ReLU(),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 3 * 3, 3),
    )


@pytest.mark.parametrize("convention", CONVENTIONS, ids=lambda c: c.name)
@pytest.mark.parametrize("keep", [1.0, 0.6])
def test_grouped_and_depthwise_convolutions(convention, keep):
    """Groups split a conv into disjoint graphs; every Toeplitz copy found by torch's conv."""
    torch.manual_seed(20)
    model = grouped_net()
    masks = random_masks(model, keep, seed=21)
    x = torch.zeros(1, 2, 6, 6)
    structure, graph = engine(model, x, masks)
    b = Builder()
    h = b.conv("0.weight", model[0], b.fresh(2, 6, 6), masks["0.weight"])
    h = b.conv("2.weight", model[2], h, masks["2.weight"])
    b.dense("6.weight", model[6], h.ravel(), masks["6.weight"])
    assert_same_vertices(b, structure)
    check_against_reference(graph, b.layer_edges(graph), convention)
    check_lemma(graph, convention)
    if keep == 1.0:  # the depthwise conv's 4 x 15 padding positions outside every window
        assert network_diagram(graph).tree.n_components == 1 + 4 * 15


def test_lstm_shares_its_units_over_time():
    """28 features (every row's pixel x is one vertex), 64 hidden units, 10 classes; each gate
    block's ih matrix joins features to hidden units, its hh matrix hidden to hidden (the
    diagonal: self-loops), the classifier hidden to classes."""
    torch.manual_seed(30)
    model = build_model("lstm", "mnist-5k")
    x = example_input(get_dataset_info("mnist-5k").input_shape)
    masks = random_masks(model, 0.3, seed=31)
    structure, graph = engine(model, x, masks)
    assert graph.n_vertices == 28 + 64 + 10
    b = Builder()
    features, hidden = b.fresh(28), b.fresh(64)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    for kind, inputs in (("ih", features), ("hh", hidden)):
        name = f"rnn.weight_{kind}_l0"
        b.ends[name] = (inputs, hidden)
        for g, gate in enumerate("ifgo"):
            rows = slice(64 * g, 64 * (g + 1))
            b.edges[f"{name}[{gate}]"] = dense_edges(state[name][rows], masks[name][rows], inputs, hidden)
    b.dense("classifier.weight", model.classifier, hidden, masks["classifier.weight"])
    assert_same_vertices(b, structure)
    assert [layer.name for layer in graph.layers][:2] == ["rnn.weight_ih_l0[i]", "rnn.weight_ih_l0[f]"]
    edges = b.layer_edges(graph)
    for convention in CONVENTIONS:
        check_against_reference(graph, edges, convention)
    check_lemma(graph)


def resnet_by_hand(model: nn.Module, shape: tuple[int, ...]) -> Builder:
    """torchvision's ResNet-18 forward pass, block by block, as links (no Toeplitz copies)."""
    b = Builder(explicit=False)
    x = b.window(b.conv("conv1.weight", model.conv1, b.fresh(*shape)), model.maxpool)
    for i in range(1, 5):
        for j, block in enumerate(getattr(model, f"layer{i}")):
            prefix = f"layer{i}.{j}."
            h = b.conv(prefix + "conv2.weight", block.conv2, b.conv(prefix + "conv1.weight", block.conv1, x))
            skip = x if block.downsample is None else b.conv(prefix + "downsample.0.weight", block.downsample[0], x)
            b.join(h, skip)
            x = h
    b.dense("fc.weight", model.fc, b.window(x, model.avgpool).ravel())
    return b


def test_torchvision_resnet18():
    """ResNet-18 at 64x64: the traced vertices are the hand walk's, and the forest has one
    component per padding position that no window reaches, plus the one of everything else."""
    from torchvision.models import resnet18

    torch.manual_seed(40)
    model = resnet18(weights=None)
    x = torch.zeros(1, 3, 64, 64)
    structure, graph = engine(model, x)
    built = resnet_by_hand(model, (3, 64, 64))
    assert_same_vertices(built, structure)
    p = network_diagram(graph)
    assert p.tree.n_components == built.components()
    assert p.tree.n_edges == graph.n_vertices - built.components()
    # isolated: the last padded row and column of the stem (7x7, stride 2, 70x70 padded) and of
    # the first conv of layers 2-4 (3x3, stride 2, on 18x18, 10x10, 6x6 padded)
    untouched = 3 * (70 * 70 - 69 * 69) + sum(
        c * (s * s - (s - 1) * (s - 1)) for c, s in ((64, 18), (128, 10), (256, 6))
    )
    assert p.tree.n_components == 1 + untouched


# --- what the trace refuses -----------------------------------------------------------------


class Branching(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) if x.sum() > 0 else x


class Spectral(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fft.fft(self.fc(x)).real


class Twice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.fc(x)))


REFUSED = {
    "control-flow": (Branching, (1, 4), "^the model cannot be traced for its network graph: "),
    "softmax2d": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Softmax2d()), (1, 1, 5, 5), "no rule .*Softmax2d"),
    "fft": (Spectral, (1, 4), "no rule .*fft"),
    "twice": (Twice, (1, 4), "'fc' is called twice"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_has_no_network_graph_is_refused_in_one_line(case):
    """A trace fx cannot make, an op without a rule, one weight in two places: a ValueError of
    one line that names the problem, never a silently wrong graph."""
    build, shape, message = REFUSED[case]
    with pytest.raises(ValueError, match=message) as err:
        network_structure(build(), torch.zeros(shape))
    assert "\n" not in str(err.value), str(err.value)


class _Scaled(nn.Module):
    """A parameter broadcast by a method of its own over the units: a constant, not units."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.p = nn.Parameter(torch.ones(1, 4))

    def forward(self, x):
        h = self.fc(x)
        return h * self.p.expand_as(h)


def test_a_constant_moved_by_units_and_padding_with_a_fill_value_are_read_right():
    with pytest.raises(ValueError, match="expand_as of a constant by units"):
        network_structure(_Scaled(), torch.zeros(1, 4))
    padded = nn.Sequential(nn.ConstantPad2d(1, 3.0), nn.Conv2d(1, 2, 3))
    structure = network_structure(padded, torch.zeros(1, 1, 4, 4))
    inputs, _ = structure.ends["1.weight"]
    assert len(set(inputs.tolist())) == 6 * 6  # 16 input units and 20 padded positions, none the same


def test_a_recurrent_cell_from_a_given_state_is_refused():
    class Seeded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.GRU(3, 5, batch_first=True)

        def forward(self, x):
            return self.rnn(x, torch.ones(1, 1, 5))[0]

    with pytest.raises(ValueError, match="from a zero initial state"):
        network_structure(Seeded(), torch.zeros(1, 4, 3))


class _Functional(nn.Module):
    """An MLP that applies its own parameters with F.linear (no Linear module is called)."""

    def __init__(self, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.ParameterList(nn.Parameter(torch.randn(b, a)) for a, b in itertools.pairwise(sizes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for k, w in enumerate(self.w):
            x = torch.nn.functional.linear(x, w)
            x = torch.relu(x) if k < len(self.w) - 1 else x
        return x


def test_a_functional_linear_is_placed_like_the_linear_module_it_equals():
    """F.linear on a parameter is a layer of the network graph: the whole network's diagram is
    the one of the nn.Linear model holding the same weights."""
    torch.manual_seed(0)
    functional = _Functional((6, 5, 4, 3))
    modules = nn.Sequential(
        nn.Linear(6, 5, bias=False), nn.ReLU(), nn.Linear(5, 4, bias=False), nn.ReLU(), nn.Linear(4, 3, bias=False)
    )
    with torch.no_grad():
        for k, w in enumerate(functional.w):
            modules[2 * k].weight.copy_(w)
    x = torch.zeros(1, 6)
    a = analyze(functional, x, null_draws=0, whole_network=True).network
    b = analyze(modules, x, null_draws=0, whole_network=True).network
    assert a is not None and b is not None and a.graph.n_vertices == b.graph.n_vertices == 18
    np.testing.assert_allclose(np.sort(a.diagram.deaths), np.sort(b.diagram.deaths))
    assert a.neural_persistence == pytest.approx(b.neural_persistence)
