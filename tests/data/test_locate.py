from pathlib import Path

import pytest

from pipeline.data import DATASETS, locate
from tests.fixtures import place_data

ROOT = Path(__file__).resolve().parents[2]


def test_every_data_set_not_shipped_is_named_once_with_its_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    pairs = [f"fcn/{name}" for name in DATASETS] + ["conv/mnist"]  # mnist twice: one line
    lines = locate.missing_data(pairs, tmp_path / "nowhere", download=False)
    assert [line.split("'")[1] for line in lines] == [name for name in DATASETS if name != "mnist-5k"]
    assert all(f" in {tmp_path / 'nowhere'}/" in line and "\n" not in line for line in lines), lines


def test_download_leaves_only_what_torchvision_cannot_fetch(tmp_path, monkeypatch):
    monkeypatch.setattr(locate, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    pairs = [f"fcn/{name}" for name in DATASETS]
    lines = locate.missing_data(pairs, tmp_path, download=True)
    assert len(lines) == 1 and "'tiny-imagenet'" in lines[0] and "cannot download" in lines[0]


@pytest.mark.parametrize("name", sorted(set(DATASETS) - {"mnist-5k"}))
def test_files_in_place_are_found_without_being_read(tmp_path, monkeypatch, name):
    monkeypatch.setattr(locate, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian-package")
    assert not locate.in_place(name, tmp_path)
    place_data(tmp_path, [name])  # empty files: only their names are checked
    assert locate.in_place(name, tmp_path) and locate.missing_data([f"fcn/{name}"], tmp_path, False) == []


def test_fashion_mnist_is_in_place_from_the_debian_package(tmp_path, monkeypatch):
    for f in locate.idx_files(".gz"):
        (tmp_path / f).touch()
    monkeypatch.setattr(locate, "DEBIAN_FASHION_MNIST", tmp_path)
    assert locate.fashion_mnist_source(tmp_path / "empty-root") == (tmp_path, ".gz")


def test_cifar_files_are_torchvisions():
    from torchvision import datasets  # here: the module under test must not import torchvision

    for cls_name, folder, files in locate.CIFAR.values():
        cls = getattr(datasets, cls_name)
        assert folder == cls.base_folder
        assert list(files) == [f for f, _ in cls.train_list + cls.test_list] + [cls.meta["filename"]]


def test_config_readme_says_where_each_data_set_comes_from():
    text = (ROOT / "config/README.md").read_text()
    section = text[text.index("## Data sets") : text.index("## Every key")]
    for name in DATASETS:
        assert f"| `{name}` |" in section, name
