"""The probe on what modern models contain: grouped, depthwise, dilated and 1-D convolutions,
attention, recurrent stacks — every edge index points at the weight it names."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.probe import graphs_of, probe
from pipeline.topology import PAPER, network_persistence
from pipeline.topology.mst import conv_forest
from tests.topology.reference import kruskal_indices


class _Everything(nn.Module):
    """A little of everything: 1-D grouped dilated conv, depthwise and grouped 2-D convs,
    attention with packed and with separate projections, a bidirectional LSTM, norms, an
    embedding that the forward pass never reads as a graph."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 6)
        self.conv1d = nn.Conv1d(6, 8, 3, stride=2, padding=2, dilation=2, groups=2)
        self.depthwise = nn.Conv2d(8, 16, 3, padding="same", groups=8)
        self.grouped = nn.Conv2d(16, 8, (1, 3), stride=(1, 2), groups=4, bias=False)
        self.norm = nn.LayerNorm(8)
        self.packed = nn.MultiheadAttention(8, 2, batch_first=True)
        self.separate = nn.MultiheadAttention(8, 2, kdim=5, vdim=3, batch_first=True)
        self.lstm = nn.LSTM(8, 4, num_layers=2, bidirectional=True, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens).transpose(1, 2)  # (B, 6, T)
        x = self.conv1d(x)  # (B, 8, T')
        x = self.grouped(self.depthwise(x[:, :, None, :].expand(-1, -1, 3, -1).contiguous()))
        seq = self.norm(x.mean(2).transpose(1, 2))  # (B, T'', 8)
        seq = self.packed(seq, seq, seq)[0]
        seq = self.separate(seq, seq[..., :5], seq[..., :3])[0]
        return self.head(self.lstm(seq)[0][:, -1])


def _model() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    return _Everything(), torch.zeros(1, 11, dtype=torch.long)


def test_every_parameter_is_a_graph_or_skipped_with_a_reason():
    model, tokens = _model()
    found = probe(model, tokens)
    names = [w.name for w in found.weights]
    assert names[:3] == ["conv1d.weight", "depthwise.weight", "grouped.weight"]
    assert "packed.in_proj_weight" in names and "packed.out_proj.weight" in names
    assert {"separate.q_proj_weight", "separate.k_proj_weight", "separate.v_proj_weight"} <= set(names)
    assert names[-1] == "head.weight" and found.weights[-1].is_output
    skipped = {s.name: s.reason for s in found.skipped}
    assert set(names) | set(skipped) == {n for n, _ in model.named_parameters()}
    assert not set(names) & set(skipped)
    assert skipped["embed.weight"].startswith("embedding")
    assert skipped["norm.weight"].startswith("LayerNorm")
    assert skipped["packed.in_proj_bias"].startswith("bias")
    geometry = {w.name: w.geometry for w in found.weights if w.geometry}
    assert geometry["conv1d.weight"].input_size == (1, 11) and geometry["conv1d.weight"].dilation == (1, 2)
    assert geometry["depthwise.weight"].groups == 8 and geometry["depthwise.weight"].padding == (1, 1)
    assert geometry["grouped.weight"].groups == 4


def test_every_diagram_index_points_at_the_weight_it_names():
    model, tokens = _model()
    found = probe(model, tokens)
    state = model.state_dict()
    layers = [g for w in found.weights for g in graphs_of(w, state[w.name].numpy())]
    names = [g.name for g in layers]
    assert [n for n in names if n.startswith("packed.in_proj")] == [f"packed.in_proj_weight[{q}]" for q in "qkv"]
    assert sum(n.startswith("lstm.weight_hh") for n in names) == 4 * 4  # 2 layers x 2 directions x 4 gates
    for r in network_persistence(layers, PAPER):
        parameter = state[r.layer.name.split("[")[0]].numpy().ravel()
        np.testing.assert_allclose(np.abs(parameter[r.diagram.indices]), r.diagram.deaths * r.diagram.w_max, rtol=1e-6)
        block = r.layer.weight.ravel()
        assert np.array_equal(parameter[r.layer.offset : r.layer.offset + block.size], block)


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups"), [(1, 0, 1, 1), (2, 1, 2, 2), (3, 2, 1, 4), (1, 3, 3, 4)]
)
def test_conv1d_forest_equals_the_graph_torch_conv1d_defines(stride, padding, dilation, groups):
    torch.manual_seed(stride + dilation)
    conv = nn.Conv1d(4, 8, 3, stride=stride, padding=padding, dilation=dilation, groups=groups)
    (weight,) = probe(conv, torch.zeros(1, 4, 13)).weights
    (layer,) = graphs_of(weight, conv.weight.detach().numpy())
    forest = conv_forest(layer.weight, layer.geometry)

    length = 13 + 2 * padding
    ids = torch.arange(1, 4 * length + 1, dtype=torch.float64).reshape(1, 4, length)
    kernel = conv.weight.detach().double()
    edges = []
    for p in range(kernel.numel()):
        one_hot = torch.zeros(kernel.numel(), dtype=torch.float64)
        one_hot[p] = 1
        out = F.conv1d(ids, one_hot.reshape(kernel.shape), stride=stride, dilation=dilation, groups=groups)[0]
        positions = out.shape[1]
        for o, q in torch.nonzero(out).tolist():
            edges.append(
                (abs(float(kernel.flatten()[p])), p * positions + q, int(out[o, q]) - 1, 4 * length + o * positions + q)
            )
    accepted = kruskal_indices(edges, forest.n_vertices)
    assert layer.n == 8 * positions and layer.m == 4 * length
    np.testing.assert_array_equal(np.sort(forest.indices), np.sort(np.array(accepted) // positions))


def test_pruned_parametrised_and_tied_weights_are_read_as_the_forward_pass_uses_them():
    from torch.nn.utils import parametrizations
    from torch.nn.utils import prune as torch_prune

    from pipeline import analyze

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 6), nn.Linear(6, 4))
    torch_prune.l1_unstructured(model[0], "weight", amount=0.5)
    model[2] = parametrizations.weight_norm(model[2])
    model[3].weight = nn.Parameter(torch.randn(4, 6))
    result = analyze(model, torch.zeros(1, 8))
    rows = {s.layer: s for s in result.summaries}
    assert rows["0.weight"].weights == 24  # torch's mask: half of the 48 weights are pruned
    assert rows["2.weight"].weights == 36
    skipped = {s.name for s in result.skipped}
    assert not skipped & {"0.weight_orig", "2.parametrizations.weight.original0", "2.parametrizations.weight.original1"}

    class Tied(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.a, self.b = nn.Embedding(10, 6), nn.Linear(6, 6), nn.Linear(6, 6)
            self.b.weight = self.a.weight
            self.head = nn.Linear(6, 10, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.b(self.a(self.emb(x))))

    found = probe(Tied(), torch.zeros(1, 3, dtype=torch.long))
    assert [w.name for w in found.weights] == ["a.weight", "head.weight"]  # each tensor once
    reasons = {s.name: s.reason for s in found.skipped}
    assert reasons["b.weight"].startswith("the same tensor as a.weight")
    assert reasons["emb.weight"].startswith("the same tensor as head.weight")


def test_a_convolution_called_with_a_keyword_input_and_user_modes_are_kept():
    class Keyword(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.norm = nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.norm(self.conv(input=x))

    model = Keyword().train()
    model.norm.eval()  # a user's frozen norm stays frozen after probing
    (weight,) = probe(model, torch.zeros(1, 2, 9, 7)).weights
    assert weight.geometry.input_size == (9, 7)
    assert model.training and not model.norm.training
