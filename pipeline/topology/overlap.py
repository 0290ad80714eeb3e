"""Overlap of magnitude pruning with the maximum spanning tree (docs/science.md §4).

``X = |TopAlpha ∩ MaxST| / α``: how much of the topology magnitude pruning would keep if it
kept exactly as many weights as the tree has. Beside the measured overlap: the paper's lower
bound on E[X] (Theorem 3.3 and its corollary for a layer of density p) and two chance levels
for two random α-subsets of the edges — the paper's binomial approximation and the exact
hypergeometric law. Everything is evaluated in log space, so 784 x 100 layers neither
overflow nor produce NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import special

from pipeline.topology.graphs import ConvLayer, Layer, require_present
from pipeline.topology.mst import ConvForest, SpanningForest
from pipeline.topology.order import top_k


@dataclass(frozen=True)
class Overlap:
    """``shared`` of the ``alpha`` heaviest weights are forest edges (conv: kernel parameters)."""

    alpha: int
    shared: int

    @property
    def fraction(self) -> float:
        return self.shared / self.alpha if self.alpha else 1.0


def overlap(layer: Layer, forest: SpanningForest) -> Overlap:
    """Top-α vs MaxST overlap of the present weights' forest; for conv layers at the level of
    distinct kernel parameters."""
    if isinstance(layer, ConvLayer):
        if not isinstance(forest, ConvForest):
            raise TypeError(f"layer {layer.name!r}: a conv layer needs a ConvForest")
        tree = forest.used_params
    else:
        tree = np.unique(forest.indices)
    require_present(layer, tree)
    top = top_k(np.abs(layer.weight), tree.size, layer.mask)
    return Overlap(alpha=int(tree.size), shared=int(np.intersect1d(top, tree, assume_unique=True).size))


def _check_sizes(m: int, n: int) -> None:
    if m < 1 or n < 1:
        raise ValueError(f"layer sizes must be positive, got m={m}, n={n}")


def lower_bound(m: int, n: int, density: float = 1.0) -> float:
    """Theorem 3.3 lower bound on E[X] for an m -> n layer; with ``density < 1`` the corollary.

    ``(1/(m+n-1)) Σ_{i=0}^{j} (m-i)(n-i) / (p·m·n - i)``, ``j = min(m, n)``, capped at 1 for
    ``p < 1``; ``E[X] = 1`` when ``j = 1``. The corollary assumes the layer stays connected,
    so ``p·m·n`` must be at least ``m + n - 1``.
    """
    _check_sizes(m, n)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must be in (0, 1], got {density}")
    j = min(m, n)
    if j == 1:
        return 1.0
    edges = density * m * n
    if edges < m + n - 1:
        raise ValueError(f"density {density} leaves {edges:g} edges, fewer than the {m + n - 1} a spanning tree needs")
    i = np.arange(j + 1, dtype=np.float64)
    value = float(np.sum((m - i) * (n - i) / (edges - i)) / (m + n - 1))
    return min(1.0, value) if density < 1.0 else value


_LOG10_E = float(np.log10(np.e))


@dataclass(frozen=True)
class ChanceLevel:
    """Probability that two random α-subsets of the edges share ``w = ⌊fraction·α⌋`` edges.

    Stored as base-10 logarithms, which never underflow: two random 883-subsets of a 784 x 100
    layer's edges share at least 40 % (353 edges) with probability 10^-433.9 under the paper's
    binomial approximation and 10^-468.2 under the exact hypergeometric law (exactly 353: the
    same to one decimal). The plain probabilities are derived from the logarithms (at such
    levels they underflow to 0.0).
    """

    fraction: float
    w: int
    log10_binomial_exactly: float
    log10_binomial_at_least: float
    log10_hypergeometric_exactly: float
    log10_hypergeometric_at_least: float

    @property
    def binomial_exactly(self) -> float:
        return 10.0**self.log10_binomial_exactly

    @property
    def binomial_at_least(self) -> float:
        return 10.0**self.log10_binomial_at_least

    @property
    def hypergeometric_exactly(self) -> float:
        return 10.0**self.log10_hypergeometric_exactly

    @property
    def hypergeometric_at_least(self) -> float:
        return 10.0**self.log10_hypergeometric_at_least

    def to_dict(self) -> dict[str, float | int]:
        names = ("binomial_exactly", "binomial_at_least", "hypergeometric_exactly", "hypergeometric_at_least")
        out: dict[str, float | int] = {"fraction": self.fraction, "w": self.w}
        out.update({name: getattr(self, name) for name in names})
        out.update({f"log10_{name}": getattr(self, f"log10_{name}") for name in names})
        return out


def _log_at_least(dist: Any, w: int, alpha: int) -> float:
    """``log P(X >= w)`` for X on 0..alpha, summed in log space (``logsf`` underflows to -inf)."""
    if w <= 0:
        return 0.0
    return min(0.0, float(special.logsumexp(dist.logpmf(np.arange(w, alpha + 1)))))


def log10_chance_at_least(population: int, alpha: int, shared: int) -> float:
    """log10 of the chance that two random ``alpha``-subsets of ``population`` items share at
    least ``shared`` (hypergeometric): how surprising a measured top-α/tree overlap is."""
    if not 0 <= shared <= alpha <= population:
        raise ValueError(f"need 0 <= shared <= alpha <= population, got {shared}, {alpha}, {population}")
    from scipy import stats  # imported here: scipy.stats costs most of a second at start-up

    return _log_at_least(stats.hypergeom(population, alpha, alpha), shared, alpha) * _LOG10_E


def _exact(fraction: float | Fraction) -> Fraction:
    """A fraction as the rational number it was written as: 0.29 is 29/100, not 0.28999..."""
    return fraction if isinstance(fraction, Fraction) else Fraction(repr(float(fraction)))


def chance_level(
    m: int, n: int, fraction: float | Fraction | None = None, density: float = 1.0, *, shared: int | None = None
) -> ChanceLevel:
    """Chance of an overlap of ``fraction`` (or of ``shared`` edges) between top-α and the tree
    if both were random.

    ``w = ⌊fraction·α⌋`` in rational arithmetic, or the measured count ``shared`` itself.
    Binomial (the paper): ``q = α / N`` with ``N = p·m·n`` edges and ``α = m + n - 1``;
    exactly ``C(α, w) q^w (1-q)^(α-w)``, at least ``Σ_{i >= w}``. Hypergeometric (exact):
    draw α of the N edges, α of which are tree edges.
    """
    _check_sizes(m, n)
    alpha = m + n - 1
    if (fraction is None) == (shared is None):
        raise ValueError("give either a fraction or a shared count")
    if shared is not None:
        if not 0 <= shared <= alpha:
            raise ValueError(f"shared count must be in 0..{alpha}, got {shared}")
        w, exact = int(shared), Fraction(int(shared), alpha)
    else:
        exact = _exact(fraction)
        if not 0 <= exact <= 1:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        w = math.floor(exact * alpha)
    population = round(density * m * n)
    if not alpha <= population <= m * n:
        raise ValueError(f"density {density} leaves {population} edges; need {alpha}..{m * n}")
    from scipy import stats  # imported here: scipy.stats costs most of a second at start-up

    binom = stats.binom(alpha, alpha / population)
    hyper = stats.hypergeom(population, alpha, alpha)
    return ChanceLevel(
        fraction=float(exact),
        w=w,
        log10_binomial_exactly=float(binom.logpmf(w)) * _LOG10_E,
        log10_binomial_at_least=_log_at_least(binom, w, alpha) * _LOG10_E,
        log10_hypergeometric_exactly=float(hyper.logpmf(w)) * _LOG10_E,
        log10_hypergeometric_at_least=_log_at_least(hyper, w, alpha) * _LOG10_E,
    )
