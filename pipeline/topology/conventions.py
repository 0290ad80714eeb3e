"""Named conventions for diagrams and neural persistence (docs/science.md §2).

Two public implementations disagree on how weights are normalised and what the diagram
contains; every stored or printed result names the convention it was computed under.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal

WMaxScope = Literal["layer", "global"]
Normalizer = Literal["vertices-1", "vertices-2"]
PrunedEdges = Literal["absent", "zero"]
ConvGraph = Literal["paper", "exact"]


@dataclass(frozen=True)
class Convention:
    """How a layer's weights become a persistence diagram and a neural persistence value.

    Also the ``topology`` section of the pipeline's configuration (docs/science.md §2).
    """

    w_max: WMaxScope = field(
        default="layer",
        metadata={"help": "normalise |w| by the layer's largest weight (paper) or the network's (Rieck)"},
    )
    normalizer: Normalizer = field(
        default="vertices-1",
        metadata={"help": "normalised NP divides by (|V|-1)^(1/p) (Rieck's bound) or (|V|-2)^(1/p)"},
    )
    essential: bool = field(
        default=False,
        metadata={"help": "add one (1, 0) point per connected component (Rieck's reference code)"},
    )
    pruned: PrunedEdges = field(
        default="absent",
        metadata={"help": "a masked weight is an absent edge, or an edge of weight 0 (Rieck)"},
    )
    p: float = field(default=2.0, metadata={"help": "the p of the p-norm in neural persistence", "minimum": 1})

    def __post_init__(self) -> None:
        allowed = {
            "w_max": ("layer", "global"),
            "normalizer": ("vertices-1", "vertices-2"),
            "pruned": ("absent", "zero"),
        }
        for key, values in allowed.items():
            if getattr(self, key) not in values:
                raise ValueError(f"convention.{key} = {getattr(self, key)!r}: allowed values are {values}")
        if not isinstance(self.essential, bool):
            raise ValueError(f"convention.essential = {self.essential!r}: allowed values are true, false")
        if not self.p >= 1:
            raise ValueError(f"convention.p = {self.p!r}: must be a number >= 1")

    @property
    def name(self) -> str:
        """Canonical one-line name, stored beside every result."""
        ess = "yes" if self.essential else "no"
        return f"w_max={self.w_max},normalizer={self.normalizer},essential={ess},pruned={self.pruned},p={self.p:g}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> Convention:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown convention keys {unknown}: allowed keys are {sorted(known)}")
        return cls(**values)  # type: ignore[arg-type]


PAPER = Convention()
"""The paper's choices (per-layer w_max, essential class omitted) with Rieck's normaliser."""

AUTHORS = replace(PAPER, normalizer="vertices-2")
"""The paper authors' public code: per-layer w_max, sqrt(|V| - 2), essential class omitted."""

RIECK = Convention(w_max="global", normalizer="vertices-1", essential=True, pruned="zero")
"""Rieck et al.'s reference implementation: network-wide w_max, essential class, zero edges."""

PRESETS: dict[str, Convention] = {"paper": PAPER, "authors": AUTHORS, "rieck": RIECK}
