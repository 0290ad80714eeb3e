"""The permutation null (docs/science.md §4): how many draws, and what they cost.

    python -m benchmarks.bench_null stability    # the interval's Monte-Carlo spread against the draws
    python -m benchmarks.bench_null cost         # seconds per layer and per round of the paper's networks

``stability``: for a 784 x 100 layer of i.i.d. Gaussian and of heavy-tailed (Student t, 3 degrees
of freedom) weights, the null of the top-α/tree overlap is drawn with ``--seeds`` different seeds
at each number of draws; the table gives the spread (sd over seeds) of the null's mean and of its
2.5 % and 97.5 % quantiles. ``cost``: one null of the configured draws per graph of the FCN, the
CNN and ResNet-20 at their seeded initialisation (all graphs of a round: the overlap/NP null of
the trained weights, and the tree-retention null of the previous ones), against the baseline of
the same round's observed topology (``network_persistence`` and ``summarize``: what a round
measures without a null), in the same process. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np

from benchmarks.bench_topology import machine
from pipeline.topology import PAPER, DenseLayer
from pipeline.topology.diagram import layer_persistence, network_persistence
from pipeline.topology.null import NullSettings, layer_null, network_nulls, retention_null
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


def cost(draws: int) -> None:
    settings = NullSettings(draws=draws)
    print(f"Machine: {machine()}; {dt.date.today()}; {draws} draws per graph.\n")
    print("| network | graphs | observed topology (baseline) | overlap/NP null | retention null | null / baseline |")
    print("|---|---|---|---|---|---|")
    for arch, dataset in (("fcn", "mnist-5k"), ("conv", "mnist-5k"), ("resnet20", "cifar10")):
        weights, graphs = _graphs(arch, dataset)
        start = time.perf_counter()
        persistence = network_persistence(graphs, PAPER)
        [summarize(p) for p in persistence]
        baseline = time.perf_counter() - start
        start = time.perf_counter()
        network_nulls(persistence, PAPER, settings)
        overlap_null = time.perf_counter() - start
        start = time.perf_counter()
        for w in weights:
            mine = [p for p in persistence if p.layer.tensor == w.name]
            retention_null(mine, int(np.prod(w.shape)), int(np.prod(w.shape)) // 2, draws, 0)
        retention = time.perf_counter() - start
        ratio = (overlap_null + retention) / baseline
        cells = f"{baseline:.2f} s | {overlap_null:.1f} s | {retention:.1f} s | {ratio:.0f}x"
        print(f"| {arch} | {len(graphs)} | {cells} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("stability").add_argument("--seeds", type=int, default=10)
    sub.add_parser("cost").add_argument("--draws", type=int, default=NullSettings().draws)
    args = parser.parse_args()
    stability(args.seeds) if args.what == "stability" else cost(args.draws)


if __name__ == "__main__":
    main()
