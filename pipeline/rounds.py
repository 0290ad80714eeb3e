"""One pruning round of one run — the pipeline's unit of work.

Round 0 trains the dense network (it belongs to no method: every method of a trial continues
it). Round k >= 1 reads round k - 1 of the same method, prunes it, rewinds, retrains, measures
the diagrams and stores everything in one HDF5 file. The steps — prepare, prune, train_round,
record (which measures) — are functions of their own. Callable in-process, from the CLI
(``python -m pipeline round``) and as a submitit job (``pipeline.launch``); a restarted round
resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import shutil
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline.config import Config, DataConfig
from pipeline.data import DeviceData, get_dataset_info, load_splits
from pipeline.errors import first_line
from pipeline.models import build_model, example_input, network_graphs, prunable_weights
from pipeline.models.probe import PrunableWeight, weight_value
from pipeline.models.structure import Structure, network_structure
from pipeline.prune import get_method, prune_round
from pipeline.prune.retention import (
    NetworkRetention,
    TreeRetention,
    network_retention,
    persistence_of,
    tree_retention,
    trees_of,
)
from pipeline.runs import RunSpec, run_spec
from pipeline.store import DiagramRecord, NetworkRecord, RoundData, RoundKey, checkpoint_dir, read_round, write_round
from pipeline.store.provenance import code_revision, library_versions, process_account
from pipeline.store.record import EPOCH_SCALARS, DiagramAttrs, LayerAttrs, RunAttrs, diagram_shares
from pipeline.topology import Convention, LayerPersistence, network_persistence
from pipeline.topology.eta import aggregate
from pipeline.topology.network import NetworkPersistence, network_diagram
from pipeline.topology.null import NullInterval, NullSettings, layer_null
from pipeline.topology.overlap import overlap
from pipeline.topology.summary import LayerSummary, summarize
from pipeline.train import ModelMasks, TrainResult, train, trained_epochs, training_device

log = logging.getLogger("pipeline.rounds")


def _numpy_state(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().to("cpu").numpy().copy() for k, v in state.items()}


def start_weights(prev: RoundData, rewind: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """The state a round starts from (before its masks are applied), and the rewind point it
    passes on: round 0's initial (or epoch-E) weights for ``init``/``epoch:E``; for ``none``
    the previous round's trained weights, and nothing to carry."""
    if rewind == "none":
        return prev.state("trained"), None
    return prev.state("rewind"), prev.state("rewind")


@dataclass
class Round:
    """A round in the making: what each step needs from the ones before."""

    key: RoundKey
    spec: RunSpec
    model: torch.nn.Module
    weights: list[PrunableWeight]
    data: DeviceData
    masks: dict[str, np.ndarray]
    start_state: dict[str, torch.Tensor]
    carried_rewind: dict[str, torch.Tensor] | None = None
    budgets: dict[str, int] | None = None
    capped: dict[str, bool] | None = None
    density_target: float = 1.0
    retention: dict[str, TreeRetention] | None = None
    structure: Structure | None = None
    network_retention: NetworkRetention | None = None

    def network(self, values: dict[str, np.ndarray], masks: dict[str, np.ndarray]) -> NetworkPersistence | None:
        """The whole network's forest and diagram of ``values`` under ``masks`` (none for a
        model whose forward pass has no network graph)."""
        if self.structure is None:
            return None
        graph = self.structure.graph(network_graphs(self.weights, values, masks))
        return network_diagram(graph, self.spec.topology)


def _structure(model: torch.nn.Module, x: torch.Tensor, weights: list[PrunableWeight], name: str) -> Structure | None:
    """The network graph's placement of every layer, or None (logged) where the trace stops."""
    try:
        structure = network_structure(model, x)
        structure.check({w.name for w in weights})
    except ValueError as err:
        log.warning("%s: no whole-network topology: %s", name, first_line(err))
        return None
    return structure


def _check_previous(prev: RoundData, key: RoundKey, path: Path) -> None:
    expected = {"run_hash": key.run_hash, "trial": key.trial, "round": key.round - 1}
    expected["method"] = key.previous.label if key.previous else None
    for name, value in expected.items():
        if prev.attrs[name] != value:
            raise ValueError(f"{path}: {name} is {prev.attrs[name]!r}, this round needs {value!r}")


@functools.lru_cache(maxsize=2)
def _device_data(dataset: str, data: DataConfig, device: str, augment: bool) -> DeviceData:
    """A data set read and moved to the device once per process: a job that runs several rounds
    (``launcher.pack``) reuses it (training only reads it)."""
    splits = load_splits(
        dataset,
        data.root,
        data.download,
        test_fraction=data.test_fraction,
        verify_checksums=data.verify_checksums,
        train_subset=data.train_subset,
        test_subset=data.test_subset,
        subset_seed=data.subset_seed,
    )
    return DeviceData(splits, device, augment=augment)


def prepare(config: Config, key: RoundKey) -> Round:
    """Data, the seeded model and its prunable weights; round 0 starts dense from its init."""
    spec = run_spec(config, key.arch, key.dataset, key.trial)
    if spec.run_hash != key.run_hash:
        raise ValueError(f"the configuration hashes this run to {spec.run_hash}, the round key says {key.run_hash}")
    if key.method is not None:
        get_method(key.method)  # an unknown name fails here, naming the allowed ones
    data = _device_data(key.dataset, spec.data, str(training_device()), spec.training.augment)
    torch.manual_seed(spec.trial_seed)
    np.random.seed(spec.trial_seed)
    model = build_model(key.arch, key.dataset)
    x = example_input(get_dataset_info(key.dataset).input_shape)
    weights = prunable_weights(model, x)
    return Round(
        key=key,
        spec=spec,
        model=model,
        weights=weights,
        data=data,
        masks={w.name: np.ones(w.shape, dtype=bool) for w in weights},
        start_state={k: v.detach().clone() for k, v in model.state_dict().items()},
        structure=_structure(model, x, weights, key.name),
    )


def _reference_masks(r: Round, follows: str, path: Path) -> dict[str, np.ndarray]:
    """The masks of the same trial and round of the method ``follows`` (checked against the key)."""
    ref = read_round(path, diagrams=False, metrics=False)
    expected = {"run_hash": r.key.run_hash, "trial": r.key.trial, "round": r.key.round, "method": follows}
    for name, value in expected.items():
        if ref.attrs[name] != value:
            raise ValueError(f"{path}: {name} is {ref.attrs[name]!r}, this round needs {value!r}")
    return ref.masks


def _fresh_state(r: Round) -> dict[str, torch.Tensor]:
    """A new initialisation of the same architecture, from a seed no trial uses."""
    torch.manual_seed(r.key.init_seed(r.spec.trial_seed))
    return {k: v.detach().clone() for k, v in build_model(r.key.arch, r.key.dataset).state_dict().items()}


def prune(r: Round, previous: Path, reference: Path | None = None) -> None:
    """Round k >= 1: the method's masks from round k - 1, and the weights to restart from."""
    prev = read_round(previous, diagrams=False, metrics=False)
    _check_previous(prev, r.key, previous)
    method = get_method(r.key.method or "")
    inputs: dict[str, Any] = {}
    if "rewind" in method.needs:
        inputs["rewind"] = prev.rewind
    if "rng" in method.needs:
        inputs["rng"] = np.random.default_rng(r.key.prune_seed(r.spec.trial_seed))
    if method.follows is not None:
        if reference is None:
            raise ValueError(f"method {method.name!r} needs the file of {method.follows!r}'s round {r.key.round}")
        inputs["reference"] = _reference_masks(r, method.follows, reference)
    r.start_state, r.carried_rewind = start_weights(prev, r.spec.pruning.rewind)
    if method.fresh_start:
        r.start_state = r.carried_rewind = _fresh_state(r)
    r.model.load_state_dict(r.start_state)
    if "model" in method.needs:  # the network the method scores: restarted, under the previous masks
        r.model.to(r.data.device)
        ModelMasks(r.model, prev.masks).enforce()
        inputs["model"] = r.model
    if "batch" in method.needs:
        generator = torch.Generator().manual_seed(r.key.data_seed(r.spec.trial_seed))
        inputs["batch"] = next(iter(r.data.train_batches(r.spec.training.batch_size, generator)))
    before = persistence_of(r.weights, prev.weights, prev.masks, r.spec.topology)
    inputs["trees"] = trees_of(before)
    network = r.network(prev.weights, prev.masks)
    if network is not None:
        inputs["network_trees"] = network.tree.params([layer.tensor for layer in network.graph.layers])
    result = prune_round(r.key.method or "", r.weights, prev.weights, prev.masks, r.spec.pruning, r.key.round, **inputs)
    r.masks, r.budgets, r.capped, r.density_target = result.masks, result.budgets, result.capped, result.density
    r.model.load_state_dict(r.start_state)  # whatever a scoring method did to the network
    r.retention = tree_retention(r.weights, before, prev.weights, r.masks, r.spec.topology, r.spec.nulls)
    r.network_retention = network_retention(network, r.masks, r.spec.nulls) if network is not None else None


def train_round(r: Round, checkpoint: Path, progress: bool | None) -> TrainResult:
    """Retrain under the masks (enforced after every step), NP per epoch if configured."""
    convention = r.spec.topology
    r.model.to(r.data.device)
    masks = ModelMasks(r.model, r.masks)
    masks.enforce()

    def measure(m: torch.nn.Module) -> dict[str, float]:
        graphs = network_graphs(r.weights, {w.name: weight_value(m, w.name) for w in r.weights}, r.masks)
        return epoch_topology(network_persistence(graphs, convention), convention, r.spec.nulls)

    recipe = r.spec.training
    step = r.spec.pruning.rewind_step(-(-r.data.n_train // recipe.batch_size))
    return train(
        r.model,
        r.data,
        recipe,
        seed=r.key.data_seed(r.spec.trial_seed),
        masks=masks,
        checkpoint_dir=checkpoint,
        fingerprint=r.key.name,
        measure=measure if recipe.track_np else None,
        snapshot_step=step if r.key.round == 0 else None,
        progress=progress,
    )


def epoch_topology(persistence: list[LayerPersistence], convention: Convention, null: NullSettings) -> dict[str, float]:
    """``EpochRecord.topology``: each graph's NP and overlap, and with ``nulls.epochs`` the
    overlap's permutation null."""
    out = {}
    for p in persistence:
        name = p.layer.name
        out[f"np/{name}"] = p.neural_persistence
        out[f"overlap/{name}"] = overlap(p.layer, p.tree).fraction
        if null.epochs and null.draws:
            drawn = NullInterval.of(out[f"overlap/{name}"], layer_null(p, convention, null.draws, null.seed).overlap)
            out |= {f"{key}/{name}": v for key, v in drawn.fields("overlap").items() if "_null_" in key}
    return out


def diagram_records(
    persistence: list[LayerPersistence], summaries: list[LayerSummary], network: NetworkPersistence | None = None
) -> dict[str, DiagramRecord]:
    """Each layer graph's diagram, its quantities (``summarize``), where it lies in its tensor
    and its part of the ``network``'s forest."""
    shares = diagram_shares(network)
    records = {}
    for p, summary in zip(persistence, summaries, strict=True):
        graph = p.layer
        attrs = DiagramAttrs(
            **asdict(summary),
            tensor=graph.tensor,
            offset=graph.offset,
            size=graph.weight.size,
            **shares.get(graph.name, {}),
        )
        records[graph.name] = DiagramRecord(p.diagram.births, p.diagram.deaths, p.diagram.indices, attrs)
    return records


def layer_records(r: Round) -> dict[str, LayerAttrs]:
    budgets, capped = r.budgets or {}, r.capped or {}
    records = {}
    for w in r.weights:
        n_kept, size = int(r.masks[w.name].sum()), int(np.prod(w.shape))
        records[w.name] = LayerAttrs(
            kind=w.kind,
            is_output=w.is_output,
            pruned=r.spec.pruning.prune_output or not w.is_output,
            budget=budgets.get(w.name, budgets.get("global")),
            n_weights=size,
            n_kept=n_kept,
            density=n_kept / size,
            compression=size / max(n_kept, 1),
            capped=capped.get(w.name, False),
            **_retention_attrs((r.retention or {}).get(w.name)),
        )
    return records


def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _kept_null(kept_edges: float, edges: int, null_kept: np.ndarray, name: str) -> dict[str, float]:
    """The share of the tree kept against magnitude pruning of permuted weights (none undrawn)."""
    if null_kept.size == 0:
        return {}
    shares = null_kept / edges if edges else np.full(null_kept.size, np.nan)
    return NullInterval.of(_ratio(kept_edges, edges), shares).fields(name)


def _retention_attrs(t: TreeRetention | None) -> dict[str, Any]:
    if t is None:
        return {}
    return {
        "prev_tree_edges": t.edges,
        "prev_tree_kept_edges": t.kept_edges,
        "prev_tree_params": t.params,
        "prev_tree_kept_params": t.kept_params,
        "np_before": t.np_before,
        "np_after": t.np_after,
        **_kept_null(t.kept_edges, t.edges, t.null_kept_edges, "prev_tree_kept"),
    }


def _retention_totals(retention: dict[str, TreeRetention] | None) -> dict[str, float]:
    """The network's shares: edges and weights of the old tree kept, NP kept (ratios of sums;
    the null's too, permutation by permutation)."""
    if not retention:
        return {}
    rows = retention.values()
    edges, kept = sum(t.edges for t in rows), sum(t.kept_edges for t in rows)
    draws = {t.null_kept_edges.size for t in rows}
    null_kept = sum(t.null_kept_edges for t in rows) if draws != {0} else np.zeros(0)
    return {
        "tree_kept": _ratio(kept, edges),
        "tree_kept_params": _ratio(sum(t.kept_params for t in rows), sum(t.params for t in rows)),
        "np_retained": _ratio(sum(t.np_after for t in rows), sum(t.np_before for t in rows)),
        **_kept_null(kept, edges, np.asarray(null_kept), "tree_kept"),
    }


def _network_retention(t: NetworkRetention | None) -> dict[str, float]:
    """The share of the previous round's network forest the new masks keep, against its null."""
    if t is None:
        return {}
    return {
        "network_tree_kept": _ratio(t.kept_edges, t.edges),
        "network_tree_kept_params": _ratio(t.kept_params, t.params),
        **_kept_null(t.kept_edges, t.edges, t.null_kept_edges, "network_tree_kept"),
    }


def epoch_metrics(trained: TrainResult) -> dict[str, np.ndarray]:
    history = trained.history
    metrics = {key: np.array([getattr(h, key) for h in history]) for key in EPOCH_SCALARS}
    for key in history[0].topology if history else {}:
        metrics[key] = np.array([h.topology[key] for h in history])
    return metrics


@dataclass(frozen=True)
class Measured:
    """The trained network (its state as host arrays), its diagrams and their summaries, nulls
    included, and the whole network's forest and diagram (None without a network graph)."""

    final: dict[str, np.ndarray]
    persistence: list[LayerPersistence]
    summaries: list[LayerSummary]
    network: NetworkPersistence | None


def measure(r: Round) -> Measured:
    """The trained network's topology and its permutation nulls: seconds to minutes (a VGG-11's
    nulls), so they run before the job holds its timeout signal (``run_round``'s ``finishing``);
    a job stopped here resumes from the last epoch's checkpoint and measures again."""
    final = _numpy_state(r.model.state_dict())  # what the round file stores
    values = {w.name: final[w.name] for w in r.weights}
    convention, nulls = r.spec.topology, r.spec.nulls
    persistence = network_persistence(network_graphs(r.weights, values, r.masks), convention)
    summaries = [summarize(p, layer_null(p, convention, nulls.draws, nulls.seed)) for p in persistence]
    return Measured(final, persistence, summaries, r.network(values, r.masks))


def record(r: Round, trained: TrainResult, measured: Measured, t0: float) -> RoundData:
    """Assemble the round file's contents from the trained network and its measured topology."""
    if r.key.round == 0:
        rewind_state = trained.snapshot if trained.snapshot is not None else r.start_state
    else:
        rewind_state = r.carried_rewind if r.carried_rewind is not None else r.start_state
    final, rewind = measured.final, _numpy_state(rewind_state)
    names = {w.name for w in r.weights}
    values = {w.name: final[w.name] for w in r.weights}
    convention = r.spec.topology
    persistence, summaries = measured.persistence, measured.summaries
    diagrams = diagram_records(persistence, summaries, measured.network)
    final_eta = {row.layer: row for row in aggregate([s.eta_count() for s in summaries])}["final"]
    total = sum(int(np.prod(w.shape)) for w in r.weights)
    kept = sum(int(r.masks[w.name].sum()) for w in r.weights)
    last = trained.history[-1]
    wall = time.perf_counter() - t0
    attrs = RunAttrs(
        run_hash=r.key.run_hash,
        arch=r.key.arch,
        dataset=r.key.dataset,
        method=r.key.label,
        trial=r.key.trial,
        round=r.key.round,
        seed=r.spec.trial_seed,
        data_seed=r.key.data_seed(r.spec.trial_seed),
        config=r.spec.to_dict(),
        convention=convention.name,
        conv_graph="exact",
        density_target=r.density_target,
        density=kept / total,
        compression=total / max(kept, 1),
        capped=any((r.capped or {}).values()),
        eta_tau=final_eta.eta_tau,
        test_acc=last.test_acc,
        test_loss=last.test_loss,
        train_acc=last.train_acc,
        train_loss=last.train_loss,
        epochs=trained_epochs(trained.history),
        resumed_from_epoch=trained.resumed_from,
        total_np=float(sum(p.neural_persistence for p in persistence)),
        device=str(r.data.device),
        versions=library_versions(),
        code_revision=code_revision(),
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        wall_seconds=wall,
        **_retention_totals(r.retention),
        **_network_retention(r.network_retention),
        **process_account(wall, r.data.device.type == "cuda").to_attrs(),
    )
    return RoundData(
        attrs=attrs,
        weights=values,
        masks=r.masks,
        rewind={n: rewind[n] for n in names},
        layer_attrs=layer_records(r),
        trained_rest={k: v for k, v in final.items() if k not in names},
        rewind_rest={k: v for k, v in rewind.items() if k not in names},
        diagrams=diagrams,
        metrics=epoch_metrics(trained),
        network=NetworkRecord.of(measured.network) if measured.network is not None else None,
    )


def run_round(
    config: Config,
    key: RoundKey,
    *,
    out: str | Path | None = None,
    previous: str | Path | None = None,
    reference: str | Path | None = None,
    checkpoint: str | Path | None = None,
    progress: bool | None = None,
    finishing: AbstractContextManager[object] | None = None,
) -> Path:
    """Run one round and write its HDF5 file; returns the file's path.

    ``out`` and ``previous`` default to the workflow's paths of the key and of its previous
    round, ``reference`` (a method that ``follows`` another) to that of the other method's
    round; ``checkpoint`` is the directory of the epoch checkpoints (default: beside ``out``).
    A launcher that writes to a temporary name passes the final output's, so that any later
    attempt at the same round resumes from it. ``finishing`` wraps what follows training (the
    record and the file: no checkpoint to resume from), e.g. a job's deferred timeout signal.
    """
    t0 = time.perf_counter()
    out = Path(out) if out is not None else key.file(config.results)
    checkpoint = Path(checkpoint) if checkpoint is not None else checkpoint_dir(out)
    r = prepare(config, key)
    if key.previous is not None:
        reference = reference or key.reference_file(config.results)
        prune(
            r,
            Path(previous) if previous is not None else key.previous.file(config.results),
            Path(reference) if reference is not None else None,
        )
    trained = train_round(r, checkpoint, progress)
    measured = measure(r)
    with finishing or nullcontext():
        data = record(r, trained, measured, t0)
        write_round(out, data)
    shutil.rmtree(checkpoint, ignore_errors=True)
    a = data.attrs
    log.info("%s: test_acc %.4f, compression %.2f, %.1fs", key.name, a.test_acc, a.compression, a.wall_seconds)
    return out
