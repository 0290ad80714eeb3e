import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pipeline.topology.conventions import AUTHORS, PAPER, PRESETS, RIECK, Convention
from pipeline.topology.diagram import (
    diagram,
    network_persistence,
    neural_persistence,
    normalized_neural_persistence,
    total_neural_persistence,
)
from pipeline.topology.eta import counted
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer
from pipeline.topology.mst import dense_forest
from pipeline.topology.overlap import overlap
from tests.topology.reference import networkx_forest_magnitudes

values = st.floats(-2, 2, width=32) | st.sampled_from([0.0, 1.0, -1.0])


@settings(max_examples=150, deadline=None)
@given(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 8), st.integers(1, 8)), elements=values),
    st.data(),
    st.sampled_from([1.0, 2.0, 3.0]),
)
def test_neural_persistence_matches_networkx(weight, data, p):
    mask = data.draw(st.none() | hnp.arrays(np.bool_, weight.shape))
    layer = DenseLayer("l", weight, mask)
    convention = Convention(p=p)
    d = diagram(layer, convention)
    tree = networkx_forest_magnitudes(weight, mask)
    present = np.abs(weight) if mask is None else np.abs(weight)[mask]
    w_max = present.max() if present.size else 0.0
    deaths = tree / w_max if w_max > 0 else np.zeros_like(tree)
    expected = np.sum((1 - deaths) ** p) ** (1 / p)
    assert neural_persistence(d, p) == pytest.approx(expected, abs=1e-9)
    assert not np.isnan(normalized_neural_persistence(d, convention))
    assert np.all(d.births == 1) and np.all(d.deaths <= 1) and np.all(d.deaths >= 0)


def test_hand_computed_layer():
    """2 inputs, 2 outputs: weights 4, 2 / 1, 3. MaxST = {4, 3, 2}; w' = 1, .75, .5."""
    layer = DenseLayer("l", np.array([[4.0, 2.0], [1.0, 3.0]]))
    d = diagram(layer, PAPER)
    assert sorted(d.deaths.tolist()) == [0.5, 0.75, 1.0]
    expected = math.sqrt(0.25**2 + 0.5**2)
    assert neural_persistence(d) == pytest.approx(expected)
    assert normalized_neural_persistence(d, PAPER) == pytest.approx(expected / math.sqrt(3))
    assert normalized_neural_persistence(d, AUTHORS) == pytest.approx(expected / math.sqrt(2))
    with_essential = diagram(layer, RIECK)
    assert with_essential.n_essential == 1
    assert neural_persistence(with_essential) == pytest.approx(math.sqrt(expected**2 + 1))


def test_pruned_edges_absent_or_zero():
    weight = np.array([[4.0, 2.0], [1.0, 3.0]])
    mask = np.array([[True, True], [False, True]])
    absent = diagram(DenseLayer("l", weight, mask), PAPER)
    zero = diagram(DenseLayer("l", weight, mask), Convention(pruned="zero"))
    assert sorted(absent.deaths.tolist()) == [0.5, 0.75, 1.0]
    assert sorted(zero.deaths.tolist()) == [0.5, 0.75, 1.0]
    mask = np.array([[True, False], [False, True]])
    absent = diagram(DenseLayer("l", weight, mask), Convention(essential=True))
    zero = diagram(DenseLayer("l", weight, mask), Convention(pruned="zero", essential=True))
    assert sorted(absent.deaths.tolist()) == [0.75, 1.0] and absent.n_essential == 2
    assert sorted(zero.deaths.tolist()) == [0.0, 0.75, 1.0] and zero.n_essential == 1


def test_global_w_max_uses_the_network_maximum():
    a = DenseLayer("a", np.array([[1.0, 0.5]]))
    b = DenseLayer("b", np.array([[4.0, 2.0]]))
    local = network_persistence([a, b], PAPER)
    glob = network_persistence([a, b], Convention(w_max="global"))
    assert local[0].diagram.w_max == 1.0 and glob[0].diagram.w_max == 4.0
    assert sorted(glob[0].diagram.deaths.tolist()) == [0.125, 0.25]
    assert total_neural_persistence(glob) == pytest.approx(sum(r.neural_persistence for r in glob))


def test_all_zero_layer_is_flagged_not_nan():
    layer = DenseLayer("dead", np.zeros((3, 2)))
    d = diagram(layer, PAPER)
    assert d.degenerate and np.all(d.deaths == 0)
    value = neural_persistence(d)
    assert value == pytest.approx(math.sqrt(4)) and not math.isnan(value)
    fully_pruned = diagram(DenseLayer("gone", np.ones((3, 2)), np.zeros((3, 2), bool)), PAPER)
    assert fully_pruned.degenerate and fully_pruned.deaths.size == 0
    assert neural_persistence(fully_pruned) == 0.0


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, st.tuples(st.integers(2, 12), st.integers(2, 12)), elements=values), st.data())
def test_keeping_exactly_the_mst_weights_keeps_the_diagram(weight, data):
    """T-IMP's premise (docs/science.md §5): prune everything but the tree, the diagram is unchanged."""
    mask = data.draw(st.none() | hnp.arrays(np.bool_, weight.shape))
    full = diagram(DenseLayer("l", weight, mask), PAPER)
    keep = np.zeros(weight.size, dtype=bool)
    keep[full.indices] = True
    pruned = diagram(DenseLayer("l", weight, keep.reshape(weight.shape)), PAPER)
    np.testing.assert_array_equal(pruned.indices, full.indices)
    np.testing.assert_array_equal(pruned.deaths, full.deaths)


def test_keeping_the_mst_parameters_keeps_a_conv_diagram():
    rng = np.random.default_rng(3)
    geometry = ConvGeometry((6, 6), (3, 3), (2, 2), (1, 1))
    kernel = rng.standard_normal((4, 3, 3, 3))
    full = diagram(ConvLayer("c", kernel, geometry), PAPER)
    keep = np.zeros(kernel.size, dtype=bool)
    keep[full.indices] = True
    pruned = diagram(ConvLayer("c", kernel, geometry, keep.reshape(kernel.shape)), PAPER)
    assert keep.sum() < kernel.size
    np.testing.assert_array_equal(np.sort(pruned.deaths), np.sort(full.deaths))


def test_invalid_convention_names_key_and_values():
    with pytest.raises(ValueError, match=r"convention.w_max = 'network'.*\('layer', 'global'\)"):
        Convention(w_max="network")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown convention keys"):
        Convention.from_dict({"wmax": "layer"})


def test_zero_convention_adds_zero_edges_to_the_diagram_only():
    """``pruned: zero`` (Rieck): the diagram gains one point (1, 0) per extra component joined
    by a zero edge; α, top-α and η_τ still count the present-weight tree (docs/science.md §2)."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((20, 10))
    keep = np.zeros(weight.size, dtype=bool)
    keep[rng.choice(weight.size, 20, replace=False)] = True
    layer = DenseLayer("l", weight, keep.reshape(weight.shape))
    (zero,) = network_persistence([layer], RIECK)
    (absent,) = network_persistence([layer], PAPER)
    present = dense_forest(weight, layer.mask)
    np.testing.assert_array_equal(zero.tree.indices, present.indices)
    np.testing.assert_array_equal(absent.tree.indices, present.indices)
    assert zero.forest.n_edges == layer.n_vertices - 1 > present.n_edges
    assert zero.diagram.deaths.size == zero.forest.n_edges
    np.testing.assert_array_equal(np.sort(zero.diagram.deaths[zero.diagram.deaths > 0]), np.sort(absent.diagram.deaths))
    assert counted(layer, zero.tree) == counted(layer, absent.tree)
    assert overlap(layer, zero.tree) == overlap(layer, absent.tree)
    for measure in (overlap, counted):
        with pytest.raises(ValueError, match="pruned weights"):
            measure(layer, zero.forest)


def test_all_zero_layer_is_flagged_whatever_the_scale():
    dead = DenseLayer("dead", np.zeros((3, 2)))
    masked = DenseLayer("masked", np.ones((3, 2)), np.zeros((3, 2), dtype=bool))
    live = DenseLayer("live", np.ones((3, 2)))
    for name, convention in PRESETS.items():
        results = network_persistence([dead, masked, live], convention)
        assert [r.diagram.degenerate for r in results] == [True, True, False], name


def test_gate_block_diagram_indices_are_flat_indices_into_the_parameter():
    parameter = np.random.default_rng(2).standard_normal((12, 4))
    for gate in range(3):
        block = DenseLayer(f"w[{gate}]", parameter[4 * gate : 4 * (gate + 1)], offset=16 * gate)
        d = diagram(block, PAPER)
        assert d.indices.min() >= 16 * gate and d.indices.max() < 16 * (gate + 1)
        np.testing.assert_allclose(np.abs(parameter.ravel()[d.indices]) / d.w_max, d.deaths)


def _normalized_sup(convention: Convention, n_vertices: int, degenerate: bool) -> float:
    """The supremum docs/science.md §2 gives for normalised NP of a layer of |V| vertices."""
    shift = 0 if convention.essential else 1
    saved = 1 if convention.w_max == "layer" and not degenerate else 0
    offset = 1 if convention.normalizer == "vertices-1" else 2
    return ((n_vertices - shift - saved) / (n_vertices - offset)) ** (1 / convention.p)


CONVENTIONS = [
    Convention(w_max=w_max, normalizer=normalizer, essential=essential, pruned=pruned)
    for w_max in ("layer", "global")
    for normalizer in ("vertices-1", "vertices-2")
    for essential in (False, True)
    for pruned in ("absent", "zero")
]


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(2, 6)), elements=values),
    st.data(),
    st.sampled_from(CONVENTIONS),
)
def test_normalized_np_stays_below_the_documented_supremum(weight, data, convention):
    mask = data.draw(st.none() | hnp.arrays(np.bool_, weight.shape))
    other = DenseLayer("other", data.draw(hnp.arrays(np.float32, (2, 2), elements=values)))
    r = network_persistence([DenseLayer("l", weight, mask), other], convention)[0]
    sup = _normalized_sup(convention, r.forest.n_vertices, r.diagram.degenerate)
    assert r.normalized <= sup + 1e-9
    at_most_one = convention.w_max == "layer" and convention.normalizer == "vertices-1"
    if at_most_one and not (convention.essential and r.diagram.degenerate):
        assert r.normalized <= 1 + 1e-12  # the table's "≤ 1" rows


def test_normalized_np_exceeds_one_where_the_docs_say_it_can():
    dead = DenseLayer("dead", np.zeros((3, 2)))
    assert network_persistence([dead], AUTHORS)[0].normalized == pytest.approx(math.sqrt(4 / 3))
    tiny = DenseLayer("tiny", np.full((1, 2), 1e-6))
    big = DenseLayer("big", np.ones((2, 2)))
    rieck = network_persistence([tiny, big], RIECK)[0]
    assert rieck.normalized > 1 and rieck.normalized <= math.sqrt(3 / 2)
