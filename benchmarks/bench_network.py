"""The whole network's maximum spanning forest and 0-dimensional diagram (docs/science.md §10), timed.

    python -m benchmarks.bench_network                          # fcn, resnet20, vgg11, torchvision resnet50
    python -m benchmarks.bench_network --repeat 3 --scipy-max-edges 200000000

Each model runs in a process of its own, so that its peak RSS is its own: seeded weights
(``torch.manual_seed(0)``), the project's FCN (1x28x28), ResNet-20 and VGG-11 (3x32x32) and
torchvision's ResNet-50 (``weights=None``, 3x224x224). The process first runs the whole path
once on a tiny model (convolutions with padding and stride, max pooling, a residual addition,
adaptive pooling, a dense layer), so numba's compilation (or loading its disk cache) is not
counted. Then, ``--repeat`` times: **trace** (``network_structure``: torch.fx and the units'
joins), **layers** (``model_layers``: the layer graphs), **diagram** (``Structure.graph`` and
``network_diagram`` under the paper's convention: every layer's own forest, then Kruskal over
their union). Peak RSS is the process's high-water mark (``ru_maxrss``: torch, the model and its
weights included) after the first call, before anything else runs.

Baseline in the same process, after the project: scipy on the materialised network graph, for
networks of at most ``--scipy-max-edges`` edges (dense layers: every present weight; convs: every
Toeplitz copy; each mapped through its layer's ``Placement`` to network vertices, self-loops
dropped, the heaviest of parallel edges kept), ``minimum_spanning_tree`` on ``2 - w'``. Its forest
weight must equal the project's (1e-6 relative) and its edge count the project's. Prints Markdown
for docs/benchmarks.md.
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

from benchmarks.bench_topology import machine

MODELS = ("fcn", "resnet20", "vgg11", "resnet50")
SCIPY_MAX_EDGES = 200_000_000
CHUNK_EDGES = 8_000_000  # a conv's Toeplitz edges are materialised a block of output channels at a time


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024


def _model(name: str):
    """The model and its example input (batch 1)."""
    import torch

    from pipeline.data import get_dataset_info
    from pipeline.models import build_model, example_input

    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision

        return torchvision.models.resnet50(weights=None), example_input((3, 224, 224))
    dataset = "mnist-5k" if name == "fcn" else "cifar10"
    return build_model(name, dataset), example_input(get_dataset_info(dataset).input_shape)


def _tiny():
    """A small model through every code path the benchmarked ones take (the warm-up)."""
    import torch
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
            self.pool = nn.MaxPool2d(2)
            self.conv = nn.Conv2d(4, 8, 3, stride=2, padding=1)
            self.shortcut = nn.Conv2d(4, 8, 1, stride=2)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.pool(self.stem(x))
            return self.head(torch.relu(self.conv(x) + self.shortcut(x)))

    torch.manual_seed(0)
    return Tiny(), torch.zeros(1, 3, 16, 16)


def _project(model, example) -> tuple[dict[str, float], object, object]:
    """One call of each step; their seconds, the structure and the network's persistence."""
    from pipeline.models import model_layers
    from pipeline.models.structure import network_structure
    from pipeline.topology import PAPER
    from pipeline.topology.network import network_diagram

    start = time.perf_counter()
    structure = network_structure(model, example)
    traced = time.perf_counter()
    layers = model_layers(model, example)
    built = time.perf_counter()
    p = network_diagram(structure.graph(layers), PAPER)
    done = time.perf_counter()
    return {"trace": traced - start, "layers": built - traced, "diagram": done - built}, structure, p


def _dedupe(keys: np.ndarray, costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One edge per vertex pair: the cheapest cost (the heaviest ``w'``)."""
    order = np.argsort(keys)
    keys, costs = keys[order], costs[order]
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.minimum.reduceat(costs, starts)


def _keyed(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Undirected network edges as keys ``min·n + max`` with cost ``2 - w'``, self-loops dropped."""
    lo, hi = np.minimum(u, v).astype(np.int64), np.maximum(u, v).astype(np.int64)
    keep = lo != hi
    return _dedupe(lo[keep] * n + hi[keep], 2.0 - w[keep])


def _conv_chunks(layer, place, scale: float, n: int):
    """A conv's Toeplitz edges (groups, stride, dilation, mask), a block of output channels at a time."""
    c_out, c_in, f1, f2 = layer.weight.shape
    hp, wp = layer.geometry.padded_size
    ho, wo = layer.geometry.output_size
    sh, sw = layer.geometry.stride
    dh, dw = layer.geometry.dilation
    per_group = c_out // layer.geometry.groups
    magnitude = np.abs(np.asarray(layer.weight, dtype=np.float64))
    w = np.zeros_like(magnitude) if scale == 0.0 else np.minimum(magnitude / scale, 1.0)
    present = np.ones(w.shape, dtype=bool) if layer.mask is None else layer.mask
    block = max(1, CHUNK_EDGES // max(1, c_in * f1 * f2 * ho * wo))
    for first in range(0, c_out, block):
        outs = np.arange(first, min(first + block, c_out))
        full = (outs.size, c_in, f1, f2, ho, wo)
        o, c, dy, dx, y, x = np.meshgrid(outs, *(np.arange(s) for s in full[1:]), indexing="ij", sparse=True)
        channel = (o // per_group) * c_in + c
        src = np.broadcast_to(channel * hp * wp + (y * sh + dy * dh) * wp + x * sw + dx * dw, full)
        dst = np.broadcast_to(o * ho * wo + y * wo + x, full)
        keep = np.broadcast_to(present[outs][..., None, None], full)
        values = np.broadcast_to(w[outs][..., None, None], full)
        yield _keyed(place.inputs[src[keep]], place.outputs[dst[keep]], values[keep], n)


def _dense_edges(layer, place, scale: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    magnitude = np.abs(np.asarray(layer.weight, dtype=np.float64))
    w = np.zeros_like(magnitude) if scale == 0.0 else np.minimum(magnitude / scale, 1.0)
    rows, cols = np.nonzero(np.ones(w.shape, dtype=bool) if layer.mask is None else layer.mask)
    return _keyed(place.inputs[cols], place.outputs[rows], w[rows, cols], n)


def scipy_network_forest(graph, convention) -> tuple[dict[str, float], float, int]:
    """scipy's minimum spanning tree of the materialised network graph on ``2 - w'``: the
    seconds to materialise and to run it, the forest's ``Σ w'`` and its edges."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import minimum_spanning_tree

    from pipeline.topology.diagram import layer_w_max
    from pipeline.topology.graphs import ConvLayer

    start = time.perf_counter()
    own = np.array([layer_w_max(layer) for layer in graph.layers], dtype=np.float64)
    scales = np.full_like(own, own.max(initial=0.0)) if convention.w_max == "global" else own
    n = graph.n_vertices
    parts = []
    for layer, place, scale in zip(graph.layers, graph.placements, scales, strict=True):
        if isinstance(layer, ConvLayer):
            parts.extend(_conv_chunks(layer, place, float(scale), n))
        else:
            parts.append(_dense_edges(layer, place, float(scale), n))
    keys, costs = _dedupe(np.concatenate([k for k, _ in parts]), np.concatenate([c for _, c in parts]))
    del parts
    matrix = coo_matrix((costs, (keys // n, keys % n)), shape=(n, n)).tocsr()
    del keys, costs
    materialised = time.perf_counter()
    tree = minimum_spanning_tree(matrix)
    done = time.perf_counter()
    weight = 2.0 * tree.nnz - float(tree.data.sum())
    seconds = {"materialise": materialised - start, "mst": done - materialised, "unique_edges": matrix.nnz}
    return seconds, weight, int(tree.nnz)


def _one(name: str, repeat: int, max_edges: int) -> dict:
    from pipeline.topology import PAPER
    from pipeline.topology.graphs import ConvLayer
    from pipeline.topology.network import summarize_network

    _project(*_tiny())  # warm-up: numba's compilation or its disk cache, torch.fx's first trace
    model, example = _model(name)
    base = _rss_mib()
    runs = []
    for i in range(repeat):
        seconds, structure, p = _project(model, example)
        runs.append(seconds)
        if i == 0:
            first_peak = _peak_mib()
    totals = [sum(r.values()) for r in runs]
    summary = summarize_network(p)
    out = {
        "model": name,
        "input": "x".join(str(s) for s in example.shape[1:]),
        "graphs": len(p.graph.layers),
        "convs": sum(isinstance(layer, ConvLayer) for layer in p.graph.layers),
        "vertices": summary.vertices,
        "edges": summary.weights,
        "tree_edges": summary.tree_edges,
        "layer_tree_edges": summary.layer_tree_edges,
        "components": summary.components,
        "first": runs[0],
        "first_total": totals[0],
        "median": {k: float(np.median([r[k] for r in runs])) for k in runs[0]},
        "median_total": float(np.median(totals)),
        "base_rss_mib": base,
        "peak_rss_mib": first_peak,
        "peak_rss_all_mib": _peak_mib(),
    }
    if summary.weights <= max_edges:
        del structure
        scipy_s, weight, scipy_edges = scipy_network_forest(p.graph, PAPER)
        ours = float(p.tree.deaths.sum())
        assert abs(weight - ours) <= 1e-6 * abs(ours), f"{name}: scipy's forest weighs {weight}, the project's {ours}"
        assert scipy_edges == p.tree.n_edges, (
            f"{name}: scipy's forest has {scipy_edges} edges, the project's {p.tree.n_edges}"
        )
        out |= {"scipy": scipy_s, "forest_weight": ours, "scipy_weight": weight, "scipy_peak_mib": _peak_mib()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scipy-max-edges", type=int, default=SCIPY_MAX_EDGES)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--one", choices=MODELS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.repeat, args.scipy_max_edges)))
        return
    print(f"_{dt.date.today().isoformat()} — {machine()}_\n")
    results = []
    for name in args.models:
        command = [sys.executable, "-m", "benchmarks.bench_network", "--one", name, "--repeat", str(args.repeat)]
        command += ["--scipy-max-edges", str(args.scipy_max_edges)]
        results.append(json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(
        f"| model | input | graphs (conv) | vertices | edges | tree edges (layers' own forests) | trace | layers "
        f"| diagram | total, first call | total, median of {args.repeat} | peak RSS: first call (all calls) "
        "| RSS before the first call |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        f = r["first"]
        print(
            f"| {r['model']} | {r['input']} | {r['graphs']} ({r['convs']}) | {r['vertices']:,} | {r['edges']:,} "
            f"| {r['tree_edges']:,} ({r['layer_tree_edges']:,}) | {f['trace']:.2f} s | {f['layers']:.2f} s "
            f"| {f['diagram']:.2f} s | {r['first_total']:.2f} s | {r['median_total']:.2f} s "
            f"| {r['peak_rss_mib']:.0f} MiB ({r['peak_rss_all_mib']:.0f} MiB) | {r['base_rss_mib']:.0f} MiB |"
        )
    print(
        "\n| model | edges | scipy: materialise + dedupe | unique edges | scipy: MST | scipy in all "
        "| project: diagram (median) | scipy / project | MST alone / project | forest Σ w' (both) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "scipy" not in r:
            print(f"| {r['model']} | {r['edges']:,} | does not fit (> {args.scipy_max_edges:,} edges) | — | — | — | "
                  f"{r['median']['diagram']:.2f} s | — | — | — |")  # fmt: skip
            continue
        s = r["scipy"]
        scipy_total = s["materialise"] + s["mst"]
        diagram = r["median"]["diagram"]
        print(
            f"| {r['model']} | {r['edges']:,} | {s['materialise']:.2f} s | {s['unique_edges']:,} | {s['mst']:.2f} s "
            f"| {scipy_total:.2f} s | {diagram:.3f} s | {scipy_total / diagram:.0f}x | {s['mst'] / diagram:.0f}x "
            f"| {r['forest_weight']:.6f} |"
        )


if __name__ == "__main__":
    main()
