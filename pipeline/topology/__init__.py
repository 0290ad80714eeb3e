"""Zeroth-order topology of layers (docs/science.md §2-§4): spanning trees, diagrams, NP, η_τ, bounds.

Pure numpy (compiled loops in numba): no torch, no I/O.
"""

from pipeline.topology.conventions import AUTHORS, PAPER, PRESETS, RIECK, Convention
from pipeline.topology.diagram import (
    Diagram,
    LayerPersistence,
    diagram,
    network_persistence,
    neural_persistence,
    normalized_neural_persistence,
    spanning_forest,
    total_neural_persistence,
)
from pipeline.topology.eta import EtaCount, aggregate, closed_form, counted
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer, Layer
from pipeline.topology.mst import ConvForest, SpanningForest, conv_forest, dense_forest
from pipeline.topology.order import top_k
from pipeline.topology.overlap import ChanceLevel, Overlap, chance_level, lower_bound, overlap

__all__ = [
    "AUTHORS",
    "PAPER",
    "PRESETS",
    "RIECK",
    "ChanceLevel",
    "ConvForest",
    "ConvGeometry",
    "ConvLayer",
    "Convention",
    "DenseLayer",
    "Diagram",
    "EtaCount",
    "Layer",
    "LayerPersistence",
    "Overlap",
    "SpanningForest",
    "aggregate",
    "chance_level",
    "closed_form",
    "conv_forest",
    "counted",
    "dense_forest",
    "diagram",
    "lower_bound",
    "network_persistence",
    "neural_persistence",
    "normalized_neural_persistence",
    "overlap",
    "spanning_forest",
    "top_k",
    "total_neural_persistence",
]
