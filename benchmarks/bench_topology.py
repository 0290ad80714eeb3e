"""Speed of the topology engine against named baselines, measured in one run.

    python -m benchmarks.bench_topology dense   # dense layers vs scipy, networkx, one pass
    python -m benchmarks.bench_topology conv    # exact conv MSTs of VGG-11 and ResNet-18

Prints Markdown (machine, date, table) to paste into docs/benchmarks.md. Times are medians
of --repeat runs after one warm-up call (numba compiles once and caches on disk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import minimum_spanning_tree

from pipeline.topology.mst import conv_forest, dense_forest

DENSE_SIZES = [(784, 100), (2048, 1024), (4096, 4096), (25088, 10)]
NETWORKX_MAX_EDGES = 100_000  # the authors' dense (m+n)^2 adjacency + networkx: small layers only
SCIPY_CONV_MAX_EDGES = 40_000_000  # materialised Toeplitz edge lists beyond this do not fit comfortably


def timed(fn: Callable[[], object], repeat: int) -> float:
    fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def scipy_bipartite_mst(weight: np.ndarray) -> None:
    """scipy on negated weights: the bipartite graph as a sparse (m+n)^2 upper block."""
    rows, cols = weight.shape
    negated = -(np.abs(weight).astype(np.float64) + 1.0)  # +1: scipy reads 0 as "no edge"
    graph = sp.bmat([[None, sp.csr_matrix(negated)], [sp.csr_matrix((cols, rows)), None]], format="csr")
    minimum_spanning_tree(graph)


def networkx_authors(weight: np.ndarray) -> None:
    """The paper authors' approach: a dense (m+n)^2 adjacency matrix handed to networkx."""
    import networkx as nx

    rows, cols = weight.shape
    adjacency = np.zeros((rows + cols, rows + cols))
    adjacency[:rows, rows:] = np.abs(weight)
    adjacency[rows:, :rows] = np.abs(weight).T
    nx.maximum_spanning_tree(nx.from_numpy_array(adjacency))


def bench_dense(repeat: int) -> None:
    rng = np.random.default_rng(0)
    print(
        "| layer (m x n) | project | one pass `np.abs(W).max()` | sort of \\|W\\| | scipy | networkx "
        "| project / pass | scipy / project | networkx / project |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for m, n in DENSE_SIZES:
        weight = rng.standard_normal((n, m)).astype(np.float32)  # torch layout: (out, in)
        project = timed(lambda w=weight: dense_forest(w), repeat)
        one_pass = timed(lambda w=weight: np.abs(w).max(), repeat)
        sort = timed(lambda w=weight: np.sort(np.abs(w), axis=None), max(1, repeat // 2))
        scipy_t = timed(lambda w=weight: scipy_bipartite_mst(w), max(1, repeat // 3))
        nx_t = timed(lambda w=weight: networkx_authors(w), 1) if m * n <= NETWORKX_MAX_EDGES else None
        nx_cell = f"{nx_t:.3f} s" if nx_t else "—"
        nx_ratio = f"{nx_t / project:.0f}x" if nx_t else "—"
        print(
            f"| {m} x {n} | {project * 1e3:.2f} ms | {one_pass * 1e3:.2f} ms | {sort * 1e3:.1f} ms "
            f"| {scipy_t * 1e3:.0f} ms | {nx_cell} | {project / one_pass:.1f}x | {scipy_t / project:.0f}x "
            f"| {nx_ratio} |"
        )


def conv_layers(arch: str, dataset: str):
    import torch

    from pipeline.data.registry import get_dataset_info
    from pipeline.models import build_model, example_input, model_layers
    from pipeline.topology.graphs import ConvLayer

    torch.manual_seed(0)
    model = build_model(arch, dataset)
    layers = model_layers(model, example_input(get_dataset_info(dataset).input_shape))
    return [layer for layer in layers if isinstance(layer, ConvLayer)]


def scipy_materialised(layer) -> None:
    """Materialise every Toeplitz edge (groups and dilation included), then scipy's MST on
    negated weights."""
    c_out, c_in, f1, f2 = layer.weight.shape
    hp, wp = layer.geometry.padded_size
    ho, wo = layer.geometry.output_size
    sh, sw = layer.geometry.stride
    dh, dw = layer.geometry.dilation
    per_group = c_out // layer.geometry.groups
    full = (c_out, c_in, f1, f2, ho, wo)
    o, c, dy, dx, y, x = np.meshgrid(*(np.arange(s) for s in full), indexing="ij", sparse=True)
    channel = (o // per_group) * c_in + c
    src = np.broadcast_to(channel * hp * wp + (y * sh + dy * dh) * wp + x * sw + dx * dw, full).ravel()
    dst = np.broadcast_to(layer.in_channels * hp * wp + o * ho * wo + y * wo + x, full).ravel()
    values = np.broadcast_to(-(np.abs(layer.weight)[..., None, None] + 1.0), full).ravel()
    n = layer.n_vertices
    minimum_spanning_tree(sp.coo_matrix((values, (src, dst)), shape=(n, n)).tocsr())


def bench_conv(repeat: int) -> None:
    """Project runs first for both networks (peak RSS is monotonic), scipy afterwards."""
    networks = {name: conv_layers(*name) for name in (("vgg11", "cifar10"), ("resnet18", "tiny-imagenet"))}
    first = networks[("vgg11", "cifar10")][0]
    conv_forest(first.weight, first.geometry)  # warm-up
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timings = {
        name: [(layer, timed(lambda la=layer: conv_forest(la.weight, la.geometry), repeat)) for layer in layers]
        for name, layers in networks.items()
    }
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    grand_total = sum(t for results in timings.values() for _, t in results)
    print(
        f"Every conv layer of both networks: {grand_total:.3f} s in all; the process's peak RSS grew by "
        f"{(rss_peak - rss_before) / 1024:.0f} MiB over these runs (from {rss_before / 1024:.0f} MiB after "
        "loading torch and the models)."
    )
    for (arch, dataset), results in timings.items():
        total = sum(t for _, t in results)
        print(f"\n**{arch} on {dataset}**: {len(results)} conv layers in {total:.3f} s\n")
        print(
            "| layer | C_out x C_in x k x k @ input | Toeplitz edges | project | scipy (materialised) "
            "| scipy / project | params | params used by MST | η_τ (params) |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for layer, t in results:
            forest = conv_forest(layer.weight, layer.geometry)
            edges = layer.n_weights
            if edges <= SCIPY_CONV_MAX_EDGES:
                scipy_t = timed(lambda la=layer: scipy_materialised(la), 1)
                scipy_cell, ratio = f"{scipy_t:.2f} s", f"{scipy_t / t:.0f}x"
            else:
                scipy_cell, ratio = "— (too large)", "—"
            shape = "x".join(str(s) for s in layer.weight.shape)
            size = "x".join(str(s) for s in layer.geometry.input_size)
            stride = layer.geometry.stride[0]
            print(
                f"| {layer.name} | {shape} @ {size} s{stride} | {edges:,} | {t * 1e3:.1f} ms "
                f"| {scipy_cell} | {ratio} | {layer.weight.size:,} | {forest.n_used_params:,} "
                f"| {layer.weight.size / forest.n_used_params:.1f} |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", choices=("dense", "conv"))
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"_{dt.date.today().isoformat()} — {machine()}_\n")
    {"dense": bench_dense, "conv": bench_conv}[args.suite](args.repeat)


if __name__ == "__main__":
    main()
