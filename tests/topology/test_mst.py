import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pipeline.topology.graphs import ConvGeometry
from pipeline.topology.mst import conv_components, conv_forest, dense_forest
from tests.topology.reference import (
    convolution_edges,
    dense_edges,
    kruskal_indices,
    networkx_forest_magnitudes,
    toeplitz_edges,
)

# Few distinct values (ties), zeros and negative weights, masks that disconnect the graph.
values = st.sampled_from([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, 0.25]) | st.floats(-3, 3, width=32)


@st.composite
def layers(draw, max_side: int = 9):
    shape = draw(st.tuples(st.integers(1, max_side), st.integers(1, max_side)))
    weight = draw(hnp.arrays(np.float32, shape, elements=values))
    mask = draw(st.none() | hnp.arrays(np.bool_, shape))
    return weight, mask


@settings(max_examples=300, deadline=None)
@given(layers())
def test_dense_forest_matches_networkx_and_kruskal(layer):
    weight, mask = layer
    forest = dense_forest(weight, mask)
    reference = networkx_forest_magnitudes(weight, mask)
    np.testing.assert_allclose(np.sort(forest.magnitudes), reference)
    expected = kruskal_indices(dense_edges(weight, mask), sum(weight.shape))
    assert forest.indices.tolist() == sorted(expected)
    np.testing.assert_array_equal(forest.magnitudes, np.abs(weight.ravel()[forest.indices]))


@pytest.mark.parametrize("shape", [(64, 700), (700, 64), (300, 300), (3, 5000)])
def test_dense_forest_large_layers_take_every_path(shape):
    """Large enough for the heavy-edge Kruskal step; trained-like structure (dead inputs)."""
    rng = np.random.default_rng(sum(shape))
    weight = rng.standard_normal(shape).astype(np.float32)
    weight[:, : shape[1] // 5] *= 1e-3  # inputs that barely learned: their edges are light
    mask = rng.random(shape) < 0.7
    for m in (None, mask):
        forest = dense_forest(weight, m)
        expected = kruskal_indices(dense_edges(weight, m), sum(shape))
        assert forest.indices.tolist() == sorted(expected)


@pytest.mark.parametrize(("shape", "density"), [((10, 25088), 0.008), ((3000, 3000), 0.0004), ((500, 800), 0.003)])
def test_heavily_pruned_layers_that_fall_apart(shape, density):
    """Thousands of components and isolated vertices: the Kruskal fallback, exact as ever."""
    rng = np.random.default_rng(shape[0])
    weight = rng.standard_normal(shape).astype(np.float32)
    mask = rng.random(shape) < density
    forest = dense_forest(weight, mask)
    expected = kruskal_indices(dense_edges(weight, mask), sum(shape))
    assert forest.indices.tolist() == sorted(expected)
    assert forest.n_components > 200


def test_thousands_of_components_finish_by_kruskal_not_a_huge_contraction():
    """A permutation mask plus a few extra edges: more than 4096 components after Borůvka."""
    n = 6000
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((n, n)).astype(np.float32)
    mask = np.zeros((n, n), dtype=bool)
    mask[np.arange(n), rng.permutation(n)] = True
    mask[rng.integers(0, n, 500), rng.integers(0, n, 500)] = True
    forest = dense_forest(weight, mask)
    assert forest.indices.tolist() == sorted(kruskal_indices(dense_edges(weight, mask), 2 * n))
    assert forest.n_components > 4096


def test_dense_forest_of_empty_and_fully_masked_layers():
    weight = np.ones((3, 4), dtype=np.float32)
    forest = dense_forest(weight, np.zeros((3, 4), dtype=bool))
    assert forest.n_edges == 0 and forest.n_components == 7
    assert dense_forest(np.zeros((0, 4))).n_edges == 0


def test_dense_forest_rejects_mismatched_mask():
    with pytest.raises(ValueError, match="mask shape"):
        dense_forest(np.ones((3, 4)), np.ones((4, 3), dtype=bool))


conv_cases = st.tuples(
    st.integers(1, 3),  # C_out
    st.integers(1, 3),  # C_in
    st.sampled_from([(1, 1), (2, 2), (3, 3), (3, 2)]),  # kernel
    st.integers(0, 2),  # padding
    st.sampled_from([(1, 1), (2, 2), (3, 1)]),  # stride
    st.integers(3, 7),  # input side
)


@settings(max_examples=120, deadline=None)
@given(conv_cases, st.data())
def test_conv_forest_equals_materialised_toeplitz(case, data):
    c_out, c_in, kernel, pad, stride, side = case
    geometry = ConvGeometry((side, side + 1), kernel, stride, (pad, pad))
    weight = data.draw(hnp.arrays(np.float32, (c_out, c_in, *kernel), elements=values))
    mask = data.draw(st.none() | hnp.arrays(np.bool_, weight.shape))
    forest = conv_forest(weight, geometry, mask)

    edges = toeplitz_edges(weight, geometry, mask)
    accepted = kruskal_indices(edges, forest.n_vertices)
    positions = int(np.prod(geometry.output_size))
    params = np.array(accepted, dtype=np.int64) // positions
    np.testing.assert_array_equal(np.sort(forest.indices), np.sort(params))
    used, counts = np.unique(params, return_counts=True)
    np.testing.assert_array_equal(forest.used_params, used)
    np.testing.assert_array_equal(forest.param_counts, counts)

    by_edge = np.sort(np.array([e[0] for e in edges if e[1] in set(accepted)]))
    np.testing.assert_allclose(np.sort(forest.magnitudes), by_edge)


@pytest.mark.parametrize(("stride", "padding", "kernel"), [(1, 1, 3), (2, 1, 3), (2, 0, 1), (3, 1, 2), (1, 0, 1)])
def test_conv_components_match_materialised_graph(stride, padding, kernel):
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(stride * 10 + padding)
    geometry = ConvGeometry((7, 6), (kernel, kernel), (stride, stride), (padding, padding))
    weight = rng.standard_normal((3, 2, kernel, kernel))
    for mask in (None, rng.random(weight.shape) < 0.5):
        edges = toeplitz_edges(weight, geometry, mask)
        n = 2 * np.prod(geometry.padded_size) + 3 * np.prod(geometry.output_size)
        src = [e[2] for e in edges]
        dst = [e[3] for e in edges]
        graph = sp.coo_matrix((np.ones(len(edges)), (src, dst)), shape=(n, n))
        expected = connected_components(graph, directed=False)[0]
        assert conv_components(weight.shape, geometry, mask) == expected


def test_conv_forest_large_layer_spans_with_few_parameters():
    """A 32->32 3x3 layer at 16x16: the tree spans, and uses a small share of the kernel."""
    rng = np.random.default_rng(0)
    geometry = ConvGeometry((16, 16), (3, 3), (1, 1), (1, 1))
    forest = conv_forest(rng.standard_normal((32, 32, 3, 3)).astype(np.float32), geometry)
    assert forest.n_components == 1
    assert forest.n_edges == 32 * 18 * 18 + 32 * 16 * 16 - 1
    assert 0 < forest.n_used_params < 32 * 32 * 9 // 2


modern_cases = st.tuples(
    st.sampled_from([1, 2, 3]),  # groups
    st.integers(1, 2),  # output channels per group
    st.integers(1, 2),  # input channels per group (1: depthwise)
    st.sampled_from([(1, 1), (2, 2), (3, 3), (1, 3)]),  # kernel
    st.integers(0, 2),  # padding
    st.sampled_from([(1, 1), (2, 2), (1, 2)]),  # stride
    st.sampled_from([(1, 1), (2, 2), (2, 1)]),  # dilation
    st.integers(5, 8),  # input side
)


@settings(max_examples=120, deadline=None)
@given(modern_cases, st.data())
def test_grouped_depthwise_dilated_conv_forest_equals_torch_materialised_graph(case, data):
    """Grouped, depthwise and dilated convolutions against the graph torch's conv2d defines."""
    groups, out_per, in_per, kernel, pad, stride, dilation, side = case
    spans = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
    assume(side - 1 + 2 * pad >= max(spans))
    geometry = ConvGeometry((side, side - 1), kernel, stride, (pad, pad), dilation, groups)
    weight = data.draw(hnp.arrays(np.float32, (groups * out_per, in_per, *kernel), elements=values))
    mask = data.draw(st.none() | hnp.arrays(np.bool_, weight.shape))
    forest = conv_forest(weight, geometry, mask)

    edges = convolution_edges(weight, geometry, mask)
    accepted = kruskal_indices(edges, forest.n_vertices)
    params = np.array(accepted, dtype=np.int64) // int(np.prod(geometry.output_size))
    np.testing.assert_array_equal(np.sort(forest.indices), np.sort(params))
    assert forest.n_components == _components(edges, forest.n_vertices)
    assert conv_components(weight.shape, geometry, mask) == forest.n_components


def _components(edges, n_vertices: int) -> int:
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    src = [e[2] for e in edges]
    dst = [e[3] for e in edges]
    graph = sp.coo_matrix((np.ones(len(edges)), (src, dst)), shape=(n_vertices, n_vertices))
    return int(connected_components(graph, directed=False)[0])


def test_plain_convolutions_agree_with_both_references():
    """The hand-indexed reference and torch's convolution give the same graph."""
    rng = np.random.default_rng(3)
    geometry = ConvGeometry((6, 5), (3, 2), (2, 1), (1, 1))
    weight = rng.standard_normal((2, 3, 3, 2))
    assert sorted(toeplitz_edges(weight, geometry)) == sorted(convolution_edges(weight, geometry))


@pytest.mark.parametrize(("c_in", "c_out", "side"), [(16, 8, 5), (3, 40, 4), (64, 256, 7)])
def test_pointwise_conv_eta_has_the_closed_form(c_in, c_out, side):
    """A 1x1 stride-1 convolution is H·W disjoint copies of the complete C_in x C_out graph:
    edge- and parameter-level η_τ both equal C_in·C_out / (C_in + C_out - 1) (no ties)."""
    from fractions import Fraction

    from pipeline.topology import ConvLayer, closed_form, counted

    weight = np.random.default_rng(c_in).standard_normal((c_out, c_in, 1, 1))
    layer = ConvLayer("pointwise", weight, ConvGeometry((side, side + 1), (1, 1)))
    expected = Fraction(c_in * c_out, c_in + c_out - 1)
    row = counted(layer, conv_forest(weight, layer.geometry))
    assert Fraction(row.weights, row.tree_edges) == expected
    assert Fraction(row.params, row.tree_params) == expected
    exact = closed_form(layer)
    assert Fraction(exact.weights, exact.tree_edges) == expected
