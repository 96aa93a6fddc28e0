"""Degenerate sets of bands at one q-point, and averages over them.

Bands are sorted by frequency; band b starts a new set when f_b − f_{b−1} ≥ tol (1e-4 THz,
phonopy's ``get_degenerate_ids``), so sets are chained: three bands 0.6e-4 apart form one
set. ``degenerate_ids[b]`` is the first band of b's set.

Averaging a per-band quantity over each set makes it independent of the basis an
eigensolver picks inside a degenerate subspace (phono3py averages Γ this way, and, with
``average_degenerate_weights``, the integration weights).
"""

from __future__ import annotations

import numpy as np

DEGENERACY_TOLERANCE_THZ = 1e-4


def degenerate_ids(frequencies: np.ndarray, tol: float = DEGENERACY_TOLERANCE_THZ) -> np.ndarray:
    """(..., n_b) int: the first band of each band's degenerate set (frequencies ascending)."""
    f = np.asarray(frequencies)
    first = np.ones(f.shape, bool)
    first[..., 1:] = np.diff(f, axis=-1) >= tol
    ids = np.where(first, np.arange(f.shape[-1]), 0)
    return np.maximum.accumulate(ids, axis=-1)


def set_average_matrix(ids: np.ndarray) -> np.ndarray:
    """(..., n_b, n_b) A with (A·x)_b = mean of x over b's set: A[b, c] = [c ∈ set(b)]/|set|."""
    same = (ids[..., :, None] == ids[..., None, :]).astype(float)
    return same / same.sum(axis=-1, keepdims=True)


def average_over_sets(values: np.ndarray, ids: np.ndarray, axis: int = -1) -> np.ndarray:
    """``values`` with each band's entry along ``axis`` replaced by its set's mean; ``ids``
    (n_b,) from ``degenerate_ids``."""
    v = np.moveaxis(np.asarray(values), axis, -1)
    return np.moveaxis(v @ set_average_matrix(ids).T, -1, axis)
