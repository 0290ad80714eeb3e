"""η_τ values published in the paper, shown beside the computed ones — never used as results.

Recorded are the paper's values that the project's sources quote: the MNIST FCN and CNN (the
worked examples of docs/science.md §3), layers in network order, then the Final aggregate. The
computed values reproduce the paper's Table 1 for six of its eight pairs, but the paper's values
for the other six pairs are quoted nowhere in the project, so their column stays empty: a value
belongs here only when copied from the paper itself, never from the pipeline's output. Which of
the paper's entries disagree with the real networks, or with each other, is in docs/science.md §8.
"""

from __future__ import annotations

PAPER_PAIRS: tuple[tuple[str, str], ...] = (
    ("fcn", "mnist"),
    ("conv", "mnist"),
    ("vgg11", "cifar10"),
    ("vgg11", "cifar100"),
    ("resnet20", "cifar10"),
    ("resnet20", "cifar100"),
    ("vgg11", "tiny-imagenet"),
    ("resnet18", "tiny-imagenet"),
)
"""The eight architecture x data-set pairs of the paper's η_τ tables (docs/science.md §6)."""

PUBLISHED_ETA: dict[str, dict[str, float]] = {
    "fcn": {
        "layer 1": 88.78822,
        "layer 2": 50.25126,
        "layer 3": 50.25126,
        "layer 4": 50.25126,
        "layer 5": 50.25126,
        "layer 6": 9.17431,
        "final": 66.77852,
    },
    "conv": {"layer 1": 4.19251, "layer 2": 4.19251, "layer 3": 9.99641, "final": 9.31005},
}
"""Keyed by architecture; they apply to the MNIST family (28 x 28 inputs, 10 classes). Keys are
``layer <position>`` (prunable layers in network order, 1-based) and the aggregate names of
``pipeline.topology.eta.AGGREGATES`` (``conv``, ``dense``, ``recurrent``, ``final``), as
``pipeline.report.topology.eta_comparison`` asks for them."""


def published_eta(arch: str, family: str, key: str) -> float | None:
    if family != "mnist":
        return None
    return PUBLISHED_ETA.get(arch, {}).get(key)
