"""The HDF5 file of one round (schema in docs/hdf5-schema.md).

Files are written under a temporary name and renamed into place only when complete; the
last attribute written is ``complete = True``. Readers refuse files without it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from pipeline.store.paths import partial_file
from pipeline.store.record import DiagramAttrs, LayerAttrs, MissingAttribute, NetworkAttrs, RunAttrs
from pipeline.topology.network import NetworkPersistence, summarize_network

FORMAT = "imp-topology-round"
SCHEMA_VERSION = 5
OLDEST_READABLE = 2
"""Files of versions OLDEST_READABLE .. SCHEMA_VERSION are read, older names mapped to today's."""

_RENAMED_IN_3 = {
    "layers": {
        "tree_edges": "prev_tree_edges",
        "tree_kept_edges": "prev_tree_kept_edges",
        "tree_params": "prev_tree_params",
        "tree_kept_params": "prev_tree_kept_params",
    },
    "diagrams": {
        "layer": "tensor",
        "n_vertices": "vertices",
        "n_components": "diagram_components",
        "n_essential": "essential",
        "mst_edges": "tree_edges",
        "mst_params": "tree_params",
        "overlap_shared": "shared",
        "overlap_fraction": "overlap",
    },
}
"""Version 3 gave every per-graph quantity the one name ``LayerSummary`` uses (docs/hdf5-schema.md)."""
_RENAMED_IN_4 = {"layers": {}, "diagrams": {"log10_chance": "log10_subset_chance"}}
"""Version 4 added the permutation nulls and named the paper's chance level for what it is."""
_COMPRESS = {"compression": "gzip", "compression_opts": 4, "shuffle": True}


class RoundFileError(OSError):
    """A round file that cannot be trusted: truncated, unfinished or of another format."""


@dataclass
class DiagramRecord:
    births: np.ndarray
    deaths: np.ndarray
    indices: np.ndarray
    attrs: DiagramAttrs


@dataclass
class NetworkRecord:
    """The whole network's diagram: point i is the weight ``indices[i]`` of layer graph
    ``graphs[layers[i]]``."""

    births: np.ndarray
    deaths: np.ndarray
    layers: np.ndarray
    indices: np.ndarray
    graphs: list[str]
    attrs: NetworkAttrs

    @classmethod
    def of(cls, p: NetworkPersistence) -> NetworkRecord:
        """The network's diagram (the diagram's forest: zero edges under ``pruned: zero``) and
        its quantities (``summarize_network``)."""
        d = p.diagram
        names = [layer.name for layer in p.graph.layers]
        return cls(d.births, d.deaths, p.forest.layer, d.indices, names, NetworkAttrs(**asdict(summarize_network(p))))


@dataclass
class RoundData:
    """Everything one round stores; ``state()`` rebuilds a model state_dict from it."""

    attrs: RunAttrs
    weights: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    rewind: dict[str, np.ndarray]
    layer_attrs: dict[str, LayerAttrs]
    trained_rest: dict[str, np.ndarray]
    rewind_rest: dict[str, np.ndarray]
    diagrams: dict[str, DiagramRecord] = field(default_factory=dict)
    metrics: dict[str, np.ndarray] = field(default_factory=dict)
    network: NetworkRecord | None = None
    """None for a model without a network graph, and in files before version 5."""

    def state(self, which: str = "trained") -> dict[str, Any]:
        """The full model state (torch tensors): prunable weights (trained, or at the rewind
        point) and the rest."""
        import torch  # here: the workflow parse imports pipeline.store; torch loads only for a state

        if which == "trained":
            parts = {**self.trained_rest, **self.weights}
        elif which == "rewind":
            parts = {**self.rewind_rest, **self.rewind}
        else:
            raise ValueError(f"which must be 'trained' or 'rewind', got {which!r}")
        return {k: torch.from_numpy(np.array(v)) for k, v in parts.items()}


def _dataset(group: h5py.Group, name: str, value: np.ndarray) -> None:
    value = np.asarray(value)
    if value.dtype == np.float64:
        value = value.astype(np.float32)
    options = _COMPRESS if value.size > 64 else {}
    group.create_dataset(name, data=value, **options)


def _attrs(target: h5py.AttributeManager, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict | list | tuple):
            value = json.dumps(value)
        target[key] = value


def write_network(g: h5py.Group, record: NetworkRecord) -> None:
    """The `/network` group of a round file (docs/hdf5-schema.md), also in ``analyze``'s file."""
    _dataset(g, "births", record.births)
    _dataset(g, "deaths", record.deaths)
    _dataset(g, "layers", np.asarray(record.layers, dtype=np.int64))
    _dataset(g, "indices", np.asarray(record.indices, dtype=np.int64))
    g.create_dataset("graphs", data=np.array(record.graphs, dtype=h5py.string_dtype()))
    _attrs(g.attrs, record.attrs.to_attrs())


def write_round(path: str | Path, data: RoundData) -> Path:
    """Write atomically: a partial file first, renamed to ``path`` once complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_file(path)
    try:
        with h5py.File(partial, "w", track_order=True) as f:
            _attrs(f.attrs, {"format": FORMAT, "schema_version": SCHEMA_VERSION, **data.attrs.to_attrs()})
            layers = f.create_group("layers", track_order=True)
            for name, weight in data.weights.items():
                g = layers.create_group(name)
                _dataset(g, "weight", weight)
                _dataset(g, "mask", np.asarray(data.masks[name], dtype=bool))
                _dataset(g, "rewind", data.rewind[name])
                _attrs(g.attrs, data.layer_attrs[name].to_attrs())
            diagrams = f.create_group("diagrams", track_order=True)
            for name, record in data.diagrams.items():
                g = diagrams.create_group(name)
                _dataset(g, "births", record.births)
                _dataset(g, "deaths", record.deaths)
                _dataset(g, "indices", record.indices.astype(np.int64))
                _attrs(g.attrs, record.attrs.to_attrs())
            if data.network is not None:
                write_network(f.create_group("network", track_order=True), data.network)
            for which, rest in (("trained", data.trained_rest), ("rewind", data.rewind_rest)):
                g = f.create_group(f"model/{which}", track_order=True)
                for name, value in rest.items():
                    _dataset(g, name, value)
            metrics = f.create_group("metrics", track_order=True)
            for name, value in data.metrics.items():
                parent = name.rpartition("/")[0]
                if parent and parent not in metrics:
                    metrics.create_group(parent, track_order=True)
                _dataset(metrics, name, value)
            f.attrs["complete"] = True
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path


def attrs_dict(attrs: h5py.AttributeManager) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        out[key] = value
    return out


def open_checked(path: str | Path) -> h5py.File:
    """Open a round file for reading, refusing anything that is not a completed round."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such round file: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise RoundFileError(
            f"{path} is not a readable HDF5 file (truncated or corrupt): delete it and rerun its round"
        ) from err
    if f.attrs.get("format") != FORMAT:
        f.close()
        raise RoundFileError(f"{path} is not a round file of this pipeline (format {f.attrs.get('format')!r})")
    if f.attrs.get("complete") is not np.True_ and f.attrs.get("complete") is not True:
        f.close()
        raise RoundFileError(f"{path} was never completed (no completion marker): delete it and rerun its round")
    version = int(f.attrs["schema_version"])
    if not OLDEST_READABLE <= version <= SCHEMA_VERSION:
        f.close()
        newer = "a newer pipeline: update this code" if version > SCHEMA_VERSION else "an older pipeline"
        raise RoundFileError(
            f"{path} has schema version {version}, written by {newer}; this code reads versions "
            f"{OLDEST_READABLE} to {SCHEMA_VERSION}: delete the file (or its run directory) and rerun its round"
        )
    return f


def _upgraded(f: h5py.File, group: str, name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """An older object's attributes under today's names, one version's renames after another."""
    version = int(f.attrs["schema_version"])
    if version < 3:
        attrs = {_RENAMED_IN_3[group].get(key, key): value for key, value in attrs.items()}
        if group == "diagrams":  # the graph's name was its group's; a forest has vertices - edges components
            attrs |= {"layer": name, "components": attrs["vertices"] - attrs["tree_edges"]}
    if version < 4:
        attrs = {_RENAMED_IN_4[group].get(key, key): value for key, value in attrs.items()}
    return attrs


@contextlib.contextmanager
def records_of(path: str | Path) -> Iterator[None]:
    """Turn a record missing from a file into one line naming the file."""
    try:
        yield
    except MissingAttribute as err:
        raise RoundFileError(f"{path}: {err.args[0]}: delete the file and rerun its round") from None


def run_attrs(f: h5py.File) -> RunAttrs:
    return RunAttrs.from_attrs(attrs_dict(f.attrs))


def layer_attrs(f: h5py.File) -> dict[str, LayerAttrs]:
    return {k: LayerAttrs.from_attrs(_upgraded(f, "layers", k, attrs_dict(g.attrs))) for k, g in f["layers"].items()}


def diagram_attrs(f: h5py.File) -> dict[str, DiagramAttrs]:
    items = f["diagrams"].items()
    return {k: DiagramAttrs.from_attrs(_upgraded(f, "diagrams", k, attrs_dict(g.attrs))) for k, g in items}


def network_attrs(f: h5py.File) -> NetworkAttrs | None:
    """The whole network's quantities, or None (no network graph, or a file before version 5)."""
    return NetworkAttrs.from_attrs(attrs_dict(f["network"].attrs)) if "network" in f else None


def _network_record(f: h5py.File) -> NetworkRecord | None:
    attrs = network_attrs(f)
    if attrs is None:
        return None
    g = f["network"]
    arrays = (g[name][()] for name in ("births", "deaths", "layers", "indices"))
    return NetworkRecord(*arrays, graphs=list(g["graphs"].asstr()[()]), attrs=attrs)


def read_round(path: str | Path, *, diagrams: bool = True, metrics: bool = True) -> RoundData:
    """The round's records and arrays; ``diagrams``: also the layer graphs' and the network's
    diagrams, ``metrics``: the per-epoch arrays."""
    with open_checked(path) as f, records_of(path):
        layers = f["layers"]
        data = RoundData(
            attrs=run_attrs(f),
            weights={k: g["weight"][()] for k, g in layers.items()},
            masks={k: g["mask"][()].astype(bool) for k, g in layers.items()},
            rewind={k: g["rewind"][()] for k, g in layers.items()},
            layer_attrs=layer_attrs(f),
            trained_rest={k: v[()] for k, v in f["model/trained"].items()},
            rewind_rest={k: v[()] for k, v in f["model/rewind"].items()},
        )
        if diagrams:
            records = diagram_attrs(f)
            data.diagrams = {
                k: DiagramRecord(g["births"][()], g["deaths"][()], g["indices"][()], records[k])
                for k, g in f["diagrams"].items()
            }
            data.network = _network_record(f)
        if metrics:
            data.metrics = datasets_dict(f["metrics"])
    return data


def datasets_dict(group: h5py.Group) -> dict[str, np.ndarray]:
    """Every dataset below ``group``, keyed by its path relative to the group."""
    out: dict[str, np.ndarray] = {}

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    group.visititems(visit)
    return out


def read_attrs(path: str | Path) -> RunAttrs:
    with open_checked(path) as f, records_of(path):
        return run_attrs(f)
