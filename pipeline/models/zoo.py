"""Torchvision's classifiers by name, built without downloading anything.

``tv:NAME`` in a configuration, ``--torchvision NAME`` on the command line: any builder in
``torchvision.models`` (classification), built with ``weights=None``. In the grid a model is
shaped for its data set: the class count is the builder's ``num_classes``, a vision
transformer's ``image_size`` the images' side, and one-channel images are repeated to the
three channels every torchvision classifier expects (a parameter-free module, so the
state_dict is torchvision's own under ``net.``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

INPUT_SHAPE = (3, 224, 224)
"""The input every torchvision classifier is built for with ``weights=None``."""


def classifier_names() -> list[str]:
    """Every classification builder torchvision has (not detection, segmentation, video)."""
    from torchvision import models  # here: torchvision is slow to import; torch alone does not load it

    return sorted(models.list_models(module=models))


def check_name(name: str) -> None:
    if name not in classifier_names():
        raise ValueError(f"no torchvision classifier {name!r}: choose from {', '.join(classifier_names())}")


def build(name: str, **kwargs: Any) -> nn.Module:
    """torchvision's ``name`` with ``weights=None`` and the builder's keyword arguments."""
    from torchvision import models  # here: torchvision is slow to import; torch alone does not load it

    check_name(name)
    return models.get_model(name, weights=None, **kwargs)


_AUXILIARY = ("googlenet", "inception_v3")
"""Classifiers that train auxiliary heads by default; the grid builds them without."""


class ThreeChannels(nn.Module):
    """Repeats a one-channel image to three channels: no parameters, no learned colour."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1)


class TorchvisionClassifier(nn.Module):
    """A torchvision classifier shaped for a data set (docs/science.md §6)."""

    def __init__(self, name: str, *, num_classes: int, in_channels: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        if in_channels not in (1, 3):
            raise ValueError(f"tv:{name} takes one- or three-channel images, not {in_channels}")
        kwargs: dict[str, Any] = {"num_classes": num_classes}
        if name in _AUXILIARY:  # one output to train on: auxiliary heads would train unpruned
            kwargs["aux_logits"] = False
        if name.startswith("vit_"):
            if input_size[0] != input_size[1]:
                raise ValueError(f"tv:{name} needs square images, not {input_size}")
            kwargs["image_size"] = input_size[0]
        self.expand = ThreeChannels() if in_channels == 1 else nn.Identity()
        self.net = build(name, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.expand(x))
