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
    smallest indices. Without ``present`` no index array over every weight is made (a large
    dense layer's memory stays one copy of its magnitudes).
    """
    flat = np.asarray(magnitudes).ravel()
    if present is None:
        values, where = flat, np.flatnonzero
    else:
        candidates = np.flatnonzero(np.asarray(present).ravel())
        values, where = flat[candidates], (lambda chosen: candidates[chosen])
    if not 0 <= k <= values.size:
        raise ValueError(f"cannot take the top {k} of {values.size} present weights")
    if k in (0, values.size):
        return where(np.arange(values.size) < k)
    threshold = np.partition(values, values.size - k)[values.size - k]
    above = where(values > threshold)
    tied = where(values == threshold)
    return np.sort(np.concatenate([above, tied[: k - above.size]]))
