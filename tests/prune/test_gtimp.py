"""Global T-IMP on stored round files: every edge of the previous round's whole-network tree is kept."""

from dataclasses import replace

import numpy as np
import pytest

from pipeline.models import build_model, example_input, network_graphs, prunable_weights
from pipeline.models.structure import network_structure
from pipeline.rounds import run_round
from pipeline.store import read_round
from pipeline.topology.network import network_diagram
from tests.conftest import round_key


def _network_tree(weights, structure, data) -> dict[str, np.ndarray]:
    """The whole-network present-weight tree of a stored round, recomputed from its weights and masks."""
    p = network_diagram(structure.graph(network_graphs(weights, data.weights, data.masks)))
    return p.tree.params([layer.tensor for layer in p.graph.layers])


def test_gtimp_keeps_the_previous_whole_network_tree_where_imp_does_not(tiny):
    config = replace(tiny, pruning=replace(tiny.pruning, scope="global", rate=0.8))
    model = build_model("fcn", "mnist-5k")
    x = example_input((1, 28, 28))
    weights, structure = prunable_weights(model, x), network_structure(model, x)
    previous = read_round(run_round(config, round_key(config, 0)))
    dropped_by_imp = 0
    for k in (1, 2):
        tree = _network_tree(weights, structure, previous)
        current = read_round(run_round(config, round_key(config, k, "gtimp")))
        imp = read_round(run_round(config, round_key(config, k, "imp"))) if k == 1 else None
        for name, kept in tree.items():
            assert current.masks[name].ravel()[kept].all(), (k, name)
            if imp is not None:
                dropped_by_imp += int((~imp.masks[name].ravel()[kept]).sum())
        assert current.attrs["density"] == pytest.approx(0.2**k, abs=1e-3)
        previous = current
    assert dropped_by_imp > 0  # the invariant is gtimp's, not what any magnitude pruning keeps anyway
