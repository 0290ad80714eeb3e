"""ResNet-20 (CIFAR) and ResNet-18 (Tiny-ImageNet, no max-pool), docs/science.md §6.

Basic blocks with 1x1 projection shortcuts where the shape changes (the paper's η_τ tables
leave those shortcuts out; the exact convention keeps them).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pipeline.models.blocks import pad_to
from pipeline.models.registry import register_model


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """3x3 stem (stride 1), stages of basic blocks (stride 2 entering every stage but the
    first), global average pooling, a linear classifier."""

    def __init__(
        self,
        blocks: Sequence[int],
        widths: Sequence[int],
        in_channels: int,
        num_classes: int,
        pad: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if len(blocks) != len(widths):
            raise ValueError(f"blocks {blocks} and widths {widths} must have the same length")
        self.pad = pad or nn.Identity()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        stages: list[nn.Module] = []
        in_planes = widths[0]
        for i, (count, planes) in enumerate(zip(blocks, widths, strict=True)):
            layers = []
            for b in range(count):
                layers.append(BasicBlock(in_planes, planes, stride=2 if i > 0 and b == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.pool(self.stages(self.stem(self.pad(x)))).flatten(1))


@register_model("resnet20")
def resnet20(*, num_classes: int, in_channels: int, input_size: tuple[int, int]) -> ResNet:
    """ResNet-20: conv 16, three stages of three basic blocks (16, 32, 64), GAP, Linear 64->classes.

    Smaller images are zero-padded to 32x32, so every stage sees the CIFAR network's sizes.
    """
    return ResNet((3, 3, 3), (16, 32, 64), in_channels, num_classes, pad_to(input_size, (32, 32)))


@register_model("resnet18")
def resnet18(*, num_classes: int, in_channels: int, input_size: tuple[int, int]) -> ResNet:
    """ResNet-18: conv 64 stride 1, no max-pool, 4 stages of 2 blocks (64-512), GAP, Linear 512->classes
    (global average pooling: any input size)."""
    del input_size
    return ResNet((2, 2, 2, 2), (64, 128, 256, 512), in_channels, num_classes)
