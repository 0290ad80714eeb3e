"""Verbs on the topology of a network: ``eta``, ``bounds``, ``persistence``."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from pathlib import Path

import pandas as pd
import torch

from pipeline.cli.checkpoint import load_into
from pipeline.data.registry import DATASETS, get_dataset_info
from pipeline.models import build_model, example_input, list_models, model_layers
from pipeline.models.registry import arch_argument
from pipeline.report.formats import FORMATS, render
from pipeline.report.topology import eta_counts, eta_frame, persistence_frame
from pipeline.topology.conventions import PRESETS, Convention, ConvGraph
from pipeline.topology.diagram import network_persistence
from pipeline.topology.overlap import chance_level, lower_bound

DEFAULT_FRACTIONS = (0.05, 0.1, 0.2, 0.4)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter

    eta = subparsers.add_parser(
        "eta",
        help="η_τ = |W| / |MaxST| per layer of an architecture, with Conv/Dense/Final aggregates",
        formatter_class=fmt,
        description=(
            "Topologically critical compression ratio η_τ (docs/science.md §3): how far each layer can be\n"
            "compressed while keeping its whole 0-dimensional persistence diagram.\n\n"
            "  paper  conv layers as single-channel Toeplitz graphs at their output resolution\n"
            "         (stride 1, 'same' padding, 1x1 shortcuts left out), as in the paper's tables\n"
            "  exact  the real multi-channel Toeplitz graph (stride, padding, channels honoured);\n"
            "         adds params / tree_params / eta_tau_params: the distinct kernel parameters the\n"
            "         spanning tree uses, counted on the model's initial weights (--seed)\n\n"
            "Aggregates are ratios of sums: conv, dense, final (all layers)."
        ),
        epilog="example: python -m pipeline eta --arch resnet20 --dataset cifar10 --format csv",
    )
    eta.add_argument(
        "--arch",
        required=True,
        type=arch_argument,
        help=f"architecture (docs/science.md §6): {', '.join(list_models())} or tv:NAME (torchvision)",
    )
    eta.add_argument("--dataset", required=True, choices=sorted(DATASETS), help="fixes input size and classes")
    eta.add_argument(
        "--conv-graph",
        choices=typing.get_args(ConvGraph),
        default="paper",
        help="how a convolution is counted: the paper's one-channel geometry or the exact Toeplitz graph "
        "(docs/science.md §3; not an NP convention, which --preset sets elsewhere; default: paper)",
    )
    eta.add_argument("--seed", type=int, default=0, help="initialisation seed for parameter counts (default: 0)")
    eta.add_argument("--format", choices=FORMATS, default="table")
    eta.set_defaults(func=run_eta)

    bounds = subparsers.add_parser(
        "bounds",
        help="Theorem 3.3 lower bound on the top-α/MST overlap and chance levels for an m x n layer",
        formatter_class=fmt,
        description=(
            "For a dense layer with m inputs and n outputs (α = m + n - 1 tree edges):\n"
            "  bound        lower bound on E[|TopAlpha ∩ MaxST| / α] (with --density: the corollary)\n"
            "  per fraction the chance that two random α-subsets share w = floor(fraction·α) edges\n"
            "               (fractions read as the decimals written: 0.29 of 100 is 29; or --shared w):\n"
            "               binomial (the paper's approximation) and hypergeometric (exact),\n"
            "               exactly w and at least w. Values far below 1e-300 are exact in the\n"
            "               log10_* JSON fields; the table shows them as powers of ten."
        ),
        epilog="example: python -m pipeline bounds --m 100 --n 10 --fraction 0.05",
    )
    bounds.add_argument("--m", type=int, required=True, help="inputs of the layer")
    bounds.add_argument("--n", type=int, required=True, help="outputs of the layer")
    bounds.add_argument("--density", type=float, default=1.0, help="fraction of weights kept (default: 1)")
    measured = bounds.add_mutually_exclusive_group()
    measured.add_argument(
        "--fraction", type=float, nargs="+", default=list(DEFAULT_FRACTIONS), help="overlap fractions (read exactly)"
    )
    measured.add_argument("--shared", type=int, nargs="+", help="overlaps as counts of shared edges instead")
    bounds.add_argument("--format", choices=("table", "json"), default="table")
    bounds.set_defaults(func=run_bounds)

    pers = subparsers.add_parser(
        "persistence",
        help="per-layer neural persistence, normalised NP and η_τ of a saved model",
        formatter_class=fmt,
        description=(
            "Diagrams and neural persistence of every prunable layer of a saved model\n"
            "(a torch state_dict, or a checkpoint dict with a 'model' entry). Exact zeros are\n"
            "read as pruned weights. Conventions (docs/science.md §2): --preset paper (default), authors\n"
            "(normaliser sqrt(|V|-2)) or rieck (global w_max, essential class, zero edges);\n"
            "single switches override the preset."
        ),
        epilog="example: python -m pipeline persistence model.pt --arch fcn --dataset mnist",
    )
    pers.add_argument("model", type=Path, help="state_dict file (.pt)")
    pers.add_argument("--arch", type=arch_argument, help="architecture of a state_dict (registered or tv:NAME)")
    pers.add_argument("--dataset", choices=sorted(DATASETS), help="data set of a state_dict")
    add_convention_arguments(pers)
    pers.add_argument("--format", choices=FORMATS, default="table")
    pers.set_defaults(func=run_persistence)


def add_convention_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("convention (docs/science.md §2)")
    group.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    group.add_argument("--w-max", choices=("layer", "global"))
    group.add_argument("--normalizer", choices=("vertices-1", "vertices-2"))
    group.add_argument("--essential", action=argparse.BooleanOptionalAction, default=None)
    group.add_argument("--pruned", choices=("absent", "zero"))
    group.add_argument("--p", type=float)


def convention_from_arguments(args: argparse.Namespace) -> Convention:
    overrides = {
        key: getattr(args, key)
        for key in ("w_max", "normalizer", "essential", "pruned", "p")
        if getattr(args, key) is not None
    }
    return Convention.from_dict({**PRESETS[args.preset].to_dict(), **overrides})


def run_eta(args: argparse.Namespace) -> None:
    torch.manual_seed(args.seed)
    model = build_model(args.arch, args.dataset)
    layers = model_layers(model, example_input(get_dataset_info(args.dataset).input_shape))
    sys.stdout.write(render(eta_frame(eta_counts(layers, args.conv_graph)), args.format))


def _power_of_ten(log10: float) -> str:
    if log10 > -300:
        return f"{10.0**log10:.3g}"
    return f"10^{log10:.1f}"


def run_bounds(args: argparse.Namespace) -> None:
    bound = lower_bound(args.m, args.n, args.density)
    if args.shared:
        levels = [chance_level(args.m, args.n, density=args.density, shared=w) for w in args.shared]
    else:
        levels = [chance_level(args.m, args.n, f, args.density) for f in args.fraction]
    if args.format == "json":
        payload = {
            "m": args.m,
            "n": args.n,
            "density": args.density,
            "alpha": args.m + args.n - 1,
            "bound": bound,
            "fractions": [level.to_dict() for level in levels],
        }
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    print(f"m={args.m} n={args.n} density={args.density:g} alpha={args.m + args.n - 1}")
    print(f"lower bound on E[overlap]: {bound:.5f}")
    rows = [
        {
            "fraction": level.fraction,
            "w": level.w,
            **{
                name: _power_of_ten(getattr(level, f"log10_{name}"))
                for name in (
                    "binomial_exactly",
                    "binomial_at_least",
                    "hypergeometric_exactly",
                    "hypergeometric_at_least",
                )
            },
        }
        for level in levels
    ]
    sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")


def run_persistence(args: argparse.Namespace) -> None:
    if args.arch is None or args.dataset is None:
        raise ValueError("a state_dict does not say its architecture: pass --arch and --dataset")
    convention = convention_from_arguments(args)
    model = build_model(args.arch, args.dataset)
    load_into(model, args.model, args.arch)
    masks = {name: (value != 0).numpy() for name, value in model.state_dict().items()}
    layers = model_layers(model, example_input(get_dataset_info(args.dataset).input_shape), masks)
    results = network_persistence(layers, convention)
    print(f"# convention: {convention.name}", file=sys.stderr)
    sys.stdout.write(render(persistence_frame(results), args.format))
