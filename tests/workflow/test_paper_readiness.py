"""The paper grid's CIFAR code path, run for real on a CIFAR-10 fixture in torchvision's format."""

from pathlib import Path

import pandas as pd
import pytest

from pipeline.store import paths, read_round
from tests.fixtures import write_cifar10
from tests.workflow.conftest import snakemake, write_config


@pytest.mark.slow
def test_resnet20_and_vgg11_on_a_cifar10_fixture(tmp_path):
    write_cifar10(tmp_path / "data", n_train=40, n_test=20)
    write_config(
        tmp_path,
        {
            "grid": {
                "pairs": ["resnet20/cifar10", "vgg11/cifar10"],
                "methods": ["imp", "timp"],
                "trials": 1,
                "rounds": 2,
            },
            "data": {"root": "data", "verify_checksums": False},
            "training": {"epochs": 1, "batch_size": 50, "lr": 0.05, "threads": 2},
            "nulls": {"draws": 3},  # the null's path on convs; 100 draws cost minutes per VGG round on a CPU
            "results": "results",
        },
    )
    snakemake(tmp_path, "--cores", "2", check=True, timeout=1200)
    for arch in ("resnet20", "vgg11"):
        files = sorted((tmp_path / f"results/runs/{arch}/cifar10").rglob("*.h5"))
        assert len(files) == 5
        last = read_round(next(f for f in files if f.parts[-2] == "timp" and f.name == "round2.h5"))
        assert last.attrs["density"] == pytest.approx(0.64, abs=0.01)
        assert last.attrs.tree_kept_null_mean is not None and last.diagrams  # the nulls ran on the convs too
        assert all(d.attrs.null_draws == 3 for d in last.diagrams.values())
        conv = [d for d in last.diagrams.values() if d.attrs["kind"] == "conv"]
        assert conv and all(d.attrs["tree_params"] > 0 for d in conv)
        assert Path(paths.figure_file(tmp_path / "results", arch, "cifar10", "accuracy")).exists()
    eta = pd.read_csv(paths.table_file(tmp_path / "results", "eta_tau", "csv"))
    counted = eta[(eta["arch"] == "resnet20") & (eta["dataset"] == "cifar10")]["params_counted_on"].unique()
    assert counted.tolist() == ["trained dense weights (1 trial)"]
    assert len(eta[["arch", "dataset"]].drop_duplicates()) == 8
