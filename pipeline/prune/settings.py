"""How a round prunes: the ``pruning`` section of the configuration, beside the methods that read it."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Literal

from pipeline.fields import opt
from pipeline.topology.graphs import LayerKind


def _rate_keys() -> list[str]:
    return ["output", *typing.get_args(LayerKind)]


@dataclass(frozen=True)
class PruningConfig:
    """How each round prunes (docs/science.md §1, §5)."""

    schedule: Literal["geometric", "linear"] = opt(
        "geometric",
        "geometric: remove `rate` of the survivors per round; linear: reach `target` density linearly",
    )
    rate: float = opt(
        0.2,
        "geometric schedule: fraction of surviving weights removed per round",
        exclusive_minimum=0,
        exclusive_maximum=1,
    )
    target: float = opt(
        0.05,
        "linear schedule: density reached after `linear_rounds`",
        exclusive_minimum=0,
        exclusive_maximum=1,
    )
    linear_rounds: int = opt(10, "linear schedule: rounds to reach `target`", minimum=1)
    scope: Literal["local", "global"] = opt("local", "rank weights per layer (local) or across all layers")
    rates: dict[str, float] = opt(
        {},
        "geometric schedule: per-round rates of their own for the classifier (`output`) or a layer kind",
        choices=_rate_keys,
    )
    rewind: str = opt(
        "init",
        "weights a round restarts from: init, epoch:E or step:N (of round 0; late rewinding) or none (keep training)",
        pattern=r"^(init|none|epoch:[1-9][0-9]*|step:[1-9][0-9]*)$",
    )
    prune_output: bool = opt(True, "prune the classifier (last layer) like the others")
    timp_short_budget: Literal["cap", "heaviest"] = opt(
        "cap", "T-IMP when the budget k < |MST|: keep the whole MST (cap) or its k heaviest edges"
    )

    def rewind_step(self, steps_per_epoch: int) -> int | None:
        """The optimizer step of round 0 whose weights later rounds restart from (``epoch:E`` is
        step E x steps_per_epoch); None for ``init`` and ``none``."""
        kind, _, count = self.rewind.partition(":")
        if kind == "epoch":
            return int(count) * steps_per_epoch
        return int(count) if kind == "step" else None

    def _rate_key(self, kind: str, is_output: bool) -> str | None:
        """The ``rates`` key that sets a layer's rate: the classifier's own, else its kind's."""
        if is_output and "output" in self.rates:
            return "output"
        return kind if kind in self.rates else None

    def rate_of(self, kind: str, is_output: bool) -> float:
        """The per-round rate of a layer: its ``rates`` entry, else ``rate``."""
        key = self._rate_key(kind, is_output)
        return self.rate if key is None else self.rates[key]

    def has_own_rate(self, kind: str, is_output: bool) -> bool:
        """Whether ``rates`` sets this layer's rate (global scope then prunes it on its own)."""
        return self._rate_key(kind, is_output) is not None
