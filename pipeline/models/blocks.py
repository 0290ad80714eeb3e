"""Building blocks shared by the model files."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(in_features: int, hidden: Sequence[int], num_classes: int) -> nn.Sequential:
    """Flatten, then Linear + ReLU per hidden width, then a linear classifier."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU(inplace=True)]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
