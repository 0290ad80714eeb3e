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


def pad_to(input_size: tuple[int, int], native: tuple[int, int]) -> nn.Module:
    """Zero padding that centres a smaller image in the network's native input size (28x28
    Fashion-MNIST gets 2 pixels on every side to reach a 32x32 CIFAR network); a parameter-free
    module, so the network's weights, names and graphs are those of the native network."""
    rows, cols = (max(0, want - have) for have, want in zip(input_size, native, strict=True))
    if not rows and not cols:
        return nn.Identity()
    return nn.ZeroPad2d((cols // 2, cols - cols // 2, rows // 2, rows - rows // 2))
