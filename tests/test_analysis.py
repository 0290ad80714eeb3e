"""``analyze``: model + example input in, one row per graph, aggregates, skipped parameters."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn

from pipeline import analyze
from pipeline.topology import RIECK


def _pointwise() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(6, 10, 1), nn.BatchNorm2d(10), nn.Flatten(), nn.Linear(10 * 5 * 4, 7))


def test_rows_aggregates_and_skipped_parameters():
    result = analyze(_pointwise(), torch.zeros(1, 6, 5, 4))
    frame = result.frame()
    assert frame["kind"].tolist() == ["conv", "linear", "aggregate", "aggregate", "aggregate"] + ["skipped"] * 4
    conv = frame.iloc[0]
    assert conv["shape"] == "10x6x1x1" and (conv["m"], conv["n"]) == (6 * 20, 10 * 20)
    expected = Fraction(6 * 10, 6 + 10 - 1)
    assert Fraction(int(conv["weights"]), int(conv["tree_edges"])) == expected
    assert Fraction(int(conv["params"]), int(conv["tree_params"])) == expected
    dense = frame.iloc[1]
    assert dense["tree_edges"] == 200 + 7 - 1 and 0 < dense["bound"] <= dense["overlap"] <= 1
    assert dense["log10_subset_chance"] < -10
    final = frame[frame["layer"] == "final"].iloc[0]
    assert final["weights"] == conv["weights"] + dense["weights"]
    assert final["np"] == pytest.approx(conv["np"] + dense["np"])
    skipped = frame[frame["kind"] == "skipped"]
    assert set(skipped["layer"]) == {"0.bias", "1.weight", "1.bias", "3.bias"}
    assert skipped["reason"].str.len().min() > 10


def test_diagrams_on_demand_equal_the_summarised_ones():
    model = _pointwise()
    seen = {}
    result = analyze(model, torch.zeros(1, 6, 5, 4), RIECK, on_layer=lambda r: seen.setdefault(r.layer.name, r))
    for summary in result.summaries:
        again = result.persistence(summary.layer)
        assert again.neural_persistence == pytest.approx(summary.np)
        np.testing.assert_array_equal(again.diagram.deaths, seen[summary.layer].diagram.deaths)
    assert result.global_max == pytest.approx(
        max(float(p.detach().abs().max()) for p in (model[0].weight, model[3].weight))
    )
    with pytest.raises(KeyError, match="no graph named"):
        result.diagram("nope")


def test_exact_zeros_are_pruned_weights_unless_told_otherwise():
    model = _pointwise()
    with torch.no_grad():
        model[3].weight[:, :100] = 0
    pruned = analyze(model, torch.zeros(1, 6, 5, 4)).summaries[1]
    kept = analyze(model, torch.zeros(1, 6, 5, 4), zeros="weights").summaries[1]
    assert pruned.weights == 7 * 100 and kept.weights == 7 * 200
    assert pruned.components == 100 + 1 and kept.components == 1  # 100 inputs cut off, the rest joined
