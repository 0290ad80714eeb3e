"""``python -m pipeline check FILE...``: files merged as Snakemake merges --configfile's, each round
rule's resources, and what the workflow would refuse before any job (missing data, GPUs inline)."""

from pathlib import Path

import pytest
import yaml
from snakemake.common.configfile import load_configfile
from snakemake.utils import update_config

from pipeline.cli import main
from pipeline.cli.configuration import merge_config_files
from pipeline.config import load_config
from pipeline.fields import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PROG = "python -m pipeline check: error: "


def write(path: Path, settings: dict) -> Path:
    path.write_text(yaml.safe_dump(settings))
    return path


def snakemake_merge(files: list[Path]) -> dict:
    """What Snakemake makes of several --configfile's (snakemake.settings.types.ConfigSettings)."""
    merged: dict = {}
    for f in files:
        update_config(merged, load_configfile(f))
    return merged


def test_files_merge_in_order_exactly_as_snakemake_merges_them(tmp_path):
    first = write(
        tmp_path / "a.yaml",
        {"grid": {"pairs": ["fcn/mnist-5k", "conv/mnist-5k"], "trials": 3}, "training": {"lr": 0.2, "epochs": 4}},
    )
    second = write(
        tmp_path / "b.yaml",
        {"grid": {"pairs": ["fcn/mnist-5k"]}, "training": {"epochs": 1}, "recipes": {}, "launcher": {"gpus": 0}},
    )
    third = write(tmp_path / "c.yaml", {"training": None, "recipes": {"fcn": {"lr": 0.05}}})
    for files in ([first, second], [second, first], [first, second, third]):
        assert merge_config_files(files) == snakemake_merge(files)
    merged = merge_config_files([first, second])
    assert merged["grid"] == {"pairs": ["fcn/mnist-5k"], "trials": 3}  # lists replaced, mappings key by key
    assert merged["training"] == {"lr": 0.2, "epochs": 1}
    shipped = [ROOT / "config/config.yaml", ROOT / "slurm/launcher.yaml"]
    assert load_config(merge_config_files(shipped)) == load_config(snakemake_merge(shipped))


def test_the_profiles_files_print_the_slurm_resources_of_each_round_rule(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["check", "config/config.yaml", "slurm/launcher.yaml"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "backend: slurm" in out and "# launcher backend slurm, pack chain, 1 round(s) at once per job;" in out
    for rule in ("dense_round", "prune_round"):
        assert f"#   {rule}: gpus 1, cpus 2, mem_mb 4096, time_min 120, partition (the cluster's default)" in out


def test_gpus_under_the_inline_backend_are_one_error_line(tmp_path, capsys):
    config = write(tmp_path / "c.yaml", {"launcher": {"gpus": 2}})
    assert main(["check", str(config)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(PROG + "launcher.backend is 'inline' but this run asks for GPUs")
    assert "dense_round: gpus=2; prune_round: gpus=2" in lines[0] and "slurm/launcher.yaml" in lines[0]
    assert "#   dense_round: gpus 2," in captured.out  # the resolved configuration is still printed


def test_each_missing_data_set_is_one_line_saying_where_to_put_it(tmp_path, capsys):
    pairs = ["fcn/mnist", "conv/mnist", "fcn/mnist-5k", "vgg11/tiny-imagenet"]
    config = write(tmp_path / "c.yaml", {"grid": {"pairs": pairs}, "data": {"root": "/nonexistent"}})
    assert main(["check", str(config)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(PROG + "data set 'mnist' not found: put train-images-idx3-ubyte, ")
    assert " in /nonexistent/MNIST/raw (" in lines[0]
    assert lines[1].startswith(PROG + "data set 'tiny-imagenet' not found: put wnids.txt, ")
    assert " in /nonexistent/tiny-imagenet-200 (unzip tiny-imagenet-200.zip" in lines[1]


def test_a_file_that_is_not_a_mapping_is_named(tmp_path, capsys):
    listing = tmp_path / "list.yaml"
    listing.write_text("- grid\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping of configuration keys"):
        merge_config_files([ROOT / "config/config.yaml", listing])
    assert main(["check", str(ROOT / "config/config.yaml"), str(listing)]) == 2
    assert capsys.readouterr().err == f"{PROG}{listing}: expected a mapping of configuration keys at the top level\n"
