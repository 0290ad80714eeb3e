"""Find a model's prunable weights and the graphs they define, by a forward pass.

Layers are found by module type (``Linear``, ``Conv1d``/``Conv2d`` with any groups and
dilation, ``RNN``/``LSTM``/``GRU``, ``MultiheadAttention``), never by name; convolution input
sizes are read by hooks during one forward pass on a dummy input, never kept in tables. Every
other parameter is reported with the reason it is no graph. The result is plain numpy
(``pipeline.topology`` layers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipeline.errors import first_line
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer, Layer, LayerKind, block_name

_GATES = {"RNN": ("",), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}
_QKV = ("q", "k", "v")
_CONV = (nn.Conv1d, nn.Conv2d)
_GRAPHS = (nn.Linear, *_CONV, nn.RNNBase, nn.MultiheadAttention)
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


@dataclass(frozen=True)
class PrunableWeight:
    """One prunable weight tensor: its state_dict name and how it reads as graph(s).

    ``gates`` names equal row blocks that are separate graphs (an LSTM's i/f/g/o, attention's
    packed q/k/v). A 1-D convolution keeps its 3-D ``shape`` and reads as a 2-D one of height 1.
    """

    name: str
    kind: LayerKind
    shape: tuple[int, ...]
    geometry: ConvGeometry | None = None
    gates: tuple[str, ...] = ("",)
    is_output: bool = False


@dataclass(frozen=True)
class Skipped:
    """A parameter that is not an edge weight of any layer graph, and why. ``unreadable``: the
    weight of a layer type that has a graph, in a form this package cannot read as one (the
    pipeline refuses to prune such a model; ``analyze`` lists it)."""

    name: str
    shape: tuple[int, ...]
    reason: str
    unreadable: bool = False


@dataclass(frozen=True)
class Probe:
    """What one forward pass found: the weights that are graphs, and every other parameter."""

    weights: list[PrunableWeight]
    skipped: list[Skipped]


def _same_padding(name: str, conv: nn.Conv1d | nn.Conv2d) -> tuple[int, ...]:
    totals = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size, strict=True)]
    if any(t % 2 for t in totals):
        raise NotImplementedError(f"layer {name!r}: padding='same' with an even kernel span is asymmetric")
    return tuple(t // 2 for t in totals)


def _conv_geometry(name: str, conv: nn.Conv1d | nn.Conv2d, input_size: tuple[int, ...]) -> ConvGeometry:
    """The Toeplitz geometry of a 2-D convolution, or of a 1-D one as height 1."""
    padding = conv.padding
    if isinstance(padding, str):
        padding = (0,) * len(conv.kernel_size) if padding == "valid" else _same_padding(name, conv)
    if conv.padding_mode != "zeros" and any(padding):
        raise NotImplementedError(f"padding_mode={conv.padding_mode!r}: only zero padding is a Toeplitz graph")
    lift = (lambda v: (1, *v)) if isinstance(conv, nn.Conv1d) else tuple
    return ConvGeometry(
        lift(input_size),
        lift(conv.kernel_size),
        lift(conv.stride),
        (0, *padding) if isinstance(conv, nn.Conv1d) else tuple(padding),
        lift(conv.dilation),
        conv.groups,
    )


def _input_size(module: nn.Module, inputs: tuple, kwargs: dict) -> tuple[int, ...] | None:
    if not isinstance(module, _CONV):
        return None
    x = inputs[0] if inputs else next(iter(kwargs.values()))
    return tuple(x.shape[-1:] if isinstance(module, nn.Conv1d) else x.shape[-2:])


@contextmanager
def probing(model: nn.Module) -> Iterator[None]:
    """Eval mode and attention's plain path for one forward pass; every module's own mode back after."""
    modes = {m: m.training for m in model.modules()}
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        model.eval()
        torch.backends.mha.set_fastpath_enabled(False)  # the fused path skips attention's forward
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, training in modes.items():
            m.training = training


def _called_layers(
    model: nn.Module, example_input: torch.Tensor
) -> tuple[list[tuple[str, tuple[int, ...] | None]], dict[str, str]]:
    """Graph-bearing modules in the order the forward pass first calls them, and the input size
    problems of those that cannot be read as one graph."""
    names = {module: name for name, module in model.named_modules()}
    sizes: dict[str, tuple[int, ...] | None] = {}
    order: list[str] = []
    problems: dict[str, str] = {}

    def hook(module: nn.Module, inputs: tuple, kwargs: dict) -> None:
        name = names[module]
        size = _input_size(module, inputs, kwargs)
        if name not in sizes:
            sizes[name] = size
            order.append(name)
        elif sizes[name] != size:
            problems[name] = f"applied to inputs of sizes {sizes[name]} and {size}: one module, several graphs"

    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in model.modules() if isinstance(m, _GRAPHS)]
    try:
        with probing(model):
            model(example_input)
    except Exception as err:  # the user's model: any failure means the input does not fit it
        shape = tuple(example_input.shape)
        raise ValueError(f"the model cannot take an input of shape {shape}: {first_line(err)}") from err
    finally:
        for h in handles:
            h.remove()
    return [(name, sizes[name]) for name in order], problems


def _weights_of(name: str, module: nn.Module, size: tuple[int, ...] | None) -> list[PrunableWeight]:
    prefix = f"{name}." if name else ""
    if isinstance(module, _CONV):
        geometry = _conv_geometry(name, module, size)  # type: ignore[arg-type]
        return [PrunableWeight(prefix + "weight", "conv", tuple(module.weight.shape), geometry)]
    if isinstance(module, nn.Linear):
        return [PrunableWeight(prefix + "weight", "linear", tuple(module.weight.shape))]
    if isinstance(module, nn.MultiheadAttention):
        packed = module.in_proj_weight is not None
        inputs = (
            [PrunableWeight(prefix + "in_proj_weight", "linear", tuple(module.in_proj_weight.shape), gates=_QKV)]
            if packed
            else [
                PrunableWeight(f"{prefix}{q}_proj_weight", "linear", tuple(getattr(module, f"{q}_proj_weight").shape))
                for q in _QKV
            ]
        )
        return [*inputs, PrunableWeight(prefix + "out_proj.weight", "linear", tuple(module.out_proj.weight.shape))]
    gates = _GATES[module.mode if module.mode in _GATES else "RNN"]
    out = []
    for pname, param in module.named_parameters(recurse=False):
        if pname.startswith(("weight_ih", "weight_hr")):
            out.append(
                PrunableWeight(prefix + pname, "linear", tuple(param.shape), gates=gates if "ih" in pname else ("",))
            )
        elif pname.startswith("weight_hh"):
            out.append(PrunableWeight(prefix + pname, "recurrent", tuple(param.shape), gates=gates))
    return out


_BIAS = re.compile(r"bias|in_proj_bias|bias_(ih|hh)_l\d+(_reverse)?")
_UNSUPPORTED = (nn.Conv3d, nn.modules.conv._ConvTransposeNd)


def _skip_reason(owner: nn.Module, pname: str, problem: str | None) -> str:
    if _BIAS.fullmatch(pname):
        return "bias: shifts a vertex, not an edge between two"
    if problem is not None:
        return problem
    if isinstance(owner, _NORMS):
        return f"{type(owner).__name__}: a scale per channel, not an edge between two"
    if isinstance(owner, nn.Embedding | nn.EmbeddingBag):
        return "embedding: a lookup table of vectors, not a layer of edges"
    if isinstance(owner, _UNSUPPORTED):
        return f"{type(owner).__name__}: no graph of this kind here yet (Conv1d and Conv2d are)"
    if isinstance(owner, _GRAPHS):
        return f"{type(owner).__name__} not called by the forward pass on this input"
    return (
        f"a parameter of {type(owner).__name__} that no supported layer type (Linear, Conv1d/2d, RNN, attention) uses"
    )


def _underlying(model: nn.Module, name: str) -> list[nn.Parameter]:
    """The parameters behind a weight: itself, or what a parametrisation or a
    ``torch.nn.utils.prune`` mask computes it from."""
    owner_name, _, attr = name.rpartition(".")
    owner = model.get_submodule(owner_name)
    parametrizations = getattr(owner, "parametrizations", None)
    if parametrizations is not None and attr in parametrizations:
        return list(parametrizations[attr].parameters())
    original = getattr(owner, f"{attr}_orig", None)
    return [original] if isinstance(original, nn.Parameter) else [getattr(owner, attr)]


def weight_tensor(model: nn.Module, name: str) -> torch.Tensor:
    """A weight as the forward pass uses it (masked or parametrised where the model says so)."""
    owner_name, _, attr = name.rpartition(".")
    return getattr(model.get_submodule(owner_name), attr)


def probe(model: nn.Module, example_input: torch.Tensor) -> Probe:
    """Every parameter of ``model``: graph weights in forward-execution order (the last is the
    output layer), and the rest with the reason each is not a graph. A tensor shared by several
    layers is analysed once, as the first the forward pass calls."""
    called, problems = _called_layers(model, example_input)
    weights: list[PrunableWeight] = []
    for name, size in called:
        if name in problems:
            continue
        try:
            weights += _weights_of(name, model.get_submodule(name), size)
        except (NotImplementedError, ValueError) as err:
            problems[name] = str(err)
    claimed: dict[int, str] = {}
    for w in list(weights):
        ids = [id(p) for p in _underlying(model, w.name)]
        if ids[0] in claimed:
            weights.remove(w)
        claimed.update((i, claimed.get(i, w.name)) for i in ids)
    if weights:
        weights[-1] = PrunableWeight(**{**weights[-1].__dict__, "is_output": True})
    graphs = {w.name for w in weights}
    skipped = []
    for name, param in model.named_parameters(remove_duplicate=False):
        owner_name, _, pname = name.rpartition(".")
        if name in graphs or (
            id(param) in claimed and claimed[id(param)] in graphs and _behind(name, claimed[id(param)])
        ):
            continue
        if id(param) in claimed:
            reason, unreadable = f"the same tensor as {claimed[id(param)]}: analysed once, there", False
        else:
            owner = model.get_submodule(owner_name)
            reason = _skip_reason(owner, pname, problems.get(owner_name))
            unreadable = not _BIAS.fullmatch(pname) and (owner_name in problems or isinstance(owner, _UNSUPPORTED))
        skipped.append(Skipped(name, tuple(param.shape), reason, unreadable))
    return Probe(weights, skipped)


def _behind(name: str, weight: str) -> bool:
    """Whether parameter ``name`` is what weight ``weight`` is computed from (its ``_orig`` or a
    parametrisation's ``original``), not another layer's name for the same tensor."""
    owner, _, attr = weight.rpartition(".")
    prefix = f"{owner}." if owner else ""
    return name == f"{prefix}{attr}_orig" or name.startswith(f"{prefix}parametrizations.{attr}.")


def prunable_weights(model: nn.Module, example_input: torch.Tensor) -> list[PrunableWeight]:
    """The model's prunable weights in forward-execution order; the last is the output layer.

    A model with a layer this package cannot read as a graph is refused: pruning the rest and
    training that layer dense would be a different experiment than the one configured.
    """
    found = probe(model, example_input)
    for s in found.skipped:
        if s.unreadable:
            raise NotImplementedError(f"layer weight {s.name!r}: {s.reason}; the pipeline prunes graphs it can read")
    return found.weights


def graphs_of(weight: PrunableWeight, value: np.ndarray, mask: np.ndarray | None = None) -> list[Layer]:
    """The graph(s) of one prunable weight; a gated recurrent matrix gives one per gate block."""
    if tuple(value.shape) != weight.shape:
        raise ValueError(f"weight {weight.name!r}: got shape {value.shape}, expected {weight.shape}")
    if weight.kind == "conv":
        assert weight.geometry is not None
        if value.ndim == 3:  # a 1-D convolution: height 1, the same flat indices
            value = value[:, :, None, :]
            mask = None if mask is None else mask[:, :, None, :]
        return [ConvLayer(weight.name, value, weight.geometry, mask)]
    if weight.gates == ("",):
        return [DenseLayer(weight.name, value, mask, kind=weight.kind)]
    rows = value.shape[0] // len(weight.gates)
    return [
        DenseLayer(
            block_name(weight.name, gate),
            value[g * rows : (g + 1) * rows],
            None if mask is None else mask[g * rows : (g + 1) * rows],
            kind=weight.kind,
            offset=g * rows * value.shape[1],
        )
        for g, gate in enumerate(weight.gates)
    ]


def network_graphs(
    weights: Sequence[PrunableWeight],
    values: Mapping[str, np.ndarray],
    masks: Mapping[str, np.ndarray] | None = None,
) -> list[Layer]:
    """The one walk from a network's weights to its graphs, in forward order: ``values`` (and
    optional ``masks``) keyed by weight name, as a round file, a state_dict or a model holds them."""
    return [g for w in weights for g in graphs_of(w, values[w.name], None if masks is None else masks.get(w.name))]


def weight_value(model: nn.Module, name: str) -> np.ndarray:
    """A weight as the forward pass uses it, as a float32 array on the host."""
    return weight_tensor(model, name).detach().to("cpu", torch.float32).numpy()


def model_layers(
    model: nn.Module,
    example_input: torch.Tensor,
    masks: Mapping[str, np.ndarray] | None = None,
    weights: list[PrunableWeight] | None = None,
) -> list[Layer]:
    """All prunable layers of ``model`` as graphs, with optional masks keyed by weight name."""
    weights = prunable_weights(model, example_input) if weights is None else weights
    return network_graphs(weights, {w.name: weight_value(model, w.name) for w in weights}, masks)


def example_input(input_shape: tuple[int, ...]) -> torch.Tensor:
    """A batch of one zero image of the given (C, H, W) shape, for probing."""
    return torch.zeros(1, *input_shape)
