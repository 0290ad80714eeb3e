"""Permutation nulls: what a layer's topology would be if its weights were the same values in
another order (docs/science.md §4).

Kruskal takes the heaviest edges first and most of them close no cycle, so a spanning tree
holds most of the top-α weights whatever the weights are: the paper's chance level (two random
α-subsets) is the wrong yardstick. The null here keeps everything but the arrangement: the
same graph (present edges), the same multiset of values, permuted over the present edges —
for a convolution over its kernel parameters, so every copy of a parameter moves with it and
weight sharing is kept; gate and q/k/v blocks are separate graphs and are permuted separately.
Against it: the top-α/tree overlap, NP and normalised NP of a layer, and the share of the
previous round's tree that magnitude pruning at the same per-tensor count keeps.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.fields import opt
from pipeline.topology.conventions import Convention
from pipeline.topology.diagram import LayerPersistence, layer_persistence, spanning_forest
from pipeline.topology.graphs import Layer
from pipeline.topology.order import top_k
from pipeline.topology.overlap import overlap

OVERLAP, RETENTION, NETWORK = 0, 1, 2
"""Independent random streams of one graph: its overlap/NP null, its tree-retention null, and
its part in the whole network's tree-retention null."""
LEVEL = 0.95
"""Coverage of the reported null interval (its 2.5 % and 97.5 % quantiles)."""


@dataclass(frozen=True)
class NullSettings:
    """The ``null`` section of the configuration: how many permutations, from which seed."""

    draws: int = opt(
        100,
        "permutations per layer graph for the null of the overlap, NP and tree retention "
        "(docs/science.md §4; 0: none; docs/benchmarks.md says why 100)",
        minimum=0,
    )
    seed: int = opt(0, "seed of the permutations (each graph's own stream: seed, graph name, quantity)", minimum=0)
    epochs: bool = opt(False, "also draw the overlap's null after every epoch (with training.track_np)")


@dataclass(frozen=True)
class NullInterval:
    """An observed value against its null: the null's mean and 95 % interval, and where the
    observed value falls in it (percent of draws below it, ties counted half)."""

    mean: float
    low: float
    high: float
    percentile: float

    @classmethod
    def of(cls, observed: float, draws: np.ndarray) -> NullInterval:
        draws = np.asarray(draws, dtype=np.float64)
        if draws.size == 0 or not np.isfinite(observed):
            return cls(np.nan, np.nan, np.nan, np.nan)
        tail = (1.0 - LEVEL) / 2
        low, high = np.quantile(draws, [tail, 1.0 - tail])
        below = np.count_nonzero(draws < observed) + 0.5 * np.count_nonzero(draws == observed)
        return cls(float(draws.mean()), float(low), float(high), float(100.0 * below / draws.size))

    @staticmethod
    def keys(name: str) -> tuple[str, str, str, str]:
        """The names every record and table gives a quantity's null: ``<name>_null_mean``,
        ``_null_low``, ``_null_high`` and ``<name>_percentile``."""
        return f"{name}_null_mean", f"{name}_null_low", f"{name}_null_high", f"{name}_percentile"

    def fields(self, name: str) -> dict[str, float]:
        """This null under ``keys(name)``."""
        return dict(zip(self.keys(name), (self.mean, self.low, self.high, self.percentile), strict=True))


def stream(seed: int, graph: str, quantity: int) -> np.random.Generator:
    """The random stream of one graph's null: the same draws in a round job, ``analyze`` and a test."""
    return np.random.default_rng([seed, zlib.crc32(graph.encode()), quantity])


def permuted(layer: Layer, rng: np.random.Generator) -> Layer:
    """The layer with its present values permuted over its present positions (a conv layer's
    kernel parameters: every Toeplitz copy follows its parameter)."""
    weight = np.asarray(layer.weight)
    if layer.mask is None:  # one shuffle of a copy: the same draw as permuting indices, half the time
        flat = rng.permutation(weight.ravel())
    else:
        flat = weight.ravel().copy()
        present = np.flatnonzero(layer.mask.ravel())
        flat[present] = rng.permutation(flat[present])
    return dataclasses.replace(layer, weight=flat.reshape(weight.shape))


@dataclass(frozen=True, eq=False)
class LayerNull:
    """One graph's null distributions, one value per permutation."""

    overlap: np.ndarray
    np: np.ndarray
    normalized_np: np.ndarray

    @property
    def draws(self) -> int:
        return int(self.overlap.size)


def layer_null(p: LayerPersistence, convention: Convention, draws: int, seed: int) -> LayerNull:
    """The null of ``p``'s overlap, NP and normalised NP under ``convention``; the diagram's
    scale stays ``p``'s (a permutation keeps a layer's largest weight, and so the network's)."""
    rng = stream(seed, p.layer.name, OVERLAP)
    global_max = p.diagram.w_max if convention.w_max == "global" else None
    out = np.empty((3, draws))
    for i in range(draws):
        layer = permuted(p.layer, rng)
        q = layer_persistence(layer, convention, global_max)
        out[:, i] = overlap(layer, q.tree).fraction, q.neural_persistence, q.normalized
    return LayerNull(*out)


def retention_null(graphs: Sequence[LayerPersistence], size: int, kept: int, draws: int, seed: int) -> np.ndarray:
    """Per permutation, how many tree edges of one weight tensor magnitude pruning to ``kept``
    weights keeps, where the tensor's graphs (``graphs``: its blocks, trained weights under the
    previous masks, ``size`` weights in all) hold permuted values. A permutation keeps the
    graph, so the tree has as many edges as the observed one."""
    values = np.zeros(size)
    present = np.zeros(size, dtype=bool)
    for g in graphs:
        present[g.layer.block] = True if g.layer.mask is None else g.layer.in_stored_order(g.layer.mask)
    if kept >= present.sum():  # nothing pruned (a classifier left alone): every tree keeps all its edges
        return np.full(draws, sum(g.tree.n_edges for g in graphs), dtype=np.int64)
    rngs = [stream(seed, g.layer.name, RETENTION) for g in graphs]
    counts = np.empty(draws, dtype=np.int64)
    for i in range(draws):
        trees = []
        for g, rng in zip(graphs, rngs, strict=True):
            layer = permuted(g.layer, rng)
            values[layer.block] = layer.in_stored_order(np.abs(layer.weight))
            trees.append(layer.stored(spanning_forest(layer).indices))  # a conv: one per copy
        tree = np.concatenate(trees) if trees else np.zeros(0, dtype=np.int64)
        mask = np.zeros(size, dtype=bool)
        mask[top_k(values, kept, present)] = True
        counts[i] = int(mask[tree].sum())
    return counts
