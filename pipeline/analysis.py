"""The zeroth-order topology of any PyTorch model (``from pipeline import analyze``).

One forward pass finds the weights that are layer graphs (``pipeline.models.probe``); each
graph's forest, diagram, NP, η_τ and top-α overlap are computed one layer at a time, so memory
holds one layer's spanning tree, never the network's. Everything else the model has is listed
as skipped, with the reason. On request a trace of the forward pass places every layer graph on
the network's shared units (``pipeline.models.structure``) and the whole network is one graph
more: its forest comes from the layers' forests (docs/science.md §10).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from pipeline.models.probe import PrunableWeight, Skipped, graphs_of, probe, weight_value
from pipeline.models.structure import network_structure
from pipeline.report.topology import analysis_frame
from pipeline.topology.conventions import PAPER, Convention
from pipeline.topology.diagram import Diagram, LayerPersistence, layer_persistence, network_w_max
from pipeline.topology.graphs import Layer
from pipeline.topology.network import NetworkPersistence, network_diagram
from pipeline.topology.null import NullSettings, layer_null
from pipeline.topology.summary import LayerSummary, summarize

Zeros = Literal["pruned", "weights"]
OnLayer = Callable[[LayerPersistence], None]
AUTO_NULL_MAX_WEIGHTS = 10_000_000
"""``analyze`` draws the permutation null by default for models with at most this many graph
weights (each permutation costs about one analysis; ResNet-50's 100 would take minutes)."""


def auto_draws(n_weights: int) -> int:
    """The permutations ``analyze`` draws unless told: the default, or none for a large model."""
    return NullSettings().draws if n_weights <= AUTO_NULL_MAX_WEIGHTS else 0


@dataclass(frozen=True, eq=False)
class Analysis:
    """A model's topology: ``summaries`` (one per graph), ``skipped`` parameters, the graphs,
    and the whole network's forest and diagram when asked for (``network``).

    ``diagram(name)`` recomputes one graph's persistence on demand (memory stays one layer).
    """

    convention: Convention
    graphs: list[Layer]
    shapes: dict[str, tuple[int, ...]]
    summaries: list[LayerSummary]
    skipped: list[Skipped]
    global_max: float | None
    null: NullSettings
    n_weights: int
    network: NetworkPersistence | None = None

    def frame(self) -> pd.DataFrame:
        """One row per graph, then the Conv / Dense / Recurrent / Final aggregates (those that
        have members), the whole network (with ``network``), then skipped parameters."""
        return analysis_frame(self.summaries, self.shapes, self.skipped, self.network)

    def persistence(self, name: str) -> LayerPersistence:
        for graph in self.graphs:
            if graph.name == name:
                return layer_persistence(graph, self.convention, self.global_max)
        raise KeyError(f"no graph named {name!r}: the graphs are {[g.name for g in self.graphs]}")

    def diagram(self, name: str) -> Diagram:
        return self.persistence(name).diagram


def _graphs(
    model: nn.Module, weights: Sequence[PrunableWeight], zeros: Zeros
) -> Iterator[tuple[Layer, tuple[int, ...]]]:
    for w in weights:
        value = weight_value(model, w.name)  # one tensor at a time: memory holds one layer
        mask = (value != 0) if zeros == "pruned" and not np.all(value) else None
        for graph in graphs_of(w, value, mask):
            shape = w.shape if len(w.gates) == 1 else (w.shape[0] // len(w.gates), *w.shape[1:])
            yield graph, shape


def analyze(
    model: nn.Module,
    example_input: torch.Tensor,
    convention: Convention = PAPER,
    *,
    zeros: Zeros = "pruned",
    null_draws: int | None = None,
    null_seed: int = 0,
    whole_network: bool = False,
    on_layer: OnLayer | None = None,
    progress: Callable[[Sequence[Layer]], Sequence[Layer]] | None = None,
) -> Analysis:
    """Topology of every weight graph of ``model``, probed with ``example_input`` (one batch).

    ``zeros``: exact zeros are pruned weights (absent edges, as in a pruned checkpoint) or
    ordinary weights of magnitude 0. ``null_draws``: permutations per graph for the overlap's and
    NP's null (docs/science.md §4; 0 skips it; None: ``auto_draws``), from ``null_seed``.
    ``whole_network``: also the network as one graph (§10); a forward pass the trace cannot
    follow raises ``ValueError`` naming what stopped it, before any layer is analysed.
    ``on_layer`` sees each layer's full persistence as it is computed (to write or plot diagrams
    without keeping them); ``progress`` wraps the layer sequence (a progress bar).
    """
    found = probe(model, example_input)
    structure = network_structure(model, example_input) if whole_network else None
    pairs = list(_graphs(model, found.weights, zeros))
    graphs = [graph for graph, _ in pairs]
    global_max = network_w_max(graphs) if convention.w_max == "global" else None
    n_weights = sum(int(np.prod(w.shape)) for w in found.weights)
    null = NullSettings(draws=auto_draws(n_weights) if null_draws is None else null_draws, seed=null_seed)
    summaries = []
    for graph in progress(graphs) if progress else graphs:
        result = layer_persistence(graph, convention, global_max)
        summaries.append(summarize(result, layer_null(result, convention, null.draws, null.seed)))
        if on_layer is not None:
            on_layer(result)
    network = network_diagram(structure.graph(graphs), convention) if structure is not None else None
    return Analysis(
        convention=convention,
        graphs=graphs,
        shapes={graph.name: shape for graph, shape in pairs},
        summaries=summaries,
        skipped=found.skipped,
        global_max=global_max,
        null=null,
        n_weights=n_weights,
        network=network,
    )
