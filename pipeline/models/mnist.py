"""The paper's MNIST networks (docs/science.md §6): a fully connected net and a two-layer conv net."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pipeline.models.blocks import mlp
from pipeline.models.registry import register_model


class FCN(nn.Module):
    """Flatten, then Linear+ReLU blocks of the given widths, then a linear classifier."""

    def __init__(self, in_features: int, hidden: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.net = mlp(in_features, hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvNet(nn.Module):
    """3x3 'same' convolutions with ReLU, flattened into one linear classifier."""

    def __init__(
        self, in_channels: int, channels: Sequence[int], input_size: tuple[int, int], num_classes: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_channels
        for c in channels:
            layers += [nn.Conv2d(width, c, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            width = c
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(width * input_size[0] * input_size[1], num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))


@register_model("fcn")
def fcn(*, num_classes: int, in_channels: int, input_size: tuple[int, int], hidden: Sequence[int] = (100,) * 5) -> FCN:
    """FCN 784-100-100-100-100-100-10 with ReLU (the paper's MNIST FCN)."""
    return FCN(in_channels * input_size[0] * input_size[1], hidden, num_classes)


@register_model("conv")
def conv(
    *, num_classes: int, in_channels: int, input_size: tuple[int, int], channels: Sequence[int] = (32, 32)
) -> ConvNet:
    """CNN: two 3x3 pad-1 convs (32, 32 channels) with ReLU, Linear 25088->10 (the paper's MNIST CNN)."""
    return ConvNet(in_channels, channels, input_size, num_classes)
