import numpy as np
import pytest

from pipeline.data.registry import get_dataset_info
from pipeline.models import build_model, example_input, model_layers
from pipeline.report.topology import eta_counts
from pipeline.topology.diagram import spanning_forest
from pipeline.topology.eta import aggregate, closed_form, conv_closed_form, counted, recurrent_closed_form
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer


def _eta_by_layer(arch: str, dataset: str, conv_graph: str = "paper") -> dict[str, float]:
    model = build_model(arch, dataset)
    layers = model_layers(model, example_input(get_dataset_info(dataset).input_shape))
    rows = eta_counts(layers, conv_graph)
    return {r.layer: r.eta_tau for r in rows} | {r.layer: r.eta_tau for r in aggregate(rows)}


def test_spec_worked_example_mnist_fcn():
    eta = _eta_by_layer("fcn", "mnist")
    layers = [eta[f"net.{i}.weight"] for i in (1, 3, 5, 7, 9, 11)]
    assert [round(v, 5) for v in layers] == [88.78822, 50.25126, 50.25126, 50.25126, 50.25126, 9.17431]
    assert round(eta["final"], 5) == 66.77852


def test_spec_worked_example_mnist_cnn():
    eta = _eta_by_layer("conv", "mnist")
    values = [eta["features.0.weight"], eta["features.2.weight"], eta["classifier.1.weight"]]
    assert [round(v, 5) for v in values] == [4.19251, 4.19251, 9.99641]
    assert round(eta["final"], 5) == 9.31005


def test_closed_forms():
    assert recurrent_closed_form(10) == (100, 19)
    m, n, weights, mst = conv_closed_form(ConvGeometry((28, 28), (3, 3), (1, 1), (1, 1)))
    assert (m, n, weights, mst) == (900, 784, 7056, 1683)
    # Strided: (32 + 2 - 3) // 2 + 1 = 16 outputs per side (the +1 the appendix drops).
    assert conv_closed_form(ConvGeometry((32, 32), (3, 3), (2, 2), (1, 1)))[1] == 256


def test_paper_convention_uses_output_resolution_and_drops_shortcuts():
    rows = eta_counts(model_layers(build_model("resnet20", "cifar10"), example_input((3, 32, 32))), "paper")
    names = [r.layer for r in rows]
    assert not any("shortcut" in name for name in names)
    strided = next(r for r in rows if r.layer == "stages.1.0.conv1.weight")
    assert (strided.m, strided.n) == (18 * 18, 16 * 16)


def test_exact_closed_form_matches_counted_forest():
    rng = np.random.default_rng(0)
    for geometry in (
        ConvGeometry((8, 8), (3, 3), (1, 1), (1, 1)),
        ConvGeometry((8, 8), (3, 3), (2, 2), (1, 1)),
        ConvGeometry((8, 8), (1, 1), (2, 2), (0, 0)),
    ):
        layer = ConvLayer("c", rng.standard_normal((4, 3, *geometry.kernel_size)), geometry)
        closed = closed_form(layer, "exact")
        real = counted(layer, spanning_forest(layer))
        assert closed is not None
        assert (closed.weights, closed.tree_edges) == (real.weights, real.tree_edges)
        assert real.params == layer.weight.size and 0 < real.tree_params <= real.params


def test_counted_eta_on_pruned_layer():
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((10, 20))
    mask = rng.random(weight.shape) < 0.5
    layer = DenseLayer("l", weight, mask)
    row = counted(layer, spanning_forest(layer))
    assert row.weights == mask.sum()
    assert row.tree_edges == spanning_forest(layer).n_edges <= 29
    assert row.eta_tau == pytest.approx(mask.sum() / row.tree_edges)


def test_aggregates_are_ratios_of_sums():
    a = DenseLayer("a", np.ones((10, 10)))
    b = DenseLayer("b", np.ones((2, 50)))
    rows = [closed_form(a), closed_form(b)]
    final = {r.layer: r for r in aggregate(rows)}["final"]
    assert final.eta_tau == pytest.approx((100 + 100) / (19 + 51))
    assert final.eta_tau != pytest.approx((rows[0].eta_tau + rows[1].eta_tau) / 2)
