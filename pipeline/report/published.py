"""η_τ values published in the paper, shown beside the computed ones — never used as results.

Recorded are the paper's values that the project's sources quote: the MNIST FCN and CNN (the
worked examples of docs/science.md §3), layers in network order, then the Final aggregate. The
computed values reproduce the paper's Table 1 for six of its eight pairs; of the other six pairs
only four Final aggregates are quoted (by issue 19's outside check against the paper), and the
rest of their column stays empty: a value belongs here only when read in the paper itself,
never from the pipeline's output. Which of the paper's entries disagree with the real networks,
or with each other, is in docs/science.md §8.
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


PUBLISHED_FINAL: dict[tuple[str, str], float] = {
    ("resnet20", "cifar10"): 4.16786,
    ("resnet20", "cifar100"): 4.43890,
    ("vgg11", "tiny-imagenet"): 183.3624,
    ("resnet18", "tiny-imagenet"): 6.13182,
}
"""Final aggregates (paper convention) of four more pairs, as issue 19's outside check read them in
the paper (Table 1 and the appendix's layer tables); their per-layer values are quoted nowhere."""


def published_eta(arch: str, dataset: str, family: str, key: str) -> float | None:
    """The paper's value of a layer (``layer <position>``) or aggregate, or None if not recorded."""
    if key == "final" and (arch, dataset) in PUBLISHED_FINAL:
        return PUBLISHED_FINAL[(arch, dataset)]
    if family != "mnist":
        return None
    return PUBLISHED_ETA.get(arch, {}).get(key)
