"""SNIP (Lee et al. 2019): connection sensitivity |θ · ∂L/∂θ| on one batch of training data.

Scored once per round at the rewind point under the previous masks, on the round's first
training batch (the same batch for every method at a trial and round), with the network in
training mode on a copy (batch-norm statistics of the batch; nothing leaks into training).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.select import keep_top, prunable

if TYPE_CHECKING:
    from pipeline.models.probe import PrunableWeight


def snip_scores(model: Any, batch: tuple[Any, Any], weights: Sequence[PrunableWeight]) -> dict[str, np.ndarray]:
    """|θ · ∂L/∂θ| of the cross-entropy on ``batch`` (images, labels), on a copy of ``model``."""
    from torch import nn  # here: the workflow reads the method registry; torch loads only to score

    net = copy.deepcopy(model).train()
    params = dict(net.named_parameters())
    images, labels = batch
    nn.functional.cross_entropy(net(images), labels).backward()
    return {w.name: (params[w.name] * params[w.name].grad).abs().detach().cpu().numpy() for w in weights}


def prune(ctx: PruneContext) -> PruneResult:
    return keep_top(ctx, snip_scores(ctx.model, ctx.batch, prunable(ctx)))


register_method(
    Method(
        name="snip",
        label="SNIP",
        color="#ff7f0e",
        marker="D",
        prune=prune,
        control=True,
        needs=frozenset({"model", "batch"}),
        summary="baseline: connection sensitivity |θ·∂L/∂θ| on one training batch at the rewind point",
    )
)
