import io
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from pipeline.cli import main
from tests.conftest import tiny_settings
from tests.fixtures import place_data


def test_round_then_inspect(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(tiny_settings(tmp_path / "results")))
    base = ["round", "--config", str(config), "--arch", "fcn", "--dataset", "mnist-5k", "--trial", "0"]
    assert main([*base, "--method", "imp", "--round", "0"]) == 2  # round 0 belongs to no method
    assert "leave out --method" in capsys.readouterr().err
    assert main([*base, "--round", "0"]) == 0
    dense = capsys.readouterr().out.strip()
    assert main([*base, "--method", "timp", "--round", "1"]) == 0
    pruned = capsys.readouterr().out.strip()
    assert dense.endswith("trial0/round0.h5") and pruned.endswith("trial0/timp/round1.h5")

    assert main(["inspect", pruned]) == 0
    out = capsys.readouterr().out
    assert "round      1 (timp)" in out and "compression 1.25x" in out and "net.11.weight" in out
    assert "network    kept 1.000 of the previous network forest's edges" in out  # within the layers' trees

    assert main(["inspect", dense, pruned, "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table["round"].tolist() == [0, 1] and table["method"].tolist() == ["dense", "timp"]
    assert table["compression"].round(2).tolist() == [1.0, 1.25]


def test_round_errors_are_clear(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {optimizer: rmsprop}\n")
    args = ["round", "--config", str(bad), "--arch", "fcn", "--dataset", "mnist-5k", "--method", "imp"]
    assert main([*args, "--trial", "0", "--round", "0"]) == 2
    assert "'training.optimizer' = 'rmsprop': allowed values are ['sgd', 'adam']" in capsys.readouterr().err
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(tiny_settings(tmp_path / "results")))
    args = ["round", "--config", str(good), "--arch", "fcn", "--dataset", "mnist-5k", "--method", "imp"]
    assert main([*args, "--trial", "0", "--round", "1"]) == 2
    assert "no such round file" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "nothing.h5")]) == 2


MALFORMED = "grid:\n  pairs: [fcn/mnist-5k\n  trials: 2\n"
ROUND = ["--arch", "fcn", "--dataset", "mnist-5k", "--trial", "0", "--round", "0"]


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "pipeline", "check", "{config}"],
        ["-m", "pipeline", "round", "--config", "{config}", *ROUND],
        ["-m", "pipeline.launch", "round", "--config", "{config}", "--run-hash", "0" * 10, *ROUND, "--out", "{out}"],
    ],
    ids=["check", "round", "launch"],
)
def test_malformed_config_is_one_line_with_file_line_and_column(tmp_path, command):
    config = tmp_path / "bad.yaml"
    config.write_text(MALFORMED)
    args = [part.format(config=config, out=tmp_path / "round0.h5") for part in command]
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{config}:3:9: invalid YAML: expected ',' or ']'" in lines[0]
    assert not (tmp_path / "round0.h5").exists()


@pytest.mark.parametrize("pair", ["resnet20/fashion-mnist", "vgg11/fashion-mnist", "resnet18/cifar10", "lstm/cifar10"])
def test_check_accepts_every_image_architecture_on_every_image_data_set(tmp_path, capsys, pair):
    place_data(tmp_path / "data", [pair.split("/")[1]])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"grid": {"pairs": [pair]}, "data": {"root": str(tmp_path / "data")}}))
    assert main(["check", str(config)]) == 0, capsys.readouterr().err
