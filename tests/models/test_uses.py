"""Weights found by how the forward pass uses them (``pipeline.models.uses``), checked against
what the test knows independently: which parameters are linear weights (written out per model),
the values a diagram must read (the stored tensor at each diagram index), and the forest of the
equivalent ``nn.Linear`` / ``nn.Conv2d`` model built with copied (or recomputed) weights."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from pipeline.analysis import analyze
from pipeline.models.probe import probe, prunable_weights


def _analysed(model: nn.Module, example: torch.Tensor):
    """``analyze`` without a null, with every graph's diagram kept by name (small models only)."""
    seen = {}

    def keep(r) -> None:
        seen[r.layer.name] = (np.array(r.diagram.deaths), np.array(r.diagram.indices), r.diagram.w_max)

    result = analyze(model, example, null_draws=0, on_layer=keep)
    return result, seen


def _summary(result, name: str):
    return next(s for s in result.summaries if s.layer == name)


def _assert_points_at(seen: dict, state: dict, tensor_of: dict | None = None, rows: dict | None = None) -> None:
    """Every diagram point reads the stored parameter it names: |stored[index]| / w_max is its
    death, with w_max the largest |w| of the graph's block (the whole tensor unless ``rows``
    names the block's flat range)."""
    for name, (deaths, indices, w_max) in seen.items():
        tensor = (tensor_of or {}).get(name, name)
        flat = state[tensor].detach().to(torch.float64).numpy().ravel()
        lo, hi = (rows or {}).get(name, (0, flat.size))
        assert indices.size and indices.min() >= lo and indices.max() < hi, name
        expected_max = np.abs(flat[lo:hi]).max()
        assert w_max == pytest.approx(expected_max, rel=1e-6), name
        np.testing.assert_allclose(np.abs(flat[indices]) / expected_max, deaths, rtol=1e-5, atol=1e-7, err_msg=name)


# ---------------------------------------------------------------- 1. every linear weight is a graph


class FunctionalMLP(nn.Module):
    """A user module that applies its own parameters with F.linear (no nn.Linear anywhere)."""

    def __init__(self) -> None:
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(12, 6))
        self.bias = nn.Parameter(torch.randn(12))
        self.w2 = nn.Parameter(torch.randn(5, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(torch.relu(F.linear(x, self.w1, self.bias)), self.w2)


def _tiny_gpt2():
    transformers = pytest.importorskip("transformers", reason="GPT-2 needs the optional transformers extra")
    torch.manual_seed(3)
    config = transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=16, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config).eval(), torch.randint(0, 50, (1, 16))


def _tiny_llama():
    transformers = pytest.importorskip("transformers", reason="LLaMA needs the optional transformers extra")
    torch.manual_seed(4)
    config = transformers.LlamaConfig(
        hidden_size=32,
        num_hidden_layers=2,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=50,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.LlamaForCausalLM(config).eval(), torch.randint(0, 50, (1, 12))


GPT2_LINEAR = {
    f"transformer.h.{i}.{part}.weight"
    for i in range(2)
    for part in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
} | {"lm_head.weight"}
LLAMA_LINEAR = {
    f"model.layers.{i}.{part}.weight"
    for i in range(2)
    for part in (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    )
} | {"lm_head.weight"}


def test_every_linear_weight_of_a_functional_user_module_is_a_graph_pointing_at_its_weight():
    torch.manual_seed(0)
    model = FunctionalMLP()
    result, seen = _analysed(model, torch.zeros(1, 6))
    assert set(result.names) == {"w1", "w2"} == set(seen)
    assert not any(s.unreadable for s in result.skipped)
    assert {s.name for s in result.skipped} == {"bias"}
    _assert_points_at(seen, model.state_dict())


def test_every_linear_weight_of_gpt2_is_a_graph_pointing_at_its_weight():
    model, tokens = _tiny_gpt2()
    result, seen = _analysed(model, tokens)
    assert set(result.names) == GPT2_LINEAR == set(seen)
    assert not any(s.unreadable for s in result.skipped)
    # Conv1D stores (inputs, outputs): the graph is (outputs, inputs)
    assert result.shapes["transformer.h.0.attn.c_attn.weight"] == (96, 32)
    assert result.shapes["transformer.h.0.mlp.c_fc.weight"] == (128, 32)
    _assert_points_at(seen, model.state_dict())


def test_every_linear_weight_of_llama_is_a_graph_pointing_at_its_weight():
    model, tokens = _tiny_llama()
    result, seen = _analysed(model, tokens)
    assert set(result.names) == LLAMA_LINEAR == set(seen)
    assert not any(s.unreadable for s in result.skipped)
    assert result.shapes["model.layers.0.self_attn.k_proj.weight"] == (16, 32)  # 2 kv heads of 8
    _assert_points_at(seen, model.state_dict())


def test_every_linear_and_conv_weight_of_swin_t_is_a_graph_pointing_at_its_weight():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.swin_t(weights=None).eval()
    # the attention's qkv and proj are nn.Linear modules that torchvision applies with F.linear
    expected = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)}
    assert len(expected) == 1 + 4 * (2 + 2 + 6 + 2) + 3 + 1  # patch conv, 4 per block, 3 mergings, head
    result, seen = _analysed(model, torch.zeros(1, 3, 224, 224))
    assert set(result.names) == expected == set(seen)
    assert not any(s.unreadable for s in result.skipped)
    _assert_points_at(seen, model.state_dict())


# ---------------------------------------------------------------- 2. the same forest as nn.Linear


def _compare_graph(ours, theirs, name: str, twin: str, index_map=lambda i: i) -> None:
    (result, seen), (twin_result, twin_seen) = ours, theirs
    a, b = _summary(result, name), _summary(twin_result, twin)
    assert a.tree_edges == b.tree_edges and a.weights == b.weights, name
    assert a.np == pytest.approx(b.np, rel=1e-9), name
    deaths, indices, _ = seen[name]
    twin_deaths, twin_indices, _ = twin_seen[twin]
    np.testing.assert_allclose(np.sort(deaths), np.sort(twin_deaths), rtol=1e-7, err_msg=name)
    assert set(index_map(indices).tolist()) == set(twin_indices.tolist()), name


def test_a_functional_linear_module_has_the_forest_of_its_nn_linear_twin():
    torch.manual_seed(1)
    model = FunctionalMLP()
    twin = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 5, bias=False))
    with torch.no_grad():
        twin[0].weight.copy_(model.w1)
        twin[0].bias.copy_(model.bias)
        twin[2].weight.copy_(model.w2)
    x = torch.randn(3, 6)
    torch.testing.assert_close(model(x), twin(x))
    ours, theirs = _analysed(model, x[:1]), _analysed(twin, x[:1])
    assert len(theirs[0].names) == len(ours[0].names) == 2
    _compare_graph(ours, theirs, "w1", "0.weight")
    _compare_graph(ours, theirs, "w2", "2.weight")
    assert ours[0].summaries[0].tree_edges == 6 + 12 - 1


def test_gpt2_conv1d_has_the_forest_of_the_nn_linear_that_stores_its_transpose():
    transformers = pytest.importorskip("transformers", reason="GPT-2 needs the optional transformers extra")
    model, tokens = _tiny_gpt2()
    twin = copy.deepcopy(model)
    shapes = {}
    for name, module in list(twin.named_modules()):
        if isinstance(module, transformers.pytorch_utils.Conv1D):
            inputs, outputs = module.weight.shape
            linear = nn.Linear(inputs, outputs)
            with torch.no_grad():
                linear.weight.copy_(module.weight.T)
                linear.bias.copy_(module.bias)
            parent, _, attr = name.rpartition(".")
            setattr(twin.get_submodule(parent), attr, linear)
            shapes[f"{name}.weight"] = (inputs, outputs)
    assert set(shapes) == GPT2_LINEAR - {"lm_head.weight"}
    with torch.no_grad():
        torch.testing.assert_close(model(tokens).logits, twin(tokens).logits)
    ours, theirs = _analysed(model, tokens), _analysed(twin, tokens)
    assert set(ours[0].names) == set(theirs[0].names) == GPT2_LINEAR
    for name, (inputs, outputs) in shapes.items():
        # stored index i * outputs + j of the Conv1D weight (inputs, outputs) is j * inputs + i of the Linear's
        transposed = lambda flat, i_=inputs, o_=outputs: (flat % o_) * i_ + flat // o_  # noqa: E731
        _compare_graph(ours, theirs, name, name, transposed)
        assert _summary(ours[0], name).tree_edges == inputs + outputs - 1
    _compare_graph(ours, theirs, "lm_head.weight", "lm_head.weight")


# ---------------------------------------------------------------- 3. used twice, parts, strides


class TwiceConv(nn.Module):
    """One kernel applied functionally to two inputs, of the same size or not."""

    def __init__(self, same_size: bool) -> None:
        super().__init__()
        self.kernel = nn.Parameter(torch.randn(4, 3, 3, 3))
        self.same_size = same_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        other = 2 * x if self.same_size else F.avg_pool2d(x, 2)
        a = F.conv2d(x, self.kernel, padding=1).mean((2, 3))
        b = F.conv2d(other, self.kernel, padding=1).mean((2, 3))
        return a + b


def test_a_kernel_used_at_two_input_sizes_is_unreadable_with_the_reason():
    torch.manual_seed(2)
    model, x = TwiceConv(same_size=False), torch.zeros(1, 3, 8, 8)
    result, _ = _analysed(model, x)
    assert result.names == []
    (skipped,) = [s for s in result.skipped if s.name == "kernel"]
    assert skipped.unreadable
    assert "(8, 8)" in skipped.reason and "(4, 4)" in skipped.reason, skipped.reason
    with pytest.raises(NotImplementedError, match="kernel"):
        prunable_weights(model, x)


def test_a_kernel_used_twice_at_one_size_is_one_graph():
    torch.manual_seed(2)
    model = TwiceConv(same_size=True)
    result, seen = _analysed(model, torch.zeros(1, 3, 8, 8))
    assert result.names == ["kernel"] and len(result.summaries) == 1
    assert not any(s.unreadable for s in result.skipped)
    _assert_points_at(seen, model.state_dict())
    twin = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    with torch.no_grad():
        twin.weight.copy_(model.kernel)
    _compare_graph((result, seen), _analysed(twin, torch.zeros(1, 3, 8, 8)), "kernel", "weight")


class Packed(nn.Module):
    """A packed 24 x 8 projection: rows 0:8 and rows 8:24 are two linear operations."""

    def __init__(self) -> None:
        super().__init__()
        self.packed = nn.Parameter(torch.randn(24, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = F.linear(x, self.packed[0:8])
        kv = F.linear(x, self.packed[8:24])
        return q.sum(-1) + kv.sum(-1)


def test_two_parts_of_a_packed_projection_are_two_graphs_over_disjoint_rows():
    torch.manual_seed(5)
    model = Packed()
    result, seen = _analysed(model, torch.zeros(1, 8))
    assert len(result.names) == 2 and not any(s.unreadable for s in result.skipped)
    by_rows = sorted(seen.items(), key=lambda item: item[1][1].min())
    (first, (_, first_idx, _)), (second, (_, second_idx, _)) = by_rows
    assert result.shapes[first] == (8, 8) and result.shapes[second] == (16, 8)
    assert first_idx.min() >= 0 and first_idx.max() < 8 * 8
    assert second_idx.min() >= 8 * 8 and second_idx.max() < 24 * 8
    state = {"packed": model.packed}
    _assert_points_at(
        seen, state, tensor_of={first: "packed", second: "packed"}, rows={first: (0, 64), second: (64, 192)}
    )
    assert _summary(result, first).tree_edges == 8 + 8 - 1
    assert _summary(result, second).tree_edges == 16 + 8 - 1
    for name, rows in ((first, slice(0, 8)), (second, slice(8, 24))):
        twin = nn.Linear(8, rows.stop - rows.start, bias=False)
        with torch.no_grad():
            twin.weight.copy_(model.packed[rows])
        offset = rows.start * 8
        _compare_graph((result, seen), _analysed(twin, torch.zeros(1, 8)), name, "weight", lambda i, o=offset: i - o)


class Strided(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight[:, ::2])


def test_a_strided_part_is_unreadable_with_the_reason():
    torch.manual_seed(6)
    model, x = Strided(), torch.zeros(1, 4)
    result, _ = _analysed(model, x)
    assert result.names == []
    (skipped,) = result.skipped
    assert skipped.name == "weight" and skipped.unreadable
    assert "strided" in skipped.reason, skipped.reason
    with pytest.raises(NotImplementedError, match="weight"):
        prunable_weights(model, x)


# ---------------------------------------------------------------- 4. standardised kernels


class OwnStdConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 3, 3, 3) * 0.3 + 0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = (w - w.mean((1, 2, 3), keepdim=True)) / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        return F.conv2d(x, w, padding=1)


def _standardised(w: torch.Tensor, *, unbiased: bool, eps: float, inside_sqrt: bool) -> torch.Tensor:
    """The standardised kernel per output channel, computed here in float64 with numpy."""
    a = w.detach().to(torch.float64).numpy().reshape(w.shape[0], -1)
    mean = a.mean(1, keepdims=True)
    var = a.var(1, ddof=1 if unbiased else 0, keepdims=True)
    scaled = (a - mean) / (np.sqrt(var + eps) if inside_sqrt else np.sqrt(var) + eps)
    return torch.from_numpy(scaled.reshape(tuple(w.shape))).to(torch.float32)


def _conv_twin(kernel: torch.Tensor, padding: int) -> nn.Conv2d:
    conv = nn.Conv2d(kernel.shape[1], kernel.shape[0], tuple(kernel.shape[2:]), padding=padding, bias=False)
    with torch.no_grad():
        conv.weight.copy_(kernel)
    return conv


def _assert_same_diagram(ours, theirs, name: str, twin: str = "weight") -> None:
    (result, seen), (twin_result, twin_seen) = ours, theirs
    a, b = _summary(result, name), _summary(twin_result, twin)
    assert a.tree_edges == b.tree_edges and a.params == b.params
    assert a.np == pytest.approx(b.np, rel=1e-5)
    np.testing.assert_allclose(np.sort(seen[name][0]), np.sort(twin_seen[twin][0]), rtol=1e-5, atol=1e-6)


def test_an_own_standardised_kernel_reads_as_the_standardised_conv():
    torch.manual_seed(7)
    model, x = OwnStdConv(), torch.zeros(1, 3, 6, 6)
    ours = _analysed(model, x)
    assert ours[0].names == ["weight"]
    kernel = _standardised(model.weight, unbiased=True, eps=1e-5, inside_sqrt=False)
    _assert_same_diagram(ours, _analysed(_conv_twin(kernel, 1), x), "weight")
    # the stored kernel's diagram differs: the graph reads what the forward pass computes
    stored = _analysed(_conv_twin(model.weight.detach(), 1), x)
    assert _summary(stored[0], "weight").np != pytest.approx(_summary(ours[0], "weight").np, rel=1e-5)


def test_timm_std_conv2d_reads_as_the_standardised_conv():
    timm = pytest.importorskip("timm", reason="StdConv2d needs the optional timm extra")
    torch.manual_seed(8)
    model, x = timm.layers.StdConv2d(3, 6, 3, padding=1, bias=False), torch.zeros(1, 3, 6, 6)
    with torch.no_grad():
        model.weight.mul_(3).add_(0.2)
    ours = _analysed(model, x)
    assert ours[0].names == ["weight"]
    kernel = _standardised(model.weight, unbiased=False, eps=model.eps, inside_sqrt=True)
    _assert_same_diagram(ours, _analysed(_conv_twin(kernel, 1), x), "weight")


def test_timm_scaled_std_conv2d_reads_its_gain_too():
    timm = pytest.importorskip("timm", reason="ScaledStdConv2d needs the optional timm extra")
    torch.manual_seed(9)
    model, x = timm.layers.ScaledStdConv2d(3, 6, 3, padding=1, bias=False), torch.zeros(1, 3, 6, 6)
    with torch.no_grad():
        model.gain.copy_(torch.linspace(0.5, 2.0, 6).view(6, 1, 1, 1))
    ours = _analysed(model, x)
    assert ours[0].names == ["weight"]
    reasons = {s.name: s.reason for s in ours[0].skipped}
    assert "computes a weight's values with it (a gain)" in reasons["gain"]
    gain = model.gain.detach().view(6, 1, 1, 1)
    kernel = _standardised(model.weight, unbiased=False, eps=model.eps, inside_sqrt=True) * gain * model.scale
    _assert_same_diagram(ours, _analysed(_conv_twin(kernel, 1), x), "weight")


class _Twice(nn.Module):
    """Forward passes the review of this change found misread, one per ``case``."""

    def __init__(self, case: str) -> None:
        super().__init__()
        self.case = case
        self.w = nn.Parameter(torch.randn(8, 4))
        self.score = nn.Parameter(torch.randn(8, 4))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.case == "product-before-head":  # the functional weight is not the output layer
            return self.head(F.linear(x, self.w))
        if self.case == "view-after-copy":
            return self.head(torch.relu(F.linear(x, self.w.t().contiguous().view(-1).view(4, 8).t())))
        if self.case == "zero-state":  # a product with a constant: the weight is still one graph
            h = torch.zeros(x.shape[0], 8)
            return self.head(torch.tanh(F.linear(x, self.w) + h @ torch.eye(8)))
        return self.head(torch.relu(F.linear(x, self.w * torch.sigmoid(self.score))))  # "gated"


def test_review_cases_are_read_right():
    """The output layer is the last the forward pass uses; a view after a copy, a product with a
    constant are read; a weight gated by another parameter is refused, never read as stored."""
    x = torch.zeros(1, 4)
    order = probe(_Twice("product-before-head"), x).weights
    assert [(w.name, w.is_output) for w in order] == [("w", False), ("head.weight", True)]
    for case in ("view-after-copy", "zero-state"):
        found = probe(_Twice(case), x)
        assert [w.name for w in found.weights] == ["w", "head.weight"], case
        assert not any(s.unreadable for s in found.skipped), case
    gated = probe(_Twice("gated"), x)
    assert [w.name for w in gated.weights] == ["head.weight"]
    reasons = {s.name: (s.reason, s.unreadable) for s in gated.skipped}
    assert reasons["w"][1] and reasons["score"][1] and "no element of it follows" in reasons["w"][0]
    with pytest.raises(NotImplementedError, match="'w'"):
        prunable_weights(_Twice("gated"), x)


def test_old_style_weight_norm_and_a_pruned_functional_weight_read_as_the_forward_pass_uses_them():
    """torch.nn.utils.weight_norm's layer is one graph (its g and v are behind it); a weight
    masked by torch.nn.utils.prune and used through F.linear reads its masked zeros as pruned."""
    torch.manual_seed(0)
    normed = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    torch.nn.utils.weight_norm(normed[0])
    assert [w.name for w in probe(normed, torch.zeros(1, 4)).weights] == ["0.weight", "2.weight"]
    model = _Twice("zero-state")
    prune.l1_unstructured(model, "w", amount=0.5)
    result = analyze(model, torch.zeros(1, 4), null_draws=0)
    rows = result.frame().set_index("layer")
    assert rows.loc["w_orig", "weights"] == 16 and result.zeros_pruned == 16
