"""Seaborn figures of one architecture/data-set pair (docs/science.md §7 and the IMP vs T-IMP curves).

Every figure shows mean ± sd over trials where trials exist and says so in its title.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from pipeline.prune.registry import registry
from pipeline.store import read_round
from pipeline.topology.order import top_k


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _short(layer: str) -> str:
    return layer.removesuffix(".weight")


def np_epochs_figure(epochs: pd.DataFrame, title: str, path: Path) -> None:
    """Fig. 1: per-layer normalised NP and total NP over the dense round's epochs."""
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


def diagram_figure(dense_file: str | Path, title: str, path: Path) -> None:
    """Fig. 2: the persistence diagram of the first layer of a dense network."""
    data = read_round(dense_file, metrics=False)
    name, record = next(iter(data.diagrams.items()))
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    ax.scatter(record.births, record.deaths, s=8, alpha=0.4, color="#1f77b4", label="(birth, death)")
    most = int(np.argmin(record.deaths))
    ax.scatter(
        [1],
        [record.deaths[most]],
        s=80,
        facecolors="none",
        edgecolors="#d62728",
        lw=2,
        label=f"most persistent: death {record.deaths[most]:.3f}",
    )
    ax.set(
        xlim=(0, 1.05),
        ylim=(0, 1.05),
        xlabel="birth",
        ylabel="death (w' = |w| / w_max)",
        title=f"{_short(name)}: {len(record.deaths)} points",
    )
    ax.legend(fontsize=7, loc="upper left")
    sns.histplot(record.deaths, bins=40, ax=hist, color="#1f77b4")
    hist.set(xlabel="death w'", ylabel="points", title="deaths of the diagram (all born at 1)")
    fig.suptitle(f"{title}: 0-dimensional persistence diagram (trial {data.attrs['trial']}, dense)")
    _save(fig, path)


def overlap_figure(overlap: pd.DataFrame, title: str, path: Path) -> None:
    """Fig. 3: top-α vs MaxST overlap per layer (dense round), bound and chance per layer."""
    dense = overlap[overlap["round"] == 0]
    dense = dense[dense["method"] == dense["method"].iloc[0]].reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(dense)), 4))
    x = np.arange(len(dense))
    ax.bar(
        x, dense["overlap"], yerr=dense["overlap_sd"].fillna(0), color="#9ecae1", capsize=4, label="overlap (mean ± sd)"
    )
    ax.scatter(x, dense["bound"], color="black", zorder=3, label="Theorem 3.3 lower bound")
    chance = dense["alpha"] / (dense["m"] * dense["n"])
    ax.scatter(
        x,
        np.where(dense["kind"] == "conv", np.nan, chance),
        marker="x",
        color="#d62728",
        zorder=3,
        label="chance: α / (m·n)",
    )
    ax.set_xticks(x, [_short(s) for s in dense["layer"]], rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="|top-α ∩ MaxST| / α", ylim=(0, 1), title=f"{title}: top-α vs MaxST overlap, dense networks")
    ax.legend(fontsize=7)
    _save(fig, path)


def _normalised_sets(dense_file: str | Path) -> pd.DataFrame:
    data = read_round(dense_file, metrics=False)
    rows = []
    for name, record in data.diagrams.items():
        layer = record.attrs["layer"]
        offset = record.attrs.get("offset", 0)
        block = slice(offset, offset + record.attrs.get("size", data.weights[layer].size))
        weight = np.abs(data.weights[layer]).ravel()[block]
        present = data.masks[layer].ravel()[block]
        w_max = record.attrs["w_max"] or 1.0
        points = np.unique(record.indices) - offset
        tree = points[present[points]]  # under ``pruned: zero`` the diagram also has pruned weights
        top = top_k(weight, tree.size, present)
        for label, idx in (("MaxST", tree), ("top-α", top)):
            rows.append(pd.DataFrame({"layer": _short(name), "set": label, "w'": weight[idx] / w_max}))
    return pd.concat(rows, ignore_index=True)


def weights_figure(dense_files: Sequence[str | Path], title: str, path: Path) -> None:
    """Fig. 5: normalised weight values of the top-α weights vs the MaxST weights, per layer."""
    frame = pd.concat([_normalised_sets(f) for f in dense_files], ignore_index=True)
    layers = frame["layer"].unique()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(layers)), 4))
    sns.boxplot(frame, x="layer", y="w'", hue="set", ax=ax, fliersize=1, palette=["#1f77b4", "#ff7f0e"])
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set(ylabel="w' = |w| / w_max", title=f"{title}: top-α vs MaxST weights, dense, {len(dense_files)} trial(s)")
    _save(fig, path)


def _by_method(ax: plt.Axes, table: pd.DataFrame, y: str, sd: str) -> None:
    methods = registry()
    for name, rows in table.groupby("method", sort=False):
        method = methods.get(name)
        rows = rows.sort_values("compression")
        ax.errorbar(
            rows["compression"],
            rows[y],
            yerr=rows[sd].fillna(0),
            marker=method.marker if method else "o",
            capsize=3,
            color=method.color if method else None,
            label=method.label if method else name,
            ls="--" if method and method.control else "-",
        )
    ax.set_xscale("log", base=2)
    ax.set_xlabel("compression |W| / kept (log scale)")


def accuracy_figure(accuracy: pd.DataFrame, eta_tau: float | None, title: str, path: Path) -> None:
    """Test accuracy against compression for IMP and T-IMP (mean ± sd over trials)."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _by_method(ax, accuracy, "test_acc", "test_acc_sd")
    if eta_tau:
        ax.axvline(eta_tau, color="grey", ls="--", lw=1, label=f"η_τ of the network = {eta_tau:.1f}")
    ax.set(ylabel="test accuracy", title=f"{title}: accuracy vs compression")
    ax.legend(fontsize=8)
    _save(fig, path)


def retention_figure(accuracy: pd.DataFrame, title: str, path: Path) -> None:
    """Total neural persistence relative to the dense network, against compression."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    _by_method(ax, accuracy, "np_retained", "np_retained_sd")
    ax.axhline(1.0, color="grey", ls="--", lw=1)
    ax.set(ylabel="total NP / dense total NP", title=f"{title}: neural persistence retained")
    ax.legend(fontsize=8)
    _save(fig, path)
