"""VGG-11 for CIFAR (32x32) and Tiny-ImageNet (64x64), docs/science.md §6.

The conv stack is a plan list, as in torchvision; the classifier's input width is found by a
forward pass through the stack, never written down.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from pipeline.models.blocks import mlp, pad_to
from pipeline.models.registry import register_model

PLANS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
}


def make_layers(plan: Sequence[int | str], in_channels: int, batch_norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_channels
    for v in plan:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(width, int(v), kernel_size=3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(v)))
        layers.append(nn.ReLU(inplace=True))
        width = int(v)
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """A conv stack, a 2x2 average pool, then linear layers (hidden widths, then classes).

    Images smaller than 32x32 are zero-padded to 32x32 first (``pad_to``): four max-pools and
    the average pool need at least that size.
    """

    def __init__(
        self,
        features: nn.Sequential,
        in_channels: int,
        input_size: tuple[int, int],
        num_classes: int,
        hidden: Sequence[int] = (),
    ) -> None:
        super().__init__()
        self.pad = pad_to(input_size, (32, 32))
        self.features = features
        self.pool = nn.AvgPool2d(2)
        with torch.no_grad():
            width = self.pool(self.features(self.pad(torch.zeros(1, in_channels, *input_size)))).numel()
        self.classifier = mlp(width, hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pool(self.features(self.pad(x))))


@register_model("vgg11", family_kwargs={"tiny-imagenet": {"hidden": (1024, 1024)}})
def vgg11(
    *,
    num_classes: int,
    in_channels: int,
    input_size: tuple[int, int],
    hidden: Sequence[int] = (),
    batch_norm: bool = True,
) -> VGG:
    """VGG-11 (BatchNorm): 8 convs, avg-pool 2, Linear 512->classes (CIFAR) or 2048-1024-1024-200."""
    return VGG(make_layers(PLANS["vgg11"], in_channels, batch_norm), in_channels, input_size, num_classes, hidden)
