"""Degenerate sets of bands at one q-point, averages over them, and the modes left out.

Bands are sorted by frequency; band b starts a new set when f_b − f_{b−1} ≥ tol (1e-4 THz,
phonopy's ``get_degenerate_ids``), so sets are chained: three bands 0.6e-4 apart form one
set. ``degenerate_labels[b]`` numbers b's set (0, 1, …); two bands are in one set when their
labels are equal (``same_set``). One implementation for the host (NumPy arrays) and the
compiled kernels (JAX arrays, traced too).

Averaging a per-band quantity over each set makes it independent of the basis an
eigensolver picks inside a degenerate subspace (phono3py averages Γ this way, and, with
``average_degenerate_weights``, the integration weights).

Modes at or below ``CUTOFF_FREQUENCY_THZ`` (phono3py's ``cutoff_frequency``, also phonopy's
group-velocity cutoff) are left out of every sum: |Φ|², occupations, heat capacities,
isotope scattering, velocities (each module says whether its comparison is ``<`` or ``≤``,
as phono3py's).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

DEGENERACY_TOLERANCE_THZ = 1e-4  # phonopy's get_degenerate_ids cutoff
CUTOFF_FREQUENCY_THZ = 1e-4  # phono3py's default cutoff_frequency


def degenerate_labels(frequencies, tol: float = DEGENERACY_TOLERANCE_THZ):
    """(..., n_b) int: the number of each band's degenerate set (0, 1, …) for frequencies
    (..., n_b) ascending; NumPy in, NumPy out, a JAX array (or tracer) in, JAX out."""
    xp = jnp if isinstance(frequencies, jax.Array) else np
    f = xp.asarray(frequencies)
    starts = (xp.diff(f, axis=-1) >= tol).astype(xp.int32)
    zero = xp.zeros(f.shape[:-1] + (1,), xp.int32)
    return xp.concatenate([zero, xp.cumsum(starts, axis=-1)], axis=-1)


def same_set(labels):
    """(..., n_b, n_b) bool: bands b, c in one degenerate set (``degenerate_labels``)."""
    return labels[..., :, None] == labels[..., None, :]


def set_average_matrix(labels: np.ndarray) -> np.ndarray:
    """(..., n_b, n_b) A with (A·x)_b = mean of x over b's set: A[b, c] = [c ∈ set(b)]/|set|."""
    same = same_set(np.asarray(labels)).astype(float)
    return same / same.sum(axis=-1, keepdims=True)


def average_over_sets(values: np.ndarray, labels: np.ndarray, axis: int = -1) -> np.ndarray:
    """``values`` with each band's entry along ``axis`` replaced by its set's mean; ``labels``
    (n_b,) from ``degenerate_labels``."""
    v = np.moveaxis(np.asarray(values), axis, -1)
    return np.moveaxis(v @ set_average_matrix(labels).T, -1, axis)
