"""The zeroth-order topology of any PyTorch model (``from pipeline import analyze``).

One forward pass finds the weights that are layer graphs (``pipeline.models.probe``; the model
may live on the meta device); each weight is then read on its own (from the model, or streamed
from a checkpoint by ``values``) and its graphs' forest, diagram, NP, η_τ and top-α overlap are
computed, so memory holds one weight and its spanning tree, never the network's. Everything else the model has is listed
as skipped, with the reason. On request a trace of the forward pass places every layer graph on
the network's shared units (``pipeline.models.structure``) and the whole network is one graph
more: its forest comes from the layers' forests (docs/science.md §10).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
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
from pipeline.topology.diagram import Diagram, LayerPersistence, layer_persistence, layer_w_max
from pipeline.topology.graphs import Layer
from pipeline.topology.network import NetworkPersistence, network_diagram
from pipeline.topology.null import NullSettings, layer_null
from pipeline.topology.summary import LayerSummary, summarize

Zeros = Literal["pruned", "weights"]
OnLayer = Callable[[LayerPersistence], None]
ValueOf = Callable[[str], np.ndarray]
"""A stored tensor's value by name, as float32 numpy: streamed from a checkpoint."""
Reader = Callable[[PrunableWeight], list[Layer]]
AUTO_NULL_MAX_WEIGHTS = 10_000_000
"""``analyze`` draws the permutation null by default for models with at most this many graph
weights (each permutation costs about one analysis; ResNet-50's 100 would take minutes)."""


def auto_draws(n_weights: int) -> int:
    """The permutations ``analyze`` draws unless told: the default, or none for a large model."""
    return NullSettings().draws if n_weights <= AUTO_NULL_MAX_WEIGHTS else 0


@dataclass(frozen=True, eq=False)
class Analysis:
    """A model's topology: ``summaries`` (one per graph), ``skipped`` parameters, the graphs'
    names and shapes, how many exact zeros read as pruned weights (``zeros_pruned``, kernel
    parameters counted once), and the whole network's forest and diagram when asked for.

    ``persistence(name)`` re-reads one weight and recomputes its graph (memory stays one weight).
    """

    convention: Convention
    weights: list[PrunableWeight]
    shapes: dict[str, tuple[int, ...]]
    summaries: list[LayerSummary]
    skipped: list[Skipped]
    global_max: float | None
    null: NullSettings
    n_weights: int
    zeros_pruned: int
    read: Reader
    network: NetworkPersistence | None = None

    @property
    def names(self) -> list[str]:
        return list(self.shapes)

    def frame(self) -> pd.DataFrame:
        """One row per graph, then the Conv / Dense / Recurrent / Final aggregates (those that
        have members), the whole network (with ``network``), then skipped parameters."""
        return analysis_frame(self.summaries, self.shapes, self.skipped, self.network)

    def persistence(self, name: str) -> LayerPersistence:
        for w in self.weights:
            if name in (w.graph_name(b) for b in w.blocks):
                graph = next(g for g in self.read(w) if g.name == name)
                return layer_persistence(graph, self.convention, self.global_max)
        raise KeyError(f"no graph named {name!r}: the graphs are {self.names}")

    def diagram(self, name: str) -> Diagram:
        return self.persistence(name).diagram


def _reader(model: nn.Module, values: ValueOf | None, zeros: Zeros) -> Reader:
    """A weight's graphs from its stored value (``values``, else the model's); under ``pruned``
    an exact zero the operation receives is an absent edge (a masked weight; a standardised
    kernel's stored zero is not one): the graph's mask says which."""
    lookup = None if values is None else (lambda name: torch.from_numpy(values(name)))

    def read(w: PrunableWeight) -> list[Layer]:
        graphs = graphs_of(w, weight_value(model, w.name) if values is None else values(w.name), None, lookup)
        if zeros == "weights":
            return graphs
        return [g if np.all(g.weight) else dataclasses.replace(g, mask=g.weight != 0) for g in graphs]

    return read


def _one_at_a_time(weights: Sequence[PrunableWeight], read: Reader) -> Iterator[Layer]:
    for w in weights:
        yield from read(w)


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
    progress: Callable[[Iterable[Layer], int], Iterable[Layer]] | None = None,
    values: ValueOf | None = None,
) -> Analysis:
    """Topology of every weight graph of ``model``, probed with ``example_input`` (one batch).

    ``zeros``: exact zeros are pruned weights (absent edges, as in a pruned checkpoint) or
    ordinary weights of magnitude 0. ``null_draws``: permutations per graph for the overlap's and
    NP's null (docs/science.md §4; 0 skips it; None: ``auto_draws``), from ``null_seed``.
    ``whole_network``: also the network as one graph (§10; it holds every layer's forest); a
    forward pass the trace cannot follow raises ``ValueError`` naming what stopped it, before any
    layer is analysed. ``on_layer`` sees each layer's full persistence as it is computed (to
    write or plot diagrams without keeping them); ``progress`` wraps the layer sequence (a
    progress bar; the graph count beside it). ``values`` reads a weight's stored value (default:
    from ``model``; a checkpoint stream when the model lives on the meta device).
    """
    found = probe(model, example_input)
    structure = network_structure(model, example_input) if whole_network else None
    read = _reader(model, values, zeros)
    global_max = None
    if convention.w_max == "global":  # one more pass: the scale comes before any diagram
        global_max = max((layer_w_max(g) for g in _one_at_a_time(found.weights, read)), default=0.0)
    shapes = {w.graph_name(b): b.shape for w in found.weights for b in w.blocks}
    n_weights = sum(int(np.prod(w.shape)) for w in found.weights)
    null = NullSettings(draws=auto_draws(n_weights) if null_draws is None else null_draws, seed=null_seed)
    summaries, kept, zeros_pruned = [], [], 0
    graphs = _one_at_a_time(found.weights, read)
    for graph in progress(graphs, len(shapes)) if progress else graphs:
        result = layer_persistence(graph, convention, global_max)
        summaries.append(summarize(result, layer_null(result, convention, null.draws, null.seed)))
        if on_layer is not None:
            on_layer(result)
        if graph.mask is not None:  # only exact zeros mask a graph here
            zeros_pruned += int(graph.mask.size - graph.mask.sum())
        if structure is not None:
            kept.append(graph)
    network = network_diagram(structure.graph(kept), convention) if structure is not None else None
    return Analysis(
        convention=convention,
        weights=found.weights,
        shapes=shapes,
        summaries=summaries,
        skipped=found.skipped,
        global_max=global_max,
        null=null,
        n_weights=n_weights,
        zeros_pruned=zeros_pruned,
        read=read,
        network=network,
    )
