"""Seaborn figures of one architecture/data-set pair (docs/science.md §7 and the method curves),
registered by name (``pipeline.report.registry``): each draws one PNG from a ``PairData``.

Every figure shows mean ± sd over trials where trials exist and says so in its title.
matplotlib and seaborn load on the first drawing, so listing the figures stays cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline.prune.registry import REFERENCE, get_method, registry
from pipeline.report.collect import Collection
from pipeline.report.registry import register_figure
from pipeline.report.tables import accuracy_table, comparison_table, network_table, overlap_table, tree_kept_table
from pipeline.store import read_round
from pipeline.topology.null import NullInterval

if TYPE_CHECKING:
    import matplotlib.pyplot as plt


@dataclass
class PairData:
    """What the figures of one architecture/data-set pair draw from."""

    collection: Collection
    title: str = field(init=False)

    def __post_init__(self) -> None:
        pairs = self.collection.rounds[["arch", "dataset"]].drop_duplicates()
        if len(pairs) != 1:
            raise ValueError(f"figures take the files of one pair; got {len(pairs)} pairs")
        self.title = f"{pairs.iloc[0]['arch']} on {pairs.iloc[0]['dataset']}"

    @cached_property
    def dense_files(self) -> list[str]:
        rounds = self.collection.rounds
        return sorted(rounds.loc[rounds["round"] == 0, "file"].unique())

    @cached_property
    def accuracy(self) -> pd.DataFrame:
        return accuracy_table(self.collection)

    @cached_property
    def overlap(self) -> pd.DataFrame:
        return overlap_table(self.collection)

    @cached_property
    def comparison(self) -> pd.DataFrame:
        return comparison_table(self.collection)

    @cached_property
    def tree_kept(self) -> pd.DataFrame:
        return tree_kept_table(self.collection)

    @cached_property
    def network(self) -> pd.DataFrame:
        return network_table(self.collection)


def _plotting() -> tuple[Any, Any]:
    """pyplot (headless) and seaborn, imported on first use."""
    import matplotlib  # here: plotting loads only when a figure is drawn, not with the report registry

    matplotlib.use("Agg")
    # here: after use("Agg"), so that pyplot starts headless
    import matplotlib.pyplot as plt
    import seaborn as sns

    return plt, sns


def _save(fig: plt.Figure, path: Path) -> None:
    plt, _ = _plotting()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _short(layer: str) -> str:
    return layer.removesuffix(".weight")


@register_figure("np_epochs")
def np_epochs_figure(pair: PairData, path: Path) -> None:
    """Fig. 1: per-layer normalised NP and total NP over the dense round's epochs."""
    import matplotlib  # here: matplotlib loads only when a figure is drawn

    plt, sns = _plotting()
    epochs, title = pair.collection.epochs, pair.title
    dense = epochs[epochs["round"] == 0] if not epochs.empty else epochs
    dense = dense[dense["method"] == dense["method"].iloc[0]] if not dense.empty else dense
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    if dense.empty:
        for ax in (left, right):
            ax.text(0.5, 0.5, "NP was not tracked per epoch (training.track_np: false)", ha="center")
    else:
        layers = dense[dense["layer"] != "total"].sort_values("position").assign(layer=lambda d: d["layer"].map(_short))
        order = list(dict.fromkeys(layers["layer"]))
        sns.lineplot(
            layers, x="epoch", y="normalized_np", hue="layer", hue_order=order, errorbar="sd", marker="o", ax=left
        )
        left.set(ylabel="normalised NP", title="per layer")
        total = dense[dense["layer"] == "total"]
        sns.lineplot(total, x="epoch", y="np", errorbar="sd", marker="o", color="black", ax=right)
        right.set(ylabel="total NP (sum of layers)", title="network")
        left.legend(fontsize=7, title=None)
        for ax in (left, right):
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    fig.suptitle(f"{title}: neural persistence during dense training (mean ± sd over trials)")
    _save(fig, path)


@register_figure("overlap_epochs")
def overlap_epochs_figure(pair: PairData, path: Path) -> None:
    """Top-α vs MaxST overlap of each layer over the dense round's epochs (epoch 0: before
    training), mean ± sd over trials, with the permutation null's 95 % band where it was drawn."""
    import matplotlib  # here: matplotlib loads only when a figure is drawn

    plt, sns = _plotting()
    epochs = pair.collection.epochs
    dense = epochs[(epochs["round"] == 0) & (epochs["layer"] != "total")] if not epochs.empty else epochs
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    if dense.empty or dense["overlap"].isna().all():
        ax.text(0.5, 0.5, "the overlap was not tracked per epoch (training.track_np: false)", ha="center")
    else:
        dense = dense[dense["method"] == dense["method"].iloc[0]].sort_values("position")
        dense = dense.assign(layer=dense["layer"].map(_short))
        order = list(dict.fromkeys(dense["layer"]))
        colors = dict(zip(order, sns.color_palette(n_colors=len(order)), strict=True))
        sns.lineplot(dense, x="epoch", y="overlap", hue="layer", hue_order=order, errorbar="sd", marker="o", ax=ax)
        band = dense.groupby(["layer", "epoch"])[["overlap_null_low", "overlap_null_high"]].mean().reset_index()
        for layer, rows in band.dropna().groupby("layer"):
            ax.fill_between(
                rows["epoch"],
                rows["overlap_null_low"],
                rows["overlap_null_high"],
                color=colors[layer],
                alpha=0.15,
                lw=0,
            )
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize=7, title=None)
    ax.set(ylabel="|top-α ∩ MaxST| / α", ylim=(0, 1))
    ax.set_title(f"{pair.title}: overlap during dense training; bands: permutation null (95 %)", fontsize=10)
    _save(fig, path)


def plot_diagram(deaths: np.ndarray, name: str, suptitle: str, path: Path) -> None:
    """A 0-dimensional diagram (every point born at 1) beside the histogram of its deaths."""
    plt, sns = _plotting()
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    ax.scatter(np.ones_like(deaths), deaths, s=8, alpha=0.4, color="#1f77b4", label="(birth, death)")
    if deaths.size:
        most = int(np.argmin(deaths))
        ax.scatter(
            [1],
            [deaths[most]],
            s=80,
            facecolors="none",
            edgecolors="#d62728",
            lw=2,
            label=f"most persistent: death {deaths[most]:.3f}",
        )
    ax.set(
        xlim=(0, 1.05),
        ylim=(0, 1.05),
        xlabel="birth",
        ylabel="death (w' = |w| / w_max)",
        title=f"{_short(name)}: {len(deaths)} points",
    )
    ax.legend(fontsize=7, loc="upper left")
    sns.histplot(deaths, bins=40, ax=hist, color="#1f77b4")
    hist.set(xlabel="death w'", ylabel="points", title="deaths of the diagram (all born at 1)")
    fig.suptitle(suptitle)
    _save(fig, path)


@register_figure("diagram")
def diagram_figure(pair: PairData, path: Path) -> None:
    """Fig. 2: the persistence diagram of the first layer of a dense network."""
    data = read_round(pair.dense_files[0], metrics=False)
    name, record = next(iter(data.diagrams.items()))
    suptitle = f"{pair.title}: 0-dimensional persistence diagram (trial {data.attrs.trial}, dense)"
    plot_diagram(record.deaths, name, suptitle, path)


@register_figure("overlap")
def overlap_figure(pair: PairData, path: Path) -> None:
    """Fig. 3: top-α vs MaxST overlap per layer (dense round), bound and chance per layer."""
    plt, _ = _plotting()
    overlap, title = pair.overlap, pair.title
    dense = overlap[overlap["round"] == 0]
    dense = dense[dense["method"] == dense["method"].iloc[0]].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(8, 1.1 * len(dense)), 4))
    x = np.arange(len(dense))
    ax.bar(
        x, dense["overlap"], yerr=dense["overlap_sd"].fillna(0), color="#9ecae1", capsize=4, label="overlap (mean ± sd)"
    )
    if dense["overlap_null_mean"].notna().any():
        ax.bar(
            x,
            dense["overlap_null_high"] - dense["overlap_null_low"],
            bottom=dense["overlap_null_low"],
            width=0.95,
            color="none",
            edgecolor="#636363",
            hatch="///",
            label="permutation null: 95 % of draws",
        )
        ax.scatter(x, dense["overlap_null_mean"], marker="_", s=400, color="#636363", zorder=3, label="null mean")
    ax.scatter(x, dense["bound"], color="black", zorder=3, label="Theorem 3.3 lower bound")
    chance = dense["alpha"] / (dense["m"] * dense["n"])
    ax.scatter(
        x,
        np.where(dense["kind"] == "conv", np.nan, chance),
        marker="x",
        color="#d62728",
        zorder=3,
        label="paper's chance: α / (m·n), random α-subsets",
    )
    ax.set_xticks(x, [_short(s) for s in dense["layer"]], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="|top-α ∩ MaxST| / α", ylim=(0, 1), title=f"{title}: top-α vs MaxST overlap, dense networks")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, frameon=False)
    _save(fig, path)


def _normalised_sets(dense_file: str | Path) -> pd.DataFrame:
    from pipeline.topology.order import top_k  # here: the topology package loads numba

    data = read_round(dense_file, metrics=False)
    rows = []
    for name, record in data.diagrams.items():
        layer, offset = record.attrs.tensor, record.attrs.offset
        block = slice(offset, offset + record.attrs.size)
        weight = np.abs(data.weights[layer]).ravel()[block]
        present = data.masks[layer].ravel()[block]
        w_max = record.attrs.w_max or 1.0
        points = np.unique(record.indices) - offset
        tree = points[present[points]]  # under ``pruned: zero`` the diagram also has pruned weights
        top = top_k(weight, tree.size, present)
        for label, idx in (("MaxST", tree), ("top-α", top)):
            rows.append(pd.DataFrame({"layer": _short(name), "set": label, "w'": weight[idx] / w_max}))
    return pd.concat(rows, ignore_index=True)


@register_figure("weights")
def weights_figure(pair: PairData, path: Path) -> None:
    """Fig. 5: normalised weight values of the top-α weights vs the MaxST weights, per layer."""
    plt, sns = _plotting()
    dense_files, title = pair.dense_files, pair.title
    frame = pd.concat([_normalised_sets(f) for f in dense_files], ignore_index=True)
    layers = frame["layer"].unique()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(layers)), 4))
    sns.boxplot(frame, x="layer", y="w'", hue="set", ax=ax, fliersize=1, palette=["#1f77b4", "#ff7f0e"])
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set(ylabel="w' = |w| / w_max", title=f"{title}: top-α vs MaxST weights, dense, {len(dense_files)} trial(s)")
    _save(fig, path)


def _style(name: str) -> dict[str, Any]:
    """A method's line in every figure: its registered colour, marker and label; controls dashed."""
    method = registry().get(name)
    if method is None:
        return {"marker": "o", "color": None, "label": name, "ls": "-"}
    return {
        "marker": method.marker,
        "color": method.color,
        "label": method.label,
        "ls": "--" if method.control else "-",
    }


def _by_method(ax: plt.Axes, table: pd.DataFrame, y: str, sd: str) -> None:
    for name, rows in table.groupby("method", sort=False):
        rows = rows.sort_values("compression")
        ax.errorbar(rows["compression"], rows[y], yerr=rows[sd].fillna(0), capsize=3, **_style(name))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression |W| / kept (log scale)")


@register_figure("accuracy")
def accuracy_figure(pair: PairData, path: Path) -> None:
    """Test accuracy against compression per method (mean ± sd over trials), with the network's
    η_τ counted in weights (conv layers: kernel parameters)."""
    plt, _ = _plotting()
    rounds = pair.collection.rounds
    eta_tau = rounds.loc[rounds["round"] == 0, "eta_tau_params"].mean()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _by_method(ax, pair.accuracy, "test_acc", "test_acc_sd")
    if eta_tau:
        ax.axvline(eta_tau, color="grey", ls="--", lw=1, label=f"η_τ of the network (parameters) = {eta_tau:.1f}")
    ax.set(ylabel="test accuracy", title=f"{pair.title}: accuracy vs compression")
    ax.legend(fontsize=8)
    _save(fig, path)


@register_figure("np_retention")
def retention_figure(pair: PairData, path: Path) -> None:
    """Total neural persistence relative to the dense network, against compression."""
    plt, _ = _plotting()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _by_method(ax, pair.accuracy, "np_vs_dense", "np_vs_dense_sd")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set(ylabel="total NP / dense total NP", title=f"{pair.title}: neural persistence vs the dense network")
    ax.legend(fontsize=8)
    _save(fig, path)


def _bands(ax: plt.Axes, table: pd.DataFrame, y: str, low: str, high: str) -> None:
    """Mean per method against compression with its 95 % interval as a band."""
    for name, rows in table.dropna(subset=[y]).groupby("method", sort=False):
        rows = rows.sort_values("compression")
        style = _style(name)
        ax.plot(rows["compression"], rows[y], **style)
        ax.fill_between(rows["compression"], rows[low], rows[high], alpha=0.15, lw=0, color=style["color"])
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression |W| / kept (log scale)")


def _trials(table: pd.DataFrame) -> str:
    counts = sorted(set(table["trials"]))
    return f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"


@register_figure("comparison")
def comparison_figure(pair: PairData, path: Path) -> None:
    """Test accuracy per method with 95 % bootstrap bands (left), and each method's paired
    difference to IMP over the same trials with its band (right)."""
    plt, _ = _plotting()
    table = pair.comparison
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    _bands(left, table, "test_acc", "test_acc_low", "test_acc_high")
    left.set(ylabel="test accuracy", title=f"{pair.title}: accuracy, 95 % intervals ({_trials(table)} trials)")
    left.legend(fontsize=8)
    column = f"vs_{REFERENCE}"
    if column in table:
        _bands(right, table, column, f"{column}_low", f"{column}_high")
        right.axhline(0.0, color="grey", lw=1)
    label = get_method(REFERENCE).label
    right.set(ylabel=f"test accuracy minus {label}'s (same trial)", title=f"paired difference to {label}")
    _save(fig, path)


def _kept_against_null(ax: plt.Axes, table: pd.DataFrame, value: str) -> None:
    """A share kept per method with its 95 % bootstrap band, and dotted in the method's colour
    its permutation null's mean with the null's 95 % band (``<value>_null_*``)."""
    _bands(ax, table, value, f"{value}_low", f"{value}_high")
    mean, low, high = NullInterval.keys(value)[:3]
    for name, rows in table.dropna(subset=[mean]).groupby("method", sort=False):
        rows, color = rows.sort_values("compression"), _style(name)["color"]
        ax.plot(rows["compression"], rows[mean], ls=":", color=color, lw=1)
        ax.fill_between(rows["compression"], rows[low], rows[high], color=color, alpha=0.08, lw=0)
    ax.text(
        0.01, 0.01, "dotted: magnitude pruning of permuted weights (null, 95 %)", transform=ax.transAxes, fontsize=7
    )


@register_figure("tree_kept")
def tree_kept_figure(pair: PairData, path: Path) -> None:
    """The share of the previous round's spanning-tree edges each pruning step kept, against
    what magnitude pruning of the permuted weights keeps (dotted, the null's 95 % band), and the
    share of NP it kept, per method with 95 % bootstrap bands."""
    plt, _ = _plotting()
    table = pair.tree_kept
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4))
    _kept_against_null(left, table, "tree_kept")
    left.set(ylabel="tree edges kept by the step", title=f"{pair.title}: previous round's spanning tree kept")
    left.legend(fontsize=8)
    _bands(right, table, "np_retained", "np_retained_low", "np_retained_high")
    right.axhline(1.0, color="grey", lw=1)
    right.set(ylabel="NP after / before the pruning step", title="NP kept by the pruning step (before retraining)")
    _save(fig, path)


@register_figure("network_tree_kept")
def network_tree_kept_figure(pair: PairData, path: Path) -> None:
    """The share of the previous round's whole-network spanning-forest edges each pruning step
    kept (docs/science.md §10), beside the share of the layers' own trees (``tree_kept``), each
    against what magnitude pruning of the permuted weights keeps (dotted, the null's 95 % band),
    per method with 95 % bootstrap bands."""
    plt, _ = _plotting()
    network = pair.network
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.4), sharey=True)
    if network["network_tree_kept"].notna().any():
        _kept_against_null(left, network, "network_tree_kept")
        left.legend(fontsize=8)
    else:
        left.text(0.5, 0.5, "no whole-network forest kept: no network graph or no pruning round", ha="center")
    left.set(ylabel="forest edges kept by the step", title=f"{pair.title}: previous round's network forest kept")
    _kept_against_null(right, pair.tree_kept, "tree_kept")
    right.set(title="the layers' own trees kept (tree_kept)")
    _save(fig, path)
