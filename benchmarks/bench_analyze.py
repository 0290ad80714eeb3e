"""Every weight graph of torchvision's classifiers (``python -m pipeline analyze``), timed.

    python -m benchmarks.bench_analyze            # the five models of issue 12, one process each
    python -m benchmarks.bench_analyze --scipy    # also scipy on materialised edge lists where they fit

Each model runs in its own process (peak RSS is per process): seeded ``weights=None`` weights,
input 3x224x224. Baselines in the same process: one pass over the model's graph weights
(``np.abs(w).max()`` of each), and scipy's MST on the materialised edge lists of the layers
with at most 20 M edges (dense layers as bipartite blocks, convs as Toeplitz lists), compared
with the project on the same layers. The command line's wall time for ResNet-50 (imports
included) closes the table. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time

import numpy as np

from benchmarks.bench_topology import machine, scipy_bipartite_mst, scipy_materialised, timed

MODELS = ("resnet50", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny", "vit_b_16")
SCIPY_MAX_EDGES = 20_000_000


def _one(name: str, repeat: int, with_scipy: bool) -> dict:
    import torch

    from pipeline.analysis import analyze
    from pipeline.models.probe import graphs_of, probe
    from pipeline.models.zoo import INPUT_SHAPE, build
    from pipeline.topology.diagram import spanning_forest
    from pipeline.topology.graphs import ConvLayer

    torch.manual_seed(0)
    model = build(name)
    example = torch.zeros(1, *INPUT_SHAPE)
    weights = probe(model, example).weights
    state = model.state_dict()
    values = [state[w.name].numpy() for w in weights]
    one_pass = timed(lambda: [np.abs(v).max() for v in values], repeat)
    seconds = timed(lambda: analyze(model, example), repeat)
    result = analyze(model, example)
    out = {
        "model": name,
        "graphs": len(result.summaries),
        "convs": sum(s.kind == "conv" for s in result.summaries),
        "edges": sum(s.weights for s in result.summaries),
        "analyze_s": seconds,
        "one_pass_s": one_pass,
        "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if with_scipy:
        layers = [g for w, v in zip(weights, values, strict=True) for g in graphs_of(w, v)]
        fits = [g for g in layers if g.n_weights <= SCIPY_MAX_EDGES]
        project = sum(timed(lambda g=g: spanning_forest(g), 1) for g in fits)
        start = time.perf_counter()
        for g in fits:
            scipy_materialised(g) if isinstance(g, ConvLayer) else scipy_bipartite_mst(g.weight)
        out |= {"scipy_layers": len(fits), "scipy_s": time.perf_counter() - start, "project_same_s": project}
    return out


def _cli_seconds() -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pipeline", "analyze", "--torchvision", "resnet50", "--format", "csv", "--no-progress"],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scipy", action="store_true")
    parser.add_argument("--one", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.repeat, args.scipy)))
        return
    print(f"_{dt.date.today().isoformat()} — {machine()}_\n")
    header = "| model | graphs (conv) | edges | analyze | one pass | analyze / pass | peak RSS |"
    rule = "|---|---|---|---|---|---|---|"
    if args.scipy:
        header += " layers ≤ 20 M edges | scipy there | project there | scipy / project |"
        rule += "---|---|---|---|"
    print(header + "\n" + rule)
    for name in MODELS:
        command = [sys.executable, "-m", "benchmarks.bench_analyze", "--one", name, "--repeat", str(args.repeat)]
        r = json.loads(
            subprocess.run(
                [*command, *(["--scipy"] if args.scipy else [])], check=True, capture_output=True, text=True
            ).stdout
        )
        row = (
            f"| {name} | {r['graphs']} ({r['convs']}) | {r['edges'] / 1e9:.2f} G | {r['analyze_s']:.2f} s "
            f"| {r['one_pass_s'] * 1e3:.0f} ms | {r['analyze_s'] / r['one_pass_s']:.0f}x | {r['rss_mib']:.0f} MiB |"
        )
        if args.scipy:
            row += (
                f" {r['scipy_layers']} | {r['scipy_s']:.1f} s | {r['project_same_s']:.2f} s "
                f"| {r['scipy_s'] / r['project_same_s']:.0f}x |"
            )
        print(row, flush=True)
    command = "python -m pipeline analyze --torchvision resnet50 --format csv"
    print(f"\n`{command}`, wall time with imports: {_cli_seconds():.1f} s")


if __name__ == "__main__":
    main()
