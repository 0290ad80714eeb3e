"""``RoundKey``: one round of one run as a single value.

The rules, the launcher, the submitit job and ``run_round`` pass a key instead of five to eight
loose arguments. A key knows its files, the round it continues, its seeds, and how to write
itself as command-line arguments and read itself back.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.store import paths

_HASH = re.compile(r"[0-9a-f]{10}")
DENSE = "dense"
"""The ``method`` a round-0 file records: it belongs to no method."""


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
        """The same trial and round of another method (a control reads the method it follows)."""
        return RoundKey(self.arch, self.dataset, self.run_hash, self.trial, self.round, method)

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

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser, *, run_hash: bool = True) -> None:
        """The key's options; without ``run_hash`` it is computed from the configuration."""
        from pipeline.data.registry import DATASETS
        from pipeline.models.registry import arch_argument
        from pipeline.prune import method_names

        parser.add_argument("--arch", required=True, type=arch_argument, help="a registered architecture or tv:NAME")
        parser.add_argument("--dataset", required=True, choices=sorted(DATASETS))
        if run_hash:
            parser.add_argument("--run-hash", required=True, help="the run hash the output path was built with")
        parser.add_argument("--trial", type=int, required=True)
        parser.add_argument("--round", type=int, required=True, dest="round_index", metavar="K")
        parser.add_argument("--method", choices=method_names(), help="the pruning method (rounds >= 1)")

    @classmethod
    def from_args(cls, args: argparse.Namespace, run_hash: str | None = None) -> RoundKey:
        if args.round_index == 0 and args.method is not None:
            raise ValueError("round 0 (the dense network) belongs to no method: leave out --method")
        if args.round_index > 0 and args.method is None:
            raise ValueError(f"round {args.round_index} needs --method")
        return cls(args.arch, args.dataset, run_hash or args.run_hash, args.trial, args.round_index, args.method)

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, Any]) -> RoundKey:
        """The key of a round rule's job (the dense rule has no ``method`` wildcard)."""
        return cls(
            wildcards["arch"],
            wildcards["dataset"],
            wildcards["run_hash"],
            int(wildcards["trial"]),
            int(wildcards.get("round", 0)),
            wildcards.get("method"),
        )
