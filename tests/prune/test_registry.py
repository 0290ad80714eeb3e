"""A pruning method is one module: registered here, it runs everywhere without another edit."""

import re
from pathlib import Path

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.prune import Method, default_methods, keep_top, method_names, registry
from pipeline.prune.select import prunable
from pipeline.report.collect import collect
from pipeline.report.tables import accuracy_table
from pipeline.rounds import run_round
from pipeline.store import read_round
from tests.conftest import round_key, tiny_settings

ROOT = Path(__file__).resolve().parents[2]


def _lowest_indices(ctx):
    """A deliberately plain method: keep the weights with the lowest flat indices."""
    scores = {w.name: -np.arange(int(np.prod(w.shape)), dtype=float) for w in prunable(ctx)}
    return keep_top(ctx, scores)


@pytest.fixture
def throwaway(monkeypatch):
    method = Method(name="throwaway", label="Throwaway", color="#2ca02c", prune=_lowest_indices, control=True)
    monkeypatch.setitem(registry(), method.name, method)
    return method


def test_a_method_registered_in_a_test_runs_through_config_round_and_tables(tmp_path, throwaway):
    import yaml

    settings = tiny_settings(tmp_path / "results", grid={"methods": ["imp", "throwaway"]}, training={"epochs": 1})
    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(settings))
    config = load_config(config_path)
    assert config.grid.methods == ("imp", "throwaway")
    assert "throwaway" in method_names() and "throwaway" not in default_methods()
    dense = run_round(config, round_key(config, 0))
    base = ["round", "--config", str(config_path), "--arch", "fcn", "--dataset", "mnist-5k", "--trial", "0"]
    assert main([*base, "--method", "throwaway", "--round", "1"]) == 0
    pruned = round_key(config, 1, "throwaway").file(config.results)
    data = read_round(pruned)
    assert data.attrs["method"] == "throwaway"
    for name, mask in data.masks.items():
        kept = int(mask.sum())
        assert 0 < kept < mask.size and mask.ravel()[:kept].all(), name
    table = accuracy_table(collect([dense, pruned]))
    assert table["method"].tolist() == ["throwaway", "throwaway"] and table["round"].tolist() == [0, 1]


def test_unknown_and_duplicate_methods_are_refused(throwaway):
    from pipeline.prune import register_method

    with pytest.raises(ValueError, match="already registered"):
        register_method(throwaway)
    with pytest.raises(ValueError, match=r"no such pruning method 'nope': allowed values are \['gtimp', 'imp'"):
        from pipeline.prune import get_method

        get_method("nope")


def test_no_method_name_is_written_out_outside_its_module():
    """Method names come from the registry: no quoted 'imp'/'timp' in code outside pipeline/prune."""
    literal = re.compile(r"""["']imp["']|["'][^"'\n]*\btimp\b[^"'\n]*["']""")  # also "imp|timp" and the like
    files = [*ROOT.glob("pipeline/**/*.py"), *ROOT.glob("workflow/**/*.smk"), ROOT / "Snakefile"]
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in files
        if "prune" not in path.relative_to(ROOT).parts[:2]
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if literal.search(line)
    ]
    assert not offenders


def test_a_method_gets_every_input_it_asks_for(tmp_path, monkeypatch):
    """rewind point, a per-trial-and-round generator, the restarted network under the previous
    masks (on the training device) and a training batch on the same device."""
    import torch

    seen = {}

    def inspecting(ctx):
        seen["rewind"] = {name: value.copy() for name, value in ctx.rewind.items()}
        seen["draw"] = ctx.rng.integers(1 << 30)
        state = ctx.model.state_dict()
        seen["masked_zero"] = all(
            bool((state[w.name][~torch.as_tensor(ctx.masks[w.name])] == 0).all()) for w in ctx.weights
        )
        images, labels = ctx.batch
        seen["devices"] = {next(ctx.model.parameters()).device, images.device, labels.device}
        seen["batch"] = (tuple(images.shape), tuple(labels.shape))
        return keep_top(ctx, {w.name: np.abs(ctx.values[w.name]) for w in prunable(ctx)})

    needs = frozenset({"rewind", "rng", "model", "batch"})
    method = Method(name="inspecting", label="Inspecting", color="#9467bd", prune=inspecting, needs=needs)
    monkeypatch.setitem(registry(), method.name, method)
    config = load_config(tiny_settings(tmp_path / "results", training={"epochs": 1}))
    run_round(config, round_key(config, 0))
    run_round(config, round_key(config, 1, "inspecting"))
    run_round(config, round_key(config, 2, "inspecting"))  # its previous masks have pruned weights
    first_draw = seen["draw"]
    dense = read_round(round_key(config, 0).file(config.results))
    assert all(np.array_equal(seen["rewind"][name], dense.rewind[name]) for name in dense.rewind)
    assert seen["masked_zero"] and len(seen["devices"]) == 1
    assert seen["batch"] == ((128, 1, 28, 28), (128,))
    run_round(config, round_key(config, 2, "inspecting"), out=tmp_path / "again.h5")
    assert seen["draw"] == first_draw  # seeded per trial and round


def test_a_method_of_a_bad_or_taken_name_is_refused_naming_its_module():
    from pipeline.prune import Method, register_method  # as the test above imports them

    def prune(ctx):
        raise AssertionError("never called")

    for name, message in (
        ("bad-name", r"test_registry: method name 'bad-name': use lower-case letters"),
        ("imp", r"test_registry: a pruning method named 'imp' is already registered by pipeline\.prune\.methods\.imp"),
        ("dense", r"'dense' is reserved for round 0"),
    ):
        with pytest.raises(ValueError, match=message):
            register_method(Method(name=name, label=name, color="k", prune=prune))
