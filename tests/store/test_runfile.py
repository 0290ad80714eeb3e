from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.store import RoundData, RoundFileError, read_round, write_round
from pipeline.store.record import DiagramAttrs, LayerAttrs, NetworkAttrs, RunAttrs
from pipeline.store.runfile import DiagramRecord, NetworkRecord
from pipeline.topology.conventions import Convention
from pipeline.topology.diagram import layer_persistence
from pipeline.topology.graphs import DenseLayer, tensor_of
from pipeline.topology.summary import summarize
from tests.fixtures import blank_record


def _data() -> RoundData:
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5, 7)).astype(np.float32)
    mask = rng.random((5, 7)) < 0.5
    diagram = blank_record(DiagramAttrs, layer="fc.weight", np=0.9, params=None)
    return RoundData(
        attrs=blank_record(RunAttrs, run_hash="abc", round=1, config={"a": [1, 2]}, test_acc=0.5),
        weights={"fc.weight": weight * mask},
        masks={"fc.weight": mask},
        rewind={"fc.weight": weight},
        layer_attrs={"fc.weight": blank_record(LayerAttrs, kind="linear", n_kept=int(mask.sum()))},
        trained_rest={"fc.bias": np.ones(5, np.float32)},
        rewind_rest={"fc.bias": np.zeros(5, np.float32)},
        diagrams={"fc.weight": DiagramRecord(np.ones(3), np.array([1.0, 0.5, 0.2]), np.arange(3), diagram)},
        metrics={"epoch": np.arange(1, 4), "np/fc.weight": np.array([0.1, 0.2, 0.3])},
    )


def test_roundtrip(tmp_path):
    path = write_round(tmp_path / "r.h5", _data())
    back = read_round(path)
    assert back.attrs == _data().attrs and back.layer_attrs == _data().layer_attrs
    assert back.attrs.config == {"a": [1, 2]} and back.diagrams["fc.weight"].attrs.params is None
    assert np.array_equal(back.masks["fc.weight"], _data().masks["fc.weight"])
    state = back.state("rewind")
    assert np.array_equal(state["fc.weight"].numpy(), _data().rewind["fc.weight"])
    assert state["fc.bias"].sum() == 0 and back.state("trained")["fc.bias"].sum() == 5
    assert back.diagrams["fc.weight"].attrs["np"] == 0.9
    assert np.allclose(back.metrics["np/fc.weight"], [0.1, 0.2, 0.3])  # stored as float32
    assert not list(tmp_path.glob(".*partial*"))


def test_the_network_diagram_roundtrips_and_a_file_without_one_reads_none(tmp_path):
    data = _data()
    attrs = blank_record(NetworkAttrs, layer="network", kind="network", vertices=12, tree_edges=3, w_max=float("nan"))
    graphs = ["fc.weight", "lstm.weight_hh[g]"]  # the names resolve ``layers``
    deaths, layers = np.array([1.0, 0.5, 0.25]), np.array([0, 1, 1])
    data.network = NetworkRecord(np.ones(3), deaths, layers, np.arange(3), graphs, attrs)
    back = read_round(write_round(tmp_path / "r.h5", data)).network
    assert back.graphs == graphs and back.attrs.vertices == 12 and np.isnan(back.attrs.w_max)
    assert back.layers.tolist() == [0, 1, 1] and back.indices.tolist() == [0, 1, 2] and back.deaths[2] == 0.25
    assert read_round(write_round(tmp_path / "none.h5", _data())).network is None


def test_truncated_file_is_refused(tmp_path):
    path = write_round(tmp_path / "r.h5", _data())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(RoundFileError, match="truncated or corrupt"):
        read_round(path)


def test_file_without_completion_marker_is_refused(tmp_path):
    path = write_round(tmp_path / "r.h5", _data())
    with h5py.File(path, "a") as f:
        del f.attrs["complete"]
    with pytest.raises(RoundFileError, match="never completed"):
        read_round(path)


def test_a_failed_write_leaves_nothing_that_looks_complete(tmp_path):
    data = _data()
    data.masks = {}  # the writer fails half-way through
    with pytest.raises(KeyError):
        write_round(tmp_path / "r.h5", data)
    assert list(tmp_path.iterdir()) == []


def test_the_schema_document_lists_every_record_field():
    from pathlib import Path

    from pipeline.store.record import schema_markdown

    text = (Path(__file__).resolve().parents[2] / "docs/hdf5-schema.md").read_text()
    assert schema_markdown() in text


def test_a_file_of_another_schema_version_is_refused_with_how_to_rerun(tmp_path):
    path = write_round(tmp_path / "r.h5", _data())
    with h5py.File(path, "a") as f:
        f.attrs["schema_version"] = 1
    with pytest.raises(RoundFileError, match=r"schema version 1, written by an older pipeline.*rerun its round"):
        read_round(path)


def test_a_file_missing_a_record_field_is_refused_naming_it(tmp_path):
    path = write_round(tmp_path / "r.h5", _data())
    with h5py.File(path, "a") as f:
        del f["layers/fc.weight"].attrs["n_kept"]
    with pytest.raises(RoundFileError, match=r"missing attributes \['n_kept'\] of a LayerAttrs"):
        read_round(path)


V2_FILE = Path(__file__).parent / "fixtures" / "lstm-mnist-5k-imp-round1-v2.h5"
"""A round written by schema version 2 (commit 7696554): an LSTM's gate blocks and its classifier,
IMP round 1 on mnist-5k, one epoch."""


def test_a_version_2_file_reads_under_todays_names_with_the_values_it_measured():
    data = read_round(V2_FILE)
    with h5py.File(V2_FILE) as f:
        assert f.attrs["schema_version"] == 2
    convention = Convention(**data.attrs.config["topology"])
    assert len(data.diagrams) == 9  # 4 gates x (input, hidden) + the classifier
    for name, record in data.diagrams.items():
        a = record.attrs
        assert a.layer == name and a.tensor == tensor_of(name) and a.bound is None and a.log10_subset_chance is None
        flat = data.weights[a.tensor].ravel()[a.offset : a.offset + a.size]
        mask = data.masks[a.tensor].ravel()[a.offset : a.offset + a.size]
        graph = DenseLayer(name, flat.reshape(a.n, a.m), mask.reshape(a.n, a.m), kind=a.kind, offset=a.offset)
        measured = asdict(summarize(layer_persistence(graph, convention)))
        stored = {key: getattr(a, key) for key in measured}
        assert stored == pytest.approx(measured | {"bound": None, "log10_subset_chance": None}, nan_ok=True), name
    for attrs in data.layer_attrs.values():
        assert 0 <= attrs.prev_tree_kept_edges <= attrs.prev_tree_edges


V3_FILE = Path(__file__).parent / "fixtures" / "lstm-mnist-5k-imp-round1-v3.h5"
"""A round written by schema version 3 (commit 00ce25b): the same LSTM round, before the nulls."""


def test_a_version_3_file_reads_its_chance_level_under_its_new_name_and_has_no_null():
    data = read_round(V3_FILE)
    with h5py.File(V3_FILE) as f:
        assert f.attrs["schema_version"] == 3
        stored = {name: g.attrs["log10_chance"] for name, g in f["diagrams"].items()}
    for name, record in data.diagrams.items():
        a = record.attrs
        assert a.log10_subset_chance == stored[name] and a.null_draws is None and a.overlap_null_mean is None
    assert data.attrs.tree_kept is not None and data.attrs.tree_kept_null_mean is None


V4_FILE = Path(__file__).parent / "fixtures" / "lstm-mnist-5k-imp-round1-v4.h5"
"""A round written by schema version 4 (commit 9383650): the same LSTM round, with its nulls and
before the whole network."""


def test_a_version_4_file_reads_with_its_nulls_and_no_network():
    data = read_round(V4_FILE)
    with h5py.File(V4_FILE) as f:
        assert f.attrs["schema_version"] == 4 and "network" not in f
    assert data.network is None and data.attrs.network_tree_kept is None
    assert data.attrs.tree_kept_null_mean is not None and len(data.diagrams) == 9
    for record in data.diagrams.values():
        assert record.attrs.null_draws == 20 and record.attrs.network_tree_edges is None
