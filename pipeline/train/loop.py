"""Training one round: seeded, deterministic on the CPU, checkpointed every epoch.

The batch order and augmentation of epoch e come from a generator seeded with (seed, e), and
everything else that changes during training (model, optimizer, schedule, history) is in the
checkpoint, so a run resumed from its last checkpoint ends with tensors identical to an
uninterrupted one.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from pipeline.config import TrainingConfig
from pipeline.data.device import DeviceData
from pipeline.store.paths import checkpoint_file, sibling_partial
from pipeline.store.record import EpochRecord
from pipeline.train.masking import ModelMasks

log = logging.getLogger("pipeline.train")


Measure = Callable[[nn.Module], dict[str, float]]
"""The topology of a network under training, keyed ``<quantity>/<graph name>``."""


@dataclass
class TrainResult:
    history: list[EpochRecord]
    snapshot: dict[str, torch.Tensor] | None
    resumed_from: int


def training_device() -> torch.device:
    """The GPU when torch sees one, else the CPU (never decided from CUDA_VISIBLE_DEVICES)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _before_training(
    model: nn.Module,
    data: DeviceData,
    recipe: TrainingConfig,
    measure: Measure,
    on_gpu: bool,
) -> EpochRecord:
    """Epoch 0: the network as training finds it (its test accuracy and its topology)."""
    t0 = time.perf_counter()
    test_loss, test_acc = evaluate(model, data, recipe.eval_batch_size, on_gpu)
    nan = float("nan")
    return EpochRecord(0, nan, nan, test_loss, test_acc, nan, time.perf_counter() - t0, measure(model))


def trained_epochs(history: list[EpochRecord]) -> int:
    """Epochs trained (epoch 0, the measurement before training, is none)."""
    return sum(1 for h in history if h.epoch > 0)


def make_optimizer(model: nn.Module, recipe: TrainingConfig) -> torch.optim.Optimizer:
    if recipe.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=recipe.lr,
            momentum=recipe.momentum,
            nesterov=recipe.nesterov and recipe.momentum > 0,
            weight_decay=recipe.weight_decay,
        )
    return torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def make_scheduler(optimizer: torch.optim.Optimizer, recipe: TrainingConfig) -> torch.optim.lr_scheduler.LRScheduler:
    if recipe.lr_schedule == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(recipe.milestones), gamma=recipe.gamma)
    if recipe.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=recipe.epochs)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def evaluate(model: nn.Module, data: DeviceData, batch_size: int, autocast: bool) -> tuple[float, float]:
    model.eval()
    loss_sum, correct, count = 0.0, 0, 0
    with torch.no_grad(), torch.autocast(data.device.type, dtype=torch.bfloat16, enabled=autocast):
        for images, labels in data.test_batches(batch_size):
            out = model(images)
            loss_sum += float(nn.functional.cross_entropy(out.float(), labels, reduction="sum"))
            correct += int((out.argmax(1) == labels).sum())
            count += labels.numel()
    return loss_sum / max(count, 1), correct / max(count, 1)


def _save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    partial = sibling_partial(path)
    torch.save(payload, partial)
    partial.replace(path)


def train(
    model: nn.Module,
    data: DeviceData,
    recipe: TrainingConfig,
    *,
    seed: int,
    masks: ModelMasks | None = None,
    checkpoint_dir: Path | None = None,
    fingerprint: str = "",
    measure: Measure | None = None,
    snapshot_step: int | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train ``model`` for ``recipe.epochs`` epochs, resuming from ``checkpoint_dir`` if it holds
    a checkpoint of the same ``fingerprint``. ``measure`` is called after every epoch (per-graph
    NP, overlap) and once before training (``history[0]``, epoch 0); ``snapshot_step`` keeps a
    copy of the weights after that many optimizer steps in all
    (late rewinding; ``rewind: epoch:E`` is step E x batches per epoch)."""
    torch.set_num_threads(recipe.threads)
    device = data.device
    on_gpu = device.type == "cuda"
    has_conv = any(isinstance(m, nn.Conv2d) for m in model.modules())
    memory_format = torch.channels_last if on_gpu and has_conv else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    optimizer = make_optimizer(model, recipe)
    scheduler = make_scheduler(optimizer, recipe)
    criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    history: list[EpochRecord] = []
    snapshot: dict[str, torch.Tensor] | None = None
    start = 0

    path = checkpoint_file(checkpoint_dir) if checkpoint_dir is not None else None
    if path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=False)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            history = [EpochRecord(**h) for h in state["history"]]
            snapshot = state["snapshot"]
            start = state["epoch"]
            log.info("resumed from the checkpoint after epoch %d", start)
        else:
            log.warning("ignoring a checkpoint of another run in %s", checkpoint_dir)
    if masks is not None:
        masks.enforce(optimizer)

    if measure is not None and start == 0:
        history.append(_before_training(model, data, recipe, measure, on_gpu))
    steps_per_epoch = math.ceil(data.n_train / recipe.batch_size)
    show_bar = sys.stderr.isatty() if progress is None else progress
    for epoch in range(start + 1, recipe.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        batches = data.train_batches(recipe.batch_size, _epoch_generator(seed, epoch))
        if show_bar:
            batches = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch}", leave=False)
        for step, (images, labels) in enumerate(batches, start=(epoch - 1) * steps_per_epoch + 1):
            if memory_format is torch.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=on_gpu):
                out = model(images)
                loss = criterion(out.float(), labels)
            loss.backward()
            optimizer.step()
            if masks is not None:
                masks.enforce(optimizer)
            loss_sum += loss.detach() * labels.numel()
            correct += (out.argmax(1) == labels).sum()
            if step == snapshot_step:
                snapshot = {k: v.detach().clone() for k, v in model.state_dict().items()}
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        test_loss, test_acc = evaluate(model, data, recipe.eval_batch_size, on_gpu)
        record = EpochRecord(
            epoch=epoch,
            train_loss=float(loss_sum) / data.n_train,
            train_acc=float(correct) / data.n_train,
            test_loss=test_loss,
            test_acc=test_acc,
            lr=lr,
            seconds=time.perf_counter() - t0,
            topology=measure(model) if measure is not None else {},
        )
        history.append(record)
        log.info(
            "epoch %d/%d  loss %.4f  acc %.4f  test_loss %.4f  test_acc %.4f  lr %.3g  %.1fs",
            epoch,
            recipe.epochs,
            record.train_loss,
            record.train_acc,
            test_loss,
            test_acc,
            lr,
            record.seconds,
        )
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _save_checkpoint(
                path,
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "history": [asdict(h) for h in history],
                    "snapshot": snapshot,
                },
            )
    return TrainResult(history, snapshot, start)
