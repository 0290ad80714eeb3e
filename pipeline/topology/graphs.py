"""Layers as bipartite graphs (docs/science.md §2): plain numpy descriptions, no torch.

A layer is a weight tensor plus what is needed to read it as a graph. Dense, recurrent and
convolutional layers share the vocabulary used everywhere else in the package:
``m`` input vertices, ``n`` output vertices, one edge per (present) weight.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

LayerKind = Literal["linear", "recurrent", "conv"]


def _pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    if len(value) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {value!r}")
    return (int(value[0]), int(value[1]))


@dataclass(frozen=True)
class ConvGeometry:
    """What decides a 2-D convolution's Toeplitz graph besides its weights.

    ``groups`` splits the channels into that many disjoint graphs (depthwise: one input
    channel per group); ``dilation`` spaces a kernel's taps. A 1-D convolution is the 2-D one
    of height 1.
    """

    input_size: tuple[int, int]
    kernel_size: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:
        for name in ("input_size", "kernel_size", "stride", "padding", "dilation"):
            object.__setattr__(self, name, _pair(getattr(self, name)))
        if min(self.stride) < 1 or min(self.kernel_size) < 1 or min(self.padding) < 0 or min(self.dilation) < 1:
            raise ValueError(f"invalid convolution geometry {self}")
        if self.groups < 1:
            raise ValueError(f"invalid convolution geometry {self}: groups must be >= 1")
        if any(p < k for p, k in zip(self.padded_size, self.span, strict=True)):
            raise ValueError(f"kernel span {self.span} larger than padded input {self.padded_size}")

    @property
    def span(self) -> tuple[int, int]:
        """Rows and columns of input one window covers: ``dilation·(kernel - 1) + 1``."""
        return tuple(d * (k - 1) + 1 for d, k in zip(self.dilation, self.kernel_size, strict=True))  # type: ignore[return-value]

    @property
    def padded_size(self) -> tuple[int, int]:
        return tuple(s + 2 * p for s, p in zip(self.input_size, self.padding, strict=True))  # type: ignore[return-value]

    @property
    def output_size(self) -> tuple[int, int]:
        return tuple(  # type: ignore[return-value]
            (s - f) // t + 1 for s, f, t in zip(self.padded_size, self.span, self.stride, strict=True)
        )

    def as_array(self) -> np.ndarray:
        """(Hp, Wp, Ho, Wo, stride_h, stride_w, dilation_h, dilation_w, groups), as the compiled kernels read it."""
        return np.array(
            [*self.padded_size, *self.output_size, *self.stride, *self.dilation, self.groups], dtype=np.int64
        )


def conv_geometry(
    input_size: tuple[int, ...],
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    dilation: tuple[int, ...],
    groups: int,
) -> ConvGeometry:
    """A 2-D convolution's geometry, or a 1-D one's (one-element tuples) as height 1."""
    if len(kernel_size) == 1:
        return ConvGeometry((1, *input_size), (1, *kernel_size), (1, *stride), (0, *padding), (1, *dilation), groups)
    return ConvGeometry(tuple(input_size), tuple(kernel_size), tuple(stride), tuple(padding), tuple(dilation), groups)  # type: ignore[arg-type]


def _check_mask(weight: np.ndarray, mask: np.ndarray | None) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != weight.shape:
        raise ValueError(f"mask shape {mask.shape} does not match weight shape {weight.shape}")
    return mask.astype(bool, copy=False)


def block_name(tensor: str, block: str) -> str:
    """The graph of one block of a weight tensor (an RNN gate, an attention q/k/v): ``tensor[block]``."""
    return f"{tensor}[{block}]"


def tensor_of(graph: str) -> str:
    """The weight tensor a graph belongs to (a block's graph is named by ``block_name``)."""
    return graph.split("[")[0]


@dataclass(frozen=True, eq=False)
class DenseLayer:
    """A complete bipartite layer: ``weight`` is (outputs n, inputs m), torch's layout.

    The graph's weights are the flat indices ``offset .. offset + size - 1`` of the parameter
    tensor it came from (``offset`` non-zero for a gate block or a part of a packed matrix), read
    row-major as ``weight`` or, ``transposed``, as its transpose: a tensor stored as (inputs,
    outputs), like GPT-2's ``Conv1D``. ``stored`` turns the graph's flat indices into the
    tensor's, so edge indices always name the stored parameter.
    """

    name: str
    weight: np.ndarray
    mask: np.ndarray | None = None
    kind: LayerKind = "linear"
    offset: int = 0
    transposed: bool = False

    def __post_init__(self) -> None:
        weight = np.asarray(self.weight)
        if weight.ndim != 2:
            raise ValueError(f"layer {self.name!r}: a dense layer needs a 2-D weight, got {weight.shape}")
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "mask", _check_mask(weight, self.mask))

    @property
    def tensor(self) -> str:
        return tensor_of(self.name)

    @property
    def m(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_vertices(self) -> int:
        return self.m + self.n

    @property
    def n_weights(self) -> int:
        """Present edges: all weights, or the unmasked ones."""
        return int(self.weight.size if self.mask is None else self.mask.sum())

    @property
    def block(self) -> slice:
        """The flat indices of the stored tensor this graph's weights occupy."""
        return slice(self.offset, self.offset + self.weight.size)

    def stored(self, flat: np.ndarray) -> np.ndarray:
        """Flat indices into ``weight`` as flat indices into the stored tensor."""
        if not self.transposed:
            return flat + self.offset
        return self.offset + (flat % self.m) * self.n + flat // self.m

    def in_stored_order(self, values: np.ndarray) -> np.ndarray:
        """An array shaped like ``weight``, flattened in the stored tensor's order (``block``)."""
        return (values.T if self.transposed else values).ravel()


@dataclass(frozen=True, eq=False)
class ConvLayer:
    """A 2-D convolution read as its multi-channel Toeplitz graph (docs/science.md §2, §3 exact).

    Input vertices are the padded input activations (C_in x Hp x Wp), output vertices the
    output activations (C_out x Ho x Wo); every kernel parameter is the weight of one edge per
    output position. ``mask`` masks kernel parameters (and with them all their copies).
    ``weight`` is torch's (C_out, C_in / groups, f1, f2).
    """

    name: str
    weight: np.ndarray
    geometry: ConvGeometry
    mask: np.ndarray | None = None
    kind: LayerKind = "conv"

    def __post_init__(self) -> None:
        weight = np.asarray(self.weight)
        if weight.ndim != 4:
            raise ValueError(f"layer {self.name!r}: a conv layer needs a 4-D weight, got {weight.shape}")
        if tuple(weight.shape[2:]) != self.geometry.kernel_size:
            raise ValueError(
                f"layer {self.name!r}: kernel {weight.shape[2:]} does not match geometry {self.geometry.kernel_size}"
            )
        groups = self.geometry.groups
        if weight.shape[0] % groups:
            raise ValueError(
                f"layer {self.name!r}: {weight.shape[0]} output channels do not split into {groups} groups"
            )
        object.__setattr__(self, "weight", weight)
        object.__setattr__(self, "mask", _check_mask(weight, self.mask))

    @property
    def offset(self) -> int:
        """Kernel parameter indices are already flat indices into the whole weight."""
        return 0

    @property
    def block(self) -> slice:
        return slice(0, self.weight.size)

    def stored(self, flat: np.ndarray) -> np.ndarray:
        return flat

    def in_stored_order(self, values: np.ndarray) -> np.ndarray:
        return values.ravel()

    @property
    def tensor(self) -> str:
        return self.name

    @property
    def in_channels(self) -> int:
        return int(self.weight.shape[1]) * self.geometry.groups

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    @property
    def positions(self) -> int:
        """Output positions: the number of Toeplitz copies of every kernel parameter."""
        ho, wo = self.geometry.output_size
        return ho * wo

    @property
    def m(self) -> int:
        hp, wp = self.geometry.padded_size
        return self.in_channels * hp * wp

    @property
    def n(self) -> int:
        return self.out_channels * self.positions

    @property
    def n_vertices(self) -> int:
        return self.m + self.n

    @property
    def n_params(self) -> int:
        """Present kernel parameters."""
        return int(self.weight.size if self.mask is None else self.mask.sum())

    @property
    def n_weights(self) -> int:
        """Present Toeplitz edges: every present parameter once per output position."""
        return self.n_params * self.positions


Layer = DenseLayer | ConvLayer


def require_present(layer: Layer, indices: np.ndarray) -> None:
    """Refuse edges (flat indices into ``layer.weight``) that are pruned weights.

    α, top-α and η_τ count the forest of the present weights; a forest with zero edges for
    pruned weights (the ``pruned: zero`` diagram) would mix two edge sets.
    """
    if layer.mask is not None and indices.size and not layer.mask.ravel()[indices].all():
        raise ValueError(
            f"layer {layer.name!r}: the forest contains pruned weights; α, top-α and η_τ count the "
            "present-weight forest, spanning_forest(layer, 'absent') (docs/science.md §2)"
        )
