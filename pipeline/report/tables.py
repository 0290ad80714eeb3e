"""Tables of topology results: η_τ per layer with aggregates, per-layer persistence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from fractions import Fraction

import numpy as np
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
        eta = counted(r.layer, r.tree)
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


# --- aggregates over stored runs ----------------------------------------------------------


def _in_registry_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Methods sort as the registry lists them (names it does not know, such as ``dense``, last)."""
    from pipeline.prune.registry import method_names

    known = method_names()
    order = known + sorted(set(frame["method"]) - set(known))
    return frame.assign(method=pd.Categorical(frame["method"], categories=order, ordered=True))


def _mean_sd(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
    """Mean and sample sd over trials of ``values`` per ``keys`` (``trials``: how many)."""
    grouped = _in_registry_order(frame).groupby(keys, sort=True, dropna=False, observed=True)
    out = grouped[values].agg(["mean", "std"])
    out.columns = [f"{v}_{stat}" if stat == "std" else v for v, stat in out.columns]
    out = out.rename(columns={f"{v}_std": f"{v}_sd" for v in values})
    out["trials"] = grouped.size()
    out = out.reset_index()
    return out.assign(method=out["method"].astype(str))


def accuracy_table(rounds: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and NP retained against compression, per pair, method and round."""
    from pipeline.report.collect import with_retention

    frame = with_retention(rounds)
    keys = ["arch", "dataset", "method", "round"]
    table = _mean_sd(frame, keys, ["compression", "test_acc", "np_retained", "eta_tau"])
    capped = _in_registry_order(frame).groupby(keys, sort=True, observed=True)["capped"].any().reset_index(drop=True)
    return table.assign(capped=capped.to_numpy()).drop(columns=["compression_sd", "eta_tau_sd"])


def _exact_mean(group: pd.DataFrame) -> Fraction:
    """Mean overlap over trials as a rational number: the measured overlaps are counts."""
    pairs = zip(group["shared"], group["alpha"], strict=True)
    fractions = [Fraction(int(shared), int(alpha)) if alpha else Fraction(1) for shared, alpha in pairs]
    return sum(fractions, Fraction(0)) / len(fractions)


def overlap_table(layers: pd.DataFrame) -> pd.DataFrame:
    """Top-α vs MaxST overlap per layer and round, with the Theorem 3.3 bound and chance.

    Bound and chance are defined for dense (linear, recurrent) layers; for conv layers the
    overlap is at the level of kernel parameters and those columns stay empty. ``chance_*`` are
    log10 P(overlap >= the measured mean) for two random α-subsets.
    """
    from pipeline.topology.overlap import chance_level, lower_bound

    keys = ["arch", "dataset", "method", "round", "position", "layer", "kind", "m", "n"]
    table = _mean_sd(layers, keys, ["layer_density", "alpha", "overlap"]).drop(columns=["layer_density_sd", "alpha_sd"])
    groups = _in_registry_order(layers).groupby(keys, sort=True, dropna=False, observed=True)
    exact = [_exact_mean(group) for _, group in groups]
    bounds, binomial, hyper = [], [], []
    for row, mean_overlap in zip(table.itertuples(), exact, strict=True):
        dense = row.kind != "conv" and row.layer_density * row.m * row.n >= row.m + row.n - 1
        if dense:
            density = min(1.0, row.layer_density)
            bounds.append(lower_bound(row.m, row.n, density))
            level = chance_level(row.m, row.n, min(Fraction(1), mean_overlap), density)
            binomial.append(level.log10_binomial_at_least)
            hyper.append(level.log10_hypergeometric_at_least)
        else:
            bounds.append(float("nan"))
            binomial.append(float("nan"))
            hyper.append(float("nan"))
    return table.assign(bound=bounds, chance_log10_binomial=binomial, chance_log10_hypergeometric=hyper)


def np_round_table(layers: pd.DataFrame) -> pd.DataFrame:
    """Neural persistence (raw and normalised) per layer and round, mean ± sd over trials."""
    keys = ["arch", "dataset", "method", "round", "position", "layer"]
    return _mean_sd(layers, keys, ["np", "normalized_np", "eta_tau"]).drop(columns=["eta_tau_sd"])


def np_epoch_table(epochs: pd.DataFrame) -> pd.DataFrame:
    """Neural persistence per epoch of every round (layers and their total), mean ± sd."""
    if epochs.empty:
        return epochs
    keys = ["arch", "dataset", "method", "round", "epoch", "position", "layer"]
    return _mean_sd(epochs, keys, ["np", "normalized_np"])


def eta_comparison(arch: str, dataset: str, dense_weights: list[dict[str, np.ndarray]] | None = None) -> pd.DataFrame:
    """η_τ per layer in the paper's and the exact convention side by side, with aggregates.

    Exact conv layers also report the kernel parameters their spanning tree uses, counted on
    the trained dense weights when given (mean over trials), else on seeded initial weights.
    The ``published`` column holds the paper's value where docs/science.md §3 quotes it.
    """
    import torch

    from pipeline.data.registry import get_dataset_info
    from pipeline.models import build_model, example_input, graphs_of, prunable_weights
    from pipeline.report.published import published_eta

    info = get_dataset_info(dataset)
    torch.manual_seed(0)
    model = build_model(arch, dataset)
    weights = prunable_weights(model, example_input(info.input_shape))
    state = model.state_dict()
    samples = dense_weights or [{w.name: state[w.name].numpy() for w in weights}]
    layer_sets = [[g for w in weights for g in graphs_of(w, sample[w.name])] for sample in samples]
    paper = {r.layer: r for r in eta_counts(layer_sets[0], "paper")}
    exact_runs = [{r.layer: r for r in eta_counts(layers, "exact")} for layers in layer_sets]
    rows = []
    for position, layer in enumerate(layer_sets[0], start=1):
        exact = exact_runs[0][layer.name]
        p = paper.get(layer.name)
        mst_params = [run[layer.name].mst_params for run in exact_runs if run[layer.name].mst_params is not None]
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
                "mst_params": float(np.mean(mst_params)) if mst_params else None,
                "exact_eta_tau_params": exact.params / float(np.mean(mst_params)) if mst_params else None,
                "published": published_eta(arch, info.family, f"layer {position}") if p else None,
            }
        )
    paper_agg = {r.layer: r for r in aggregate(list(paper.values()))}
    exact_agg = {r.layer: r for r in aggregate(list(exact_runs[0].values()))}
    conv_rows = [r for r in rows if r["kind"] == "conv" and r["mst_params"]]
    for name, row in exact_agg.items():
        p = paper_agg.get(name)
        params = sum(r["params"] for r in conv_rows) if name == "conv" and conv_rows else None
        mst_params = sum(r["mst_params"] for r in conv_rows) if params else None
        rows.append(
            {
                "layer": name,
                "kind": "aggregate",
                "paper_eta_tau": p.eta_tau if p and p.mst_edges else None,
                "exact_eta_tau": row.eta_tau,
                "params": params,
                "mst_params": mst_params,
                "exact_eta_tau_params": params / mst_params if params else None,
                "published": published_eta(arch, info.family, name),
            }
        )
    integers = ["paper_m", "paper_n", "exact_m", "exact_n", "params"]
    frame = pd.DataFrame(rows).astype(dict.fromkeys(integers, "Int64") | {"published": "Float64"})
    return frame.assign(arch=arch, dataset=dataset)
