"""One pruning round of one run — the pipeline's unit of work.

Round 0 trains the dense network (shared by every method of a trial). Round k >= 1 reads
round k - 1 of the same method, prunes it (IMP or T-IMP), rewinds, retrains, measures the
diagrams and stores everything in one HDF5 file. Callable in-process, from the CLI
(``python -m pipeline round``) and as a submitit job (``pipeline.launch``); a restarted round
resumes from its last epoch checkpoint.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from pipeline.config import Config, RunSpec, run_spec
from pipeline.data import DeviceData, get_dataset_info, load_splits
from pipeline.models import build_model, example_input, graphs_of, prunable_weights
from pipeline.models.probe import PrunableWeight
from pipeline.prune import PRUNERS, prune_round
from pipeline.store import DiagramRecord, RoundData, checkpoint_dir, read_round, round_file, write_round
from pipeline.store.provenance import code_revision, library_versions
from pipeline.topology import Convention, network_persistence
from pipeline.topology.eta import aggregate, counted
from pipeline.topology.graphs import Layer
from pipeline.topology.overlap import overlap
from pipeline.train import ModelMasks, train, training_device

log = logging.getLogger("pipeline.rounds")


def convention_of(spec: RunSpec) -> Convention:
    return Convention(**asdict(spec.topology))


def _numpy_state(state: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().to("cpu").numpy().copy() for k, v in state.items()}


def model_graphs(
    weights: list[PrunableWeight], values: dict[str, np.ndarray], masks: dict[str, np.ndarray]
) -> list[Layer]:
    return [g for w in weights for g in graphs_of(w, values[w.name], masks[w.name])]


def _data_seed(spec: RunSpec, method: str, round_index: int) -> int:
    return spec.trial_seed * 1009 + round_index * 2 + (method == "timp")


def _rewind_epoch(spec: RunSpec) -> int | None:
    rewind = spec.pruning.rewind
    return int(rewind.split(":")[1]) if rewind.startswith("epoch:") else None


def start_weights(prev: RoundData, rewind: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor] | None]:
    """The state a round starts from (before its masks are applied), and the rewind point it
    passes on: round 0's initial (or epoch-E) weights for ``init``/``epoch:E``; for ``none``
    the previous round's trained weights, and nothing to carry."""
    if rewind == "none":
        return prev.state("trained"), None
    return prev.state("rewind"), prev.state("rewind")


def _check_previous(prev: RoundData, spec: RunSpec, method: str, round_index: int, path: Path) -> None:
    expected = {"run_hash": spec.run_hash, "trial": spec.trial, "round": round_index - 1}
    for key, value in expected.items():
        if prev.attrs.get(key) != value:
            raise ValueError(f"{path}: {key} is {prev.attrs.get(key)!r}, this round needs {value!r}")
    if round_index > 1 and prev.attrs.get("method") != method:
        raise ValueError(f"{path}: method {prev.attrs.get('method')!r}, this round continues {method!r}")


def run_round(
    config: Config,
    *,
    arch: str,
    dataset: str,
    method: str,
    trial: int,
    round_index: int,
    out: str | Path | None = None,
    previous: str | Path | None = None,
    checkpoint: str | Path | None = None,
    progress: bool | None = None,
) -> Path:
    """Run one round and write its HDF5 file; returns the file's path.

    ``checkpoint`` is the directory of the epoch checkpoints (default: beside ``out``); a
    launcher that writes to a temporary name passes the final output's, so that any later
    attempt at the same round resumes from it.
    """
    if method not in PRUNERS:
        raise ValueError(f"method {method!r}: allowed values are {sorted(PRUNERS)}")
    t0 = time.perf_counter()
    spec = run_spec(config, arch, dataset, trial)
    out = (
        Path(out)
        if out is not None
        else round_file(config.results, arch, dataset, spec.run_hash, trial, method, round_index)
    )
    checkpoint = Path(checkpoint) if checkpoint is not None else checkpoint_dir(out)
    info = get_dataset_info(dataset)
    splits = load_splits(
        dataset,
        spec.data.root,
        spec.data.download,
        test_fraction=spec.data.test_fraction,
        verify_checksums=spec.data.verify_checksums,
    )
    torch.manual_seed(spec.trial_seed)
    np.random.seed(spec.trial_seed)
    model = build_model(arch, dataset)
    weights = prunable_weights(model, example_input(info.input_shape))
    convention = convention_of(spec)

    if round_index == 0:
        start_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        masks = {w.name: np.ones(w.shape, dtype=bool) for w in weights}
        budgets: dict[str, int] = {}
        capped: dict[str, bool] = {}
        density_target = 1.0
        carried_rewind = None
    else:
        if previous is None:
            prev_method = method if round_index > 1 else "dense"
            previous = round_file(config.results, arch, dataset, spec.run_hash, trial, prev_method, round_index - 1)
        prev = read_round(previous, diagrams=False, metrics=False)
        _check_previous(prev, spec, method, round_index, Path(previous))
        result = prune_round(method, weights, prev.weights, prev.masks, spec.pruning, round_index)
        masks, budgets, capped, density_target = result.masks, result.budgets, result.capped, result.density
        start_state, carried_rewind = start_weights(prev, spec.pruning.rewind)
        model.load_state_dict(start_state)

    device = training_device()
    model.to(device)
    model_masks = ModelMasks(model, masks)
    model_masks.enforce()

    def measure(m: torch.nn.Module) -> dict[str, float]:
        state = m.state_dict()
        values = {w.name: state[w.name].detach().to("cpu", torch.float32).numpy() for w in weights}
        results = network_persistence(model_graphs(weights, values, masks), convention)
        return {r.layer.name: r.neural_persistence for r in results}

    recipe = spec.training
    trained = train(
        model,
        DeviceData(splits, device, augment=recipe.augment),
        recipe,
        seed=_data_seed(spec, method, round_index),
        masks=model_masks,
        checkpoint_dir=checkpoint,
        fingerprint=f"{spec.run_hash}/trial{trial}/{method}/round{round_index}",
        measure=measure if recipe.track_np else None,
        snapshot_epoch=_rewind_epoch(spec) if round_index == 0 else None,
        progress=progress,
    )

    if round_index == 0:
        rewind_state = trained.snapshot if _rewind_epoch(spec) is not None else start_state
    else:
        rewind_state = carried_rewind if carried_rewind is not None else start_state
    final = _numpy_state(model.state_dict())
    rewind = _numpy_state(rewind_state)
    names = {w.name for w in weights}
    values = {w.name: final[w.name] for w in weights}

    persistence = network_persistence(model_graphs(weights, values, masks), convention)
    diagrams: dict[str, DiagramRecord] = {}
    eta_rows = []
    for r in persistence:
        eta = counted(r.layer, r.tree)
        eta_rows.append(eta)
        ov = overlap(r.layer, r.tree)
        attrs = {
            "layer": r.layer.name.split("[")[0],
            "offset": r.layer.offset,
            "size": r.layer.weight.size,
            "kind": r.layer.kind,
            "m": r.layer.m,
            "n": r.layer.n,
            "n_vertices": r.forest.n_vertices,
            "n_components": r.forest.n_components,
            "n_essential": r.diagram.n_essential,
            "w_max": r.diagram.w_max,
            "degenerate": r.diagram.degenerate,
            "np": r.neural_persistence,
            "normalized_np": r.normalized,
            "weights": eta.weights,
            "mst_edges": eta.mst_edges,
            "eta_tau": eta.eta_tau,
            "params": eta.params,
            "mst_params": eta.mst_params,
            "eta_tau_params": eta.eta_tau_params,
            "alpha": ov.alpha,
            "overlap_shared": ov.shared,
            "overlap_fraction": ov.fraction,
        }
        diagrams[r.layer.name] = DiagramRecord(r.diagram.births, r.diagram.deaths, r.diagram.indices, attrs)
    final_eta = {row.layer: row for row in aggregate(eta_rows)}["final"]

    total = sum(int(np.prod(w.shape)) for w in weights)
    kept = sum(int(masks[w.name].sum()) for w in weights)
    layer_attrs = {}
    for w in weights:
        n_kept = int(masks[w.name].sum())
        size = int(np.prod(w.shape))
        layer_attrs[w.name] = {
            "kind": w.kind,
            "is_output": w.is_output,
            "pruned": spec.pruning.prune_output or not w.is_output,
            "budget": budgets.get(w.name, budgets.get("global")),
            "n_weights": size,
            "n_kept": n_kept,
            "density": n_kept / size,
            "compression": size / max(n_kept, 1),
            "capped": capped.get(w.name, False),
        }
    history = trained.history
    metrics: dict[str, np.ndarray] = {
        key: np.array([getattr(h, key) for h in history])
        for key in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds")
    }
    for graph in history[0].np if history else {}:
        metrics[f"np/{graph}"] = np.array([h.np[graph] for h in history])
    last = history[-1]
    attrs = {
        "run_hash": spec.run_hash,
        "arch": arch,
        "dataset": dataset,
        "method": method if round_index > 0 else "dense",
        "trial": trial,
        "round": round_index,
        "seed": spec.trial_seed,
        "data_seed": _data_seed(spec, method, round_index),
        "config": spec.to_dict(),
        "convention": convention.name,
        "conv_graph": "exact",
        "density_target": density_target,
        "density": kept / total,
        "compression": total / max(kept, 1),
        "capped": any(capped.values()),
        "eta_tau": final_eta.eta_tau,
        "test_acc": last.test_acc,
        "test_loss": last.test_loss,
        "train_acc": last.train_acc,
        "train_loss": last.train_loss,
        "epochs": len(history),
        "resumed_from_epoch": trained.resumed_from,
        "total_np": float(sum(r.neural_persistence for r in persistence)),
        "device": str(device),
        "versions": library_versions(),
        "code_revision": code_revision(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_seconds": time.perf_counter() - t0,
    }
    write_round(
        out,
        RoundData(
            attrs=attrs,
            weights=values,
            masks=masks,
            rewind={n: rewind[n] for n in names},
            layer_attrs=layer_attrs,
            trained_rest={k: v for k, v in final.items() if k not in names},
            rewind_rest={k: v for k, v in rewind.items() if k not in names},
            diagrams=diagrams,
            metrics=metrics,
        ),
    )
    shutil.rmtree(checkpoint, ignore_errors=True)
    log.info(
        "%s round %d (%s, trial %d): test_acc %.4f, compression %.2f, %.1fs",
        f"{arch}/{dataset}",
        round_index,
        attrs["method"],
        trial,
        last.test_acc,
        attrs["compression"],
        attrs["wall_seconds"],
    )
    return out
