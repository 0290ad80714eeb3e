"""``python -m pipeline analyze`` as a user runs it: torchvision, own code, checkpoints, errors."""

import io
import subprocess
import sys
from pathlib import Path

import h5py
import pandas as pd
import pytest
import torch
import torchvision

from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI in-process; 3 permutations per graph unless a test asks for more (the null's own
    tests are in tests/topology/test_null.py)."""
    null = () if "--null-draws" in argv else ("--null-draws", "3")
    code = main(["analyze", "--no-progress", *null, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _frame(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out))


def test_torchvision_resnet50_csv_from_a_shell():
    """The issue's command, in a fresh process: every weight of ResNet-50 at 224 x 224."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipeline",
            "analyze",
            "--torchvision",
            "resnet50",
            "--format",
            "csv",
            "--null-draws",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    frame = _frame(result.stdout)
    graphs = frame[~frame["kind"].isin(["aggregate", "skipped"])]
    assert len(graphs) == 54 and (graphs["kind"] == "conv").sum() == 53
    assert graphs["weights"].sum() > 4e9  # about 4 G Toeplitz edges
    assert frame[frame["layer"] == "conv"]["eta_tau_params"].iloc[0] > 1
    assert set(frame[frame["kind"] == "skipped"]["reason"].str.split(":").str[0]) == {"bias", "BatchNorm2d"}
    assert frame["overlap_null_mean"].isna().all()  # 25 M weights: no null unless asked (minutes of permutations)
    assert "no permutation null for 25,5" in result.stderr and "--null-draws N draws it" in result.stderr


def test_the_overlap_against_its_permutation_null(capsys):
    """The FCN at its seeded initialisation: i.i.d. weights, so every layer's overlap lies inside
    its null, far from the paper's subset chance level."""
    model = ("--model", "pipeline.models:build_model", "--model-arg", "arch=fcn", "--model-arg", "dataset=mnist-5k")
    code, out, _ = run(capsys, *model, "--input-shape", "1,28,28", "--format", "csv", "--null-draws", "40")
    frame = _frame(out)
    graphs = frame[frame["kind"] == "linear"]
    assert code == 0 and len(graphs) == 6
    assert (graphs["overlap_null_low"] <= graphs["overlap_null_mean"]).all()
    assert (graphs["overlap_null_mean"] <= graphs["overlap_null_high"]).all()
    assert graphs["overlap_percentile"].between(0, 100).all() and (graphs["overlap_null_mean"] > 0.5).all()
    assert (graphs["log10_subset_chance"] < -2).all()


def test_a_users_own_module_with_keyword_arguments(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    code, out, err = run(
        capsys, "--model", "tests.cli.data.user_model:build", "--model-arg", "width=6", "--input-shape", "1,8,8"
    )
    assert code == 0, err
    assert "1.weight" in out and "BatchNorm2d" in out  # the norm is listed as skipped
    code, out, _ = run(
        capsys,
        *("--model", "tests.cli.data.user_model:build", "--model-arg", "width=6", "--input-shape", "1,8,8"),
        *("--format", "json"),
    )
    rows = pd.read_json(io.StringIO(out))
    depthwise = rows[rows["layer"] == "3.weight"].iloc[0]
    assert depthwise["shape"] == "6x1x3x3" and depthwise["params"] == 54


def test_an_lstm_and_a_vision_transformer(capsys):
    code, out, err = run(
        capsys,
        *("--model", "torch.nn:LSTM", "--model-arg", "input_size=5", "--model-arg", "hidden_size=4"),
        *("--input-shape", "7,5", "--format", "csv"),
    )
    assert code == 0, err
    frame = _frame(out)
    assert frame["layer"].tolist()[:8] == [f"weight_{w}_l0[{g}]" for w in ("ih", "hh") for g in "ifgo"]
    assert frame[frame["layer"] == "recurrent"]["eta_tau"].iloc[0] == pytest.approx(16 / 7)
    vit = ("--model", "torchvision.models.vision_transformer:VisionTransformer")
    sizes = {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 16, "mlp_dim": 24}
    args = [a for k, v in sizes.items() for a in ("--model-arg", f"{k}={v}")]
    code, out, err = run(capsys, *vit, *args, "--input-shape", "3,32,32", "--format", "csv", "--zeros", "weights")
    assert code == 0, err
    frame = _frame(out)
    qkv = frame[frame["layer"].str.contains("in_proj_weight")]
    assert len(qkv) == 2 * 3 and set(qkv["shape"]) == {"16x16"}
    assert frame[frame["layer"] == "conv_proj.weight"]["kind"].iloc[0] == "conv"
    assert "class_token" in set(frame[frame["kind"] == "skipped"]["layer"])


def test_checkpoints_state_dicts_and_whole_modules(capsys, tmp_path):
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None, num_classes=5)
    torch.save(model.state_dict(), tmp_path / "state.pt")
    torch.save(model, tmp_path / "whole.pt")
    base = ("--input-shape", "3,32,32", "--format", "csv")
    code, named, err = run(
        capsys,
        "--torchvision",
        "resnet18",
        "--model-arg",
        "num_classes=5",
        "--weights",
        str(tmp_path / "state.pt"),
        *base,
    )
    assert code == 0, err
    code, whole, err = run(capsys, "--checkpoint", str(tmp_path / "whole.pt"), *base)
    assert code == 0, err
    assert _frame(named).equals(_frame(whole))
    code, _, err = run(capsys, "--torchvision", "resnet34", "--checkpoint", str(tmp_path / "state.pt"), *base)
    assert code == 2 and "does not fit resnet34" in err and "missing" in err and "of another shape" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--torchvision", "resnet5000"), "no torchvision classifier 'resnet5000'"),
        (("--torchvision", "resnet18", "--input-shape", "3,x"), "--input-shape '3,x': expected positive integers"),
        (("--torchvision", "resnet18", "--input-shape", "1,224,224"), "cannot take an input of shape (1, 1, 224, 224)"),
        (("--model", "tests.cli.data.user_model:nothing", "--input-shape", "1,8,8"), "has no callable 'nothing'"),
        (("--model", "no_such_package.nets:build", "--input-shape", "1,8,8"), "cannot import 'no_such_package.nets'"),
        (("--model", "tests.cli.data.user_model:build"), "--input-shape is required"),
        (("--checkpoint", "missing.pt", "--input-shape", "3,8,8"), "no such model file: missing.pt"),
        ((), "give --torchvision NAME, --model MODULE:FACTORY"),
        (("--torchvision", "resnet18", "--format", "h5"), "give --output FILE.h5"),
        (("--torchvision", "vit_b_16", "--model-arg", "image_size=100"), "vit_b_16: building it failed: Input shape"),
        (("--model", "tests.cli.data.user_model:not_a_module", "--input-shape", "1,8,8"), "built a dict, not a torch"),
        (("--checkpoint", "x.pt", "--model-arg", "a=1", "--input-shape", "3,8,8"), "a whole saved module takes none"),
        (
            ("--model", "tests.cli.data.user_model:branching", "--input-shape", "4", "--whole-network"),
            "the model cannot be traced for its network graph: symbolically traced variables cannot be used as inputs",
        ),
        (
            ("--model", "tests.cli.data.user_model:cumulative", "--input-shape", "4", "--whole-network"),
            "the network graph has no rule for how units pass through 'cumsum'",
        ),
    ],
)
def test_bad_input_is_one_clear_line(capsys, monkeypatch, argv, message):
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_h5_holds_the_table_and_every_diagram_and_figures_are_drawn(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out_file, figures = tmp_path / "a.h5", tmp_path / "figs"
    model = ("--model", "tests.cli.data.user_model:build", "--input-shape", "1,8,8")
    code, _, err = run(capsys, *model, "--format", "h5", "--output", str(out_file), "--figures", str(figures))
    assert code == 0, err
    with h5py.File(out_file) as f:
        assert f.attrs["complete"] and f.attrs["format"].startswith("imp-topology-analysis")
        assert list(f["diagrams"]) == ["0.weight", "3.weight", "5.weight"]
        layers = [name.decode() for name in f["table/layer"][:]]
        assert layers[:3] == ["0.weight", "3.weight", "5.weight"] and "1.weight" in layers
        assert f["diagrams/5.weight/deaths"].shape == (4 * 8 * 8 + 3 - 1,)
    assert sorted(p.name for p in figures.iterdir()) == ["0.weight.png", "5.weight.png"]
    assert not list(tmp_path.glob(".a.h5.partial*"))
    code, _, err = run(capsys, *model, "--figures", str(figures), "--layers", "nothing*")
    assert code == 2 and "no graph matches" in err


def test_the_whole_network_is_one_row_more_and_each_graph_holds_its_part_of_the_network_forest(capsys):
    """The FCN's layers chain 784 + 5 x 100 + 10 units into one connected graph: its forest has
    1,293 edges, fewer than the layers' own forests together, and they share it out."""
    model = ("--model", "pipeline.models:build_model", "--model-arg", "arch=fcn", "--model-arg", "dataset=mnist-5k")
    code, out, err = run(capsys, *model, "--input-shape", "1,28,28", "--format", "csv", "--whole-network")
    assert code == 0, err
    frame = _frame(out)
    graphs, network = frame[frame["kind"] == "linear"], frame[frame["kind"] == "network"]
    kinds = frame["kind"].tolist()
    assert len(network) == 1 and kinds.index("network") == kinds.index("skipped") - 1  # after the aggregates
    row = network.iloc[0]
    assert row["layer"] == "network" and row["vertices"] == 1294 and row["components"] == 1
    assert row["tree_edges"] == 1293
    assert row["weights"] == row["params"] == graphs["weights"].sum() and row["tree_params"] == 1293
    assert row["eta_tau"] == pytest.approx(graphs["weights"].sum() / 1293) == row["eta_tau_params"]
    assert 0 < row["normalized_np"] < 1 and pd.isna(row["overlap"]) and pd.isna(row["m"]) and pd.isna(row["shape"])
    assert graphs["network_tree_edges"].sum() == 1293 < graphs["tree_edges"].sum()
    assert graphs["network_tree_share"].sum() == pytest.approx(1.0)
    assert ((graphs["own_tree_in_network"] > 0) & (graphs["own_tree_in_network"] <= 1)).all()
    assert graphs["own_tree_in_network"].tolist() == pytest.approx(graphs["network_tree_edges"] / graphs["tree_edges"])
    code, out, _ = run(capsys, *model, "--input-shape", "1,28,28", "--format", "csv", "--null-draws", "0")
    plain = _frame(out)
    assert "network" not in set(plain["kind"]) and "network_tree_edges" not in plain


def test_h5_holds_the_network_diagram_beside_the_layers(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out_file = tmp_path / "a.h5"
    model = ("--model", "tests.cli.data.user_model:build", "--input-shape", "1,8,8")
    code, _, err = run(capsys, *model, "--format", "h5", "--output", str(out_file), "--whole-network")
    assert code == 0, err
    with h5py.File(out_file) as f:
        net = f["network"]
        graphs = list(net["graphs"].asstr()[()])
        assert graphs == list(f["diagrams"]) and net.attrs["layer"] == "network"
        points = net.attrs["vertices"] - net.attrs["diagram_components"]
        assert all(net[name].shape == (points,) for name in ("births", "deaths", "layers", "indices"))
        assert set(net["layers"][()]) <= set(range(len(graphs))) and (net["births"][()] == 1).all()
        layers = [name.decode() for name in f["table/layer"][:]]
        assert "network" in layers and f["table/tree_edges"][layers.index("network")] == points


def test_default_figures_draw_gate_blocks_too(capsys, tmp_path):
    """Graph names with brackets ("weight_ih_l0[i]") are drawn by default, not read as patterns."""
    lstm = ("--model", "torch.nn:LSTM", "--model-arg", "input_size=3", "--model-arg", "hidden_size=2")
    code, _, err = run(capsys, *lstm, "--input-shape", "4,3", "--figures", str(tmp_path))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weight_hh_l0[o].png", "weight_ih_l0[i].png"]
    code, _, err = run(capsys, *lstm, "--input-shape", "4,3", "--figures", str(tmp_path), "--layers", "weight_hh_l0[f]")
    assert code == 0 and (tmp_path / "weight_hh_l0[f].png").exists()


def test_a_zero_initialised_head_is_noted(capsys):
    vit = ("--model", "torchvision.models.vision_transformer:VisionTransformer")
    sizes = {"image_size": 16, "patch_size": 8, "num_layers": 1, "num_heads": 1, "hidden_dim": 4, "mlp_dim": 4}
    args = [a for k, v in sizes.items() for a in ("--model-arg", f"{k}={v}")]
    code, _, err = run(capsys, *vit, *args, "--input-shape", "3,16,16")
    assert code == 0 and "note: 1 graphs hold only zeros and read as fully pruned (heads.head.weight)" in err
