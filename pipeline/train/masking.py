"""Masked weights stay exactly zero: after every optimizer step, optimizer state included."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn


class ModelMasks:
    """Binds boolean masks (keyed by parameter name) to a model's parameters.

    ``enforce`` zeroes masked weights and the matching entries of every per-parameter
    optimizer state tensor (SGD momentum, Adam's moments), so no state can push a pruned
    weight away from zero at the next step. Masking only in ``forward`` would leave masked
    weights non-zero between a step and the next forward pass (docs/science.md §1 forbids that).
    """

    def __init__(self, model: nn.Module, masks: Mapping[str, np.ndarray | torch.Tensor]) -> None:
        params = dict(model.named_parameters())
        self.pairs: list[tuple[nn.Parameter, torch.Tensor]] = []
        for name, mask in masks.items():
            if name not in params:
                raise ValueError(f"mask for {name!r}, which is not a parameter of the model")
            param = params[name]
            tensor = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
            if tuple(tensor.shape) != tuple(param.shape):
                raise ValueError(f"mask of {name!r} has shape {tuple(tensor.shape)}, the weight {tuple(param.shape)}")
            self.pairs.append((param, tensor.to(param.device, torch.bool)))

    @torch.no_grad()
    def enforce(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        for param, mask in self.pairs:
            param.mul_(mask)
            if param.grad is not None:
                param.grad.mul_(mask)
            if optimizer is not None:
                for value in optimizer.state.get(param, {}).values():
                    if isinstance(value, torch.Tensor) and value.shape == param.shape:
                        value.mul_(mask)
