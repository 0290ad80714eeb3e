"""``python -m pipeline``: the parser of every verb, and ``main``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pipeline.cli import analyze, configuration, report, run, topology

_VERBS = (topology, analyze, run, report, configuration)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description=(
            "Iterative magnitude pruning through zeroth-order topology: persistence diagrams, "
            "neural persistence and the topologically critical compression ratio of networks."
        ),
        epilog="Run 'python -m pipeline VERB --help' for the options of one verb.",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for module in _VERBS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, NotImplementedError) as err:
        print(f"{parser.prog} {args.verb}: error: {err}", file=sys.stderr)
        return 2
