"""What a round file holds, as typed records: the run's attributes, each prunable weight's, each
layer graph's diagram summary, the whole network's, and the per-epoch metrics.

The writer stores these fields as HDF5 attributes and every reader builds them back, so a
missing attribute is an error at read time, not a KeyError deep in a report. docs/hdf5-schema.md
lists the fields from here (``schema_markdown``; a test keeps it current).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from pipeline.fields import doc, markdown_cell, optional
from pipeline.topology.network import LayerShare, NetworkPersistence, NetworkSummary, layer_shares
from pipeline.topology.summary import LayerSummary


class MissingAttribute(KeyError):
    """A record read from a file lacks a field its schema requires."""


@dataclass(frozen=True)
class Record:
    """A flat record stored as the attributes of one HDF5 object."""

    @classmethod
    def from_attrs(cls, attrs: Mapping[str, Any]) -> Self:
        """The record from an attribute mapping; other attributes (format, markers) are ignored."""
        fields = dataclasses.fields(cls)
        missing = [f.name for f in fields if f.name not in attrs and f.default is dataclasses.MISSING]
        if missing:
            raise MissingAttribute(f"missing attributes {missing} of a {cls.__name__}")
        return cls(**{f.name: attrs[f.name] for f in fields if f.name in attrs})

    def to_attrs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __getitem__(self, key: str) -> Any:
        """Records read like the attribute mappings they are stored as."""
        if key not in self:
            raise KeyError(key)
        return getattr(self, key)

    def __contains__(self, key: object) -> bool:
        return key in {f.name for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class JobAccount(Record):
    """What a round cost, as the scheduler (SLURM) or the round's own process counts it."""

    job_ids: str | None = optional("SLURM job ids of every attempt, comma-separated (empty: inline or local)")
    node: str | None = optional("where the round ran: SLURM's node list, else the host name")
    requeues: int | None = optional("times SLURM requeued the job (preemption, time limit) before it finished")
    queue_wait_s: float | None = optional("seconds the finishing job waited in the queue (SLURM; 0 otherwise)")
    elapsed_s: float | None = optional("seconds of every attempt as the scheduler counts them (else the process's)")
    peak_rss_mb: float | None = optional("peak memory in MiB: SLURM's MaxRSS of the finishing job, else the process's")
    gpus: int | None = optional("GPUs allocated to the finishing job (SLURM), else 1 on a CUDA device and 0 on a CPU")
    job_rounds: int | None = optional("rounds the finishing job ran (`launcher.pack`; 1: a job of its own)")
    allocation_s: float | None = optional(
        "seconds the finishing job ran, all its rounds and its start-up together (local and SLURM jobs)"
    )


@dataclass(frozen=True, kw_only=True)
class RunAttrs(JobAccount):
    """The root attributes: which round of which run, its outcome and its provenance."""

    run_hash: str = doc("hash of every setting that decides the numbers (`pipeline.runs.run_hash`)")
    arch: str = doc("architecture")
    dataset: str = doc("data set")
    method: str = doc("the pruning method, or `dense` for round 0")
    trial: int = doc("trial index")
    round: int = doc("round index (0: the dense network)")
    seed: int = doc("model-initialisation seed (`seed + trial`)")
    data_seed: int = doc("the round's batch-order seed (the same for every method)")
    config: dict = doc("JSON: the full resolved run configuration (training recipe, pruning, topology, data)")
    convention: str = doc("diagram convention name (docs/science.md §2)")
    conv_graph: str = doc("conv graph of the diagrams (`exact`)")
    density_target: float = doc("the schedule's density for this round")
    density: float = doc("achieved density over all prunable weights")
    compression: float = doc("1 / density")
    capped: bool = doc("some layer kept more than its budget (T-IMP kept a whole tree)")
    eta_tau: float = doc("counted η_τ of the network (final aggregate, ratio of sums) on this round's graph")
    test_acc: float = doc("test accuracy after the last epoch")
    test_loss: float = doc("test loss after the last epoch")
    train_acc: float = doc("training accuracy of the last epoch")
    train_loss: float = doc("training loss of the last epoch")
    epochs: int = doc("epochs trained")
    resumed_from_epoch: int = doc("0, or the checkpointed epoch the round resumed from")
    total_np: float = doc("sum of the layers' neural persistence")
    device: str = doc("the torch device that trained the round")
    versions: dict = doc("JSON: versions of python, torch, numpy and the other libraries")
    code_revision: str = doc("git revision of the code (`-dirty` with local changes)")
    created: str = doc("UTC time the round finished (ISO 8601)")
    wall_seconds: float = doc("seconds the round took in its process")
    tree_kept: float | None = optional(
        "share of the previous round's spanning-forest edges the new masks keep (rounds >= 1)"
    )
    tree_kept_params: float | None = optional("the same for the distinct weights (conv: kernel parameters) behind them")
    np_retained: float | None = optional(
        "NP the pruning step kept: total NP of the previous round's trained weights under the new masks "
        "over that under the old"
    )
    tree_kept_null_mean: float | None = optional(
        "`tree_kept` if the previous round's weights were permuted over their edges (each graph's own "
        "values) and pruned by magnitude to this round's per-tensor counts: the null's mean (docs/science.md §4)"
    )
    tree_kept_null_low: float | None = optional("2.5 % quantile of that null")
    tree_kept_null_high: float | None = optional("97.5 % quantile of that null")
    tree_kept_percentile: float | None = optional("percent of the null's draws below `tree_kept` (ties: half)")
    network_tree_kept: float | None = optional(
        "share of the previous round's whole-network spanning-forest edges (docs/science.md §10) the new masks "
        "keep (rounds >= 1 of a model with a network graph)"
    )
    network_tree_kept_params: float | None = optional("the same for the distinct weights behind them")
    network_tree_kept_null_mean: float | None = optional(
        "`network_tree_kept` if every layer graph's previous values were permuted over its edges and pruned by "
        "magnitude to this round's per-tensor counts: the null's mean"
    )
    network_tree_kept_null_low: float | None = optional("2.5 % quantile of that null")
    network_tree_kept_null_high: float | None = optional("97.5 % quantile of that null")
    network_tree_kept_percentile: float | None = optional(
        "percent of the null's draws below `network_tree_kept` (ties: half)"
    )


@dataclass(frozen=True)
class LayerAttrs(Record):
    """The attributes of `/layers/<weight name>`: how one prunable weight tensor was pruned, and
    what the pruning step kept of the previous round's present-weight forest (`prev_tree_*`)."""

    kind: str = doc("`linear`, `conv` or `recurrent`")
    is_output: bool = doc("the classifier (last prunable weight)")
    pruned: bool = doc("pruned this round (false for a classifier left alone)")
    n_weights: int = doc("weights in the tensor")
    n_kept: int = doc("weights the mask keeps")
    density: float = doc("n_kept / n_weights")
    compression: float = doc("n_weights / n_kept")
    capped: bool = doc("kept more than its budget (T-IMP kept its whole tree)")
    budget: int | None = optional("weights the schedule allowed (absent for round 0)")
    prev_tree_edges: int | None = optional("edges of the previous round's present-weight spanning forest (rounds >= 1)")
    prev_tree_kept_edges: int | None = optional("of those, the edges whose weight this round's mask keeps")
    prev_tree_params: int | None = optional("distinct weights (conv: kernel parameters) behind that forest")
    prev_tree_kept_params: int | None = optional("of those, the weights this round's mask keeps")
    np_before: float | None = optional("NP of the previous round's trained weights under its masks")
    np_after: float | None = optional("NP of the same weights under this round's masks (before retraining)")
    prev_tree_kept_null_mean: float | None = optional(
        "share of the forest's edges kept if the tensor's previous values were permuted over their edges and "
        "pruned by magnitude to `n_kept`: the null's mean"
    )
    prev_tree_kept_null_low: float | None = optional("2.5 % quantile of that null")
    prev_tree_kept_null_high: float | None = optional("97.5 % quantile of that null")
    prev_tree_kept_percentile: float | None = optional(
        "percent of the null's draws below the observed share `prev_tree_kept_edges / prev_tree_edges`"
    )


_SHARE = {f.name: f.metadata["doc"] for f in dataclasses.fields(LayerShare)}


@dataclass(frozen=True, kw_only=True)
class DiagramAttrs(LayerSummary, Record):
    """The attributes of `/diagrams/<graph name>`: one layer graph's quantities (``LayerSummary``,
    docs/science.md §2–§4), where its weights lie in their tensor and, for a model with a network
    graph, its part of the network's forest (``LayerShare``, §10)."""

    tensor: str = doc("the weight tensor (state_dict name) the graph belongs to")
    offset: int = doc("flat index of the graph's first weight in that tensor (non-zero for gate blocks and parts)")
    size: int = doc("weights of the tensor in this graph (its flat indices: offset .. offset + size - 1)")
    network_tree_edges: int | None = optional(_SHARE["network_tree_edges"])
    network_tree_share: float | None = optional(_SHARE["network_tree_share"])
    own_tree_in_network: float | None = optional(_SHARE["own_tree_in_network"])


SHARES = tuple(f.name for f in dataclasses.fields(DiagramAttrs) if f.name in _SHARE and f.name != "layer")
"""The ``LayerShare`` fields a diagram records (its own forest's edges are ``tree_edges`` already)."""


def diagram_shares(network: NetworkPersistence | None) -> dict[str, dict[str, Any]]:
    """Per layer graph, the ``SHARES`` of the network's forest it holds (none without a network)."""
    if network is None:
        return {}
    return {s.layer: {key: getattr(s, key) for key in SHARES} for s in layer_shares(network)}


@dataclass(frozen=True)
class NetworkAttrs(NetworkSummary, Record):
    """The attributes of `/network`: the whole network's quantities (``NetworkSummary``,
    docs/science.md §10); absent for a model whose forward pass has no network graph."""


@dataclass
class EpochRecord:
    """One epoch of training: the per-epoch arrays under `/metrics` are these fields, epoch by epoch."""

    epoch: int = doc("epoch number (1-based; with `training.track_np` epoch 0 is the network before training)")
    train_loss: float = doc("mean training loss of the epoch (NaN for epoch 0)")
    train_acc: float = doc("training accuracy of the epoch (NaN for epoch 0)")
    test_loss: float = doc("test loss after the epoch")
    test_acc: float = doc("test accuracy after the epoch")
    lr: float = doc("learning rate during the epoch (NaN for epoch 0)")
    seconds: float = doc("wall time of the epoch")
    topology: dict[str, float] = field(
        default_factory=dict, metadata={"doc": "`<quantity>/<graph name>`: each graph's topology after the epoch"}
    )


EPOCH_SCALARS = tuple(f.name for f in dataclasses.fields(EpochRecord) if f.name != "topology")
"""The per-epoch scalar metrics, in order."""

EPOCH_TOPOLOGY: dict[str, str] = {
    "np": "neural persistence of each layer graph after the epoch",
    "overlap": "its top-α / spanning-tree overlap",
    "overlap_null_mean": "the overlap's permutation null: mean (with `nulls.epochs`)",
    "overlap_null_low": "its 2.5 % quantile (with `nulls.epochs`)",
    "overlap_null_high": "its 97.5 % quantile (with `nulls.epochs`)",
}
"""What ``EpochRecord.topology`` holds per graph, keyed ``<quantity>/<graph name>``."""

METRICS: dict[str, str] = {
    f.name: f.metadata["doc"] for f in dataclasses.fields(EpochRecord) if f.name != "topology"
} | {f"{quantity}/<graph name>": text + " (`training.track_np`)" for quantity, text in EPOCH_TOPOLOGY.items()}
"""The per-epoch arrays under `/metrics` (one value per epoch)."""


def schema_markdown() -> str:
    """The attribute tables of docs/hdf5-schema.md, generated from the records above."""
    parts = []
    groups = (
        (RunAttrs, "/ (root)"),
        (LayerAttrs, "/layers/<weight name>"),
        (DiagramAttrs, "/diagrams/<graph name>"),
        (NetworkAttrs, "/network"),
    )
    for cls, where in groups:
        parts += [f"### `{where}` — `{cls.__name__}`", "", " ".join((cls.__doc__ or "").split()), ""]
        parts += ["| attribute | type | meaning |", "|---|---|---|"]
        parts += [
            f"| `{f.name}` | {markdown_cell(str(f.type))} | {markdown_cell(f.metadata['doc'])} |"
            for f in dataclasses.fields(cls)
        ]
        parts.append("")
    parts += ["### `/metrics` — `METRICS`", "", "| dataset | meaning |", "|---|---|"]
    parts += [f"| `{name}` | {markdown_cell(text)} |" for name, text in METRICS.items()]
    return "\n".join(parts) + "\n"
