"""The grid's tables on a hand-built collection (the workflow tests cover them end to end)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.report.collect import Collection, collect
from pipeline.report.figures import PairData
from pipeline.report.registry import figures, tables
from pipeline.report.tables import NETWORK_COLUMNS
from pipeline.store import DiagramRecord, NetworkRecord, RoundData, write_round
from pipeline.store.paths import CAPTION_DIR
from pipeline.store.record import DiagramAttrs, NetworkAttrs, RunAttrs
from pipeline.topology.null import NullInterval
from pipeline.topology.overlap import chance_level, lower_bound
from tests.fixtures import blank_record

RUN = {"arch": "fcn", "dataset": "mnist-5k", "run_hash": "0123456789"}


def _rounds() -> pd.DataFrame:
    rows = []
    for trial, dense_np in ((0, 10.0), (1, 20.0)):
        for method in ("timp", "imp"):  # deliberately not in registry order
            rows.append({**RUN, "trial": trial, "round": 0, "method": method, "total_np": dense_np, "compression": 1.0})
            rows.append(
                {
                    **RUN,
                    "trial": trial,
                    "round": 1,
                    "method": method,
                    "total_np": dense_np * (0.5 if method == "imp" else 1.5),
                    "compression": 2.0,
                }
            )
    frame = pd.DataFrame(rows)
    accuracy = np.where(frame["round"] == 0, 0.9, np.where(frame["method"] == "imp", 0.8, 0.7)) + frame["trial"] / 100
    return frame.assign(
        test_acc=accuracy, eta_tau=5.0, eta_tau_params=4.0, capped=(frame["method"] == "timp") & (frame["round"] == 1)
    )


def _layers() -> pd.DataFrame:
    base = {**RUN, "method": "imp", "round": 0, "position": 0, "layer": "l", "kind": "linear", "m": 91, "n": 10}
    return pd.DataFrame(
        [
            base | {"trial": 0, "layer_density": 1.0, "alpha": 100, "shared": 28, "overlap": 0.28, "np": 1.0},
            base | {"trial": 1, "layer_density": 1.0, "alpha": 100, "shared": 30, "overlap": 0.30, "np": 3.0},
        ]
    ).assign(
        normalized_np=lambda d: d["np"] / 10,
        eta_tau=9.0,
        overlap_null_mean=[0.70, 0.72],
        overlap_null_low=[0.68, 0.70],
        overlap_null_high=[0.72, 0.74],
        overlap_percentile=[0.0, 0.0],
        np_null_mean=[0.5, 1.5],
        np_null_low=[0.4, 1.4],
        np_null_high=[0.6, 1.6],
        np_percentile=[100.0, 100.0],
        normalized_np_null_mean=lambda d: d["np_null_mean"] / 10,
        normalized_np_null_low=lambda d: d["np_null_low"] / 10,
        normalized_np_null_high=lambda d: d["np_null_high"] / 10,
    )


def test_accuracy_table_pairs_trials_and_orders_methods_by_the_registry():
    table = tables()["accuracy"].make(Collection(_rounds(), _layers(), pd.DataFrame()))
    assert table["method"].tolist() == ["imp", "imp", "timp", "timp"]
    imp1 = table[(table["method"] == "imp") & (table["round"] == 1)].iloc[0]
    assert imp1["test_acc"] == pytest.approx(0.805) and imp1["test_acc_sd"] == pytest.approx(
        np.std([0.8, 0.81], ddof=1)
    )
    assert imp1["np_vs_dense"] == pytest.approx(0.5) and imp1["np_vs_dense_sd"] == pytest.approx(0.0)
    timp1 = table[(table["method"] == "timp") & (table["round"] == 1)].iloc[0]
    assert timp1["np_vs_dense"] == pytest.approx(1.5) and bool(timp1["capped"]) and not bool(imp1["capped"])
    assert set(table["trials"]) == {2}


def test_overlap_table_evaluates_chance_at_the_exact_mean_count():
    table = tables()["overlap"].make(Collection(_rounds(), _layers(), pd.DataFrame()))
    row = table.iloc[0]
    assert row["overlap"] == pytest.approx(0.29) and row["bound"] == pytest.approx(lower_bound(91, 10))
    expected = chance_level(91, 10, shared=29)  # (28 + 30) / 2 shared of α = 100
    assert row["subset_chance_log10_hypergeometric"] == pytest.approx(expected.log10_hypergeometric_at_least)
    assert row["subset_chance_log10_binomial"] == pytest.approx(expected.log10_binomial_at_least)
    assert row["overlap_null_mean"] == pytest.approx(0.71) and row["overlap_null_low"] == pytest.approx(0.69)
    assert row["overlap_excess"] == pytest.approx(-0.42) and row["overlap_excess_sd"] == pytest.approx(0.0)


def test_tree_kept_table_sets_each_trial_against_its_own_null():
    rounds = _rounds().assign(
        tree_kept=lambda d: np.where(d["method"] == "imp", 0.9, 1.0) + d["trial"] / 100,
        tree_kept_params=0.9,
        np_retained=1.0,
        tree_kept_null_mean=lambda d: 0.8 + d["trial"] / 50,
        tree_kept_null_low=0.75,
        tree_kept_null_high=0.85,
        tree_kept_percentile=100.0,
    )
    table = tables()["tree_kept"].make(Collection(rounds, _layers(), pd.DataFrame()))
    imp = table[table["method"] == "imp"].iloc[0]
    assert imp["round"] == 1 and imp["tree_kept_null_mean"] == pytest.approx(0.81)
    assert imp["vs_null"] == pytest.approx(np.mean([0.9 - 0.8, 0.91 - 0.82]))  # trial by trial
    assert imp["vs_null_low"] <= imp["vs_null"] <= imp["vs_null_high"]


def test_np_rounds_table_is_mean_and_sd_over_trials():
    table = tables()["np_rounds"].make(Collection(_rounds(), _layers(), pd.DataFrame()))
    assert table.iloc[0]["np"] == pytest.approx(2.0) and table.iloc[0]["np_sd"] == pytest.approx(np.sqrt(2))
    assert table.iloc[0]["np_null_mean"] == pytest.approx(1.0) and table.iloc[0]["np_percentile"] == 100.0


def test_every_registered_figure_and_table_has_its_caption():
    for entry in [*figures().values(), *tables().values()]:
        assert (CAPTION_DIR / entry.caption).is_file(), entry.caption


def test_the_jobs_table_counts_rounds_per_job_and_the_share_a_packed_job_spent_starting_up():
    """Two SLURM jobs: one ran the dense round and two IMP rounds (100 s for 60 s of rounds), one
    ran a T-IMP round alone (50 s for 20 s); inline rounds have no job."""
    base = {**RUN, "trial": 0, "gpus": 1, "requeues": 0, "queue_wait_s": 0.0, "peak_rss_mb": 900.0}
    rows = [
        base | {"round": 0, "method": "dense", "job_ids": "7", "allocation_s": 100.0, "wall_seconds": 20.0},
        base | {"round": 1, "method": "imp", "job_ids": "7", "allocation_s": 100.0, "wall_seconds": 20.0},
        base | {"round": 2, "method": "imp", "job_ids": "5,7", "allocation_s": 100.0, "wall_seconds": 20.0},
        base | {"round": 1, "method": "timp", "job_ids": "8", "allocation_s": 50.0, "wall_seconds": 20.0},
    ]
    rounds = pd.DataFrame(rows).assign(
        file=lambda d: [f"f{i}" for i in range(len(d))], trained_as=lambda d: d["method"], elapsed_s=20.0
    )
    table = tables()["jobs"].make(Collection(rounds, pd.DataFrame(), pd.DataFrame())).set_index("method")
    assert table.loc["imp", "rounds_per_job"] == 3 and table.loc["imp", "startup_share"] == pytest.approx(0.4)
    assert table.loc["timp", "rounds_per_job"] == 1 and table.loc["timp", "startup_share"] == pytest.approx(0.6)
    assert table.loc["imp", "attempts"] == 3


def _round_file(folder, trial: int, method: str, round_index: int, network: bool, **attrs) -> Path:
    """A round file of a one-layer model holding only what ``collect`` reads (no weights)."""
    name = "fc.weight"
    shares = {"network_tree_edges": 6, "network_tree_share": 1.0, "own_tree_in_network": 1.0} if network else {}
    diagram = blank_record(DiagramAttrs, layer=name, tensor=name, size=12, weights=12, tree_edges=6, **shares)
    summary = {"vertices": 9, "tree_edges": 6, "layer_tree_edges": 6, "components": 3, "np": 1.0 + trial}
    summary |= {"eta_tau": 2.0, "eta_tau_params": 2.0 + trial, "normalized_np": 0.5, "w_max": float("nan")}
    data = RoundData(
        attrs=blank_record(RunAttrs, **RUN, method=method, trial=trial, round=round_index, compression=2.0, **attrs),
        weights={},
        masks={},
        rewind={},
        layer_attrs={},
        trained_rest={},
        rewind_rest={},
        diagrams={name: DiagramRecord(np.ones(6), np.ones(6), np.arange(6), diagram)},
        network=NetworkRecord(
            np.ones(6), np.ones(6), np.zeros(6), np.arange(6), [name], blank_record(NetworkAttrs, **summary)
        )
        if network
        else None,
    )
    return write_round(folder / f"t{trial}-{method}-{round_index}.h5", data)


def test_the_network_table_sets_each_trials_forest_kept_against_its_own_null_beside_the_layers_trees(tmp_path):
    def kept(trial: int, share: float, null: float) -> dict[str, float]:
        values = {"network_tree_kept": share + trial / 10, "network_tree_kept_params": share, "tree_kept": 0.9}
        nulls = dict(zip(NullInterval.keys("network_tree_kept"), (null, null - 0.1, null + 0.1, 100.0), strict=True))
        return values | nulls

    files = [
        _round_file(tmp_path, t, method, k, True, **(kept(t, share, null) if k else {}))
        for t in (0, 1)
        for method, share, null in (("dense", 0.0, 0.0), ("imp", 0.6, 0.5), ("timp", 0.8, 0.5))
        for k in ([0] if method == "dense" else [1])
    ]
    table = tables()["network"].make(collect(files))
    assert table[["method", "round"]].values.tolist() == [["imp", 0], ["imp", 1], ["timp", 0], ["timp", 1]]
    assert set(NETWORK_COLUMNS) | set(NullInterval.keys("network_tree_kept")) <= set(table.columns)
    imp, timp = table.iloc[1], table.iloc[3]
    assert imp["network_tree_kept"] == pytest.approx(0.65) and imp["network_tree_kept_null_mean"] == 0.5
    assert imp["vs_null"] == pytest.approx(0.15) and imp["vs_null_low"] <= 0.15 <= imp["vs_null_high"]
    assert timp["vs_imp"] == pytest.approx(0.2) and timp["tree_kept"] == pytest.approx(0.9)
    assert imp["network_np"] == pytest.approx(1.5) and imp["network_eta_tau_params"] == pytest.approx(2.5)
    assert np.isnan(table.iloc[0]["network_tree_kept"]) and table.iloc[0]["network_tree_edges"] == 6
    without = [_round_file(tmp_path / "v4", 0, m, k, False) for m, k in (("dense", 0), ("imp", 1))]
    assert tables()["network"].make(collect(without)).empty  # no network graph: no row
    for name, chosen in (("with", files), ("without", without)):  # its figure draws either way
        figures()["network_tree_kept"].make(PairData(collect(chosen)), tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
