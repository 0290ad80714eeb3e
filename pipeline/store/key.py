"""``RoundKey``: one round of one run as a single value.

The rules, the launcher, the submitit job and ``run_round`` pass a key instead of five to eight
loose arguments. A key knows its files, the round it continues, its seeds, and how to write
itself as command-line arguments and read itself back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.prune.registry import DENSE, get_method
from pipeline.store import paths

_HASH = re.compile(r"[0-9a-f]{10}")


@dataclass(frozen=True)
class RoundKey:
    """``method`` is None exactly for round 0: the dense round belongs to no method (every
    method of a trial continues it)."""

    arch: str
    dataset: str
    run_hash: str
    trial: int
    round: int
    method: str | None = None

    def __post_init__(self) -> None:
        if self.trial < 0 or self.round < 0:
            raise ValueError(f"round key {self}: trial and round must be >= 0")
        if (self.round == 0) != (self.method is None):
            raise ValueError(f"round key {self}: round 0 has no method, rounds >= 1 need one")
        if not _HASH.fullmatch(self.run_hash):
            raise ValueError(f"round key {self}: a run hash is 10 hexadecimal digits")

    @property
    def label(self) -> str:
        """The method, or ``dense`` for round 0 (the ``method`` stored in the round file)."""
        return self.method or DENSE

    @property
    def name(self) -> str:
        """A short unique name (job names, checkpoint fingerprints)."""
        return f"{self.arch}-{self.dataset}-{self.run_hash}-t{self.trial}-{self.label}-r{self.round}"

    @property
    def previous(self) -> RoundKey | None:
        """The round this one prunes: round k - 1 of the same method, or the shared dense round."""
        if self.round == 0:
            return None
        method = self.method if self.round > 1 else None
        return RoundKey(self.arch, self.dataset, self.run_hash, self.trial, self.round - 1, method)

    def of_method(self, method: str) -> RoundKey:
        """The same trial and round of another method."""
        return RoundKey(self.arch, self.dataset, self.run_hash, self.trial, self.round, method)

    @property
    def reference(self) -> RoundKey | None:
        """The round whose masks this one reads: the same trial and round of the method its method
        ``follows`` (a control copies IMP's), or None. The workflow's input and the job's read."""
        follows = get_method(self.method).follows if self.method else None
        return self.of_method(follows) if follows else None

    def reference_file(self, results: str | Path) -> Path | None:
        """Where :attr:`reference` lies under ``results`` (the default of a launcher or a round)."""
        return None if self.reference is None else self.reference.file(results)

    def file(self, results: str | Path) -> Path:
        return paths.round_file(results, self.arch, self.dataset, self.run_hash, self.trial, self.method, self.round)

    def data_seed(self, trial_seed: int) -> int:
        """Batch order of this round: the same for every method at a trial and round (paired)."""
        return trial_seed * 1009 + self.round * 2

    def prune_seed(self, trial_seed: int) -> list[int]:
        """Entropy of the generator a method may draw from: per trial and round, not per method."""
        return [trial_seed, self.round, 0x5EED]

    def init_seed(self, trial_seed: int) -> int:
        """Seed of a fresh initialisation for this round (``Method.fresh_start``).

        torch's CPU generator keeps only the low 32 bits of a seed, so the seed lies in
        [2**31, 2**32): never a trial's seed (``seed`` is below 2**30), and different for every
        trial and round.
        """
        return 2**31 + (trial_seed * 4099 + self.round) % 2**31

    def to_args(self) -> list[str]:
        args = ["--arch", self.arch, "--dataset", self.dataset, "--run-hash", self.run_hash]
        args += ["--trial", str(self.trial), "--round", str(self.round)]
        return args + (["--method", self.method] if self.method else [])

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, Any]) -> RoundKey:
        """The key of a round rule's job (the dense rule has no ``method`` wildcard)."""
        return cls(
            paths.arch_of_dir(wildcards["arch"]),
            wildcards["dataset"],
            wildcards["run_hash"],
            int(wildcards["trial"]),
            int(wildcards.get("round", 0)),
            wildcards.get("method"),
        )
