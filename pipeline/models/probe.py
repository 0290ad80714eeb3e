"""Find a model's prunable weights and the graphs they define, by a forward pass.

Weights are found by how the forward pass uses them: every linear or convolution operation
whose weight operand follows a parameter, seen at torch's operator dispatch
(``pipeline.models.uses``: ``F.linear``, GPT-2's transposed ``Conv1D``, functional and
standardised convolutions, parts of packed projections). Module types add what an operation
cannot say: gate blocks of ``RNN``/``LSTM``/``GRU`` and ``MultiheadAttention``'s q/k/v blocks;
a ``Linear`` or convolution module takes its operation's reading. Convolution input sizes are read during the pass,
never kept in tables. Every other parameter is reported with the reason it is no graph. The
result is plain numpy (``pipeline.topology`` layers).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from pipeline.errors import first_line
from pipeline.models.uses import Recipe, Use, WeightUses
from pipeline.topology.graphs import ConvGeometry, ConvLayer, DenseLayer, Layer, LayerKind, block_name, conv_geometry

_GATES = {"RNN": ("",), "GRU": ("r", "z", "n"), "LSTM": ("i", "f", "g", "o")}
_QKV = ("q", "k", "v")
_CONV = (nn.Conv1d, nn.Conv2d)
_GRAPHS = (nn.Linear, *_CONV, nn.RNNBase, nn.MultiheadAttention)
_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


@dataclass(frozen=True)
class Block:
    """One graph inside a weight tensor: a ``shape`` matrix (outputs, inputs) read from the
    tensor's flat indices ``offset`` on, row-major or ``transposed`` (stored as (inputs,
    outputs)); a convolution's whole kernel. ``recipe``: how the forward pass computes the values
    from stored tensors when it does not use them as stored (a standardised kernel)."""

    label: str
    shape: tuple[int, ...]
    offset: int = 0
    transposed: bool = False
    recipe: Recipe | None = None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def read(self, value: np.ndarray) -> np.ndarray:
        """This block of a stored tensor (values or mask), shaped as the graph reads it."""
        flat = value.reshape(-1)[self.offset : self.offset + self.size]
        return flat.reshape(self.shape[::-1]).T if self.transposed else flat.reshape(self.shape)


def row_blocks(shape: tuple[int, ...], labels: tuple[str, ...]) -> tuple[Block, ...]:
    """Equal row blocks of a matrix (an LSTM's i/f/g/o, attention's packed q/k/v)."""
    rows = shape[0] // len(labels)
    return tuple(Block(label, (rows, *shape[1:]), g * rows * shape[1]) for g, label in enumerate(labels))


@dataclass(frozen=True)
class PrunableWeight:
    """One prunable weight tensor: its state_dict name, ``shape`` as stored, and the graph(s) it
    holds (``blocks``; the whole tensor as torch's layout when none are given). A 1-D
    convolution keeps its 3-D shape and reads as a 2-D one of height 1.
    """

    name: str
    kind: LayerKind
    shape: tuple[int, ...]
    geometry: ConvGeometry | None = None
    blocks: tuple[Block, ...] = ()
    is_output: bool = False

    def __post_init__(self) -> None:
        if not self.blocks:
            object.__setattr__(self, "blocks", (Block("", self.shape),))

    def graph_name(self, block: Block) -> str:
        """The name of one block's graph: the tensor's, or ``tensor[label]``."""
        return block_name(self.name, block.label) if block.label else self.name


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
    return conv_geometry(input_size, conv.kernel_size, conv.stride, tuple(padding), conv.dilation, conv.groups)


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


def _forward(
    model: nn.Module, example_input: torch.Tensor
) -> tuple[list[tuple[str, tuple[int, ...] | None, int]], dict[str, str], WeightUses]:
    """One forward pass: graph-bearing modules in the order it first calls them (with the
    dispatch clock then), the input size problems of those that cannot be read as one graph,
    and every operation's weight use."""
    names = {module: name for name, module in model.named_modules()}
    sizes: dict[str, tuple[int, ...] | None] = {}
    order: list[tuple[str, int]] = []
    problems: dict[str, str] = {}
    uses = WeightUses(model)

    def hook(module: nn.Module, inputs: tuple, kwargs: dict) -> None:
        name = names[module]
        size = _input_size(module, inputs, kwargs)
        if name not in sizes:
            sizes[name] = size
            order.append((name, uses.clock + 0.5))  # after the operations so far, before its own
        elif sizes[name] != size:
            problems[name] = f"applied to inputs of sizes {sizes[name]} and {size}: one module, several graphs"

    handles = [m.register_forward_pre_hook(hook, with_kwargs=True) for m in model.modules() if isinstance(m, _GRAPHS)]
    try:
        with probing(model), uses:
            model(example_input)
    except Exception as err:  # the user's model: any failure means the input does not fit it
        shape = tuple(example_input.shape)
        raise ValueError(f"the model cannot take an input of shape {shape}: {first_line(err)}") from err
    finally:
        for h in handles:
            h.remove()
    return [(name, sizes[name], clock) for name, clock in order], problems, uses


def _weights_of(name: str, module: nn.Module, size: tuple[int, ...] | None) -> list[PrunableWeight]:
    prefix = f"{name}." if name else ""
    if isinstance(module, _CONV):
        geometry = _conv_geometry(name, module, size)  # type: ignore[arg-type]
        return [PrunableWeight(prefix + "weight", "conv", tuple(module.weight.shape), geometry)]
    if isinstance(module, nn.Linear):
        return [PrunableWeight(prefix + "weight", "linear", tuple(module.weight.shape))]
    if isinstance(module, nn.MultiheadAttention):
        if module.in_proj_weight is not None:
            packed = tuple(module.in_proj_weight.shape)
            inputs = [PrunableWeight(prefix + "in_proj_weight", "linear", packed, blocks=row_blocks(packed, _QKV))]
        else:
            inputs = [
                PrunableWeight(f"{prefix}{q}_proj_weight", "linear", tuple(getattr(module, f"{q}_proj_weight").shape))
                for q in _QKV
            ]
        return [*inputs, PrunableWeight(prefix + "out_proj.weight", "linear", tuple(module.out_proj.weight.shape))]
    gates = _GATES[module.mode if module.mode in _GATES else "RNN"]
    out = []
    for pname, param in module.named_parameters(recurse=False):
        shape = tuple(param.shape)
        if pname.startswith(("weight_ih", "weight_hr")):
            blocks = row_blocks(shape, gates if "ih" in pname else ("",))
            out.append(PrunableWeight(prefix + pname, "linear", shape, blocks=blocks))
        elif pname.startswith("weight_hh"):
            out.append(PrunableWeight(prefix + pname, "recurrent", shape, blocks=row_blocks(shape, gates)))
    return out


_BIAS = re.compile(r"bias|in_proj_bias|bias_(ih|hh)_l\d+(_reverse)?")
_UNSUPPORTED = (nn.Conv3d, nn.modules.conv._ConvTransposeNd)


def _skip_reason(owner: nn.Module, bias: bool, problem: str | None, ops: set[str] | None, feeds: bool) -> str:
    if bias:
        return "bias: shifts a vertex, not an edge between two"
    if problem is not None:
        return problem
    if isinstance(owner, _NORMS):
        return f"{type(owner).__name__}: a scale per channel, not an edge between two"
    if isinstance(owner, nn.Embedding | nn.EmbeddingBag):
        return "embedding: a lookup table of vectors, not a layer of edges"
    if isinstance(owner, _UNSUPPORTED):
        return f"{type(owner).__name__}: no graph of this kind here yet (Conv1d and Conv2d are)"
    if feeds:
        return "the forward pass computes a weight's values with it (a gain): the graph reads the result"
    if isinstance(owner, _GRAPHS) and not ops:
        return f"{type(owner).__name__} not called by the forward pass on this input"
    if not ops:
        return f"a parameter of {type(owner).__name__} that the forward pass does not use on this input"
    return (
        f"a parameter of {type(owner).__name__} used by {', '.join(sorted(ops))}: "
        "no linear or convolution operation, no edges between two"
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
    if isinstance(original, nn.Parameter):
        return [original]
    normed = [getattr(owner, f"{attr}_{part}", None) for part in ("v", "g")]  # torch.nn.utils.weight_norm
    return normed if all(isinstance(q, nn.Parameter) for q in normed) else [getattr(owner, attr)]


def weight_tensor(model: nn.Module, name: str) -> torch.Tensor:
    """A weight as the forward pass uses it (masked or parametrised where the model says so)."""
    owner_name, _, attr = name.rpartition(".")
    return getattr(model.get_submodule(owner_name), attr)


def _from_uses(name: str, shape: tuple[int, ...], uses: list[Use]) -> PrunableWeight | str:
    """One parameter's graphs from the operations that used it, or why they are none: used
    twice at different sizes, as overlapping parts, or in a form no graph reads."""
    problems = [u.problem for u in uses if u.problem]
    if problems:
        return problems[0]
    if len({u.kind for u in uses}) > 1:
        return "used by both a matrix product and a convolution"
    reads: dict[tuple, Use] = {}
    for u in uses:
        first = reads.setdefault((u.offset, u.shape, u.transposed), u)
        if (first.recipe is None) != (u.recipe is None):
            return "read both as stored and as computed by different operations"
        if first.geometry != u.geometry:
            sizes = " and ".join(str(g.input_size) for g in (first.geometry, u.geometry) if g is not None)
            return f"applied to inputs of sizes {sizes}: one weight, several graphs"
    parts = sorted(reads.values(), key=lambda u: u.offset)
    if any(a.offset + int(np.prod(a.shape)) > b.offset for a, b in itertools.pairwise(parts)):
        return "used as overlapping parts by different operations"
    whole = len(parts) == 1 and int(np.prod(parts[0].shape)) == int(np.prod(shape))
    blocks = tuple(
        Block("" if whole else _part_label(u, shape), u.shape, u.offset, u.transposed, u.recipe) for u in parts
    )
    kind = "conv" if uses[0].kind == "conv" else "linear"
    return PrunableWeight(name, kind, shape, uses[0].geometry, blocks)  # type: ignore[arg-type]


def _part_label(use: Use, shape: tuple[int, ...]) -> str:
    """A part of a stored matrix: its rows when it is whole rows, else its flat indices."""
    size, cols = int(np.prod(use.shape)), int(np.prod(shape[1:]))
    if not use.transposed and use.offset % cols == 0 and size % cols == 0:
        return f"rows {use.offset // cols}:{(use.offset + size) // cols}"
    return f"{use.offset}:{use.offset + size}"


Reading = dict[str, tuple[int, "PrunableWeight | str"]]
"""Per parameter: when the forward pass first used it in an operation, and its graphs or why none."""


def _read_uses(seen: WeightUses, params: dict[str, nn.Parameter], refused: set[int]) -> Reading:
    """Per parameter the forward pass used in linear or convolution operations: when it first
    did, and its graphs or why they are none (a module whose own rule refused it keeps that)."""
    by_param: dict[str, list[Use]] = {}
    for use in seen.uses:
        if id(params[use.param]) not in refused:
            by_param.setdefault(use.param, []).append(use)
    return {name: (uses[0].order, _from_uses(name, tuple(params[name].shape), uses)) for name, uses in by_param.items()}


def _module_weights(
    model: nn.Module, called: list[tuple[str, tuple[int, ...] | None, int]], problems: dict[str, str]
) -> list[tuple[int, PrunableWeight]]:
    """The weights of graph-bearing modules by their rules (``problems`` gains the refusals)."""
    found: list[tuple[int, PrunableWeight]] = []
    for name, size, clock in called:
        if name in problems:
            continue
        try:
            found += [(clock, w) for w in _weights_of(name, model.get_submodule(name), size)]
        except (NotImplementedError, ValueError) as err:
            problems[name] = str(err)
    return found


def _operation_reading(model: nn.Module, w: PrunableWeight, read: Reading) -> PrunableWeight | None:
    """A ``Linear``'s or convolution's weight as its operation read it (a subclass may compute
    its kernel: timm's standardised convolutions), None when the operation read no graph (its
    reason is the reading's); any other module's weight as its rule reads it."""
    operation = read.get(w.name, (0, None))[1]
    if operation is None or not isinstance(model.get_submodule(w.name.rpartition(".")[0]), (nn.Linear, *_CONV)):
        return w
    return operation if isinstance(operation, PrunableWeight) else None


def probe(model: nn.Module, example_input: torch.Tensor) -> Probe:
    """Every parameter of ``model``: graph weights in forward-execution order (the last is the
    output layer), and the rest with the reason each is not a graph. A tensor shared by several
    layers is analysed once, as the first the forward pass calls."""
    called, problems, seen = _forward(model, example_input)
    params = dict(model.named_parameters())
    found = _module_weights(model, called, problems)
    refused = {id(q) for owner in problems for q in model.get_submodule(owner).parameters(recurse=False)}
    read = _read_uses(seen, params, refused)
    found = [(clock, r) for clock, w in found if (r := _operation_reading(model, w, read)) is not None]
    claimed: dict[int, str] = {}
    for clock, w in list(found):
        ids = [id(p) for p in _underlying(model, w.name)]
        if ids[0] in claimed:
            found.remove((clock, w))
        claimed.update((i, claimed.get(i, w.name)) for i in ids)
    unread = {}
    for name, (clock, weight) in read.items():
        if id(params[name]) in claimed:
            continue
        if isinstance(weight, str):
            unread[name] = weight
        else:
            found.append((clock, weight))
            claimed[id(params[name])] = name
    weights = [w for _, w in sorted(found, key=lambda pair: pair[0])]
    if weights:
        weights[-1] = PrunableWeight(**{**weights[-1].__dict__, "is_output": True})
    return Probe(weights, _skipped(model, weights, claimed, unread, problems, seen))


def _skipped(
    model: nn.Module,
    weights: list[PrunableWeight],
    claimed: dict[int, str],
    unread: dict[str, str],
    problems: dict[str, str],
    seen: WeightUses,
) -> list[Skipped]:
    """Every parameter that is no graph, with the reason (``unreadable``: one the pipeline would
    have to prune but cannot read)."""
    graphs = {w.name for w in weights}
    feeds = {n for w in weights for b in w.blocks if b.recipe is not None for n in b.recipe.needs}
    skipped = []
    for name, param in model.named_parameters(remove_duplicate=False):
        owner_name, _, pname = name.rpartition(".")
        if name in graphs or (
            id(param) in claimed and claimed[id(param)] in graphs and _behind(name, claimed[id(param)])
        ):
            continue
        bias = _BIAS.fullmatch(pname) is not None or name in seen.biases
        if id(param) in claimed:
            reason, unreadable = f"the same tensor as {claimed[id(param)]}: analysed once, there", False
        elif name in unread:
            reason, unreadable = f"a linear or convolution operation uses it, but {unread[name]}", True
        else:
            owner = model.get_submodule(owner_name)
            reason = _skip_reason(owner, bias, problems.get(owner_name), seen.other_ops.get(name), name in feeds)
            unreadable = not bias and (owner_name in problems or isinstance(owner, _UNSUPPORTED))
        skipped.append(Skipped(name, tuple(param.shape), reason, unreadable))
    return skipped


def _behind(name: str, weight: str) -> bool:
    """Whether parameter ``name`` is what weight ``weight`` is computed from (its ``_orig`` or a
    parametrisation's ``original``, weight norm's ``_v`` and ``_g``), not another layer's name for the
    same tensor."""
    owner, _, attr = weight.rpartition(".")
    prefix = f"{owner}." if owner else ""
    behind = {f"{prefix}{attr}_orig", f"{prefix}{attr}_v", f"{prefix}{attr}_g"}
    return name in behind or name.startswith(f"{prefix}parametrizations.{attr}.")


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


def graphs_of(
    weight: PrunableWeight,
    value: np.ndarray,
    mask: np.ndarray | None = None,
    lookup: Callable[[str], torch.Tensor] | None = None,
) -> list[Layer]:
    """The graph(s) of one prunable weight: one per block (a gated recurrent matrix: one per gate
    block), values as the forward pass uses them (``lookup``: other stored tensors a computed
    block reads, when not the probed model's)."""
    if tuple(value.shape) != weight.shape:
        raise ValueError(f"weight {weight.name!r}: got shape {value.shape}, expected {weight.shape}")
    graphs: list[Layer] = []
    for b in weight.blocks:
        used = b.read(value) if b.recipe is None else _computed(b.recipe, value, lookup)
        part = None if mask is None else b.read(mask)
        name = weight.graph_name(b)
        if weight.kind != "conv":
            graphs.append(DenseLayer(name, used, part, kind=weight.kind, offset=b.offset, transposed=b.transposed))
            continue
        assert weight.geometry is not None
        if used.ndim == 3:  # a 1-D convolution: height 1, the same flat indices
            used, part = used[:, :, None, :], None if part is None else part[:, :, None, :]
        graphs.append(ConvLayer(name, used, weight.geometry, part))
    return graphs


def _computed(recipe: Recipe, value: np.ndarray, lookup: Callable[[str], torch.Tensor] | None) -> np.ndarray:
    """A block's values as the forward pass computes them from the stored ``value``."""
    return recipe(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)), lookup).to(torch.float32).numpy()


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
