"""Find a model's prunable weights and the graphs they define, by a forward pass.

Layers are found by module type (``Linear``, ``Conv2d``, ``RNN``/``LSTM``/``GRU``), never by
name; convolution input sizes are read by hooks during one forward pass on a dummy input,
never kept in tables. The result is plain numpy (``pipeline.topology`` layers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer, Layer, LayerKind

_GATES = {"RNN": ("",), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}


@dataclass(frozen=True)
class PrunableWeight:
    """One prunable weight tensor: its state_dict name and how it reads as graph(s)."""

    name: str
    kind: LayerKind
    shape: tuple[int, ...]
    geometry: ConvGeometry | None = None
    gates: tuple[str, ...] = ("",)
    is_output: bool = False


def _conv_geometry(name: str, conv: nn.Conv2d, input_size: tuple[int, int]) -> ConvGeometry:
    if conv.groups != 1 or tuple(conv.dilation) != (1, 1):
        raise NotImplementedError(
            f"layer {name!r}: groups={conv.groups}, dilation={conv.dilation}; "
            "only groups=1, dilation=1 convolutions have a Toeplitz graph here"
        )
    if conv.padding_mode != "zeros":
        raise NotImplementedError(f"layer {name!r}: padding_mode={conv.padding_mode!r}; only 'zeros' is supported")
    padding = conv.padding
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif all(k % 2 == 1 for k in conv.kernel_size):
            padding = tuple((k - 1) // 2 for k in conv.kernel_size)
        else:
            raise NotImplementedError(f"layer {name!r}: padding='same' with an even kernel is asymmetric")
    return ConvGeometry(input_size, tuple(conv.kernel_size), tuple(conv.stride), tuple(padding))


def prunable_weights(model: nn.Module, example_input: torch.Tensor) -> list[PrunableWeight]:
    """The model's prunable weights in forward-execution order; the last is the output layer."""
    seen: dict[str, tuple[nn.Module, tuple[int, int] | None]] = {}
    order: list[str] = []
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        name = names[module]
        size = tuple(inputs[0].shape[-2:]) if isinstance(module, nn.Conv2d) else None
        if name in seen:
            if seen[name][1] != size:
                raise NotImplementedError(f"layer {name!r} is applied to inputs of different sizes")
            return
        seen[name] = (module, size)  # type: ignore[assignment]
        order.append(name)

    handles = [
        m.register_forward_pre_hook(hook) for m in model.modules() if isinstance(m, nn.Linear | nn.Conv2d | nn.RNNBase)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example_input)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()

    out: list[PrunableWeight] = []
    for name in order:
        module, size = seen[name]
        prefix = f"{name}." if name else ""
        if isinstance(module, nn.Conv2d):
            geometry = _conv_geometry(name, module, size)  # type: ignore[arg-type]
            out.append(PrunableWeight(prefix + "weight", "conv", tuple(module.weight.shape), geometry))
        elif isinstance(module, nn.Linear):
            out.append(PrunableWeight(prefix + "weight", "linear", tuple(module.weight.shape)))
        else:
            gates = _GATES[module.mode if module.mode in _GATES else "RNN"]
            for pname, param in module.named_parameters(recurse=False):
                if pname.startswith("weight_ih"):
                    out.append(PrunableWeight(prefix + pname, "linear", tuple(param.shape), gates=gates))
                elif pname.startswith("weight_hh"):
                    out.append(PrunableWeight(prefix + pname, "recurrent", tuple(param.shape), gates=gates))
    if out:
        out[-1] = PrunableWeight(**{**out[-1].__dict__, "is_output": True})
    return out


def graphs_of(weight: PrunableWeight, value: np.ndarray, mask: np.ndarray | None = None) -> list[Layer]:
    """The graph(s) of one prunable weight; a gated recurrent matrix gives one per gate block."""
    if tuple(value.shape) != weight.shape:
        raise ValueError(f"weight {weight.name!r}: got shape {value.shape}, expected {weight.shape}")
    if weight.kind == "conv":
        assert weight.geometry is not None
        return [ConvLayer(weight.name, value, weight.geometry, mask)]
    if weight.gates == ("",):
        return [DenseLayer(weight.name, value, mask, kind=weight.kind)]
    rows = value.shape[0] // len(weight.gates)
    return [
        DenseLayer(
            f"{weight.name}[{gate}]",
            value[g * rows : (g + 1) * rows],
            None if mask is None else mask[g * rows : (g + 1) * rows],
            kind=weight.kind,
            offset=g * rows * value.shape[1],
        )
        for g, gate in enumerate(weight.gates)
    ]


def model_layers(
    model: nn.Module,
    example_input: torch.Tensor,
    masks: Mapping[str, np.ndarray] | None = None,
    weights: list[PrunableWeight] | None = None,
) -> list[Layer]:
    """All prunable layers of ``model`` as graphs, with optional masks keyed by weight name."""
    weights = prunable_weights(model, example_input) if weights is None else weights
    state = model.state_dict()
    layers: list[Layer] = []
    for w in weights:
        value = state[w.name].detach().to("cpu", torch.float32).numpy()
        layers += graphs_of(w, value, None if masks is None else masks.get(w.name))
    return layers


def example_input(input_shape: tuple[int, ...]) -> torch.Tensor:
    """A batch of one zero image of the given (C, H, W) shape, for probing."""
    return torch.zeros(1, *input_shape)
