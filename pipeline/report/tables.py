"""Tables over stored runs, registered by name: each is a function of the collected frames
(``pipeline.report.collect``) that returns one data frame, written as CSV and Markdown."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
from pandas.core.groupby import DataFrameGroupBy

from pipeline.prune.registry import REFERENCE, method_names
from pipeline.report.collect import Collection, with_retention
from pipeline.report.registry import register_table
from pipeline.report.stats import interval, paired
from pipeline.topology.null import NullInterval

TRIAL = ["arch", "dataset", "run_hash", "trial", "round"]


def _in_registry_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Methods sort as the registry lists them (names it does not know, such as ``dense``, last)."""
    known = method_names()
    order = known + sorted(set(frame["method"]) - set(known))
    return frame.assign(method=pd.Categorical(frame["method"], categories=order, ordered=True))


def _grouped(frame: pd.DataFrame, keys: list[str]) -> DataFrameGroupBy:
    """The trials of each ``keys`` group, groups in key order (methods in registry order)."""
    return _in_registry_order(frame).groupby(keys, sort=True, dropna=False, observed=True)


def _mean_sd(grouped: DataFrameGroupBy, values: list[str]) -> pd.DataFrame:
    """Mean and sample sd over trials of ``values`` per group (``trials``: how many)."""
    out = grouped[values].agg(["mean", "std"])
    out.columns = [f"{v}_{stat}" if stat == "std" else v for v, stat in out.columns]
    out = out.rename(columns={f"{v}_std": f"{v}_sd" for v in values})
    out["trials"] = grouped.size()
    out = out.reset_index()
    return out.assign(method=out["method"].astype(str))


@register_table("accuracy")
def accuracy_table(collection: Collection) -> pd.DataFrame:
    """Accuracy and total NP relative to the dense network against compression, per pair, method
    and round; η_τ at both counting levels (edges; weights and conv kernel parameters)."""
    grouped = _grouped(with_retention(collection.rounds), ["arch", "dataset", "method", "round"])
    table = _mean_sd(grouped, ["compression", "test_acc", "np_vs_dense", "eta_tau", "eta_tau_params"])
    capped = grouped["capped"].any().reset_index(drop=True)
    return table.assign(capped=capped.to_numpy()).drop(columns=["compression_sd", "eta_tau_sd", "eta_tau_params_sd"])


def _exact_mean(group: pd.DataFrame) -> Fraction:
    """Mean overlap over trials as a rational number: the measured overlaps are counts."""
    pairs = zip(group["shared"], group["alpha"], strict=True)
    fractions = [Fraction(int(shared), int(alpha)) if alpha else Fraction(1) for shared, alpha in pairs]
    return sum(fractions, Fraction(0)) / len(fractions)


OVERLAP_NULL = list(NullInterval.keys("overlap"))


@register_table("overlap")
def overlap_table(collection: Collection) -> pd.DataFrame:
    """Top-α vs MaxST overlap per layer and round against its permutation null, with the
    Theorem 3.3 bound and the paper's subset chance level.

    ``overlap_null_*`` and ``overlap_percentile`` are means over trials of each trial's null
    (the layer's values permuted over its edges, docs/science.md §4); ``overlap_excess`` is the
    overlap minus its null's mean, mean and sd over trials. Bound and subset chance are defined
    for dense (linear, recurrent) layers; for conv layers the overlap is at the level of kernel
    parameters and those columns stay empty. ``subset_chance_*`` are log10 P(overlap >= the
    measured mean) for two random α-subsets — not the null: a tree is no random subset.
    """
    from pipeline.topology.overlap import chance_level, lower_bound  # here: the topology package loads numba

    keys = ["arch", "dataset", "method", "round", "position", "layer", "kind", "m", "n"]
    layers = collection.layers.assign(overlap_excess=lambda d: d["overlap"] - d["overlap_null_mean"])
    grouped = _grouped(layers, keys)
    values = ["layer_density", "alpha", "overlap", *OVERLAP_NULL, "overlap_excess"]
    spread = ("overlap", "overlap_excess")
    table = _mean_sd(grouped, values).drop(columns=[f"{v}_sd" for v in values if v not in spread])
    exact = [_exact_mean(group) for _, group in grouped]
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
    return table.assign(bound=bounds, subset_chance_log10_binomial=binomial, subset_chance_log10_hypergeometric=hyper)


NP_NULL = [*NullInterval.keys("np"), *NullInterval.keys("normalized_np")[:3]]


@register_table("np_rounds")
def np_round_table(collection: Collection) -> pd.DataFrame:
    """Neural persistence (raw and normalised) per layer and round, mean ± sd over trials, and
    its permutation null (means over trials of each trial's null: mean, 95 % interval, the
    observed NP's percentile; docs/science.md §4)."""
    grouped = _grouped(collection.layers, ["arch", "dataset", "method", "round", "position", "layer"])
    values = ["np", "normalized_np", "eta_tau", *NP_NULL]
    return _mean_sd(grouped, values).drop(columns=[f"{v}_sd" for v in values if v not in ("np", "normalized_np")])


@register_table("np_epochs")
def np_epoch_table(collection: Collection) -> pd.DataFrame:
    """Neural persistence and the top-α / tree overlap per epoch of every round (layers, and the
    total NP), mean ± sd over trials, with the overlap's permutation null where it was drawn
    (``nulls.epochs``; means over trials). Epoch 0 is the network before training."""
    epochs = collection.epochs
    if epochs.empty:
        return epochs
    grouped = _grouped(epochs, ["arch", "dataset", "method", "round", "epoch", "position", "layer"])
    nulls = list(NullInterval.keys("overlap")[:3])
    table = _mean_sd(grouped, ["np", "normalized_np", "overlap", *nulls])
    return table.drop(columns=[f"{v}_sd" for v in nulls])


def compare(rounds: pd.DataFrame, value: str, reference: str | None = REFERENCE) -> pd.DataFrame:
    """Per pair, method and round: ``value``'s mean, sd and 95 % bootstrap interval over trials
    and, unless ``reference`` is None, for every other method the paired difference to ``reference`` (same trials)
    with its interval, the paired t-test's p and the trials it was ahead in (``stats``)."""
    base = rounds[rounds["method"] == reference].set_index(TRIAL)[value] if reference else None
    rows = []
    for (arch, dataset, method, round_index), group in _grouped(rounds, ["arch", "dataset", "method", "round"]):
        row = {"arch": arch, "dataset": dataset, "method": str(method), "round": round_index}
        row |= {"trials": len(group), "compression": group["compression"].mean()}
        row |= interval(group[value].to_numpy()).columns(value)
        other = base.reindex(pd.MultiIndex.from_frame(group[TRIAL])).to_numpy() if base is not None else None
        if other is not None and method != reference and round_index > 0 and np.isfinite(other).any():
            cmp = paired(group[value].to_numpy(), other)
            diff = cmp.difference.columns(f"vs_{reference}")
            diff.pop(f"vs_{reference}_sd")
            row |= diff | {f"p_vs_{reference}": cmp.p, f"wins_vs_{reference}": cmp.wins}
        rows.append(row)
    empty = ["arch", "dataset", "method", "round", "trials", "compression", *interval([]).columns(value)]
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=empty)  # e.g. no pruning rounds
    wins = f"wins_vs_{reference}"
    if wins in table:  # a count of trials, missing for the reference and round 0: nullable integers
        table[wins] = table[wins].astype("Int64")
    return table


@register_table("comparison")
def comparison_table(collection: Collection) -> pd.DataFrame:
    """Test accuracy per pair, method and round with 95 % bootstrap intervals, and each method's
    paired difference to IMP (same trials and seeds) with its interval and paired t-test."""
    return compare(collection.rounds, "test_acc")


TREE_KEPT_NULL = list(NullInterval.keys("tree_kept"))


def _intervals(rounds: pd.DataFrame, value: str) -> pd.DataFrame:
    """``value``'s mean and 95 % bootstrap interval per pair, method and round."""
    return compare(rounds, value, reference=None)[[value, f"{value}_low", f"{value}_high"]]


@register_table("tree_kept")
def tree_kept_table(collection: Collection) -> pd.DataFrame:
    """How much of the previous round's spanning tree each pruning step kept (edges; weights or
    kernel parameters), and the NP it kept, per method and round, with intervals; ``vs_imp``:
    the paired difference of the edges kept to IMP's. Against the permutation null (magnitude
    pruning of the previous weights permuted over their edges, to the same per-tensor counts):
    ``tree_kept_null_*`` and ``tree_kept_percentile`` are means over trials of each trial's
    null, ``vs_null`` the edges kept minus the null's mean, with its interval over trials."""
    rounds = collection.rounds[collection.rounds["round"] > 0]
    rounds = rounds.assign(vs_null=rounds["tree_kept"] - rounds["tree_kept_null_mean"])
    table = compare(rounds, "tree_kept")
    nulls = _grouped(rounds, ["arch", "dataset", "method", "round"])[TREE_KEPT_NULL].mean().reset_index(drop=True)
    parts = [_intervals(rounds, v) for v in ("tree_kept_params", "np_retained", "vs_null")]
    return pd.concat([table, nulls, *parts], axis=1)


NETWORK_COLUMNS = [
    f"network_{name}"
    for name in ("eta_tau", "eta_tau_params", "tree_edges", "layer_tree_edges", "components", "np", "normalized_np")
]
"""The whole network's quantities the ``network`` table shows (``collect.NETWORK``)."""
NETWORK_KEPT_NULL = list(NullInterval.keys("network_tree_kept"))


@register_table("network")
def network_table(collection: Collection) -> pd.DataFrame:
    """The whole network as one graph (docs/science.md §10) per pair, method and round, over the
    rounds whose model has a network graph: η_τ (edges; weights and kernel parameters), its
    forest's edges against the layers' own forests together, its components, NP and normalised
    NP (means over trials); what each pruning step kept of the previous round's network forest
    (``network_tree_kept``, with its interval and ``vs_imp``), against its permutation null
    (means over trials of each trial's null; ``vs_null``: the share kept minus the null's mean,
    with its interval over trials), beside the per-layer trees' ``tree_kept``."""
    rounds = collection.rounds[collection.rounds["network_tree_edges"].notna()]
    rounds = rounds.assign(vs_null=rounds["network_tree_kept"] - rounds["network_tree_kept_null_mean"])
    table = compare(rounds, "network_tree_kept")
    grouped = _grouped(rounds, ["arch", "dataset", "method", "round"])
    means = grouped[[*NETWORK_COLUMNS, *NETWORK_KEPT_NULL]].mean().reset_index(drop=True)
    parts = [_intervals(rounds, v) for v in ("network_tree_kept_params", "vs_null", "tree_kept")]
    return pd.concat([table, means, *parts], axis=1)


def _job_share(rounds: pd.DataFrame, jobs: set[str]) -> tuple[float, float]:
    """Rounds per job and the share of the jobs' recorded time (``allocation_s``) that no round
    of theirs spent working (``wall_seconds``), over ``jobs`` and every round they ran."""
    ran = rounds[rounds["job"].isin(jobs)]
    if ran.empty or "allocation_s" not in ran:
        return float("nan"), float("nan")
    allocation = ran.groupby("job")["allocation_s"].max().astype(float).sum(min_count=1)
    return len(ran) / len(jobs), 1 - ran["wall_seconds"].astype(float).sum() / allocation


@register_table("jobs")
def jobs_table(collection: Collection) -> pd.DataFrame:
    """What the rounds cost, per pair and method (the dense rounds once, as ``dense``): rounds,
    scheduler attempts, requeues, wall and GPU hours, hours queued, the largest peak memory; and
    for SLURM jobs, rounds per job and the share of the jobs' time that was not a round's own
    work (start-up: interpreter, torch, CUDA, data; a pack pays it once for all its rounds)."""
    rounds = collection.rounds.drop_duplicates("file")
    rounds = rounds.assign(
        method=rounds["trained_as"],
        attempts=rounds["job_ids"].map(lambda ids: len(str(ids).split(",")) if ids else 1),
        job=rounds["job_ids"].map(lambda ids: str(ids).split(",")[-1] if ids else None),
        wall_h=rounds["elapsed_s"].astype(float) / 3600,
        gpu_h=rounds["elapsed_s"].astype(float) * rounds["gpus"].astype(float) / 3600,
        queue_h=rounds["queue_wait_s"].astype(float) / 3600,
    )
    grouped = _grouped(rounds, ["arch", "dataset", "method"])
    total = lambda column: (column, lambda v: v.astype(float).sum(min_count=1))  # noqa: E731 - NaN: none recorded
    table = grouped.agg(
        rounds=("file", "size"),
        attempts=("attempts", "sum"),
        requeues=total("requeues"),
        wall_h=total("wall_h"),
        gpu_h=total("gpu_h"),
        queue_h=total("queue_h"),
        peak_rss_mb=("peak_rss_mb", "max"),
    ).reset_index()
    shares = [_job_share(rounds, set(group["job"].dropna())) for _, group in grouped]
    table = table.assign(
        rounds_per_job=[rounds_per_job for rounds_per_job, _ in shares],
        startup_share=[startup for _, startup in shares],
    )
    return table.assign(method=table["method"].astype(str))
