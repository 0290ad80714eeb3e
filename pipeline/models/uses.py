"""Which stored tensors the forward pass uses as the weight of a linear or convolution operation,
seen at torch's operator dispatch, not asked of modules.

One forward pass runs under a dispatch mode that sees every aten operation. Every tensor
computed from stored tensors (parameters, buffers) and constants alone is *static* and remembers
the operation that made it. A matrix product (``mm``, ``addmm``, ``bmm``, ``baddbmm``, ``mv``)
or a ``convolution`` whose weight operand is static and follows one parameter element by element
— moved by views and copies (``F.linear``'s transpose, GPT-2's ``Conv1D`` that stores (inputs,
outputs), a slice of a packed projection) or computed element-wise (a standardised or masked
kernel) — is a :class:`Use`: the parameter, the block of it the graph reads, in which
orientation, at which sizes, and, when the values are computed, a :class:`Recipe` that
recomputes them from the stored tensors. It works on the meta device: no stored value is read
(a chain with copies replays an index tensor of the weight's size, one weight at a time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from pipeline.topology.graphs import ConvGeometry, conv_geometry

_aten = torch.ops.aten
_PRODUCTS = {  # op: positions of (left, right) matrix operands
    _aten.mm.default: (0, 1),
    _aten.addmm.default: (1, 2),
    _aten.bmm.default: (0, 1),
    _aten.baddbmm.default: (1, 2),
    _aten.mv.default: (0, None),
}
_CONVOLUTION = _aten.convolution.default
_COPIES = {_aten.clone.default, _aten._to_copy.default, _aten._unsafe_view.default, _aten.lift_fresh.default}
_NORMALISING = {  # element-wise in their first input: output 0 follows it
    _aten.native_batch_norm.default,
    _aten._native_batch_norm_legit.no_stats,
    _aten._native_batch_norm_legit_functional.default,
    _aten._native_batch_norm_legit_no_training.default,
    _aten.native_layer_norm.default,
    _aten.native_group_norm.default,
    _aten._weight_norm_interface.default,
}


@dataclass(frozen=True)
class _Ref:
    """A static tensor inside recorded arguments: the node that made it."""

    node: int


@dataclass(frozen=True, eq=False)
class _Node:
    """How one static tensor was made: a stored tensor (``name``), or ``func`` on recorded
    arguments (output ``item`` of several). ``source``: the node it follows element by element,
    ``moved`` if only rearranged (a view or a copy), not computed."""

    func: Any = None
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    item: int | None = None
    source: int | None = None
    moved: bool = False
    name: str | None = None
    parameter: bool = False


@dataclass(frozen=True, eq=False)
class Recipe:
    """How the forward pass computes a graph's weight matrix from stored tensors: the recorded
    aten operations, replayed on the weight's stored value (``nodes[-1]`` is the operand; then
    ``batch0`` takes its first batch entry and ``transpose`` turns it to (outputs, inputs)).
    ``others``: the other stored tensors it reads, as the probed model held them."""

    nodes: tuple[_Node, ...]
    weight: str
    others: dict[str, torch.Tensor]
    batch0: bool = False
    transpose: bool = False

    @torch.no_grad()
    def __call__(self, value: torch.Tensor, lookup: Callable[[str], torch.Tensor] | None = None) -> torch.Tensor:
        """The graph's matrix from the weight's stored ``value``; ``lookup`` reads the other stored
        tensors (default: as the probed model held them)."""
        results: list[Any] = []

        def resolve(a: Any) -> Any:
            return results[a.node] if isinstance(a, _Ref) else a

        for node in self.nodes:
            if node.func is None:
                other = value if node.name == self.weight else (lookup or self.others.__getitem__)(node.name)
                results.append(other.to(value.device, value.dtype))
                continue
            args, kwargs = tree_map(resolve, (node.args, node.kwargs), is_leaf=lambda a: isinstance(a, _Ref))
            out = node.func(*args, **kwargs)
            results.append(out if node.item is None else out[node.item])
        out = results[-1]
        out = out[0] if self.batch0 else out
        return out.transpose(-2, -1) if self.transpose else out

    @property
    def needs(self) -> list[str]:
        """Names of the stored tensors besides the weight that the values are computed with."""
        return [n.name for n in self.nodes if n.func is None and n.name != self.weight]


@dataclass(frozen=True)
class Use:
    """One linear or convolution operation whose weight follows parameter ``param``.

    ``shape``: the graph's weight as read — (outputs, inputs) for a product, torch's kernel for a
    convolution; its values are the flat indices ``offset .. offset + size - 1`` of the stored
    parameter, row-major or ``transposed``. ``recipe``: how to compute them when the operation
    sees computed values, not stored ones. ``problem``: why this use is no graph (then the rest is
    not meaningful). ``order``: when in the forward pass it happened.
    """

    param: str
    kind: str
    order: int
    shape: tuple[int, ...] = ()
    offset: int = 0
    transposed: bool = False
    geometry: ConvGeometry | None = None
    recipe: Recipe | None = None
    problem: str | None = None


def _contiguous(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= size
    return tuple(reversed(strides))


class WeightUses(TorchDispatchMode):
    """Watch one forward pass: ``uses`` (every linear/convolution operation on a parameter),
    ``other_ops`` (per parameter, the other operations that read it). ``clock`` counts
    operations, so module hooks can be ordered among uses."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.stored: dict[int, tuple[str, bool]] = {}
        for name, t in model.named_buffers(remove_duplicate=False):
            self.stored.setdefault(id(t), (name, False))
        for name, t in model.named_parameters(remove_duplicate=False):
            self.stored.setdefault(id(t), (name, True))
        self.nodes: list[_Node] = []
        self.tensors: list[torch.Tensor] = []  # node i's tensor, kept alive so ids stay unique
        self.origins: list[frozenset[str]] = []  # node i's parameters
        self.of: dict[int, int] = {}
        self.uses: list[Use] = []
        self.other_ops: dict[str, set[str]] = {}
        self.biases: set[str] = set()  # parameters added to a product's or convolution's output
        self.clock = 0

    def _node_of(self, t: torch.Tensor) -> int | None:
        if id(t) in self.of:
            return self.of[id(t)]
        if id(t) not in self.stored:
            return None
        name, parameter = self.stored[id(t)]
        return self._add(_Node(name=name, parameter=parameter), t)

    def _add(self, node: _Node, t: torch.Tensor) -> int:
        refs = tree_flatten((node.args, node.kwargs))[0]
        own = frozenset([node.name] if node.parameter else [])
        self.origins.append(own.union(*(self.origins[a.node] for a in refs if isinstance(a, _Ref))))
        self.nodes.append(node)
        self.tensors.append(t)
        self.of[id(t)] = len(self.nodes) - 1
        return len(self.nodes) - 1

    def _root(self, i: int) -> int:
        """The node a static tensor follows element by element back to, or -1 if none."""
        while self.nodes[i].func is not None:
            if self.nodes[i].source is None:
                return -1
            i = self.nodes[i].source  # type: ignore[assignment]
        return i

    def _param_root(self, i: int | None) -> int | None:
        if i is None:
            return None
        root = self._root(i)
        return root if root >= 0 and self.nodes[root].parameter else None

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.clock += 1
        if func in _PRODUCTS:
            self._product(func, args)
        elif func is _CONVOLUTION:
            self._convolution(args)
        else:
            tensors = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
            nodes = [self._node_of(t) for t in tensors]
            if all(n is not None for n in nodes):
                self._record(func, args, kwargs, out, dict(zip(map(id, tensors), nodes, strict=True)))  # type: ignore[arg-type]
            else:
                for t, n in zip(tensors, nodes, strict=True):  # stored tensors meet the input here
                    for name in self.origins[n] if n is not None else ():
                        self.other_ops.setdefault(name, set()).add(func.__name__.split(".")[0])
                    if n is not None and func._schema.is_mutable:  # changed by the input: not static now
                        self.of.pop(id(t), None)
        return out

    def _record(self, func: Any, args: tuple, kwargs: dict, out: Any, refs: dict[int, int]) -> None:
        nodes = list(refs.values())

        def ref(a: Any) -> Any:
            return _Ref(refs[id(a)]) if isinstance(a, torch.Tensor) else a

        r_args = tree_map(ref, args)
        r_kwargs = {k: tree_map(ref, v) for k, v in kwargs.items() if k != "device"}  # replayed where the value is
        outs = list(out) if isinstance(out, tuple | list) else [out]
        first = outs[0] if outs and isinstance(outs[0], torch.Tensor) else None
        moved = (func.is_view and func._overloadname != "dtype") or func in _COPIES
        source = None
        if moved and len(set(nodes)) == 1:
            source = nodes[0]
        elif not moved and first is not None and (torch.Tag.pointwise in func.tags or func in _NORMALISING):
            candidates = {
                self._param_root(n)
                for n in set(nodes)
                if tuple(self.tensors[n].shape) == tuple(first.shape) and self._param_root(n) is not None
            }
            if len(candidates) == 1:
                source = next(n for n in nodes if self._param_root(n) in candidates)
        for i, o in enumerate(outs):
            if isinstance(o, torch.Tensor):
                follows = source if (moved or i == 0) else None
                item = i if isinstance(out, tuple | list) else None
                self._add(_Node(func, r_args, r_kwargs, item, follows, moved and follows is not None), o)

    def _bias(self, t: Any) -> None:
        n = self._param_root(self._node_of(t)) if isinstance(t, torch.Tensor) else None
        if n is not None:
            self.biases.add(self.nodes[n].name)  # type: ignore[arg-type]

    def _product(self, func: Any, args: tuple) -> None:
        left, right = _PRODUCTS[func]
        if left == 1:  # addmm, baddbmm: the first operand is added
            self._bias(args[0])
        sides = [(pos, args[pos]) for pos in (left, right) if pos is not None]
        static = [(pos, t, self._node_of(t)) for pos, t in sides]
        weights = [(pos, t, n) for pos, t, n in static if self._param_root(n) is not None]
        for _, _, n in static:
            if n is not None and self._param_root(n) is None:
                self._unfollowed(n)
        if not weights:
            return
        if len([n for _, _, n in static if n is not None and self.origins[n]]) > 1:
            for _, _, n in weights:
                name = self.nodes[self._root(n)].name  # type: ignore[arg-type]
                self.uses.append(Use(name, "linear", self.clock, problem="multiplied by another stored tensor"))
            return
        pos, t, n = weights[0]
        self.uses.append(self._dense_use(t, n, transpose=pos == right))  # type: ignore[arg-type]

    def _unfollowed(self, n: int | None) -> None:
        """A weight operand computed from stored tensors that no single parameter's element
        follows (``w * sigmoid(score)``): its parameters are used, but as no graph."""
        for name in self.origins[n] if n is not None else ():
            problem = "the operation receives a tensor computed from it that no element of it follows"
            self.uses.append(Use(name, "linear", self.clock, problem=problem))

    def _dense_use(self, t: torch.Tensor, n: int, *, transpose: bool) -> Use:
        root = self._root(n)
        leaf, name = self.tensors[root], self.nodes[root].name
        batch0 = t.dim() == 3
        if batch0 and t.shape[0] > 1 and t.stride(0) != 0:
            return Use(name, "linear", self.clock, problem="a different matrix per batch entry of a batched product")  # type: ignore[arg-type]
        rows, cols = t.shape[-2:]
        shape = (int(cols), int(rows)) if transpose else (int(rows), int(cols))
        index = self._index(n, leaf)
        if index is None:  # a chain of views: the operand's strides say where each value lies
            strides = t.stride()[-2:]
            offset = t.storage_offset() - leaf.storage_offset()
            strides = strides[::-1] if transpose else strides
        else:
            matrix = index[0] if batch0 else index
            matrix = matrix.T if transpose else matrix
            offset, strides = int(matrix.min()), None
            block = offset + torch.arange(matrix.numel(), dtype=matrix.dtype)  # a contiguous block, in order
            if torch.equal(matrix.flatten(), block):
                strides = (shape[1], 1)
            elif torch.equal(matrix.T.flatten(), block):
                strides = (1, shape[0])
        transposed = _transposed(shape, strides)
        if transposed is None:
            return Use(name, "linear", self.clock, problem="reads a strided or rearranged part of it")  # type: ignore[arg-type]
        recipe = self._recipe(n, name, batch0=batch0, transpose=transpose)  # type: ignore[arg-type]
        return Use(name, "linear", self.clock, shape, int(offset), transposed, recipe=recipe)  # type: ignore[arg-type]

    def _convolution(self, args: tuple) -> None:
        x, w = args[0], args[1]
        self._bias(args[2])
        n = self._node_of(w)
        if self._param_root(n) is None:
            self._unfollowed(n)
            return
        root = self._root(n)  # type: ignore[arg-type]
        leaf, name = self.tensors[root], self.nodes[root].name
        stride, padding, dilation, transposed, _, groups = args[3:9]
        problem = None
        if transposed:
            problem = "a transposed convolution: no graph of this kind here yet"
        elif w.dim() not in (3, 4):
            problem = f"a {w.dim() - 2}-D convolution: no graph of this kind here yet (1-D and 2-D are)"
        else:
            index = self._index(n, leaf)  # type: ignore[arg-type]
            whole = tuple(w.shape) == tuple(leaf.shape) and (
                (w.stride() == _contiguous(tuple(w.shape)) and w.storage_offset() == leaf.storage_offset())
                if index is None
                else torch.equal(index.flatten(), torch.arange(index.numel(), dtype=index.dtype))
            )
            if not whole:
                problem = "a convolution reads a part or a rearrangement of it"
        if problem is not None:
            self.uses.append(Use(name, "conv", self.clock, problem=problem))  # type: ignore[arg-type]
            return
        geometry = conv_geometry(
            tuple(x.shape[2:]), tuple(w.shape[2:]), tuple(stride), tuple(padding), tuple(dilation), int(groups)
        )
        recipe = self._recipe(n, name)  # type: ignore[arg-type]
        self.uses.append(Use(name, "conv", self.clock, tuple(w.shape), geometry=geometry, recipe=recipe))  # type: ignore[arg-type]

    def _chain(self, n: int) -> list[int]:
        chain = []
        while self.nodes[n].func is not None:
            chain.append(n)
            n = self.nodes[n].source  # type: ignore[assignment]
        return chain[::-1]

    def _index(self, n: int, leaf: torch.Tensor) -> torch.Tensor | None:
        """Which flat index of the parameter each value of static tensor ``n`` holds; None when
        only views lead there from a contiguous parameter (then strides say it, for free)."""
        chain = self._chain(n)
        if leaf.is_contiguous() and all(self.nodes[c].func.is_view for c in chain):
            return None
        dtype = torch.int32 if leaf.numel() < 2**31 else torch.int64  # half the memory of a large weight
        index = torch.arange(leaf.numel(), dtype=dtype).view(tuple(leaf.shape))
        for c in chain:
            node = self.nodes[c]
            if node.moved and node.func.is_view:
                out = node.func(*_substituted(node.args, index), **node.kwargs)
                index = out if node.item is None else out[node.item]
            elif node.moved and node.func is _aten._unsafe_view.default:
                index = index.reshape(node.args[1])
            elif node.moved:  # a copy: laid out as the copy is, so later views see its strides
                out = self.tensors[c]
                index = torch.empty_strided(out.shape, out.stride(), dtype=index.dtype).copy_(index)
        return index

    def _recipe(self, n: int, name: str, *, batch0: bool = False, transpose: bool = False) -> Recipe | None:
        """How to recompute the operand, if it is computed (not a view or copy of ``name``)."""
        if all(self.nodes[c].moved for c in self._chain(n)):
            return None
        needed, stack = set(), [n]
        while stack:
            i = stack.pop()
            if i in needed:
                continue
            needed.add(i)
            refs = tree_flatten((self.nodes[i].args, self.nodes[i].kwargs))[0]
            stack += [a.node for a in refs if isinstance(a, _Ref)]
        order = sorted(needed)
        renumber = {old: new for new, old in enumerate(order)}

        def renumbered(a: Any) -> Any:
            return _Ref(renumber[a.node]) if isinstance(a, _Ref) else a

        nodes = tuple(
            _Node(
                node.func,
                tree_map(renumbered, node.args, is_leaf=lambda a: isinstance(a, _Ref)),
                tree_map(renumbered, node.kwargs, is_leaf=lambda a: isinstance(a, _Ref)),
                node.item,
                name=node.name,
                parameter=node.parameter,
            )
            for node in (self.nodes[i] for i in order)
        )
        others = {node.name: self.tensors[i] for i, node in zip(order, nodes, strict=True) if node.func is None}
        others.pop(name, None)
        return Recipe(nodes, name, others, batch0=batch0, transpose=transpose)  # type: ignore[arg-type]


def _transposed(shape: tuple[int, int], strides: tuple[int, int] | None) -> bool | None:
    """Whether a (rows, cols) read with these strides is a contiguous block read transposed
    (True), as is (False), or neither (None)."""
    rows, cols = shape
    if strides is None:
        return None
    if (strides[1] == 1 or cols == 1) and (strides[0] == cols or rows == 1):
        return False
    if (strides[0] == 1 or rows == 1) and (strides[1] == rows or cols == 1):
        return True
    return None


def _substituted(args: tuple, tensor: torch.Tensor) -> tuple:
    """Recorded arguments with ``tensor`` where the one static tensor was."""
    return tree_map(lambda a: tensor if isinstance(a, _Ref) else a, args)
