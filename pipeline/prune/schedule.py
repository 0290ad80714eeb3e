"""How much survives each round (docs/science.md §1): geometric or linear schedules of density."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.prune.settings import PruningConfig


def target_density(cfg: PruningConfig, round_index: float, rate: float | None = None) -> float:
    """Density after ``round_index`` pruning rounds (round 0 is the dense network).

    geometric: ``(1 - rate)^k`` — every round removes ``rate`` (default ``cfg.rate``; a layer may
    have its own, ``PruningConfig.rate_of``) of the survivors.
    linear: ``1 - k (1 - target) / linear_rounds``, held at ``target`` afterwards.
    A fractional ``round_index`` lies between two rounds (iterative methods step through it).
    """
    if round_index < 0:
        raise ValueError(f"round must be >= 0, got {round_index}")
    if cfg.schedule == "geometric":
        return (1.0 - (cfg.rate if rate is None else rate)) ** round_index
    return max(cfg.target, 1.0 - round_index * (1.0 - cfg.target) / cfg.linear_rounds)


def keep_count(total: int, density: float) -> int:
    """Weights kept out of ``total`` at ``density``: rounded to the nearest integer, at least 1."""
    return max(1, min(total, round(total * density)))
