"""Verbs that aggregate stored runs: ``tables`` and ``figures``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from pipeline.report import registry
from pipeline.report.collect import collect
from pipeline.report.figures import PairData
from pipeline.report.formats import render
from pipeline.report.published import PAPER_PAIRS
from pipeline.report.topology import eta_comparison
from pipeline.store import read_round
from pipeline.store.paths import FIGURE_PATTERN, TABLE_FORMATS, TABLE_PATTERN, in_dir

FORMAT_OF = {"csv": "csv", "md": "markdown"}
"""How each table file extension is rendered."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    tables = subparsers.add_parser(
        "tables",
        help="the registered tables (CSV + Markdown) of a grid, from its round files",
        description="Aggregate round files into every registered table (mean ± sd over trials): "
        + ", ".join(_names("table"))
        + ".",
    )
    tables.add_argument("files", type=Path, nargs="+", help="round files (.h5)")
    tables.add_argument("--out-dir", type=Path, required=True)
    tables.set_defaults(func=run_tables)

    eta = subparsers.add_parser(
        "eta-table",
        help="η_τ of the paper's eight pairs (and any others given) in both conventions, with published values",
        description=(
            "η_τ per layer and Conv/Dense/Final for the eight pairs of docs/science.md §6 and the pairs of the "
            "given dense round files, in the paper's and the exact convention side by side. The exact convention's "
            "parameter-level η_τ is counted on the trained dense weights of the given files (mean over trials), "
            "else on seeded initial weights; the column params_counted_on says which."
        ),
    )
    eta.add_argument("files", type=Path, nargs="*", help="dense round files (round0.h5)")
    eta.add_argument("--out-dir", type=Path, required=True)
    eta.set_defaults(func=run_eta_table)

    figures = subparsers.add_parser(
        "figures",
        help="the figures of one architecture/data-set pair (PNG) from its round files",
        description="Writes " + ", ".join(f"{name}.png" for name in _names("figure")) + " into --out-dir.",
    )
    figures.add_argument("files", type=Path, nargs="+", help="the pair's round files (.h5)")
    figures.add_argument("--out-dir", type=Path, required=True)
    figures.set_defaults(func=run_figures)


def _names(kind: str) -> list[str]:
    return list(registry.figures() if kind == "figure" else registry.tables())


def _write(frame, out_dir: Path, name: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for ext in TABLE_FORMATS:
        in_dir(out_dir, TABLE_PATTERN, name=name, ext=ext).write_text(render(frame, FORMAT_OF[ext]))


def run_tables(args: argparse.Namespace) -> None:
    data = collect(args.files)
    for name, table in registry.tables().items():
        _write(table.make(data), args.out_dir, name)


def _trials(n: int) -> str:
    return f"{n} trial" if n == 1 else f"{n} trials"


def run_eta_table(args: argparse.Namespace) -> None:
    trained: dict[tuple[str, str], list] = {}
    for path in args.files:
        data = read_round(path, diagrams=False, metrics=False)
        if data.attrs.round != 0:
            raise ValueError(f"{path} is round {data.attrs.round}; the η_τ table reads dense rounds (round 0)")
        trained.setdefault((data.attrs.arch, data.attrs.dataset), []).append(data.weights)
    pairs = list(PAPER_PAIRS) + [pair for pair in trained if pair not in PAPER_PAIRS]
    frames = []
    for arch, dataset in pairs:
        dense = trained.get((arch, dataset))
        counted_on = f"trained dense weights ({_trials(len(dense))})" if dense else "initial weights (seed 0)"
        frames.append(eta_comparison(arch, dataset, dense).assign(params_counted_on=counted_on))
    _write(pd.concat(frames, ignore_index=True), args.out_dir, "eta_tau")


def run_figures(args: argparse.Namespace) -> None:
    pair = PairData(collect(args.files))
    for name, figure in registry.figures().items():
        figure.make(pair, in_dir(args.out_dir, FIGURE_PATTERN, name=name))
