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


class _Branching(nn.Module):
    """A forward pass whose path depends on the data: ``torch.fx`` cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x) if x.sum() > 0 else -self.fc(x)


class _Cumulative(nn.Module):
    """A running sum between two layers: an operation the network graph has no rule for."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.b(self.a(x).cumsum(1))


def branching() -> nn.Module:
    return _Branching()


def cumulative() -> nn.Module:
    return _Cumulative()
