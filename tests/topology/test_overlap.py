import math
from fractions import Fraction

import numpy as np
import pytest

from pipeline.topology.diagram import spanning_forest
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer
from pipeline.topology.order import top_k
from pipeline.topology.overlap import chance_level, lower_bound, overlap


def test_spec_worked_chance_example():
    level = chance_level(100, 10, 0.05)
    assert level.w == 5
    assert round(level.binomial_exactly, 3) == 0.011
    assert round(level.binomial_at_least, 3) == 0.994


def test_chance_levels_equal_exact_rational_arithmetic():
    m, n = 7, 4
    alpha, edges = m + n - 1, m * n
    q = Fraction(alpha, edges)
    for fraction in (0.0, 0.3, 0.5, 1.0):
        level = chance_level(m, n, fraction)
        w = math.floor(fraction * alpha)
        binom = [math.comb(alpha, i) * q**i * (1 - q) ** (alpha - i) for i in range(alpha + 1)]
        hyper = [
            Fraction(math.comb(alpha, i) * math.comb(edges - alpha, alpha - i), math.comb(edges, alpha))
            for i in range(alpha + 1)
        ]
        assert level.binomial_exactly == pytest.approx(float(binom[w]), rel=1e-9)
        assert level.binomial_at_least == pytest.approx(float(sum(binom[w:])), rel=1e-9)
        assert level.hypergeometric_exactly == pytest.approx(float(hyper[w]), rel=1e-9)
        assert level.hypergeometric_at_least == pytest.approx(float(sum(hyper[w:])), rel=1e-9)


@pytest.mark.parametrize("fraction", np.linspace(0, 1, 21))
def test_large_layer_chance_never_nan_or_overflow(fraction):
    level = chance_level(784, 100, float(fraction))
    for name in (
        "binomial_exactly",
        "binomial_at_least",
        "hypergeometric_exactly",
        "hypergeometric_at_least",
    ):
        log = getattr(level, f"log10_{name}")
        assert math.isfinite(log) and log <= 0
        assert 0.0 <= getattr(level, name) <= 1.0


def test_lower_bound_definition_and_edge_cases():
    m, n = 5, 3
    expected = sum((m - i) * (n - i) / (m * n - i) for i in range(4)) / (m + n - 1)
    assert lower_bound(m, n) == pytest.approx(expected)
    assert lower_bound(1, 50) == 1.0
    sparse = sum((m - i) * (n - i) / (0.6 * m * n - i) for i in range(4)) / (m + n - 1)
    assert lower_bound(m, n, 0.6) == pytest.approx(min(1.0, sparse))
    assert lower_bound(784, 100, 0.1) >= lower_bound(784, 100)
    with pytest.raises(ValueError, match="fewer than the 7 a spanning tree needs"):
        lower_bound(m, n, 0.2)


def test_overlap_counts_shared_top_alpha_and_tree_edges():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((30, 12))
    layer = DenseLayer("l", weight)
    forest = spanning_forest(layer)
    result = overlap(layer, forest)
    top = set(np.argsort(-np.abs(weight).ravel(), kind="stable")[: forest.n_edges].tolist())
    assert result.alpha == 41
    assert result.shared == len(top & set(forest.indices.tolist()))
    assert 0 < result.fraction <= 1


def test_conv_overlap_is_parameter_level():
    rng = np.random.default_rng(1)
    layer = ConvLayer("c", rng.standard_normal((4, 4, 3, 3)), ConvGeometry((6, 6), (3, 3), (1, 1), (1, 1)))
    forest = spanning_forest(layer)
    result = overlap(layer, forest)
    assert result.alpha == forest.n_used_params


def test_top_k_breaks_ties_by_index():
    magnitudes = np.array([1.0, 2.0, 2.0, 0.5, 2.0])
    assert top_k(magnitudes, 2).tolist() == [1, 2]
    assert top_k(magnitudes, 4).tolist() == [0, 1, 2, 4]
    present = np.array([True, False, True, True, True])
    assert top_k(magnitudes, 2, present).tolist() == [2, 4]
    with pytest.raises(ValueError):
        top_k(magnitudes, 5, present)


def test_chance_level_counts_w_exactly():
    """``w = ⌊frac·α⌋`` in rational arithmetic: 0.29 · 100 is 29, not the float 28.999..."""
    assert 0.29 * 100 < 29
    assert chance_level(91, 10, 0.29).w == 29
    assert chance_level(91, 10, Fraction(29, 100)).w == 29
    by_count = chance_level(91, 10, shared=29)
    assert by_count.w == 29 and by_count.fraction == pytest.approx(0.29)
    assert by_count.log10_hypergeometric_exactly == chance_level(91, 10, 0.29).log10_hypergeometric_exactly
    with pytest.raises(ValueError, match="either a fraction or a shared count"):
        chance_level(91, 10, 0.29, shared=29)
    with pytest.raises(ValueError, match=r"shared count must be in 0\.\.100"):
        chance_level(91, 10, shared=101)
