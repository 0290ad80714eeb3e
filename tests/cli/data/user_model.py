"""A user's own model, imported by ``--model tests.cli.data.user_model:build``."""

from torch import nn


def build(width: int = 4, classes: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, groups=1),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, groups=width),
        nn.Flatten(),
        nn.Linear(width * 8 * 8, classes),
    )


def not_a_module() -> dict:
    return {"width": 4}
