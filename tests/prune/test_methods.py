import numpy as np
import pytest

from pipeline.models import build_model, example_input, graphs_of, prunable_weights
from pipeline.prune import keep_count, prune_round, target_density, tree_edges
from pipeline.prune.settings import PruningConfig
from pipeline.topology import PAPER, diagram, neural_persistence


def _model(arch="fcn", dataset="mnist-5k", seed=0):
    import torch

    torch.manual_seed(seed)
    model = build_model(arch, dataset)
    weights = prunable_weights(model, example_input((1, 28, 28)))
    state = model.state_dict()
    values = {w.name: state[w.name].numpy().copy() for w in weights}
    masks = {w.name: np.ones(w.shape, dtype=bool) for w in weights}
    return weights, values, masks


def test_schedules():
    geo = PruningConfig(schedule="geometric", rate=0.2)
    assert [round(target_density(geo, k), 4) for k in range(4)] == [1.0, 0.8, 0.64, 0.512]
    lin = PruningConfig(schedule="linear", target=0.1, linear_rounds=3)
    assert [round(target_density(lin, k), 4) for k in range(5)] == [1.0, 0.7, 0.4, 0.1, 0.1]
    assert keep_count(1000, 0.64) == 640 and keep_count(10, 0.0001) == 1


def test_imp_local_removes_exactly_the_scheduled_count_per_layer():
    weights, values, masks = _model()
    cfg = PruningConfig(rate=0.2)
    for k in (1, 2, 3):
        result = prune_round("imp", weights, values, masks, cfg, k)
        for w in weights:
            assert result.masks[w.name].sum() == round(np.prod(w.shape) * 0.8**k)
            assert not np.any(result.masks[w.name] & ~masks[w.name])  # never revives a pruned weight
            kept = np.abs(values[w.name])[result.masks[w.name]]
            dropped = np.abs(values[w.name])[masks[w.name] & ~result.masks[w.name]]
            assert kept.min() >= dropped.max()
        masks = result.masks


def test_imp_global_removes_the_scheduled_count_overall():
    weights, values, masks = _model()
    result = prune_round("imp", weights, values, masks, PruningConfig(scope="global", rate=0.5), 1)
    total = sum(np.prod(w.shape) for w in weights)
    assert sum(m.sum() for m in result.masks.values()) == round(total * 0.5)
    densities = {w.name: result.masks[w.name].mean() for w in weights}
    assert len({round(d, 3) for d in densities.values()}) > 1  # layers are not pruned alike


def test_timp_keeps_every_tree_edge_and_the_diagram():
    weights, values, masks = _model(seed=1)
    cfg = PruningConfig(rate=0.5)
    for k in (1, 2):
        result = prune_round("timp", weights, values, masks, cfg, k)
        for w in weights:
            tree = tree_edges(w, values[w.name], masks[w.name])
            assert result.masks[w.name].ravel()[tree].all()
            for before, after in zip(
                graphs_of(w, values[w.name], masks[w.name]),
                graphs_of(w, values[w.name], result.masks[w.name]),
                strict=True,
            ):
                assert neural_persistence(diagram(after, PAPER)) == pytest.approx(
                    neural_persistence(diagram(before, PAPER)), abs=1e-12
                )
        masks = result.masks


def test_timp_on_conv_layers_keeps_the_kernel_parameters_of_the_tree():
    weights, values, masks = _model("conv", seed=2)
    result = prune_round("timp", weights, values, masks, PruningConfig(rate=0.9), 1)
    conv = weights[0]
    layer = graphs_of(conv, values[conv.name], masks[conv.name])[0]
    forest_params = tree_edges(conv, values[conv.name], masks[conv.name])
    assert result.masks[conv.name].ravel()[forest_params].all()
    pruned = graphs_of(conv, values[conv.name], result.masks[conv.name])[0]
    assert np.array_equal(np.sort(diagram(pruned, PAPER).deaths), np.sort(diagram(layer, PAPER).deaths))


def test_timp_short_budget_cap_or_heaviest():
    weights, values, masks = _model()
    out = weights[-1]  # 100 -> 10: |MST| = 109 edges of 1000
    capped = prune_round("timp", weights, values, masks, PruningConfig(rate=0.95), 1)
    assert capped.capped[out.name] and capped.masks[out.name].sum() == 109
    heaviest = prune_round("timp", weights, values, masks, PruningConfig(rate=0.95, timp_short_budget="heaviest"), 1)
    tree = tree_edges(out, values[out.name], masks[out.name])
    kept = np.flatnonzero(heaviest.masks[out.name])
    assert kept.size == keep_count(1000, 0.05) == 50 and set(kept) <= set(tree)
    assert (
        np.abs(values[out.name]).ravel()[kept].min() >= np.abs(values[out.name]).ravel()[np.setdiff1d(tree, kept)].max()
    )


def test_the_classifier_can_be_left_unpruned():
    weights, values, masks = _model()
    result = prune_round("imp", weights, values, masks, PruningConfig(prune_output=False), 1)
    assert result.masks[weights[-1].name].all() and not result.masks[weights[0].name].all()


def test_bad_masks_name_the_tensor():
    weights, values, masks = _model()
    bad = dict(masks)
    bad[weights[0].name] = np.ones((3, 3), dtype=bool)
    with pytest.raises(ValueError, match=r"mask of 'net.1.weight' has shape \(3, 3\)"):
        prune_round("imp", weights, values, bad, PruningConfig(), 1)
    with pytest.raises(ValueError, match="missing"):
        prune_round("imp", weights, values, {}, PruningConfig(), 1)
    with pytest.raises(ValueError, match="no such pruning method 'grasp'"):
        prune_round("grasp", weights, values, masks, PruningConfig(), 1)
