"""The controls and baselines: random, reinit, SynFlow and SNIP, and per-layer rates."""

import numpy as np
import pytest
import torch
from torch import nn

from pipeline.models import build_model, prunable_weights
from pipeline.models.probe import example_input
from pipeline.prune import keep_count, prune_round
from pipeline.prune.methods.snip import snip_scores
from pipeline.prune.methods.synflow import linearised, synflow_scores
from pipeline.prune.settings import PruningConfig
from tests.prune.test_methods import _model


def _imp_then(method, cfg, seed, k=1, **inputs):
    weights, values, masks = _model(seed=3)
    imp = prune_round("imp", weights, values, masks, cfg, k)
    rng = np.random.default_rng(seed)
    return weights, masks, imp, prune_round(method, weights, values, masks, cfg, k, reference=imp.masks, rng=rng)


@pytest.mark.parametrize("scope", ["local", "global"])
def test_random_keeps_exactly_imps_per_layer_counts_among_the_survivors(scope):
    cfg = PruningConfig(rate=0.5, scope=scope)
    weights, masks, imp, first = _imp_then("random", cfg, seed=0)
    *_, other = _imp_then("random", cfg, seed=1)
    for w in weights:
        assert first.masks[w.name].sum() == imp.masks[w.name].sum(), w.name
        assert not np.any(first.masks[w.name] & ~masks[w.name])
    assert any(not np.array_equal(first.masks[w.name], other.masks[w.name]) for w in weights)
    assert any(not np.array_equal(first.masks[w.name], imp.masks[w.name]) for w in weights)
    if scope == "global":  # IMP's ranking gave layers different densities; random copies them
        assert len({round(float(first.masks[w.name].mean()), 3) for w in weights}) > 1


def test_random_draws_among_its_own_survivors():
    weights, values, masks = _model(seed=3)
    cfg = PruningConfig(rate=0.5)
    imp1 = prune_round("imp", weights, values, masks, cfg, 1)
    rnd1 = prune_round("random", weights, values, masks, cfg, 1, reference=imp1.masks, rng=np.random.default_rng(0))
    imp2 = prune_round("imp", weights, values, imp1.masks, cfg, 2)
    rnd2 = prune_round(
        "random", weights, values, rnd1.masks, cfg, 2, reference=imp2.masks, rng=np.random.default_rng(1)
    )
    for w in weights:
        assert not np.any(rnd2.masks[w.name] & ~rnd1.masks[w.name])
        assert rnd2.masks[w.name].sum() == imp2.masks[w.name].sum()


def test_reinit_takes_imps_mask_unchanged():
    cfg = PruningConfig(rate=0.5, scope="global")
    weights, _, imp, reinit = _imp_then("reinit", cfg, seed=0, k=2)
    for w in weights:
        assert np.array_equal(reinit.masks[w.name], imp.masks[w.name])


def test_a_control_without_imps_masks_is_refused():
    weights, values, masks = _model()
    with pytest.raises(ValueError, match=r"needs \['reference'"):
        prune_round("reinit", weights, values, masks, PruningConfig(), 1)


def _tiny_mlp(seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    return model, prunable_weights(model, example_input((1, 1, 3)))


def test_synflow_scores_equal_the_closed_form_of_a_two_layer_network():
    """With |θ| and an all-ones input every unit is active, R = Σ_k Σ_i |W2|_ki h_i + Σ|b2| with
    h_i = Σ_j |W1|_ij + |b1|_i, so the score of W1_ij is |W1_ij| Σ_k |W2|_ki and that of W2_ki
    is |W2_ki| h_i."""
    model, weights = _tiny_mlp()
    w1, b1 = (p.detach().abs().double().numpy() for p in (model[1].weight, model[1].bias))
    w2 = model[3].weight.detach().abs().double().numpy()
    scores = synflow_scores(linearised(model), (1, 1, 3), weights)
    hidden = w1.sum(axis=1) + b1
    np.testing.assert_allclose(scores["1.weight"], w1 * w2.sum(axis=0)[:, None], rtol=1e-12)
    np.testing.assert_allclose(scores["3.weight"], w2 * hidden[None, :], rtol=1e-12)
    assert model[1].weight.min() < 0  # the model itself was not made positive


def test_snip_scores_equal_theta_times_the_cross_entropy_gradient():
    """One linear layer: ∂L/∂W = (softmax(Wx + b) - onehot(y))ᵀ x / N, in numpy."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3))
    weights = prunable_weights(model, example_input((1, 2, 3)))
    images, labels = torch.randn(5, 1, 2, 3), torch.tensor([0, 2, 1, 2, 0])
    scores = snip_scores(model, (images, labels), weights)
    x = images.reshape(5, 6).double().numpy()
    w, b = model[1].weight.detach().double().numpy(), model[1].bias.detach().double().numpy()
    logits = x @ w.T + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (p - np.eye(3)[labels.numpy()]).T @ x / 5
    np.testing.assert_allclose(scores["1.weight"], np.abs(w * grad), rtol=1e-4, atol=1e-7)
    assert model[1].weight.grad is None  # scored on a copy


def test_synflow_and_snip_prune_to_the_rounds_target_under_the_previous_masks():
    weights, values, masks = _model(seed=2)
    torch.manual_seed(2)
    net = build_model("fcn", "mnist-5k")
    batch = (torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,)))
    cfg = PruningConfig(rate=0.5, rates={"output": 0.25})
    for method in ("synflow", "snip"):
        result = prune_round(method, weights, values, masks, cfg, 2, model=net, batch=batch)
        for w in weights:
            rate = 0.25 if w.is_output else 0.5
            assert result.masks[w.name].sum() == keep_count(int(np.prod(w.shape)), (1 - rate) ** 2), (method, w.name)


def test_the_classifier_and_layer_kinds_can_have_their_own_rates():
    weights, values, masks = _model()
    cfg = PruningConfig(rate=0.5, rates={"output": 0.25})
    result = prune_round("imp", weights, values, masks, cfg, 3)
    for w in weights:
        density = 0.75**3 if w.is_output else 0.5**3
        assert result.masks[w.name].sum() == keep_count(int(np.prod(w.shape)), density)
        assert result.budgets[w.name] == keep_count(int(np.prod(w.shape)), density)


def test_global_scope_ranks_the_layers_without_a_rate_of_their_own():
    weights, values, masks = _model()
    cfg = PruningConfig(rate=0.5, scope="global", rates={"output": 0.25})
    result = prune_round("imp", weights, values, masks, cfg, 1)
    output = weights[-1]
    assert result.masks[output.name].sum() == keep_count(int(np.prod(output.shape)), 0.75)
    hidden = sum(int(np.prod(w.shape)) for w in weights[:-1])
    assert sum(int(result.masks[w.name].sum()) for w in weights[:-1]) == keep_count(hidden, 0.5)
    assert result.budgets["global"] == keep_count(hidden, 0.5)
