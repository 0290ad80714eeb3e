"""Tables of topology results: η_τ per layer with aggregates, per-layer persistence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd

from pipeline.topology.conventions import ConvGraph
from pipeline.topology.diagram import LayerPersistence, spanning_forest
from pipeline.topology.eta import EtaCount, aggregate, closed_form, counted
from pipeline.topology.graphs import ConvLayer, Layer

ETA_COLUMNS = ["layer", "kind", "m", "n", "weights", "mst_edges", "eta_tau"]
PARAM_COLUMNS = ["params", "mst_params", "eta_tau_params"]


def eta_counts(layers: Sequence[Layer], conv_graph: ConvGraph) -> list[EtaCount]:
    """Per-layer η_τ sizes: closed forms; exact conv layers also count the kernel parameters
    their spanning forest uses on the given weights (the parameter-level η_τ)."""
    rows = []
    for layer in layers:
        row = closed_form(layer, conv_graph)
        if row is None:
            continue
        if isinstance(layer, ConvLayer) and conv_graph == "exact":
            row = EtaCount(**{**asdict(row), "mst_params": counted(layer, spanning_forest(layer)).mst_params})
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
        frame = frame.astype({"params": "Int64", "mst_params": "Int64"})
    return frame


def persistence_frame(results: Sequence[LayerPersistence]) -> pd.DataFrame:
    """Per-layer NP, normalised NP and counted η_τ, then a ``total`` row (sum of NP)."""
    records = []
    for r in results:
        eta = counted(r.layer, r.forest)
        records.append(
            {
                "layer": r.layer.name,
                "kind": r.layer.kind,
                "vertices": r.forest.n_vertices,
                "weights": eta.weights,
                "mst_edges": eta.mst_edges,
                "components": r.forest.n_components,
                "w_max": r.diagram.w_max,
                "np": r.neural_persistence,
                "normalized_np": r.normalized,
                "eta_tau": eta.eta_tau,
                "degenerate": r.diagram.degenerate,
            }
        )
    frame = pd.DataFrame.from_records(records)
    total = {"layer": "total", "kind": "aggregate", "np": frame["np"].sum() if len(frame) else 0.0}
    frame = pd.concat([frame, pd.DataFrame([total])], ignore_index=True)
    integers = ["vertices", "weights", "mst_edges", "components"]
    return frame.astype({**dict.fromkeys(integers, "Int64"), "degenerate": "boolean"})
