"""Round files -> tidy data frames, the one input of every table and figure.

Only attributes, diagram summaries and metrics are read (not the weights), so collecting a
large grid stays cheap. Round 0 is shared by both methods: ``rounds`` lists it once per
method, so every method's curve starts from the dense network.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.prune.registry import DENSE
from pipeline.store.record import EPOCH_TOPOLOGY, JobAccount, NetworkAttrs, RunAttrs
from pipeline.store.runfile import datasets_dict, diagram_attrs, network_attrs, open_checked, records_of, run_attrs
from pipeline.topology.null import NullInterval

RUN_KEYS = ["arch", "dataset", "run_hash", "trial"]
PRUNE_TIME = ("tree_kept", "tree_kept_params", "np_retained", *NullInterval.keys("tree_kept"))
"""What a round's pruning step kept of the previous round's tree and NP, and what magnitude
pruning of permuted weights would keep of it (NaN for round 0, and where no null was drawn)."""
NULLS = (*NullInterval.keys("overlap"), *NullInterval.keys("np"), *NullInterval.keys("normalized_np")[:3])
"""A graph's permutation nulls (``LayerSummary``; NaN where none was drawn; the normalised NP's
percentile is the NP's)."""
EPOCH_QUANTITIES = tuple(q for q in EPOCH_TOPOLOGY if q != "np")
"""Per-epoch quantities besides NP (``store.record.EPOCH_TOPOLOGY``; NaN where not recorded)."""
ACCOUNT = tuple(f.name for f in dataclasses.fields(JobAccount))
"""What the round's job cost (``RunAttrs``; missing in files written before it was recorded)."""
NETWORK = tuple(f.name for f in dataclasses.fields(NetworkAttrs) if f.name not in ("layer", "kind"))
"""The whole network's quantities (``NetworkSummary``), collected as ``network_<name>`` (NaN for a
model without a network graph and in files before schema version 5)."""
NETWORK_KEPT = tuple(f.name for f in dataclasses.fields(RunAttrs) if f.name.startswith("network_tree_kept"))
"""What a pruning step kept of the previous round's network forest, and its null (``RunAttrs``)."""


@dataclass
class Collection:
    rounds: pd.DataFrame  # one row per (round file, method); eta_tau_params: η_τ in weights (conv: kernel params);
    # tree_kept, tree_kept_params, np_retained: PRUNE_TIME; network_<NETWORK>, NETWORK_KEPT: the whole network;
    # ACCOUNT; trained_as: the file's own method
    layers: pd.DataFrame  # one row per (round file, method, layer graph)
    epochs: pd.DataFrame  # one row per (round file, method, epoch, layer graph or "total")


def _methods(attrs: RunAttrs, methods: Sequence[str]) -> list[str]:
    return list(methods) if attrs.method == DENSE else [attrs.method]


def collect(paths: Iterable[str | Path]) -> Collection:
    """Read round files; the dense round is listed under every method the files prune with
    (under ``dense`` if none do)."""
    files = []
    for path in paths:
        with open_checked(path) as f, records_of(path):
            files.append((path, run_attrs(f), diagram_attrs(f), network_attrs(f), datasets_dict(f["metrics"])))
    methods = sorted({attrs.method for _, attrs, *_ in files} - {DENSE}) or [DENSE]
    rounds, layers, epochs = [], [], []
    for path, attrs, graphs, network, metrics in files:
        base = {key: attrs[key] for key in RUN_KEYS} | {"round": attrs.round, "file": str(path)}
        bounds = {name: g.np / g.normalized_np if g.normalized_np else np.nan for name, g in graphs.items()}
        kept_by_tree = sum(g.tree_params or g.tree_edges for g in graphs.values())
        present = sum(g.params or g.weights for g in graphs.values())
        for method in _methods(attrs, methods):
            row = base | {"method": method}
            rounds.append(
                row
                | {
                    key: attrs[key]
                    for key in (
                        "density",
                        "compression",
                        "test_acc",
                        "train_acc",
                        "total_np",
                        "eta_tau",
                        "capped",
                        "wall_seconds",
                    )
                }
                | {"eta_tau_params": present / max(kept_by_tree, 1)}
                | {key: np.nan if attrs[key] is None else attrs[key] for key in PRUNE_TIME}
                | {f"network_{key}": np.nan if network is None else network[key] for key in NETWORK}
                | {key: np.nan if attrs[key] is None else attrs[key] for key in NETWORK_KEPT}
                | {key: attrs[key] for key in ACCOUNT}
                | {"trained_as": attrs.method}
            )
            for position, (name, g) in enumerate(graphs.items()):
                layers.append(
                    row
                    | {
                        "position": position,
                        "layer": name,
                        "kind": g.kind,
                        "m": g.m,
                        "n": g.n,
                        "layer_density": (g.params or g.weights) / g.size,  # this graph's block
                        "weights": g.weights,
                        "tree_edges": g.tree_edges,
                        "eta_tau": g.eta_tau,
                        "np": g.np,
                        "normalized_np": g.normalized_np,
                        "alpha": g.alpha,
                        "shared": g.shared,
                        "overlap": g.overlap,
                        "diagram_components": g.diagram_components,
                    }
                    | {key: np.nan if getattr(g, key) is None else getattr(g, key) for key in NULLS}
                )
            for i, epoch in enumerate(metrics.get("epoch", [])):
                per_layer = {name: metrics[f"np/{name}"][i] for name in graphs if f"np/{name}" in metrics}
                common = row | {"epoch": int(epoch), "test_acc": float(metrics["test_acc"][i])}
                for position, (name, value) in enumerate(per_layer.items()):
                    normalized = float(value) / bounds.get(name, np.nan)
                    series = {key: metrics.get(f"{key}/{name}") for key in EPOCH_QUANTITIES}
                    more = {key: np.nan if v is None else float(v[i]) for key, v in series.items()}
                    epochs.append(
                        common
                        | {"position": position, "layer": name, "np": float(value), "normalized_np": normalized}
                        | more
                    )
                if per_layer:
                    total = float(np.sum(list(per_layer.values())))
                    epochs.append(common | {"position": len(per_layer), "layer": "total", "np": total})
    return Collection(pd.DataFrame(rounds), pd.DataFrame(layers), pd.DataFrame(epochs))


def with_retention(rounds: pd.DataFrame) -> pd.DataFrame:
    """Add ``np_vs_dense``: total NP over the same trial's dense total NP."""
    dense = rounds[rounds["round"] == 0].set_index([*RUN_KEYS, "method"])["total_np"]
    keys = pd.MultiIndex.from_frame(rounds[[*RUN_KEYS, "method"]])
    return rounds.assign(np_vs_dense=rounds["total_np"].to_numpy() / dense.reindex(keys).to_numpy())
