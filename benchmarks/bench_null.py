"""The permutation null (docs/science.md §4): how many draws, and what they cost.

    python -m benchmarks.bench_null stability    # the interval's Monte-Carlo spread against the draws
    python -m benchmarks.bench_null cost         # seconds per layer and per round of the paper's networks

``stability``: for a 784 x 100 layer of i.i.d. Gaussian and of heavy-tailed (Student t, 3 degrees
of freedom) weights, the null of the top-α/tree overlap is drawn with ``--seeds`` different seeds
at each number of draws; the table gives the spread (sd over seeds) of the null's mean and of its
2.5 % and 97.5 % quantiles. ``cost``: one null of the configured draws per graph of the FCN, the
CNN, ResNet-20 and VGG-11 (CIFAR-10) at their seeded initialisation (a round draws both: the overlap/NP null of the
trained weights, and the tree-retention null of the previous ones, here pruning half), against
the baseline of
each graph's observed topology (``layer_persistence`` and ``summarize``: what a round measures
without a null), in the same process; per graph, then per round (every graph's two nulls:
``draws`` times the per-draw cost). Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np

from benchmarks.bench_topology import machine
from pipeline.topology import PAPER, DenseLayer
from pipeline.topology.diagram import layer_persistence, network_persistence
from pipeline.topology.null import NullSettings, layer_null, retention_null
from pipeline.topology.summary import summarize

DRAWS = (50, 100, 200, 500, 1000)


def _layers(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "Gaussian": rng.normal(size=(100, 784)).astype(np.float32),
        "Student t (3)": rng.standard_t(3, size=(100, 784)).astype(np.float32),
    }


def stability(seeds: int) -> None:
    print(f"Machine: {machine()}; {dt.date.today()}; {seeds} seeds per cell.\n")
    print("| weights | draws | null mean (sd over seeds) | 2.5 % quantile (sd) | 97.5 % quantile (sd) | seconds |")
    print("|---|---|---|---|---|---|")
    for label, weight in _layers(np.random.default_rng(0)).items():
        p = layer_persistence(DenseLayer("fc.weight", weight))
        for draws in DRAWS:
            stats, start = [], time.perf_counter()
            for seed in range(seeds):
                null = layer_null(p, PAPER, draws, seed).overlap
                stats.append((null.mean(), *np.quantile(null, [0.025, 0.975])))
            seconds = (time.perf_counter() - start) / seeds
            mean, sd = np.mean(stats, axis=0), np.std(stats, axis=0, ddof=1)
            cells = " | ".join(f"{m:.4f} ({s:.4f})" for m, s in zip(mean, sd, strict=True))
            print(f"| {label} | {draws} | {cells} | {seconds:.2f} |")


def _graphs(arch: str, dataset: str) -> tuple[list, list]:
    import torch  # here: only the cost benchmark builds models

    from pipeline.data import get_dataset_info
    from pipeline.models import build_model, example_input, network_graphs, prunable_weights

    torch.manual_seed(0)
    model = build_model(arch, dataset)
    weights = prunable_weights(model, example_input(get_dataset_info(dataset).input_shape))
    state = model.state_dict()
    values = {w.name: state[w.name].numpy() for w in weights}
    masks = {w.name: np.ones(w.shape, dtype=bool) for w in weights}
    return weights, network_graphs(weights, values, masks)


def _per_graph(weights: list, persistence: list, draws: int) -> list[tuple[str, float, float, float]]:
    """Per graph: the observed topology's seconds, and per draw the overlap/NP and retention nulls' ms."""
    sizes = {w.name: int(np.prod(w.shape)) for w in weights}
    summarize(persistence[0], layer_null(persistence[0], PAPER, 1, 0))  # warm-up: scipy.stats, numba caches
    rows = []
    for p in persistence:
        start = time.perf_counter()
        summarize(layer_persistence(p.layer, PAPER))
        observed = time.perf_counter() - start
        start = time.perf_counter()
        layer_null(p, PAPER, draws, 0)
        overlap_null = (time.perf_counter() - start) / draws
        start = time.perf_counter()
        retention_null([p], sizes[p.layer.tensor], sizes[p.layer.tensor] // 2, draws, 0)
        retention = (time.perf_counter() - start) / draws
        rows.append((p.layer.name, observed, overlap_null, retention))
    return rows


def cost(draws: int) -> None:
    print(f"Machine: {machine()}; {dt.date.today()}; {draws} draws per graph.\n")
    print("| network | graph | observed (baseline) | overlap/NP null per draw | retention null per draw |")
    print("|---|---|---|---|---|")
    totals = []
    for arch, dataset in (("fcn", "mnist-5k"), ("conv", "mnist-5k"), ("resnet20", "cifar10"), ("vgg11", "cifar10")):
        weights, graphs = _graphs(arch, dataset)
        persistence = network_persistence(graphs, PAPER)
        rows = _per_graph(weights, persistence, draws)
        for name, observed, overlap_null, retention in rows:
            cells = " | ".join(f"{t * 1e3:.1f} ms" for t in (observed, overlap_null, retention))
            print(f"| {arch} | {name} | {cells} |")
        baseline = sum(r[1] for r in rows)
        null = draws * sum(r[2] + r[3] for r in rows)
        totals.append((arch, len(rows), baseline, null))
    print("\n| network | graphs | observed topology of a round (baseline) | its nulls | nulls / baseline |")
    print("|---|---|---|---|---|")
    for arch, n, baseline, null in totals:
        print(f"| {arch} | {n} | {baseline:.2f} s | {null:.1f} s | {null / baseline:.0f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("stability").add_argument("--seeds", type=int, default=10)
    sub.add_parser("cost").add_argument("--draws", type=int, default=NullSettings().draws)
    args = parser.parse_args()
    stability(args.seeds) if args.what == "stability" else cost(args.draws)


if __name__ == "__main__":
    main()
