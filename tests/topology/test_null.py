"""Permutation nulls (docs/science.md §4) against scipy's spanning trees of the same permutations."""

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree

from pipeline.topology import PAPER, ConvGeometry, ConvLayer, DenseLayer
from pipeline.topology.diagram import layer_persistence
from pipeline.topology.null import (
    OVERLAP,
    RETENTION,
    NullInterval,
    layer_null,
    permuted,
    retention_null,
    stream,
)
from pipeline.topology.summary import summarize
from tests.topology.reference import convolution_edges


def _scipy_tree(edges: list[tuple[float, int, int, int]], n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """(edge ids, magnitudes) of a maximum spanning forest, by scipy on the negated weights."""
    magnitude = np.array([e[0] for e in edges])
    ident = np.array([e[1] for e in edges])
    u, v = np.array([e[2] for e in edges]), np.array([e[3] for e in edges])
    graph = coo_matrix((-magnitude, (u, v)), shape=(n_vertices, n_vertices)).tocsr()
    tree = minimum_spanning_tree(graph).tocoo()
    lookup = {(a, b): i for a, b, i in zip(u, v, ident, strict=True)}
    ids = np.array(
        [lookup[(a, b)] if (a, b) in lookup else lookup[(b, a)] for a, b in zip(tree.row, tree.col, strict=True)]
    )
    return ids, -tree.data


def _dense_edges(weight: np.ndarray, mask: np.ndarray) -> list[tuple[float, int, int, int]]:
    rows, cols = weight.shape
    return [(abs(weight[i, j]), i * cols + j, i, rows + j) for i, j in zip(*np.nonzero(mask), strict=True)]


def _scipy_quantities(flat: np.ndarray, present: np.ndarray, tree_params: np.ndarray, deaths: np.ndarray):
    """Top-α overlap over distinct weights and NP (paper convention) of a forest found by scipy."""
    used = np.unique(tree_params)
    candidates = np.flatnonzero(present)
    top = candidates[np.argsort(-np.abs(flat[candidates]), kind="stable")[: used.size]]
    w_max = np.abs(flat[present]).max()
    return np.intersect1d(top, used).size / used.size, float(np.sqrt(np.sum((1 - deaths / w_max) ** 2)))


def test_a_dense_null_is_scipys_permutation_null_draw_for_draw():
    rng = np.random.default_rng(3)
    weight = rng.normal(size=(9, 14))
    mask = rng.random(weight.shape) < 0.7
    layer = DenseLayer("fc.weight", weight, mask)
    null = layer_null(layer_persistence(layer), PAPER, draws=25, seed=7)
    draws = stream(7, "fc.weight", OVERLAP)  # the same draws, permuted here by hand
    present = np.flatnonzero(mask)
    for i in range(25):
        flat = weight.ravel().copy()
        flat[present] = flat[present[draws.permutation(present.size)]]
        ids, magnitudes = _scipy_tree(_dense_edges(flat.reshape(weight.shape), mask), sum(weight.shape))
        fraction, np_value = _scipy_quantities(flat, mask.ravel(), ids, magnitudes)
        assert null.overlap[i] == pytest.approx(fraction) and null.np[i] == pytest.approx(np_value), i


def test_a_conv_null_permutes_the_kernel_and_every_copy_follows_its_parameter():
    rng = np.random.default_rng(5)
    kernel = rng.normal(size=(2, 2, 3, 3))
    mask = rng.random(kernel.shape) < 0.8
    geometry = ConvGeometry(input_size=(5, 5), kernel_size=(3, 3), padding=(1, 1))
    layer = ConvLayer("conv.weight", kernel, geometry, mask)
    again = permuted(layer, np.random.default_rng(0))
    assert isinstance(again, ConvLayer) and again.geometry == geometry and np.array_equal(again.mask, mask)
    assert np.array_equal(np.sort(again.weight[mask]), np.sort(kernel[mask]))
    assert np.array_equal(again.weight[~mask], kernel[~mask])
    assert not np.array_equal(again.weight, kernel)

    null = layer_null(layer_persistence(layer), PAPER, draws=10, seed=1)
    draws = stream(1, "conv.weight", OVERLAP)
    present = np.flatnonzero(mask)
    positions = 25
    for i in range(10):
        flat = kernel.ravel().copy()
        flat[present] = flat[present[draws.permutation(present.size)]]
        edges = convolution_edges(flat.reshape(kernel.shape), geometry, mask)  # torch's own conv, one-hot kernels
        ids, magnitudes = _scipy_tree(edges, 2 * 7 * 7 + 2 * 5 * 5)
        fraction, np_value = _scipy_quantities(flat, mask.ravel(), ids // positions, magnitudes)
        assert null.overlap[i] == pytest.approx(fraction) and null.np[i] == pytest.approx(np_value), i


def test_iid_weights_fall_inside_their_own_null_while_the_subset_chance_calls_them_extreme():
    weight = np.random.default_rng(11).normal(size=(100, 784)).astype(np.float32)
    p = layer_persistence(DenseLayer("fc1.weight", weight))
    summary = summarize(p, layer_null(p, PAPER, draws=100, seed=0))
    assert 2.5 < summary.overlap_percentile < 97.5 and 2.5 < summary.np_percentile < 97.5
    assert summary.overlap_null_low <= summary.overlap <= summary.overlap_null_high
    assert 0.6 < summary.overlap_null_mean < 0.8  # a tree holds most of the heaviest weights by construction
    assert summary.log10_subset_chance < -100  # the paper's chance level: two random α-subsets


def test_the_retention_null_is_magnitude_pruning_of_the_permuted_tensor():
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(8, 12))
    mask = rng.random(weight.shape) < 0.75
    p = layer_persistence(DenseLayer("fc.weight", weight, mask))
    kept = int(mask.sum()) // 2
    counts = retention_null([p], weight.size, kept, draws=15, seed=4)
    draws = stream(4, "fc.weight", RETENTION)
    present = np.flatnonzero(mask)
    for i in range(15):
        flat = weight.ravel().copy()
        flat[present] = flat[present[draws.permutation(present.size)]]
        ids, _ = _scipy_tree(_dense_edges(flat.reshape(weight.shape), mask), sum(weight.shape))
        keep = present[np.argsort(-np.abs(flat[present]), kind="stable")[:kept]]
        assert counts[i] == np.isin(ids, keep).sum(), i


def test_a_percentile_counts_ties_half_and_an_empty_null_is_nan():
    draws = np.array([0.1, 0.2, 0.2, 0.3])
    assert NullInterval.of(0.2, draws).percentile == 50.0
    assert NullInterval.of(0.05, draws).percentile == 0.0 and NullInterval.of(0.4, draws).percentile == 100.0
    assert NullInterval.of(0.2, draws).mean == pytest.approx(0.2)
    assert np.isnan(NullInterval.of(0.2, np.zeros(0)).mean)
