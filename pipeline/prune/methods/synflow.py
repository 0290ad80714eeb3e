"""SynFlow (Tanaka et al. 2020): iterative, data-free synaptic-flow scores.

At the round's rewind point, under the previous masks, the network is made linear in its
weights' magnitudes: every floating-point tensor of its state takes its absolute value, it is
evaluated in float64 and eval mode, and R = sum(f(1)) for an all-ones input of one image's
shape. A weight's score is |θ · ∂R/∂θ|. ``STEPS`` times, the survivors are re-scored and pruned
to a density on the exponential path from the previous round's budget to this round's
(``keep_top(at=k - 1 + i / STEPS)``), as the paper's iterative schedule does within one shot.
Only the shape of ``batch`` is used: the scores do not depend on data.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.prune.registry import Method, PruneContext, PruneResult, register_method
from pipeline.prune.select import keep_top, prunable

if TYPE_CHECKING:
    from pipeline.models.probe import PrunableWeight

STEPS = 100
"""Re-scoring steps per round (the paper's 100 iterations)."""


def linearised(model: Any) -> Any:
    """A float64 copy of ``model`` in eval mode with |x| for every floating-point tensor."""
    import torch  # here: the workflow reads the method registry; torch loads only to score

    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for tensor in net.state_dict().values():
            if tensor.is_floating_point():
                tensor.abs_()
    return net


def synflow_scores(net: Any, input_shape: Sequence[int], weights: Sequence[PrunableWeight]) -> dict[str, np.ndarray]:
    """|θ · ∂R/∂θ| with R = sum(net(ones)) for a ``linearised`` network."""
    import torch  # here: the workflow reads the method registry; torch loads only to score

    params = dict(net.named_parameters())
    net.zero_grad(set_to_none=True)
    device = next(net.parameters()).device
    net(torch.ones((1, *input_shape), dtype=torch.float64, device=device)).sum().backward()
    return {w.name: (params[w.name] * params[w.name].grad).abs().detach().cpu().numpy() for w in weights}


def prune(ctx: PruneContext) -> PruneResult:
    import torch  # here: the workflow reads the method registry; torch loads only to prune

    net = linearised(ctx.model)
    params = dict(net.named_parameters())
    shape = tuple(ctx.batch[0].shape[1:])
    layers = prunable(ctx)
    step = ctx
    for i in range(1, STEPS + 1):
        result = keep_top(step, synflow_scores(net, shape, layers), at=ctx.round_index - 1 + i / STEPS)
        step = dataclasses.replace(step, masks=result.masks)
        with torch.no_grad():
            for w in layers:
                params[w.name].mul_(torch.as_tensor(result.masks[w.name], device=params[w.name].device))
    return result


register_method(
    Method(
        name="synflow",
        label="SynFlow",
        color="#2ca02c",
        marker="^",
        prune=prune,
        control=True,
        needs=frozenset({"model", "batch"}),
        summary="baseline: iterative synaptic-flow scores at the rewind point (data-free)",
    )
)
