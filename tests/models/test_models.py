import numpy as np
import pytest
import torch
from torch import nn

from pipeline.data.registry import get_dataset_info
from pipeline.models import (
    build_model,
    example_input,
    graphs_of,
    model_layers,
    prunable_weights,
    register_model,
    valid_pairs,
)
from pipeline.models.probe import probe
from pipeline.models.registry import IMAGE_FAMILIES, check_pair, declarations
from pipeline.topology import PAPER, network_persistence
from pipeline.topology.graphs import ConvLayer, DenseLayer
from pipeline.train import ModelMasks

# Parameter counts derived by hand from docs/science.md §6 (BatchNorm where used, no conv biases then):
# FCN 784·100+100 + 4·(100·100+100) + 100·10+10; CNN 1·32·9+32 + 32·32·9+32 + 25088·10+10;
# VGG-11 convs 9,217,728 + BN 5,504 + head 512·10+10 (CIFAR-10) or 3,352,776 (Tiny-ImageNet).
# On one-channel 28x28 images the first conv loses 2·64·9 (VGG-11) or 2·16·9 (ResNet-20) weights
# and nothing else changes: the images are padded to the CIFAR networks' 32x32.
PARAMETERS = {
    ("vgg11", "fashion-mnist"): 9_228_362 - 2 * 64 * 9,
    ("resnet20", "fashion-mnist"): 272_474 - 2 * 16 * 9,
    ("fcn", "mnist"): 119_910,
    ("conv", "mnist"): 260_458,
    ("vgg11", "cifar10"): 9_228_362,
    ("vgg11", "tiny-imagenet"): 12_576_008,
    ("resnet20", "cifar10"): 272_474,
    ("resnet18", "tiny-imagenet"): 11_271_432,
}


@pytest.mark.parametrize(("arch", "dataset"), valid_pairs())
def test_every_registered_model_runs_on_its_data(arch, dataset):
    info = get_dataset_info(dataset)
    torch.manual_seed(0)
    model = build_model(arch, dataset)
    out = model(torch.randn(2, *info.input_shape))
    assert out.shape == (2, info.num_classes)
    assert torch.isfinite(out).all()
    if (arch, dataset) in PARAMETERS:
        assert sum(p.numel() for p in model.parameters()) == PARAMETERS[(arch, dataset)]
    weights = prunable_weights(model, example_input(info.input_shape))
    assert weights[-1].is_output and not any(w.is_output for w in weights[:-1])
    assert weights[-1].shape[0] == info.num_classes


def test_unknown_names_fail_clearly():
    with pytest.raises(ValueError, match="no such architecture 'resnet50'"):
        build_model("resnet50", "cifar10")
    with pytest.raises(ValueError, match="no such data set 'svhn'"):
        build_model("fcn", "svhn")


def test_conv_input_sizes_come_from_the_forward_pass():
    model = build_model("vgg11", "cifar10")
    weights = prunable_weights(model, example_input((3, 32, 32)))
    sizes = [w.geometry.input_size[0] for w in weights if w.kind == "conv"]
    assert sizes == [32, 16, 8, 8, 4, 4, 2, 2]
    resnet = prunable_weights(build_model("resnet20", "cifar10"), example_input((3, 32, 32)))
    strided = next(w for w in resnet if w.name == "stages.1.0.conv1.weight")
    assert strided.geometry.input_size == (32, 32) and strided.geometry.stride == (2, 2)
    assert strided.geometry.output_size == (16, 16)


class _Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(5, 4, batch_first=True)
        self.gru = nn.GRU(4, 3, batch_first=True)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(self.lstm(x)[0])[0][:, -1])


def test_recurrent_layers_split_into_gate_blocks():
    model = _Recurrent()
    weights = prunable_weights(model, torch.zeros(1, 6, 5))
    kinds = {w.name: w.kind for w in weights}
    assert kinds["lstm.weight_hh_l0"] == "recurrent" and kinds["lstm.weight_ih_l0"] == "linear"
    layers = model_layers(model, torch.zeros(1, 6, 5), weights=weights)
    hh = [layer for layer in layers if layer.name.startswith("lstm.weight_hh_l0")]
    assert [layer.name for layer in hh] == [f"lstm.weight_hh_l0[{g}]" for g in "ifgo"]
    assert all(isinstance(layer, DenseLayer) and (layer.m, layer.n) == (4, 4) for layer in hh)
    assert [layer.offset for layer in hh] == [0, 16, 32, 48]
    gru = [layer for layer in layers if layer.name.startswith("gru.weight_hh_l0")]
    assert len(gru) == 3 and gru[0].n == 3


def test_graphs_carry_masks_and_check_shapes():
    model = build_model("conv", "mnist")
    weights = prunable_weights(model, example_input((1, 28, 28)))
    mask = np.zeros(weights[0].shape, dtype=bool)
    layer = graphs_of(weights[0], np.ones(weights[0].shape, dtype=np.float32), mask)[0]
    assert isinstance(layer, ConvLayer) and layer.n_params == 0
    with pytest.raises(ValueError, match="expected"):
        graphs_of(weights[0], np.ones((3, 3)))


def test_layers_without_a_toeplitz_graph_are_skipped_with_the_reason():
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"), nn.ConvTranspose2d(4, 2, 3))
    found = probe(model, torch.zeros(1, 4, 8, 8))
    assert found.weights == []
    reasons = {s.name: s.reason for s in found.skipped}
    assert "padding_mode='circular'" in reasons["0.weight"]
    assert "a transposed convolution" in reasons["1.weight"] and "bias" in reasons["1.bias"]
    assert [s.unreadable for s in found.skipped] == [True, False, True, False]
    with pytest.raises(NotImplementedError, match=r"layer weight '0\.weight': padding_mode='circular'"):
        prunable_weights(model, torch.zeros(1, 4, 8, 8))  # the pipeline would leave it dense


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_gated_classifiers_read_mnist_rows_and_index_their_gates(arch):
    """Every diagram index of a gate block points at the weight of that gate in the parameter."""
    torch.manual_seed(0)
    model = build_model(arch, "mnist-5k")
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    weights = prunable_weights(model, example_input((1, 28, 28)))
    gates = 4 if arch == "lstm" else 3
    assert [w.kind for w in weights] == ["linear", "recurrent", "linear"] and len(weights[0].blocks) == gates
    state = model.state_dict()
    results = network_persistence(model_layers(model, example_input((1, 28, 28)), weights=weights), PAPER)
    assert len(results) == 2 * gates + 1
    for r in results:
        parameter = state[r.layer.name.split("[")[0]].numpy().ravel()
        np.testing.assert_allclose(np.abs(parameter[r.diagram.indices]) / r.diagram.w_max, r.diagram.deaths, rtol=1e-6)


def test_a_builder_of_an_undeclared_or_taken_name_is_refused_naming_its_module():
    def builder(**_: object) -> None:
        return None

    with pytest.raises(ValueError, match=r"test_models\.test_a_builder.*registers architecture 'nowhere' outside"):
        register_model("nowhere")(builder)
    build_model("fcn", "mnist-5k")  # imports every builder module first
    with pytest.raises(ValueError, match=r"'fcn' is registered already by pipeline\.models\.mnist"):
        register_model("fcn")(builder)


def test_architectures_are_declared_by_their_decorators_read_without_import(tmp_path):
    (tmp_path / "a.py").write_text('@register_model("mlp", families=("mnist",))\ndef mlp(): ...\n')
    (tmp_path / "b.py").write_text("@register_model(NAME)\ndef other(): ...\n")
    with pytest.raises(ValueError, match=r"b\.py:1: register_model takes a literal name and families"):
        declarations(tmp_path, "pkg")
    (tmp_path / "b.py").write_text('@register_model("mlp")\ndef again(): ...\n')
    with pytest.raises(ValueError, match=r"pkg\.b: architecture 'mlp' is declared already in pkg\.a"):
        declarations(tmp_path, "pkg")
    (tmp_path / "b.py").write_text('@registry.register_model("deep")\ndef deep(): ...\n')
    assert declarations(tmp_path, "pkg") == {"deep": IMAGE_FAMILIES, "mlp": ("mnist",)}


def test_the_grid_prunes_weights_used_through_functions():
    """tv:swin_t applies its attention weights with F.linear (its Linear modules are never
    called): the grid's pair check accepts it and its prunable weights include all 24, which
    masks hold at zero like any other weight (ModelMasks: what every round trains under)."""
    check_pair("tv:swin_t", "mnist-5k")
    torch.manual_seed(0)
    model = build_model("tv:swin_t", "mnist-5k")
    weights = prunable_weights(model, example_input((1, 28, 28)))
    attention = [w.name for w in weights if w.name.endswith(("attn.qkv.weight", "attn.proj.weight"))]
    assert len(attention) == 24
    x = torch.randn(2, 1, 28, 28)
    before = model.eval()(x)
    masks = {name: np.zeros(w.shape, dtype=bool) for w in weights for name in [w.name] if name in attention}
    ModelMasks(model, masks).enforce()
    assert all(not model.get_parameter(name).any() for name in attention)
    assert not torch.allclose(model(x), before)  # the forward pass really uses them
