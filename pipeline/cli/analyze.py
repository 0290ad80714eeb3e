"""``python -m pipeline analyze``: the topology of any PyTorch model, one row per weight graph."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import importlib
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.cli.topology import add_convention_arguments, convention_from_arguments
from pipeline.errors import first_line
from pipeline.models.hub import TOKENS, TRANSFORMERS
from pipeline.report.figures import plot_diagram
from pipeline.report.formats import FORMATS, render
from pipeline.store.analysis import AnalysisFile
from pipeline.topology.null import NullSettings

SOURCE_HELP = (
    "give --torchvision NAME, --model MODULE:FACTORY (or transformers:TYPE), "
    "or --checkpoint FILE holding a whole saved module"
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "analyze",
        help="topology of any PyTorch model: η_τ, NP, top-α overlap per weight graph, with aggregates",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Exact 0-dimensional topology of every weight graph of a model (docs/science.md §2-§4):\n"
            "every weight the forward pass uses in a linear or convolution operation (nn.Linear,\n"
            "F.linear, GPT-2's Conv1D, 1-D/2-D convolutions with any stride, padding, dilation and\n"
            "groups, standardised kernels), RNN/LSTM/GRU (one graph per gate block) and\n"
            "MultiheadAttention (q, k, v blocks and the output projection). One row per graph:\n"
            "sizes, spanning-tree edges, η_τ (edges; kernel parameters for convs), NP, normalised\n"
            "NP, top-α/tree overlap, its bound (dense) and log10 of its chance level; then Conv /\n"
            "Dense / Final aggregates; then every parameter that is no graph (biases, norms,\n"
            "embeddings), with the reason. Nothing is downloaded."
        ),
        epilog=(
            "examples:\n"
            "  python -m pipeline analyze --torchvision resnet50 --format csv\n"
            "  python -m pipeline analyze --model mypkg.nets:build --model-arg width=64 --input-shape 3,32,32\n"
            "  python -m pipeline analyze --torchvision vit_b_16 --format h5 --output vit.h5 --figures figs\n"
            "  python -m pipeline analyze --torchvision resnet18 --whole-network --format csv\n"
            "  python -m pipeline analyze --model timm:create_model --model-arg model_name=convnext_atto\n"
            "  python -m pipeline analyze --model transformers:llama --model-arg num_hidden_layers=2 \\\n"
            "      --checkpoint shards/   # a sharded safetensors directory, read one weight at a time"
        ),
    )
    source = p.add_argument_group("the model")
    source.add_argument("--torchvision", metavar="NAME", help="a torchvision classifier, built with weights=None")
    source.add_argument(
        "--model",
        metavar="MODULE:FACTORY",
        help="your own code: a function or class that builds it (timm:create_model, with model_name=...); "
        "transformers:TYPE or transformers:CLASS builds a Hugging Face model from its configuration "
        "(--model-arg sets configuration keys)",
    )
    source.add_argument(
        "--model-arg", metavar="KEY=VALUE", action="append", default=[], help="keyword argument (YAML value)"
    )
    source.add_argument(
        "--checkpoint",
        "--weights",
        type=Path,
        metavar="FILE",
        help="the model's weights: a state_dict (.pt), a .safetensors file or a directory of sharded safetensors "
        "(with its index), read one weight at a time; or, naming no model, a whole saved module (trusted files "
        "only: it is unpickled)",
    )
    source.add_argument(
        "--input-shape",
        metavar="C,H,W",
        help="one example's shape (default: torchvision 3,224,224; timm the model's pretrained_cfg input size; "
        f"a language model {TOKENS} token ids)",
    )
    source.add_argument(
        "--input-dtype", choices=("float", "long"), help="long: token ids (default for language models)"
    )
    source.add_argument("--seed", type=int, default=0, metavar="S", help="seed of a model's random weights (default 0)")
    add_convention_arguments(p)
    p.add_argument(
        "--zeros",
        choices=("pruned", "weights"),
        default="pruned",
        help="exact zeros are pruned weights (absent edges, default) or weights of magnitude 0",
    )
    p.add_argument(
        "--null-draws",
        type=int,
        metavar="N",
        help=f"permutations per graph for the null of the overlap and NP (docs/science.md §4; 0 skips it; "
        f"default {NullSettings().draws} for models of at most 10 M graph weights, else none)",
    )
    p.add_argument("--null-seed", type=int, default=NullSettings().seed, metavar="S", help="seed of the permutations")
    p.add_argument(
        "--whole-network",
        action="store_true",
        help="also the whole network as one graph (docs/science.md §10): a row of kind `network` and each graph's "
        "part of its spanning forest; a forward pass the trace cannot follow stops with the reason",
    )
    out = p.add_argument_group("output")
    out.add_argument("--format", choices=(*FORMATS, "h5"), default="table")
    out.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout (required for h5)")
    out.add_argument("--figures", type=Path, metavar="DIR", help="persistence diagram PNGs of the --layers chosen")
    out.add_argument(
        "--layers",
        nargs="+",
        metavar="PATTERN",
        help="graph names (shell patterns) to plot with --figures (default: the first and the last)",
    )
    out.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run_analyze)


def _input_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise ValueError(f"--input-shape {text!r}: expected positive integers separated by commas, e.g. 3,224,224")
    return shape


def _example(args: argparse.Namespace, model: Any) -> Any:
    """One example batch: the shape given, torchvision's 224x224, or what the model declares."""
    # here: torch loads only when a model is analysed, not for `python -m pipeline --help`
    import torch

    from pipeline.models.hub import declared_input, is_language_model  # here: loads torch
    from pipeline.models.zoo import INPUT_SHAPE  # here: loads torch

    if args.input_shape is not None or args.torchvision:
        shape = _input_shape(args.input_shape) if args.input_shape else INPUT_SHAPE
        dtype = args.input_dtype or ("long" if is_language_model(model) else "float")
        return torch.zeros(1, *shape, dtype=torch.long if dtype == "long" else torch.float32)
    example = declared_input(model)
    if example is None:
        raise ValueError("--input-shape is required for this model (one example's shape, e.g. 3,32,32)")
    if args.input_dtype:
        example = example.to(torch.long if args.input_dtype == "long" else torch.float32)
    return example


def _model_args(items: list[str]) -> dict[str, Any]:
    kwargs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"--model-arg {item!r}: expected KEY=VALUE with KEY a Python name")
        kwargs[key] = yaml.safe_load(value)
    return kwargs


def _factory(spec: str) -> Any:
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--model {spec!r}: expected MODULE:FACTORY, e.g. mypkg.nets:build")
    here = str(Path.cwd())
    sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(f"--model {spec!r}: cannot import {module_name!r} ({err})") from None
    finally:
        sys.path.remove(here)
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"--model {spec!r}: module {module_name!r} has no callable {attr!r}")
    return factory


def _construct(args: argparse.Namespace, kwargs: dict[str, Any]) -> Any:
    if args.torchvision:
        from pipeline.models.zoo import build as build_torchvision  # here: the zoo loads torch and torchvision

        return build_torchvision(args.torchvision, **kwargs)
    if args.model.startswith(TRANSFORMERS):
        from pipeline.models.hub import build_transformers  # here: loads torch (and transformers)

        return build_transformers(args.model.removeprefix(TRANSFORMERS), **kwargs)
    return _factory(args.model)(**kwargs)


def _built(args: argparse.Namespace, label: str, kwargs: dict[str, Any], *, meta: bool) -> Any:
    """The model, seeded; on the meta device (structure only, no memory) when ``meta``."""
    # here: torch loads only when a model is analysed, not for `python -m pipeline --help`
    import torch
    from torch import nn

    torch.manual_seed(args.seed)
    try:
        with torch.device("meta") if meta else contextlib.nullcontext():
            model = _construct(args, kwargs)
    except ValueError:
        raise
    except Exception as err:  # the builder's own checks, or the user's code: report, do not trace back
        raise ValueError(f"{label}: building it failed: {first_line(err)}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{label} built a {type(model).__name__}, not a torch.nn.Module")
    return model


def build(args: argparse.Namespace, *, stream: bool = True) -> tuple[Any, str, Any]:
    """The model the arguments name, a label for it, and how to read its weights: with a
    checkpoint, the model is built on the meta device and its tensors are read one at a time
    from the file (``stream``); otherwise the model holds them (None)."""
    from pipeline.cli.checkpoint import load_into, load_module, open_stored  # here: loads torch

    if args.torchvision and args.model:
        raise ValueError("give --torchvision or --model, not both")
    if not (args.torchvision or args.model):
        if args.model_arg:
            raise ValueError("--model-arg configures --torchvision or --model; a whole saved module takes none")
        return load_module(args.checkpoint), str(args.checkpoint), None
    label = args.torchvision or args.model
    kwargs = _model_args(args.model_arg)
    if args.checkpoint and stream:
        stored = open_stored(args.checkpoint)
        try:
            model = _built(args, label, kwargs, meta=True)
        except ValueError:  # a builder that needs real tensors: built whole below
            model = None
        if model is not None:
            stored.check(model, label)
            return model, label, stored.values()
    model = _built(args, label, kwargs, meta=False)
    if args.checkpoint:
        load_into(model, args.checkpoint, label)
    return model, label, None


def _progress(enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm  # here: not for `python -m pipeline --help` (torch brings it when analysing)

    return lambda layers, total: tqdm(
        layers, total=total, desc="layers", unit="graph", file=sys.stderr, leave=False, disable=None
    )


def _plot(result: Any, args: argparse.Namespace, label: str) -> None:
    """Diagrams of the chosen graphs (default: the first and the last) into --figures."""
    names = result.names
    if not names:
        raise ValueError(f"{label} has no weight graph to draw")
    if args.layers:  # names hold brackets ("[q]"): a name matches itself before any pattern
        chosen = [n for n in names if any(n == p or fnmatch.fnmatchcase(n, p) for p in args.layers)]
    else:
        chosen = list(dict.fromkeys([names[0], names[-1]]))
    if not chosen:
        raise ValueError(f"--layers {' '.join(args.layers)}: no graph matches; the graphs are {names}")
    for name in chosen:
        title = f"{label}: 0-dimensional persistence diagram of {name}"
        plot_diagram(result.diagram(name).deaths, name, title, args.figures / f"{name}.png")
    print(f"drew {len(chosen)} diagrams into {args.figures}", file=sys.stderr)


def _note_empty(result: Any, zeros: str) -> None:
    """A graph with no weight left is worth a line: a zero-initialised head reads as pruned."""
    empty = [s.layer for s in result.summaries if s.weights == 0]
    if empty and zeros == "pruned":
        print(
            f"note: {len(empty)} graphs hold only zeros and read as fully pruned ({', '.join(empty[:3])}); "
            "--zeros weights reads zeros as weights",
            file=sys.stderr,
        )


def run_analyze(args: argparse.Namespace) -> None:
    # here: torch, and the analysis that loads it, only when a model is analysed (not for `--help`)

    if args.format == "h5" and args.output is None:
        raise ValueError("--format h5 writes a file: give --output FILE.h5")
    if args.layers and not args.figures:
        raise ValueError("--layers chooses what --figures draws: give --figures DIR too")
    if not (args.torchvision or args.model or args.checkpoint):
        raise ValueError(SOURCE_HELP)
    convention = convention_from_arguments(args)
    if (args.null_draws or 0) < 0 or args.null_seed < 0:
        raise ValueError("--null-draws and --null-seed must be 0 or more")
    model, label, values = build(args)
    example = _example(args, model)
    writer = None
    if args.format == "h5":
        attrs = {
            "model": label,
            "input_shape": ",".join(map(str, example.shape[1:])),
            "seed": args.seed,
            "convention": convention.name,
        }
        writer = AnalysisFile(args.output, attrs)
    with writer if writer is not None else contextlib.nullcontext():
        try:
            result = _analysis(args, model, example, values, convention, writer)
        except ValueError as err:
            if values is None or "meta" not in str(err):  # only what the meta device cannot do is retried whole
                raise
            print(f"note: the model does not run on the meta device ({err}); loading it whole", file=sys.stderr)
            model, label, values = build(args, stream=False)
            result = _analysis(args, model, example, values, convention, writer)
        frame = result.frame()
        if writer is not None:
            if result.network is not None:
                writer.add_network(result.network)
            print(f"wrote {writer.finish(frame, {'zeros_pruned': result.zeros_pruned})}", file=sys.stderr)
    _note_empty(result, args.zeros)
    if args.figures:
        _plot(result, args, label)
    if writer is not None:
        return
    print(f"# {label}, input {tuple(example.shape)}, seed {args.seed}, convention: {convention.name}", file=sys.stderr)
    print(f"# {_null_text(result)}", file=sys.stderr)
    print(f"# {_zeros_text(result, args.zeros)}", file=sys.stderr)
    text = _table_text(frame) if args.format == "table" else render(frame, args.format)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)


def _null_text(result: Any) -> str:
    """What the null columns hold (docs/science.md §4), or why they are empty."""
    from pipeline.analysis import AUTO_NULL_MAX_WEIGHTS  # here: the analysis loads torch

    if result.null.draws:
        return f"permutation null: {result.null.draws} draws per graph, seed {result.null.seed}"
    if result.n_weights > AUTO_NULL_MAX_WEIGHTS:
        limit = f"over {AUTO_NULL_MAX_WEIGHTS:,}"
        return f"no permutation null for {result.n_weights:,} graph weights ({limit}): --null-draws N draws it"
    return "no permutation null (--null-draws 0)"


def _table_text(frame) -> str:
    """The table: graphs and aggregates, then the skipped parameters grouped by reason."""
    shown = frame[frame["kind"] != "skipped"].drop(columns=["reason"])
    skipped = frame[frame["kind"] == "skipped"]
    text = render(shown, "table")
    if len(skipped):
        text += f"\nskipped: {len(skipped)} parameters that are no layer graph\n"
        for reason, group in skipped.groupby("reason", sort=False):
            names = list(group["layer"])
            more = f", … ({len(names) - 3} more)" if len(names) > 3 else ""
            text += f"  {len(names):4d}  {reason}: {', '.join(names[:3])}{more}\n"
    return text


def _zeros_text(result: Any, zeros: str) -> str:
    """How many exact zeros the graphs hold, and how they were read."""
    if zeros == "weights":
        return "exact zeros read as weights of magnitude 0 (--zeros weights)"
    return f"exact zeros read as pruned weights (absent edges): {result.zeros_pruned:,} (--zeros weights keeps them)"


def _analysis(args: argparse.Namespace, model: Any, example: Any, values: Any, convention: Any, writer: Any) -> Any:
    """The analysis the arguments ask for; a model built on the meta device probes a meta input."""
    from pipeline.analysis import analyze  # here: loads torch

    return analyze(
        model,
        example.to("meta") if values is not None else example,
        convention,
        zeros=args.zeros,
        null_draws=args.null_draws,
        null_seed=args.null_seed,
        whole_network=args.whole_network,
        on_layer=writer.add if writer is not None else None,
        progress=_progress(not args.no_progress),
        values=values,
    )
