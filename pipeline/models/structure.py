"""Where every layer graph's vertices sit in the whole network, from a trace of its forward pass.

``torch.fx`` traces the model; an interpreter then runs the traced graph on one example input
and, beside every tensor, a tensor of the same shape holding its **units'** ids. A weighted
layer (``Linear``, ``Conv1d/2d``, a one-layer recurrent cell) gives its outputs new units;
operations without weights join units (docs/science.md §10): unit by unit (activations, norms,
dropout), by moving them (flatten, view, permute, indexing, concatenation), elementwise between
two tensors (a residual addition makes its two operands' units one), over a window or a reduced
dimension (pooling, means). Joined units are one vertex of the network graph. Anything else
stops with one line naming the operation. The result is plain numpy (``topology.network``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import fx, nn

from pipeline.data.registry import get_dataset_info
from pipeline.errors import first_line
from pipeline.models.probe import probing, prunable_weights
from pipeline.models.registry import build_model
from pipeline.topology.graphs import Layer
from pipeline.topology.network import NetworkGraph, Placement

_UNIT_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.Hardtanh, nn.Softplus, nn.Identity,
    nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout,
    nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm,
)  # fmt: skip
"""Modules that act unit by unit (a norm's statistics couple units, but no weight joins them)."""
_UNIT_FUNCTIONS = {
    F.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.mish, F.hardswish, F.hardsigmoid, F.hardtanh,
    F.softplus, F.dropout, F.batch_norm, F.layer_norm, F.group_norm,
    torch.relu, torch.sigmoid, torch.tanh, torch.clone, torch.abs, torch.neg, torch.exp,
}  # fmt: skip
_UNIT_METHODS = {"relu", "relu_", "sigmoid", "tanh", "clone", "contiguous", "float", "to", "type_as", "abs", "neg"}
_MOVE_FUNCTIONS = {torch.flatten, torch.reshape, torch.permute, torch.transpose, torch.cat, torch.squeeze,
                   torch.unsqueeze, torch.chunk, torch.split, operator.getitem}  # fmt: skip
_MOVE_METHODS = {"view", "reshape", "flatten", "permute", "transpose", "squeeze", "unsqueeze", "expand",
                 "expand_as", "repeat", "chunk", "split", "t", "narrow", "unflatten"}  # fmt: skip
_MOVE_MODULES = (nn.Flatten, nn.Unflatten)
_ELEMENTWISE = {operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
                operator.truediv, torch.add, torch.sub, torch.mul, torch.maximum, torch.minimum}  # fmt: skip
_ELEMENTWISE_METHODS = {"add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"}
_REDUCE_METHODS = {"mean", "sum", "amax", "max"}
_REDUCE_FUNCTIONS = {torch.mean, torch.sum, torch.amax}
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
_PADS = (nn.ZeroPad1d, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d)


@dataclass(frozen=True, eq=False)
class Structure:
    """The network's vertices: ``ends[weight]`` = (input units, output units) of a weight
    tensor's graph in the layer graph's own vertex order (a conv: its padded input), as network
    vertex ids in ``range(n_vertices)``."""

    n_vertices: int
    ends: dict[str, tuple[np.ndarray, np.ndarray]]

    def check(self, tensors: set[str]) -> None:
        """The weights with a layer graph must be exactly those the forward pass multiplies with."""
        missing, unread = sorted(tensors - set(self.ends)), sorted(set(self.ends) - tensors)
        if missing:
            raise ValueError(f"the trace of the forward pass never used weight(s) {missing}")
        if unread:
            raise ValueError(f"weight(s) {unread} join units in the forward pass but have no layer graph")

    def graph(self, layers: Sequence[Layer]) -> NetworkGraph:
        """The layer graphs placed on the network's vertices (a gate block shares its tensor's)."""
        self.check({layer.tensor for layer in layers})
        places = tuple(Placement(*self.ends[layer.tensor]) for layer in layers)
        return NetworkGraph(tuple(layers), places, self.n_vertices)


class _Units(fx.Interpreter):
    """Runs the traced model and, beside every tensor, the ids of its units (float64, -1: none)."""

    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module)
        self.extra_traceback = False  # a rule's error is one line, not fx's interpreter trace
        self.count = 0
        self.joins: list[tuple[np.ndarray, np.ndarray]] = []
        self.units: dict[fx.Node, Any] = {}
        self.ends: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def fresh(self, shape: Sequence[int]) -> torch.Tensor:
        n = int(np.prod(shape))
        ids = torch.arange(self.count, self.count + n, dtype=torch.float64).reshape(tuple(shape))
        self.count += n
        return ids

    def join(self, a: torch.Tensor, b: torch.Tensor) -> None:
        a, b = a.reshape(-1).long().numpy(), b.reshape(-1).long().numpy()
        keep = (a >= 0) & (b >= 0)
        self.joins.append((a[keep], b[keep]))

    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        self.units[n] = self._units(n, out)
        return out

    def _units(self, n: fx.Node, out: Any) -> Any:
        if n.op == "placeholder":
            return self.fresh(out.shape) if isinstance(out, torch.Tensor) else None
        if n.op in ("get_attr", "output"):
            return None
        if not _carries_units(n, self.units) or not _has_tensor(out):
            return None  # sizes, constants and what is computed from them alone
        if n.op == "call_module":
            return self._module(n, self.fetch_attr(str(n.target)), out)
        if n.target is F.linear and isinstance(n.args[1], fx.Node) and n.args[1].op == "get_attr":
            return self.linear(str(n.args[1].target), self.units[n.args[0]], out)  # your own F.linear
        key = n.target if n.op == "call_function" else str(n.target)
        for rule in (_unit, _move, _elementwise, _reduce):
            found = rule(self, n, key, out)
            if found is not NotImplemented:
                return found
        what = getattr(n.target, "__name__", str(n.target))
        raise ValueError(f"the network graph has no rule for how units pass through {what!r} (node {n.name})")

    def _module(self, n: fx.Node, module: nn.Module, out: Any) -> Any:
        x = self.units[n.args[0]]
        if isinstance(module, _UNIT_MODULES):
            return x
        if isinstance(module, _MOVE_MODULES):
            return module(x)
        if isinstance(module, _PADS):
            return self.padded(x, lambda t: F.pad(t, module.padding))  # zeros mark the new positions
        if isinstance(module, _POOLS):
            return self.pooled(x, module, out)
        if isinstance(module, _ADAPTIVE):
            return self.adaptive(x, out)
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.RNNBase):
            if isinstance(module, nn.RNNBase) and (len(n.args) > 1 or n.kwargs):
                raise ValueError(f"layer {n.target!r}: a recurrent cell has a network graph from a zero initial state")
            return self.weighted(str(n.target), module, x, out)
        raise ValueError(
            f"the network graph has no rule for how units pass through {type(module).__name__} ({n.target})"
        )

    def padded(self, x: torch.Tensor, pad: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Zero padding: new units where nothing was (docs/science.md §10: padded positions)."""
        grown = pad(x + 1) - 1
        empty = grown < 0
        grown[empty] = self.fresh((int(empty.sum()),))
        return grown

    def pooled(self, x: torch.Tensor, module: nn.Module, out: torch.Tensor) -> torch.Tensor:
        """Each output unit joins the units under its window (padding joins nothing)."""
        if getattr(module, "ceil_mode", False):
            raise ValueError(f"{type(module).__name__} with ceil_mode: windows past the input have no rule here")
        two_d = x.dim() == 4
        k, s, p = (module.kernel_size, module.stride, module.padding)  # type: ignore[attr-defined]
        d = getattr(module, "dilation", 1)
        grid = x if two_d else x.unsqueeze(2)
        cols = F.unfold(
            grid + 1, _lift(k, two_d), dilation=_lift(d, two_d), padding=_lift(p, two_d, 0), stride=_lift(s, two_d)
        )
        result = self.fresh(out.shape)
        channels = x.shape[1]
        windows = cols.reshape(channels, -1, cols.shape[-1]) - 1  # (C, window, positions)
        self.join(windows, result.reshape(channels, 1, -1).expand_as(windows))
        return result

    def adaptive(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """Adaptive pooling: output cell i of n reads inputs floor(i·L/n) to ceil((i+1)·L/n)."""
        result = self.fresh(out.shape)
        sizes = x.shape[2:]
        for cell in np.ndindex(*out.shape[2:]):
            ends = zip(cell, sizes, out.shape[2:], strict=True)
            window = tuple(slice(i * size // n, -(-(i + 1) * size // n)) for i, size, n in ends)
            block = x[(slice(None), slice(None), *window)]
            target = result[(slice(None), slice(None), *cell)]
            self.join(block.reshape(x.shape[1], -1), target.reshape(-1, 1).expand(x.shape[1], block[0, 0].numel()))
        return result

    def weighted(self, name: str, module: nn.Module, x: torch.Tensor, out: Any) -> Any:
        if any(weight.startswith(f"{name}.") for weight in self.ends):
            raise ValueError(f"layer {name!r} is called twice: one weight tensor, two places in the network graph")
        if isinstance(module, nn.RNNBase):
            return self.recurrent(name, module, x, out)
        if isinstance(module, nn.Linear):
            return self.linear(f"{name}.weight", x, out)
        result = self.fresh(out.shape)
        pad = module.padding if not isinstance(module.padding, str) else _symmetric(module)  # type: ignore[union-attr]
        if isinstance(module, nn.Conv1d):
            grown = self.padded(x, lambda t: F.pad(t, (pad[0], pad[0])))
        else:
            grown = self.padded(x, lambda t: F.pad(t, (pad[1], pad[1], pad[0], pad[0])))
        self.ends[f"{name}.weight"] = (grown.reshape(-1), result.reshape(-1))
        return result

    def linear(self, weight: str, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """A linear map (a ``Linear`` module or ``F.linear`` on a weight): new output units."""
        if weight in self.ends:
            raise ValueError(f"weight {weight!r} is used twice: one weight tensor, two places in the network graph")
        if x.numel() != x.shape[-1]:
            raise ValueError(
                f"weight {weight!r}: a linear map applied at {tuple(x.shape[1:-1])} positions (tokens) is one graph "
                "per position; the network graph reads it at one"
            )
        result = self.fresh(out.shape)
        self.ends[weight] = (x.reshape(-1), result.reshape(-1))
        return result

    def recurrent(self, name: str, module: nn.RNNBase, x: torch.Tensor, out: Any) -> Any:
        """A one-layer cell: every time step shares the cell's units (§10), so the steps'
        inputs join feature by feature and the hidden-to-hidden graph lives on the hidden units."""
        if module.num_layers != 1 or module.bidirectional or getattr(module, "proj_size", 0):
            raise ValueError(f"layer {name!r}: only one-layer, one-direction recurrent cells have a network graph")
        if x.dim() != 3:
            raise ValueError(f"layer {name!r}: a recurrent cell has a network graph on a batched sequence")
        steps = x.reshape(-1, x.shape[-1]) if module.batch_first else x.transpose(0, 1).reshape(-1, x.shape[-1])
        self.join(steps, steps[:1].expand_as(steps))
        hidden = self.fresh((module.hidden_size,))
        self.ends[f"{name}.weight_ih_l0"] = (steps[0], hidden)
        self.ends[f"{name}.weight_hh_l0"] = (hidden, hidden)
        return _like(out, hidden)


def _lift(v: int | tuple[int, ...], two_d: bool, fill: int = 1) -> Any:
    """A 1-D pooling argument as the 2-D one of height 1 (``fill``: the height's own value)."""
    return v if two_d else (fill, v if isinstance(v, int) else v[0])


def _like(out: Any, hidden: torch.Tensor) -> Any:
    """Hidden units broadcast over a recurrent cell's outputs (sequence, final states)."""
    if isinstance(out, torch.Tensor):
        return hidden.expand(out.shape).clone()
    return type(out)(_like(o, hidden) for o in out)


def _symmetric(conv: nn.Conv1d | nn.Conv2d) -> tuple[int, ...]:
    spans = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size, strict=True)]
    return tuple(s // 2 for s in spans) if conv.padding == "same" else (0,) * len(spans)


def _has_tensor(out: Any) -> bool:
    if isinstance(out, tuple | list):
        return any(_has_tensor(o) for o in out)
    return isinstance(out, torch.Tensor)


def _carries_units(n: fx.Node, units: dict[fx.Node, Any]) -> bool:
    return any(units.get(a) is not None for a in n.all_input_nodes)


def _ids_args(self: _Units, n: fx.Node) -> tuple[tuple, dict]:
    """The node's arguments with every tensor that carries units replaced by its units."""
    swap = lambda a: self.units[a] if self.units.get(a) is not None else self.env[a]  # noqa: E731
    return fx.node.map_arg(n.args, swap), fx.node.map_arg(n.kwargs, swap)  # type: ignore[return-value]


def _unit(self: _Units, n: fx.Node, key: Any, out: Any) -> Any:
    if key in _UNIT_FUNCTIONS or key in _UNIT_METHODS:
        return self.units[n.args[0]]
    return NotImplemented


def _move(self: _Units, n: fx.Node, key: Any, out: Any) -> Any:
    if key not in _MOVE_FUNCTIONS and key not in _MOVE_METHODS:
        return NotImplemented
    args, kwargs = _ids_args(self, n)
    if isinstance(n.args[0], fx.Node) and self.units.get(n.args[0]) is None and key is not torch.cat:
        raise ValueError(f"node {n.name}: {key if isinstance(key, str) else key.__name__} of a constant by units")
    if n.op == "call_method":
        return getattr(args[0], key)(*args[1:], **kwargs)
    if key is operator.getitem and not isinstance(args[0], torch.Tensor):
        return args[0][args[1]]  # an element of a tuple of outputs
    if key is torch.cat and any(self.units.get(a) is None for a in n.args[0]):  # type: ignore[union-attr]
        raise ValueError(f"node {n.name}: concatenation with a constant tensor has no units for it")
    return key(*args, **kwargs)


def _elementwise(self: _Units, n: fx.Node, key: Any, out: Any) -> Any:
    if key not in _ELEMENTWISE and key not in _ELEMENTWISE_METHODS:
        return NotImplemented
    operands = [self.units[a] for a in n.all_input_nodes if self.units.get(a) is not None]
    if len(operands) == 1:
        return operands[0].expand(out.shape).clone() if operands[0].shape != out.shape else operands[0]
    a, b = torch.broadcast_tensors(*operands)
    self.join(a, b)
    return a.clone()


def _reduce(self: _Units, n: fx.Node, key: Any, out: Any) -> Any:
    if key not in _REDUCE_FUNCTIONS and key not in _REDUCE_METHODS:
        return NotImplemented
    x = self.units[n.args[0]]
    dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
    if dims is None or not isinstance(out, torch.Tensor):
        raise ValueError(f"node {n.name}: a reduction over every dimension (or with indices) has no rule here")
    dims = sorted(d % x.dim() for d in ((dims,) if isinstance(dims, int) else dims))
    kept = [d for d in range(x.dim()) if d not in dims]
    moved = x.permute(*kept, *dims).reshape(int(np.prod([x.shape[d] for d in kept])), -1)
    result = self.fresh(out.shape)
    self.join(moved, result.reshape(-1, 1).expand_as(moved))
    return result


def network_structure(model: nn.Module, example_input: torch.Tensor) -> Structure:
    """Trace ``model`` and place its weights' graphs on the network's vertices (one example
    input of batch 1 fixes every size)."""
    with probing(model):
        try:
            traced = fx.symbolic_trace(model)
        except Exception as err:  # the user's model: any failure is what stopped the trace
            raise ValueError(f"the model cannot be traced for its network graph: {first_line(err)}") from err
        units = _Units(traced)
        try:
            units.run(example_input)
        except ValueError:
            raise
        except Exception as err:  # an operation the rules misread: one line, not a crash of the round
            raise ValueError(f"the network graph cannot follow the forward pass: {first_line(err)}") from err
    none = np.zeros(0, dtype=np.int64)
    a, b = (np.concatenate([pair[side] for pair in units.joins] or [none]) for side in (0, 1))
    joined = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(units.count, units.count))
    n_vertices, labels = connected_components(joined, directed=False)
    ends = {name: (labels[i.long().numpy()], labels[o.long().numpy()]) for name, (i, o) in units.ends.items()}
    return Structure(int(n_vertices), ends)


def check_network(arch: str, dataset: str) -> None:
    """Trace ``arch`` for ``dataset`` with its weights on the meta device (no memory): a model
    without a network graph fails here, in one line, before any job."""
    info = get_dataset_info(dataset)
    with torch.device("meta"):
        model = build_model(arch, dataset)
    x = torch.zeros(1, *info.input_shape, device="meta")
    names = {w.name for w in prunable_weights(model, x)}
    network_structure(model, x).check(names)
