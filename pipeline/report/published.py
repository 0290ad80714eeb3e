"""η_τ values published in the paper, shown beside the computed ones — never used as results.

Only the values docs/science.md §3 quotes as worked examples are recorded (MNIST FCN and CNN, layers
in network order, then the Final aggregate). The paper's tables for the other networks are
internally inconsistent (docs/science.md §3), so their column stays empty rather than mismatched.
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
"""Keyed by architecture; they apply to the MNIST family (28 x 28 inputs, 10 classes)."""


def published_eta(arch: str, family: str, key: str) -> float | None:
    if family != "mnist":
        return None
    return PUBLISHED_ETA.get(arch, {}).get(key)
