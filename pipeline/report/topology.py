"""Topology tables of one model: η_τ per layer with aggregates (both conventions), per-layer
persistence. The ``eta``, ``persistence`` and ``eta-table`` verbs print these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipeline.data.registry import get_dataset_info
from pipeline.report.published import published_eta
from pipeline.store.record import SHARES, diagram_shares
from pipeline.topology.conventions import ConvGraph
from pipeline.topology.diagram import LayerPersistence, spanning_forest
from pipeline.topology.eta import AGGREGATES as _AGGREGATE_KINDS
from pipeline.topology.eta import EtaCount, aggregate, closed_form, counted
from pipeline.topology.graphs import ConvLayer, Layer
from pipeline.topology.network import NetworkPersistence, network_diagram, summarize_network
from pipeline.topology.summary import LayerSummary, summarize

if TYPE_CHECKING:
    import torch

    from pipeline.models.probe import Skipped

ETA_COLUMNS = ["layer", "kind", "m", "n", "weights", "tree_edges", "eta_tau"]
PARAM_COLUMNS = ["params", "tree_params", "eta_tau_params"]


def eta_counts(layers: Sequence[Layer], conv_graph: ConvGraph) -> list[EtaCount]:
    """Per-layer η_τ sizes: closed forms; exact conv layers also count the kernel parameters
    their spanning forest uses on the given weights (the parameter-level η_τ)."""
    rows = []
    for layer in layers:
        row = closed_form(layer, conv_graph)
        if row is None:
            continue
        if isinstance(layer, ConvLayer) and conv_graph == "exact":
            row = EtaCount(**{**asdict(row), "tree_params": counted(layer, spanning_forest(layer)).tree_params})
        rows.append(row)
    return rows


def eta_frame(rows: Sequence[EtaCount]) -> pd.DataFrame:
    """One row per layer, then the aggregates; parameter columns only when some row has them."""
    records = [
        {**asdict(row), "eta_tau": row.eta_tau, "eta_tau_params": row.eta_tau_params}
        for row in [*rows, *aggregate(rows)]
    ]
    frame = pd.DataFrame.from_records(records).astype({"m": "Int64", "n": "Int64"})
    frame.loc[frame["kind"] == "aggregate", ["m", "n"]] = pd.NA
    with_params = frame["params"].notna().any()
    columns = ETA_COLUMNS + (PARAM_COLUMNS if with_params else [])
    frame = frame[columns]
    if with_params:
        frame = frame.astype({"params": "Int64", "tree_params": "Int64"})
    return frame


PERSISTENCE_COLUMNS = [
    "layer", "kind", "vertices", "weights", "tree_edges", "components", "diagram_components", "w_max", "np",
    "normalized_np", "eta_tau", "degenerate",
]  # fmt: skip
"""Columns of ``python -m pipeline persistence`` (``LayerSummary``'s names)."""


def persistence_frame(results: Sequence[LayerPersistence]) -> pd.DataFrame:
    """Per-layer NP, normalised NP and counted η_τ, then a ``total`` row (sum of NP)."""
    frame = pd.DataFrame.from_records([asdict(summarize(r)) for r in results], columns=PERSISTENCE_COLUMNS)
    total = {"layer": "total", "kind": "aggregate", "np": frame["np"].sum() if len(frame) else 0.0}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    integers = ["vertices", "weights", "tree_edges", "components", "diagram_components"]
    return frame.astype({**dict.fromkeys(integers, "Int64"), "degenerate": "boolean"})


def eta_comparison(arch: str, dataset: str, dense_weights: list[dict[str, np.ndarray]] | None = None) -> pd.DataFrame:
    """η_τ per layer in the paper's and the exact convention side by side, with aggregates.

    Exact conv layers also report the kernel parameters their spanning tree uses, counted on
    the trained dense weights when given (mean over trials), else on seeded initial weights.
    The ``published`` column holds the paper's value where docs/science.md §3 quotes it.
    """
    import torch  # here: torch loads only when this table builds the models

    from pipeline.models import build_model, example_input, network_graphs, prunable_weights  # here: these load torch

    info = get_dataset_info(dataset)
    torch.manual_seed(0)
    model = build_model(arch, dataset)
    weights = prunable_weights(model, example_input(info.input_shape))
    state = model.state_dict()
    samples = dense_weights or [{w.name: state[w.name].numpy() for w in weights}]
    layer_sets = [network_graphs(weights, sample) for sample in samples]
    paper = {r.layer: r for r in eta_counts(layer_sets[0], "paper")}
    exact_runs = [{r.layer: r for r in eta_counts(layers, "exact")} for layers in layer_sets]
    rows = []
    for position, layer in enumerate(layer_sets[0], start=1):
        exact = exact_runs[0][layer.name]
        p = paper.get(layer.name)
        tree_params = [run[layer.name].tree_params for run in exact_runs if run[layer.name].tree_params is not None]
        rows.append(
            {
                "layer": layer.name,
                "kind": layer.kind,
                "paper_m": p.m if p else None,
                "paper_n": p.n if p else None,
                "paper_eta_tau": p.eta_tau if p else None,
                "exact_m": exact.m,
                "exact_n": exact.n,
                "exact_eta_tau": exact.eta_tau,
                "params": exact.params,
                "tree_params": float(np.mean(tree_params)) if tree_params else None,
                "exact_eta_tau_params": exact.params / float(np.mean(tree_params)) if tree_params else None,
                "published": published_eta(arch, dataset, info.family, f"layer {position}") if p else None,
            }
        )
    paper_agg = {r.layer: r for r in aggregate(list(paper.values()))}
    exact_agg = {r.layer: r for r in aggregate(list(exact_runs[0].values()))}
    conv_rows = [r for r in rows if r["kind"] == "conv" and r["tree_params"]]
    # parameter level over every layer (Final): a dense layer's weights are its parameters
    dense = [exact_runs[0][r["layer"]] for r in rows if r["kind"] != "conv"]
    levels = {
        "conv": (sum(r["params"] for r in conv_rows), sum(r["tree_params"] for r in conv_rows)),
        "final": (
            sum(r["params"] for r in conv_rows) + sum(d.weights for d in dense),
            sum(r["tree_params"] for r in conv_rows) + sum(d.tree_edges for d in dense),
        ),
    }
    for name, row in exact_agg.items():
        p = paper_agg.get(name)
        params, tree_params = levels.get(name, (None, None)) if conv_rows else (None, None)
        rows.append(
            {
                "layer": name,
                "kind": "aggregate",
                "paper_eta_tau": p.eta_tau if p and p.tree_edges else None,
                "exact_eta_tau": row.eta_tau,
                "params": params,
                "tree_params": tree_params,
                "exact_eta_tau_params": params / tree_params if params else None,
                "published": published_eta(arch, dataset, info.family, name),
            }
        )
    rows.append(_network_row(model, example_input(info.input_shape), layer_sets))
    integers = ["paper_m", "paper_n", "exact_m", "exact_n", "params"]
    frame = pd.DataFrame(rows).astype(dict.fromkeys(integers, "Int64") | {"published": "Float64"})
    return frame.assign(arch=arch, dataset=dataset)


def _network_row(model: torch.nn.Module, x: torch.Tensor, layer_sets: Sequence[Sequence[Layer]]) -> dict:
    """The whole network's η_τ (docs/science.md §10) beside the layers' aggregates: edges over the
    network forest's edges, parameters over the distinct ones it uses (mean over the samples)."""
    from pipeline.models.structure import network_structure  # here: it loads torch

    try:
        structure = network_structure(model, x)
    except ValueError as err:  # a model without a network graph: its row says why
        return {"layer": "network", "kind": "network", "reason": str(err)}
    summaries = [summarize_network(network_diagram(structure.graph(layers))) for layers in layer_sets]
    tree_params = float(np.mean([s.tree_params for s in summaries]))
    first = summaries[0]
    return {
        "layer": "network",
        "kind": "network",
        "exact_eta_tau": first.eta_tau,
        "params": first.params,
        "tree_params": tree_params,
        "exact_eta_tau_params": first.params / tree_params,
    }


ANALYSIS_COLUMNS = [
    "layer", "kind", "shape", "m", "n", "vertices", "weights", "tree_edges", "eta_tau", "params", "tree_params",
    "eta_tau_params", "np", "normalized_np", "overlap", "overlap_null_mean", "overlap_null_low",
    "overlap_null_high", "overlap_percentile", "np_null_mean", "np_null_low", "np_null_high", "np_percentile",
    "bound", "log10_subset_chance", "alpha", "shared", "components", "w_max", "degenerate", "reason",
]  # fmt: skip
"""Columns of ``python -m pipeline analyze``, in order (docs/science.md §2-§4); with the whole
network, each graph's part of its forest (``store.record.SHARES``) follows ``components``."""


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(s) for s in shape)


def analysis_frame(
    summaries: Sequence[LayerSummary],
    shapes: Mapping[str, Sequence[int]],
    skipped: Sequence[Skipped],
    network: NetworkPersistence | None = None,
) -> pd.DataFrame:
    """One row per graph, the Conv / Dense / Recurrent / Final aggregates (ratios of sums; NP
    summed), the whole ``network`` as a row of kind ``network`` (its quantities where a layer's
    column applies; each graph's row gains its part of the network's forest), then every
    skipped parameter with its reason."""
    shares = diagram_shares(network)
    rows = [{**asdict(s), "shape": _shape_text(shapes[s.layer]), **shares.get(s.layer, {})} for s in summaries]
    counts = [s.eta_count() for s in summaries]
    nps = {s.layer: s.np for s in summaries}
    kinds = {s.layer: s.kind for s in summaries}
    for agg in aggregate(counts):
        members = [name for name, kind in kinds.items() if agg.layer == "final" or kind in _AGGREGATE_KINDS[agg.layer]]
        rows.append(
            {
                **{k: v for k, v in asdict(agg).items() if k not in ("m", "n")},
                "kind": "aggregate",
                "eta_tau": agg.eta_tau,
                "eta_tau_params": agg.eta_tau_params,
                "np": sum(nps[name] for name in members),
            }
        )
    if network is not None:
        rows.append(asdict(summarize_network(network)))
    rows += [{"layer": s.name, "kind": "skipped", "shape": _shape_text(s.shape), "reason": s.reason} for s in skipped]
    at = ANALYSIS_COLUMNS.index("components") + 1
    columns = ANALYSIS_COLUMNS[:at] + (list(SHARES) if network else []) + ANALYSIS_COLUMNS[at:]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    integers = ["m", "n", "vertices", "weights", "tree_edges", "params", "tree_params", "alpha", "shared", "components"]
    integers += ["network_tree_edges"] if network else []
    return frame.astype({**dict.fromkeys(integers, "Int64"), "degenerate": "boolean"})
