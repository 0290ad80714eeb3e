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

from pipeline.errors import first_line

INPUT_SHAPE = (3, 224, 224)
"""The input every torchvision classifier is built for with ``weights=None``."""


def classifier_names() -> list[str]:
    """Every classification builder torchvision has (not detection, segmentation, video)."""
    from torchvision import models

    return sorted(models.list_models(module=models))


def check_name(name: str) -> None:
    if name not in classifier_names():
        raise ValueError(f"no torchvision classifier {name!r}: choose from {', '.join(classifier_names())}")


def build(name: str, **kwargs: Any) -> nn.Module:
    """torchvision's ``name`` with ``weights=None`` and the builder's keyword arguments."""
    from torchvision import models

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


def check_pair(arch: str, dataset: str) -> None:
    """Build ``arch`` for ``dataset`` on the meta device (no memory, no weights) and probe it: a
    model that cannot take the data set's images, or whose layers the pipeline cannot read as
    graphs, or that does not train on one output of the class count, fails here, in one line,
    before any job."""
    import warnings

    from pipeline.data.registry import get_dataset_info
    from pipeline.models.probe import prunable_weights
    from pipeline.models.registry import TORCHVISION, build_model

    check_name(arch.removeprefix(TORCHVISION))
    info = get_dataset_info(dataset)
    size = "x".join(map(str, info.input_shape))
    try:
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_model(arch, dataset)
            prunable_weights(model, torch.zeros(1, *info.input_shape))
            out = model.train()(torch.zeros(2, *info.input_shape))
    except Exception as err:  # torchvision's own checks: say which pair and why, once
        raise ValueError(f"{arch} cannot run on {dataset}'s {size} images: {first_line(err)}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, info.num_classes):
        raise ValueError(f"{arch} does not return one tensor of {info.num_classes} class scores when training")
