"""Bootstrap intervals and paired comparisons, and the comparison table built on them."""

import numpy as np
import pandas as pd
import pytest

from pipeline.report.collect import Collection
from pipeline.report.registry import tables
from pipeline.report.stats import interval, paired


def test_interval_contains_the_mean_and_narrows_with_more_trials():
    rng = np.random.default_rng(0)
    few, many = interval(rng.normal(0.8, 0.02, 5)), interval(rng.normal(0.8, 0.02, 200))
    for iv in (few, many):
        assert iv.low < iv.mean < iv.high
    assert many.high - many.low < few.high - few.low
    assert 0.79 < many.low < 0.8 < many.high < 0.81
    assert interval([0.5, 0.5, 0.5]) == interval([0.5, 0.5, 0.5]) and interval([0.5] * 3).low == 0.5
    assert np.isnan(interval([0.7]).low) and interval([]).n == 0


def test_paired_comparison_uses_the_differences_of_the_same_trials():
    reference = np.array([0.70, 0.80, 0.90, 0.75, 0.85])
    better = reference + np.array([0.010, 0.012, 0.011, 0.009, 0.010])
    result = paired(better, reference)
    assert result.difference.mean == pytest.approx(0.0104) and result.wins == 5 and result.excludes_zero()
    assert result.p < 1e-4  # the trial spread (sd 0.08) cancels in the pairs
    unpaired_overlap = interval(better).low < interval(reference).high
    assert unpaired_overlap  # the same data compared unpaired would not separate
    same = paired(reference, reference)
    assert same.p == 1.0 and same.difference.mean == 0 and not same.excludes_zero()
    with pytest.raises(ValueError, match="same trials"):
        paired(reference, reference[:3])


def test_comparison_table_pairs_each_method_with_imp_by_trial():
    rows = []
    for trial in range(4):
        for method, shift in (("imp", 0.0), ("timp", -0.02), ("random", -0.1)):
            base = {"arch": "fcn", "dataset": "mnist-5k", "run_hash": "0123456789", "trial": trial}
            rows.append(base | {"method": method, "round": 0, "compression": 1.0, "test_acc": 0.9 + trial / 100})
            acc = 0.8 + trial / 50 + shift + (0.003 if trial % 2 else -0.003) * (method == "timp")
            rows.append(base | {"method": method, "round": 1, "compression": 2.0, "test_acc": acc})
    table = tables()["comparison"].make(Collection(pd.DataFrame(rows), pd.DataFrame(), pd.DataFrame()))
    row = table[(table["method"] == "timp") & (table["round"] == 1)].iloc[0]
    assert row["trials"] == 4 and row["vs_imp"] == pytest.approx(-0.02)
    assert row["vs_imp_low"] <= -0.02 <= row["vs_imp_high"] < 0 and row["wins_vs_imp"] == 0
    assert row["test_acc_low"] < row["test_acc"] < row["test_acc_high"]
    assert list(table["method"].unique()) == ["imp", "random", "timp"]  # registry order
    assert table.loc[table["method"] == "imp", "vs_imp"].isna().all()
    assert pd.api.types.is_integer_dtype(table["wins_vs_imp"])  # a count of trials, NA where not compared
    assert table.loc[table["method"] == "imp", "wins_vs_imp"].isna().all()
