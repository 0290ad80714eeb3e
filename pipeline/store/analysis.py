"""The HDF5 file of ``python -m pipeline analyze --format h5``: the table and every diagram.

Layout: root attributes (format, convention, model, input shape, seed of the random weights,
``zeros_pruned``: exact zeros read as pruned weights, complete); ``/table`` one
dataset per column of the printed table; ``/diagrams/<graph name>`` with ``deaths`` and
``indices`` (flat indices into the named parameter) and the diagram's attributes; with
``--whole-network``, ``/network`` as in a round file (docs/hdf5-schema.md: births, deaths, each
point's layer graph and flat index, the graphs' names, ``NetworkAttrs``). Diagrams are written
one layer at a time while the analysis runs, into a partial file renamed into place at the end:
a killed run leaves no file that looks complete.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np
import pandas as pd

from pipeline.store.paths import partial_file
from pipeline.store.runfile import NetworkRecord, write_network
from pipeline.topology.diagram import LayerPersistence
from pipeline.topology.network import NetworkPersistence

FORMAT = "imp-topology-analysis/1"


class AnalysisFile:
    """Context manager: ``add`` diagrams as they are computed, ``finish`` with the table."""

    def __init__(self, path: str | Path, attrs: dict[str, str | int]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = partial_file(self.path)
        self.file = h5py.File(self.partial, "w", track_order=True)
        self.file.attrs.update({"format": FORMAT, **attrs})
        self.diagrams = self.file.create_group("diagrams", track_order=True)

    def add(self, result: LayerPersistence) -> None:
        d = result.diagram
        g = self.diagrams.create_group(result.layer.name)
        g.create_dataset("deaths", data=d.deaths.astype(np.float32), compression="gzip", shuffle=True)
        g.create_dataset("indices", data=d.indices.astype(np.int64), compression="gzip", shuffle=True)
        g.attrs.update(
            {
                "vertices": d.n_vertices,
                "essential": d.n_essential,
                "w_max": d.w_max,
                "np": result.neural_persistence,
            }
        )

    def add_network(self, result: NetworkPersistence) -> None:
        write_network(self.file.create_group("network", track_order=True), NetworkRecord.of(result))

    def finish(self, table: pd.DataFrame, attrs: dict[str, int | str] | None = None) -> Path:
        self.file.attrs.update(attrs or {})
        group = self.file.create_group("table", track_order=True)
        for column in table.columns:
            values = table[column]
            if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
                group.create_dataset(column, data=values.fillna("").astype(str).to_numpy().astype("S"))
            else:
                group.create_dataset(column, data=values.astype("float64").to_numpy(na_value=np.nan))
        self.file.attrs["complete"] = True
        self.file.close()
        os.replace(self.partial, self.path)
        return self.path

    def __enter__(self) -> AnalysisFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self.file.id.valid:
            self.file.close()
        self.partial.unlink(missing_ok=True)
