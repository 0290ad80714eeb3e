import numpy as np
import pytest
import torch

from pipeline.data import DeviceData, MissingDataError, load_splits, locate, sources
from pipeline.data.sources import read_idx, regroup_tiny_imagenet_val
from tests.fixtures import write_cifar10, write_idx


def test_mnist_5k_is_real_stratified_and_deterministic():
    a = load_splits("mnist-5k", "unused")
    b = load_splits("mnist-5k", "unused")
    assert a.train.images.shape == (4000, 1, 28, 28) and a.test.images.shape == (1000, 1, 28, 28)
    assert torch.bincount(a.test.labels).tolist() == [100] * 10
    assert torch.equal(a.test.images, b.test.images)
    assert a.train.images.max() == 255 and a.train.images.float().mean() > 20  # real digits, not noise


def test_mnist_fixture_in_torchvision_layout(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 5)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n))
    splits = load_splits("mnist", tmp_path)
    from torchvision.datasets import MNIST

    reference = MNIST(str(tmp_path), train=True, download=False)
    assert torch.equal(splits.train.images[:, 0], reference.data)
    assert torch.equal(splits.train.labels, reference.targets)
    assert splits.test.images.shape == (5, 1, 28, 28)


def test_truncated_idx_is_refused(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    write_idx(path, np.zeros((4, 28, 28)))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_fashion_mnist_falls_back_to_the_debian_package(tmp_path, monkeypatch):
    debian = tmp_path / "debian"
    debian.mkdir()
    import gzip

    for split, n in (("train", 7), ("t10k", 3)):
        for kind, shape in (("images-idx3", (n, 28, 28)), ("labels-idx1", (n,))):
            plain = tmp_path / "plain"
            write_idx(plain, np.full(shape, 3))
            (debian / f"{split}-{kind}-ubyte.gz").write_bytes(gzip.compress(plain.read_bytes()))
    monkeypatch.setattr(locate, "DEBIAN_FASHION_MNIST", debian)
    splits = load_splits("fashion-mnist", tmp_path / "empty-root")
    assert splits.train.images.shape == (7, 1, 28, 28) and int(splits.test.labels[0]) == 3


@pytest.mark.skipif(not locate.DEBIAN_FASHION_MNIST.exists(), reason="Debian's dataset-fashion-mnist not installed")
def test_real_fashion_mnist_from_the_debian_package(tmp_path):
    splits = load_splits("fashion-mnist", tmp_path)
    assert splits.train.images.shape == (60000, 1, 28, 28) and splits.test.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(splits.test.labels).tolist() == [1000] * 10


def test_cifar10_fixture_in_torchvision_format(tmp_path):
    write_cifar10(tmp_path)
    with pytest.raises(MissingDataError, match="checksums are verified"):
        load_splits("cifar10", tmp_path)
    splits = load_splits("cifar10", tmp_path, verify_checksums=False)
    assert splits.train.images.shape == (50, 3, 32, 32)
    assert splits.test.labels.tolist() == [0, 1, 2, 3]


def test_tiny_imagenet_fixture_regroups_validation_once(tmp_path):
    from PIL import Image

    base = tmp_path / "tiny-imagenet-200"
    wnids = ["n01", "n02", "n03"]
    (base / "wnids.txt").parent.mkdir(parents=True)
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    rng = np.random.default_rng(0)
    for w in wnids:
        folder = base / "train" / w / "images"
        folder.mkdir(parents=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / f"{w}_{i}.JPEG")
    (base / "val" / "images").mkdir(parents=True)
    lines = []
    for i, w in enumerate(wnids * 2):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(base / "val/images" / f"val_{i}.JPEG")
        lines.append(f"val_{i}.JPEG\t{w}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")

    splits = load_splits("tiny-imagenet", tmp_path)
    assert splits.train.images.shape == (6, 3, 64, 64) and splits.test.images.shape == (6, 3, 64, 64)
    assert sorted(splits.test.labels.tolist()) == [0, 0, 1, 1, 2, 2]
    assert not (base / "val" / "images").exists() and (base / "val" / "n02" / "images" / "val_1.JPEG").exists()
    regroup_tiny_imagenet_val(base / "val")  # idempotent: nothing left to move
    again = load_splits("tiny-imagenet", tmp_path)  # from the tensor cache
    assert torch.equal(again.test.images, splits.test.images)


@pytest.mark.parametrize(
    ("name", "folder", "file"),
    [
        ("mnist", "MNIST/raw", "train-images-idx3-ubyte"),
        ("cifar100", "cifar-100-python", "train"),
        ("tiny-imagenet", "tiny-imagenet-200", "wnids.txt"),
    ],
)
def test_missing_data_set_says_which_files_to_put_where(tmp_path, name, folder, file):
    with pytest.raises(MissingDataError) as info:
        load_splits(name, tmp_path)
    message = str(info.value)
    assert message.startswith(f"data set {name!r} not found: put ") and "\n" not in message
    assert f"{file}, " in message and f" in {tmp_path / folder} (" in message
    assert message == locate.missing_data([f"fcn/{name}"], tmp_path, download=False)[0]  # as the workflow says


def test_device_batches_cover_an_epoch_once_and_repeat_by_seed():
    data = DeviceData(load_splits("mnist-5k", "unused"))
    first = [y for _, y in data.train_batches(300, torch.Generator().manual_seed(1))]
    again = [y for _, y in data.train_batches(300, torch.Generator().manual_seed(1))]
    other = [y for _, y in data.train_batches(300, torch.Generator().manual_seed(2))]
    assert sum(len(y) for y in first) == 4000
    assert torch.equal(torch.cat(first), torch.cat(again)) and not torch.equal(torch.cat(first), torch.cat(other))
    assert torch.equal(torch.cat(first).sort().values, data.train_labels.sort().values)
    images, _ = next(data.train_batches(4000, torch.Generator().manual_seed(0)))
    assert abs(float(images.mean())) < 1e-3 and abs(float(images.std()) - 1) < 1e-3


def test_cifar_augmentation_crops_and_flips_on_device(tmp_path):
    write_cifar10(tmp_path)
    splits = load_splits("cifar10", tmp_path, verify_checksums=False)
    plain = DeviceData(splits, augment=False)
    augmented = DeviceData(splits, augment=True)
    a, _ = next(plain.train_batches(50, torch.Generator().manual_seed(0)))
    b, _ = next(augmented.train_batches(50, torch.Generator().manual_seed(0)))
    assert a.shape == b.shape == (50, 3, 32, 32) and not torch.equal(a, b)


def test_subsets_are_stratified_fixed_and_seeded():
    whole = load_splits("mnist-5k", "unused")
    a = load_splits("mnist-5k", "unused", train_subset=1000, test_subset=300)
    b = load_splits("mnist-5k", "unused", train_subset=1000, test_subset=300)
    other = load_splits("mnist-5k", "unused", train_subset=1000, subset_seed=1)
    assert a.train.labels.numel() == 1000 and a.test.labels.numel() == 300
    assert torch.bincount(a.train.labels).tolist() == [100] * 10 and torch.bincount(a.test.labels).tolist() == [30] * 10
    assert torch.equal(a.train.images, b.train.images) and not torch.equal(a.train.images, other.train.images)
    assert other.test.labels.numel() == whole.test.labels.numel()


def test_stratified_subset_follows_uneven_class_shares():
    labels = torch.tensor([0] * 70 + [1] * 20 + [2] * 10)
    index = sources.stratified_subset(labels, 31, seed=0)
    assert index.numel() == 31 and torch.equal(index, index.sort().values) and index.unique().numel() == 31
    counts = torch.bincount(labels[index], minlength=3).tolist()
    assert all(abs(c - 31 * share) <= 1 for c, share in zip(counts, (0.7, 0.2, 0.1), strict=True)), counts
