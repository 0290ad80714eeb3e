"""Real rounds on the shipped data: pruning, rewinding, resuming, storing."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline.cli import main
from pipeline.models import build_model, example_input, prunable_weights
from pipeline.prune import tree_edges
from pipeline.report.registry import figures
from pipeline.rounds import run_round, start_weights
from pipeline.store import checkpoint_dir, read_round
from pipeline.store.paths import checkpoint_file
from pipeline.topology import PRESETS
from pipeline.train import ModelMasks
from tests.conftest import round_key, tiny_config, tiny_settings

ROOT = Path(__file__).resolve().parents[1]


def _round(config, method, k, **kw):
    return run_round(config, round_key(config, k, method), **kw)


def test_timp_rounds_keep_every_tree_edge_of_the_stored_weights(tiny):
    dense = read_round(_round(tiny, "timp", 0))
    previous = dense
    weights = prunable_weights(build_model("fcn", "mnist-5k"), example_input((1, 28, 28)))
    for k in (1, 2):
        current = read_round(_round(tiny, "timp", k))
        for w in weights:
            tree = tree_edges(w, previous.weights[w.name], previous.masks[w.name])
            assert current.masks[w.name].ravel()[tree].all(), (k, w.name)
            assert np.all(current.weights[w.name][~current.masks[w.name]] == 0)
        assert current.attrs["density"] == pytest.approx(0.8**k, abs=1e-3)
        previous = current
    assert current.attrs["method"] == "timp" and dense.attrs["method"] == "dense"


def test_imp_rounds_store_everything_promised(tiny):
    _round(tiny, "imp", 0)
    path = _round(tiny, "imp", 1)
    data = read_round(path)
    a = data.attrs
    assert a.run_hash == round_key(tiny, 1, "imp").run_hash and a.method == "imp" and a.round == 1
    assert a.convention.startswith("w_max=layer") and a.code_revision and 0 < a.eta_tau < 66.8
    assert a["config"]["training"]["epochs"] == 2 and a["versions"]["torch"] == torch.__version__
    assert set(data.diagrams) == set(data.weights) and list(data.metrics["epoch"]) == [0, 1, 2]  # 0: before training
    assert a.epochs == 2 and np.isnan(data.metrics["train_loss"][0]) and data.metrics["test_acc"][0] < 0.5
    first = data.diagrams["net.1.weight"]
    assert np.all(first.births == 1) and first.attrs["tree_edges"] == len(first.deaths) == 883
    assert data.metrics["np/net.1.weight"].shape == data.metrics["overlap/net.1.weight"].shape == (3,)
    assert data.metrics["overlap/net.1.weight"][-1] == pytest.approx(first.attrs.overlap)
    for g in data.diagrams.values():  # the nulls: 20 permutations (tiny_settings), an interval around their mean
        s = g.attrs
        assert s.null_draws == 20 and s.overlap_null_low <= s.overlap_null_mean <= s.overlap_null_high
        assert s.np_null_low <= s.np_null_mean <= s.np_null_high and 0 <= s.overlap_percentile <= 100
    assert a.tree_kept_null_low <= a.tree_kept_null_mean <= a.tree_kept_null_high and a.tree_kept_percentile >= 0
    assert all(la.prev_tree_kept_null_mean is not None for la in data.layer_attrs.values())
    assert 0.5 < a["test_acc"] <= 1.0 and not checkpoint_dir(path).exists()


def test_a_round_stores_the_whole_networks_diagram_and_what_pruning_kept_of_its_forest(tmp_path):
    """docs/science.md §10: one point per edge of the network's forest, each naming a present
    weight of its layer graph at its w'; the layers' shares add up to it; round 1 records the
    share of round 0's network forest it kept, against its permutation null."""
    config = tiny_config(tmp_path, training={"epochs": 1}, nulls={"draws": 5})
    dense = read_round(_round(config, "imp", 0))
    data = read_round(_round(config, "imp", 1))
    assert dense.network is not None and dense.attrs.network_tree_kept is None
    net, s = data.network, data.network.attrs
    assert net.graphs == list(data.diagrams) and s.layer == s.kind == "network"
    points = s.vertices - s.diagram_components
    assert len(net.births) == len(net.deaths) == len(net.layers) == len(net.indices) == points == s.tree_edges
    assert np.all(net.births == 1) and s.components == s.diagram_components
    diagrams = [g.attrs for g in data.diagrams.values()]
    assert s.tree_edges < s.layer_tree_edges == sum(g.tree_edges for g in diagrams)
    assert sum(g.network_tree_edges for g in diagrams) == s.tree_edges
    assert sum(g.network_tree_share for g in diagrams) == pytest.approx(1.0)
    assert all(0 < g.own_tree_in_network <= 1 for g in diagrams)
    for k, name in enumerate(net.graphs):
        g = data.diagrams[name].attrs
        here = net.indices[net.layers == k]
        assert here.size == g.network_tree_edges and data.masks[g.tensor].ravel()[here].all(), name
        w = np.abs(data.weights[g.tensor].ravel()[here]) / g.w_max
        np.testing.assert_allclose(w, net.deaths[net.layers == k], rtol=1e-6, err_msg=name)
    a = data.attrs
    assert 0 <= a.network_tree_kept <= 1 and 0 <= a.network_tree_kept_params <= 1
    assert 0 <= a.network_tree_kept_null_low <= a.network_tree_kept_null_mean <= a.network_tree_kept_null_high <= 1
    assert 0 <= a.network_tree_kept_percentile <= 100


def test_a_model_without_a_network_graph_stores_no_network(tmp_path, monkeypatch, caplog):
    """A forward pass the trace cannot follow costs the round its whole-network topology only."""

    def untraceable(model, x):
        raise ValueError("the network graph has no rule for how units pass through 'sort' (node sort)")

    monkeypatch.setattr("pipeline.rounds.network_structure", untraceable)
    config = tiny_config(tmp_path, training={"epochs": 1})
    _round(config, "imp", 0)
    data = read_round(_round(config, "imp", 1))
    assert data.network is None and data.attrs.network_tree_kept is None and data.attrs.tree_kept is not None
    assert all(g.attrs.network_tree_edges is None for g in data.diagrams.values())
    assert "no whole-network topology: the network graph has no rule" in caplog.text


def test_rewinding_restores_the_stored_initial_weights_under_the_mask(tiny):
    dense = read_round(_round(tiny, "imp", 0))
    data = read_round(_round(tiny, "imp", 1))
    for name, init in dense.rewind.items():
        assert np.array_equal(data.rewind[name], init)  # carried unchanged from round 0
    state, carried = start_weights(data, "init")
    model = build_model("fcn", "mnist-5k")
    model.load_state_dict(state)
    ModelMasks(model, data.masks).enforce()
    for name, mask in data.masks.items():
        value = model.state_dict()[name].numpy()
        assert np.array_equal(value[mask], dense.rewind[name][mask]) and np.all(value[~mask] == 0)
    assert carried is not None
    trained, none = start_weights(data, "none")
    assert none is None and np.array_equal(trained["net.1.weight"].numpy(), data.weights["net.1.weight"])


def test_late_rewinding_rewinds_to_the_weights_after_epoch_e(tmp_path):
    """The rewind point of ``epoch:1`` is exactly the network after one epoch of the same run
    (a one-epoch run: same seeds, data order and constant learning rate), not its init."""
    late = read_round(_round(tiny_config(tmp_path / "late", pruning={"rewind": "epoch:1"}), "imp", 0))
    one_epoch = read_round(_round(tiny_config(tmp_path / "one", training={"epochs": 1}), "imp", 0))
    at_init = read_round(_round(tiny_config(tmp_path / "init"), "imp", 0))
    for name in late.weights:
        assert np.array_equal(late.rewind[name], one_epoch.weights[name]), name
        assert not np.array_equal(late.rewind[name], at_init.rewind[name]), name
        assert not np.array_equal(late.rewind[name], late.weights[name]), name
    for name in late.rewind_rest:
        assert np.array_equal(late.rewind_rest[name], one_epoch.trained_rest[name]), name


def test_round_refuses_a_previous_file_of_another_run(tmp_path):
    a = tiny_config(tmp_path / "a")
    b = tiny_config(tmp_path / "b", training={"lr": 0.01})
    previous = _round(a, "imp", 0)
    with pytest.raises(ValueError, match="run_hash"):
        _round(b, "imp", 1, previous=previous)


def test_killed_round_resumes_and_matches_an_uninterrupted_run(tmp_path):
    settings = {"training": {"epochs": 30, "track_np": False}}
    reference = read_round(_round(tiny_config(tmp_path / "ref", **settings), "imp", 0))

    config_path = tmp_path / "config.yaml"
    config_path.write_text(yaml.safe_dump(tiny_settings(tmp_path / "killed", **settings)))
    out = tmp_path / "killed" / "round0.h5"
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "round",
        "--config",
        str(config_path),
        "--arch",
        "fcn",
        "--dataset",
        "mnist-5k",
        "--trial",
        "0",
        "--round",
        "0",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = checkpoint_file(checkpoint_dir(out))
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the round ended before its first checkpoint"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()

    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=300)
    resumed = read_round(out)
    assert 1 <= resumed.attrs["resumed_from_epoch"] < 30
    for name in reference.weights:
        assert np.array_equal(resumed.weights[name], reference.weights[name]), name
    for name in reference.trained_rest:
        assert np.array_equal(resumed.trained_rest[name], reference.trained_rest[name]), name
    assert np.array_equal(resumed.metrics["test_acc"], reference.metrics["test_acc"])
    assert not checkpoint_dir(out).exists()


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_convention_prunes_past_100x(tmp_path, preset):
    """Down to 10 of the classifier's 1,000 weights, under every preset (``rieck``: zero edges)."""
    convention = PRESETS[preset]
    config = tiny_config(tmp_path, training={"epochs": 1}, pruning={"rate": 0.9}, topology=convention.to_dict())
    _round(config, "imp", 0)
    for method in ("imp", "timp"):
        _round(config, method, 1)
        last = read_round(_round(config, method, 2))
        assert last.attrs["convention"] == convention.name
        for name, record in last.diagrams.items():
            mask = last.masks[record.attrs["tensor"]]
            assert record.attrs["alpha"] <= record.attrs["weights"] == mask.sum(), name
            expected_points = sum(mask.shape) - 1 if convention.pruned == "zero" else record.attrs["alpha"]
            assert len(record.deaths) == expected_points, name
        if method == "imp":
            assert last.attrs["compression"] >= 99.9


@pytest.mark.parametrize("arch", ["lstm", "gru"])
def test_gated_cells_run_the_whole_path(tmp_path, arch):
    """Probe, diagrams, overlap, T-IMP keeping every gate's tree, and the figures, on LSTM/GRU."""
    config = tiny_config(tmp_path / "results", grid={"pairs": [f"{arch}/mnist-5k"]}, training={"epochs": 1})

    def step(method, k):
        return run_round(config, round_key(config, k, method, arch=arch))

    files = [step("timp", 0), step("timp", 1), step("imp", 1)]
    dense, timp = read_round(files[0]), read_round(files[1])
    for data in (dense, timp):
        for name, record in data.diagrams.items():
            weight, mask = data.weights[record.attrs["tensor"]].ravel(), data.masks[record.attrs["tensor"]].ravel()
            assert mask[record.indices].all(), name
            np.testing.assert_allclose(np.abs(weight[record.indices]) / record.attrs["w_max"], record.deaths, rtol=1e-6)
    assert any("[" in name for name in dense.diagrams)
    for name, record in dense.diagrams.items():  # the stored tree, not T-IMP's own tree_edges
        assert timp.masks[record.attrs.tensor].ravel()[record.indices].all(), name
    out = tmp_path / "figures"
    assert main(["figures", *map(str, files), "--out-dir", str(out)]) == 0
    assert sorted(p.stem for p in out.glob("*.png")) == sorted(figures())


def test_every_method_runs_real_rounds_and_keeps_its_masks(tmp_path):
    """Two rounds of every method on a 600-image subset: masks hold through retraining; random
    copies IMP's per-layer counts, reinit IMP's mask with weights no stored initialisation has;
    every round records what it kept of the previous tree (T-IMP: all of it)."""
    config = tiny_config(
        tmp_path,
        grid={"methods": ["imp", "timp", "random", "reinit", "synflow", "snip"], "trials": 2},
        data={"train_subset": 600},
        training={"epochs": 1},
        pruning={"rate": 0.5, "rates": {"output": 0.25}},
    )
    inits = [read_round(run_round(config, replace(round_key(config, 0), trial=t))).rewind for t in (0, 1)]
    files = {(m, k): read_round(_round(config, m, k)) for k in (1, 2) for m in config.grid.methods}
    for (method, k), data in files.items():
        imp = files["imp", k]
        for name, mask in data.masks.items():
            assert np.all(data.weights[name][~mask] == 0), (method, k, name)
            assert mask.sum() == imp.masks[name].sum() or method == "timp", (method, k, name)
        for attrs in data.layer_attrs.values():
            assert (
                0 <= attrs.prev_tree_kept_edges <= attrs.prev_tree_edges
                and attrs.prev_tree_params <= attrs.prev_tree_edges
            )
        assert data.attrs.tree_kept is not None and data.attrs.np_retained > 0
    for k in (1, 2):
        reinit, imp = files["reinit", k], files["imp", k]
        for name, mask in imp.masks.items():
            assert np.array_equal(reinit.masks[name], mask)
            for init in [*inits, imp.rewind]:
                assert not np.allclose(reinit.rewind[name], init[name]), (k, name)
        assert files["timp", k].attrs.tree_kept == 1.0
        assert not all(np.array_equal(files["random", k].masks[n], m) for n, m in imp.masks.items())
    assert files["random", 2].attrs.tree_kept < files["imp", 2].attrs.tree_kept


def test_late_rewinding_at_a_step_is_the_network_after_that_many_steps(tmp_path):
    """600 images in batches of 128 make 5 steps an epoch: ``step:5`` is ``epoch:1``, ``step:3``
    is neither it nor the initialisation."""
    subset = {"data": {"train_subset": 600}}
    step5 = read_round(_round(tiny_config(tmp_path / "s5", pruning={"rewind": "step:5"}, **subset), "imp", 0))
    epoch1 = read_round(_round(tiny_config(tmp_path / "e1", pruning={"rewind": "epoch:1"}, **subset), "imp", 0))
    step3 = read_round(_round(tiny_config(tmp_path / "s3", pruning={"rewind": "step:3"}, **subset), "imp", 0))
    at_init = read_round(_round(tiny_config(tmp_path / "i", **subset), "imp", 0))
    for name in step5.rewind:
        assert np.array_equal(step5.rewind[name], epoch1.rewind[name]), name
        assert not np.array_equal(step3.rewind[name], step5.rewind[name]), name
        assert not np.array_equal(step3.rewind[name], at_init.rewind[name]), name


def test_a_torchvision_classifier_runs_imp_and_timp_rounds(tmp_path):
    """tv:mobilenet_v3_small (depthwise and squeeze-excite convs) on one-channel 28x28 digits:
    the grid's rounds train, prune and keep T-IMP's trees like on the paper's nets."""
    arch = "tv:mobilenet_v3_small"
    config = tiny_config(
        tmp_path, grid={"pairs": [f"{arch}/mnist-5k"]}, data={"train_subset": 256}, training={"epochs": 1}
    )
    files = {
        (m, k): read_round(run_round(config, round_key(config, k, m, arch=arch)))
        for m in ("imp", "timp")
        for k in (0, 1)
    }
    dense, imp, timp = files["imp", 0], files["imp", 1], files["timp", 1]
    depthwise = [n for n, w in dense.weights.items() if w.ndim == 4 and w.shape[1] == 1 and w.shape[2] > 1]
    assert len(depthwise) >= 10 and all(n.startswith("net.features.") for n in dense.weights if "classifier" not in n)
    assert imp.attrs.density == pytest.approx(0.8, abs=0.01)
    weights = prunable_weights(build_model(arch, "mnist-5k"), example_input((1, 28, 28)))
    for w in weights:
        for data in (imp, timp):
            assert np.all(data.weights[w.name][~data.masks[w.name]] == 0), w.name
        tree = tree_edges(w, dense.weights[w.name], dense.masks[w.name])
        assert timp.masks[w.name].ravel()[tree].all(), w.name
    assert timp.attrs.tree_kept == 1.0 and imp.attrs.tree_kept < 1.0


def test_every_round_records_what_it_cost_and_the_jobs_table_sums_it(tiny):
    import socket

    from pipeline.report.collect import collect
    from pipeline.report.tables import jobs_table

    files = [_round(tiny, "imp", 0), _round(tiny, "imp", 1), _round(tiny, "timp", 1)]
    attrs = [read_round(f).attrs for f in files]
    for a in attrs:
        assert a.node == socket.gethostname() and a.job_ids == "" and a.requeues == 0 and a.gpus == 0
        assert 0 < a.elapsed_s == a.wall_seconds and a.peak_rss_mb > 100 and a.queue_wait_s == 0
    table = jobs_table(collect(files)).set_index("method")
    assert list(table.index) == ["imp", "timp", "dense"] and (table["rounds"] == 1).all()
    assert table.loc["dense", "wall_h"] == pytest.approx(attrs[0].elapsed_s / 3600)
    assert (table["gpu_h"] == 0).all() and (table["attempts"] == 1).all()
