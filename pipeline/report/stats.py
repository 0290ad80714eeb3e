"""Statistics over trials: bootstrap intervals of a mean, and paired comparisons.

Trials of different methods share their seeds (initialisation, batch order, pruning draws), so
a method is compared with a reference trial by trial: the interval is that of the mean paired
difference, and the test a paired t-test. Intervals are 95 % bootstrap intervals of the mean
(scipy.stats.bootstrap, BCa, a fixed seed so tables are reproducible); with 3 to 5 trials they
are wide and somewhat too narrow at once (the bootstrap cannot see beyond the trials it has),
so the docs quote them with the trial count and the t-test's p beside them.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0


@dataclass(frozen=True)
class Interval:
    """Mean, sample sd and a bootstrap interval of the mean over ``n`` values."""

    n: int
    mean: float
    sd: float
    low: float
    high: float

    def columns(self, prefix: str) -> dict[str, float]:
        return {f"{prefix}_{k}" if k != "mean" else prefix: v for k, v in asdict(self).items() if k != "n"}


def interval(values: np.ndarray | list[float]) -> Interval:
    """The mean of ``values`` with a 95 % BCa bootstrap interval (NaN bounds below 2 values;
    a zero-width interval when all values are equal)."""
    from scipy import stats  # here: scipy.stats costs most of a second at start-up

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return Interval(0, np.nan, np.nan, np.nan, np.nan)
    mean, sd = float(x.mean()), float(x.std(ddof=1)) if n > 1 else np.nan
    if n < 2:
        return Interval(n, mean, sd, np.nan, np.nan)
    if np.ptp(x) == 0:
        return Interval(n, mean, 0.0, mean, mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=CONFIDENCE,
            n_resamples=RESAMPLES,
            method="BCa",
            rng=np.random.default_rng(SEED),
        )
    low, high = result.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa undefined (e.g. all but one equal)
        boot = np.random.default_rng(SEED).choice(x, (RESAMPLES, n)).mean(axis=1)
        low, high = np.quantile(boot, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2])
    return Interval(n, mean, sd, float(low), float(high))


@dataclass(frozen=True)
class Paired:
    """A method against a reference over the same trials: the mean difference (method minus
    reference) with its interval, the paired t-test's two-sided p, and how many trials the
    method was ahead in (``wins``) out of ``n``."""

    difference: Interval
    p: float
    wins: int

    @property
    def n(self) -> int:
        return self.difference.n

    def excludes_zero(self) -> bool:
        return bool(self.difference.low > 0 or self.difference.high < 0)


def paired(values: np.ndarray | list[float], reference: np.ndarray | list[float]) -> Paired:
    """Compare ``values`` with ``reference`` trial by trial (equal lengths, the same trial order)."""
    from scipy import stats  # here: scipy.stats costs most of a second at start-up

    a, b = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples need the same trials: {a.size} against {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    diff = a - b
    p = np.nan
    if diff.size > 1 and np.ptp(diff) > 0:
        p = float(stats.ttest_rel(a, b).pvalue)
    elif diff.size > 1 and diff[0] == 0:  # identical in every trial (e.g. the same masks)
        p = 1.0
    return Paired(interval(diff), p, int((diff > 0).sum()))
