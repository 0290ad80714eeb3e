import io
import json

import pandas as pd
import pytest
import torch

from pipeline.cli import main
from pipeline.models import build_model


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_eta_csv_for_resnet20(capsys):
    code, out, _ = run(
        capsys,
        "eta",
        "--arch",
        "resnet20",
        "--dataset",
        "cifar10",
        "--conv-graph",
        "paper",
        "--format",
        "csv",
    )
    assert code == 0
    frame = pd.read_csv(io.StringIO(out))
    assert list(frame.columns) == ["layer", "kind", "m", "n", "weights", "tree_edges", "eta_tau"]
    assert frame["layer"].tolist()[-3:] == ["conv", "dense", "final"]
    assert len(frame) == 19 + 1 + 3  # 19 3x3 convs, the classifier, the aggregates


def test_eta_exact_adds_parameter_level_columns(capsys):
    code, out, _ = run(
        capsys, "eta", "--arch", "conv", "--dataset", "mnist-5k", "--conv-graph", "exact", "--format", "json"
    )
    assert code == 0
    rows = {r["layer"]: r for r in json.loads(out)}
    conv = rows["features.0.weight"]
    assert conv["m"] == 30 * 30 and conv["n"] == 32 * 28 * 28
    assert conv["eta_tau_params"] == pytest.approx(conv["params"] / conv["tree_params"])
    assert rows["conv"]["params"] == 288 + 9216


def test_bounds_json_has_every_field(capsys):
    code, out, _ = run(capsys, "bounds", "--m", "100", "--n", "10", "--fraction", "0.05", "0.4", "--format", "json")
    assert code == 0
    payload = json.loads(out)
    assert payload["bound"] == pytest.approx(0.0490894774792394)
    first = payload["fractions"][0]
    for key in (
        "w",
        "binomial_exactly",
        "binomial_at_least",
        "hypergeometric_exactly",
        "hypergeometric_at_least",
    ):
        assert key in first
    assert first["w"] == 5 and round(first["binomial_at_least"], 3) == 0.994


def test_bounds_table_for_a_large_layer_prints_no_nan(capsys):
    code, out, _ = run(capsys, "bounds", "--m", "784", "--n", "100", "--fraction", "0.4", "1.0")
    assert code == 0 and "nan" not in out.lower() and "10^-" in out


def test_persistence_of_a_saved_state_dict(capsys, tmp_path):
    torch.manual_seed(0)
    model = build_model("fcn", "mnist-5k")
    with torch.no_grad():
        model.net[1].weight[:, :100] = 0  # pruned inputs: absent edges
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    code, out, err = run(capsys, "persistence", str(path), "--arch", "fcn", "--dataset", "mnist-5k", "--format", "csv")
    assert code == 0 and "w_max=layer" in err
    frame = pd.read_csv(io.StringIO(out))
    first = frame.iloc[0]
    assert first["weights"] == 100 * 684 and first["components"] == 101
    assert 0 < first["normalized_np"] < 1
    assert frame.iloc[-1]["np"] == pytest.approx(frame["np"].iloc[:-1].sum())


def test_persistence_counts_the_present_tree_under_every_preset(capsys, tmp_path):
    """``--preset rieck`` keeps pruned weights as zero edges in the diagram, but η_τ and the
    tree's edge count are those of the present weights, as under ``paper``."""
    torch.manual_seed(0)
    model = build_model("fcn", "mnist-5k")
    with torch.no_grad():
        model.net[11].weight[:, 10:] = 0  # the classifier keeps 100 of its 1,000 weights
    path = tmp_path / "model.pt"
    torch.save(model.state_dict(), path)
    frames = {}
    for preset in ("paper", "rieck"):
        args = ["persistence", str(path), "--arch", "fcn", "--dataset", "mnist-5k", "--preset", preset]
        code, out, _ = run(capsys, *args, "--format", "csv")
        assert code == 0
        frames[preset] = pd.read_csv(io.StringIO(out)).set_index("layer")
    paper, rieck = frames["paper"], frames["rieck"]
    pd.testing.assert_frame_equal(
        rieck[["weights", "tree_edges", "eta_tau"]], paper[["weights", "tree_edges", "eta_tau"]]
    )
    assert paper.loc["net.11.weight", "tree_edges"] == 100 + 10 - paper.loc["net.11.weight", "components"]
    assert rieck.loc["net.11.weight", "diagram_components"] == 1  # zero-weight edges join the diagram's forest


def test_errors_are_one_clear_line(capsys, tmp_path):
    code, _, err = run(capsys, "persistence", str(tmp_path / "missing.pt"), "--arch", "fcn", "--dataset", "mnist")
    assert code == 2 and "no such model file" in err
    with pytest.raises(SystemExit):
        main(["eta", "--arch", "nope", "--dataset", "mnist"])
    assert "no such architecture 'nope': choose from ['conv'" in capsys.readouterr().err
