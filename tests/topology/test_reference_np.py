"""Regression against the neural-persistence reference implementation (Rieck et al. 2018).

``data/rieck_reference_np.json`` holds the reference code's per-layer outputs on seeded
matrices; its ``about`` field says how the weights are drawn and which conventions it uses
(global w_max, essential class, normaliser sqrt(|V| - 1)): the ``rieck`` preset.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.topology import RIECK, DenseLayer, network_persistence, total_neural_persistence

ORACLE = json.loads((Path(__file__).parent / "data" / "rieck_reference_np.json").read_text())


def _layers(spec: dict) -> list[DenseLayer]:
    rng = np.random.default_rng(spec["seed"])
    layers = []
    for name, (m, n), kind in spec["layers"]:
        weight = rng.standard_normal((m, n)).astype(np.float32)
        if kind == "tied":
            weight = np.round(weight, 1)
        elif kind == "dead":
            weight[: m // 10] = 0
        layers.append(DenseLayer(name, weight.T))
    return layers


@pytest.mark.parametrize("net", ORACLE["nets"], ids=lambda net: f"seed{net['spec']['seed']}")
def test_rieck_preset_reproduces_the_reference_implementation(net):
    results = network_persistence(_layers(net["spec"]), RIECK)
    reference = net["reference"]
    for r in results:
        expected = reference[r.layer.name]
        assert r.neural_persistence == pytest.approx(expected["total_persistence"], rel=1e-6)
        assert r.normalized == pytest.approx(expected["total_persistence_normalized"], rel=1e-6)
    summary = reference["global"]
    assert total_neural_persistence(results) == pytest.approx(summary["accumulated_total_persistence"], rel=1e-6)
    mean_normalized = np.mean([r.normalized for r in results])
    assert mean_normalized == pytest.approx(summary["accumulated_total_persistence_normalized"], rel=1e-6)
