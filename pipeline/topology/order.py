"""The package's one total order on weights: larger magnitude first, then smaller flat index.

Spanning trees, top-α sets and magnitude pruning all rank weights by this order, so ties are
broken the same way everywhere and every result is deterministic.
"""

from __future__ import annotations

import numpy as np


def sort_desc(magnitudes: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """Permutation that sorts (magnitude, index) pairs by the total order.

    Two stable argsorts rather than ``np.lexsort``, which is several times slower.
    """
    by_index = np.argsort(indices, kind="stable")
    return by_index[np.argsort(-magnitudes[by_index], kind="stable")]


def top_k(magnitudes: np.ndarray, k: int, present: np.ndarray | None = None) -> np.ndarray:
    """Flat indices of the ``k`` first present weights in the total order, ascending.

    Linear time: a partition finds the k-th magnitude, ties at that magnitude go to the
    smallest indices.
    """
    flat = np.asarray(magnitudes).ravel()
    if present is None:  # no index array over every weight: a large dense layer's memory stays one copy
        return _top_k_all(flat, k)
    candidates = np.flatnonzero(np.asarray(present).ravel())
    if not 0 <= k <= candidates.size:
        raise ValueError(f"cannot take the top {k} of {candidates.size} present weights")
    if k == candidates.size:
        return candidates
    if k == 0:
        return candidates[:0]
    values = flat[candidates]
    threshold = np.partition(values, values.size - k)[values.size - k]
    above = candidates[values > threshold]
    tied = candidates[values == threshold]
    return np.sort(np.concatenate([above, tied[: k - above.size]]))


def _top_k_all(flat: np.ndarray, k: int) -> np.ndarray:
    """``top_k`` of every weight."""
    if not 0 <= k <= flat.size:
        raise ValueError(f"cannot take the top {k} of {flat.size} present weights")
    if k in (0, flat.size):
        return np.arange(k)
    threshold = np.partition(flat, flat.size - k)[flat.size - k]
    above = np.flatnonzero(flat > threshold)
    tied = np.flatnonzero(flat == threshold)
    return np.sort(np.concatenate([above, tied[: k - above.size]]))
