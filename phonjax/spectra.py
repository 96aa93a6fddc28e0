"""Frequencies and thermal sums over a q-point set, chunk by chunk (CPU path).

On CPU the eigenvalues come from a host solver (``phonjax.eigen``), so the
jitted graph stops at D(q). Keeping the host step *outside* jit, instead of a
callback inside it, buys three things:

* the one jitted piece, the contraction of a chunk's phase factors with the
  force constants (``dynamical_matrices_from_phases``), has one shape per
  material size (its own n_p, n_t on a fine ladder: D(q) costs n_p²·n_t, so the
  FC bucket's coarser padding is not paid here), contains no host callback and
  therefore lands in JAX's persistent compilation cache; the phase factors
  themselves (N + n_I + n_p sines per q) and the thermal sums are NumPy;
* padding costs nothing where it matters: the host solver sees only the real
  modes of the real q-points of each chunk (padded q-points and modes would
  otherwise cost (m_pad/m)³ in eigen work);
* chunks of a few MB keep XLA's passes over D(q) in cache.

Chunks run one after the other: overlapping XLA's D(q) build with the solver
(async dispatch) was measured slower on 2 cores, the two thread pools compete.

The loop runs over chunks of hundreds of q-points, never over single q-points
or atoms. On GPU ``phonjax.batch`` keeps everything in one graph instead.
"""

from __future__ import annotations

from typing import Iterator

import jax
import numpy as np

from phonjax.dynamical_matrix import (dynamical_matrices_from_phases, eigenvalues_to_thz,
                                      phase_factors)
from phonjax.eigen import host_eigvalsh, host_eigvalsh_real
from phonjax.inversion import MAX_RESIDUAL, PairBasis
from phonjax.thermal import normalize_thermal, thermal_sums

_from_phases = jax.jit(dynamical_matrices_from_phases)


def _chunks(qpoints: np.ndarray, q_chunk: int) -> Iterator[tuple[np.ndarray, int]]:
    """(q_chunk, 3) blocks of q-points, the last one padded with Γ; with the real count."""
    for start in range(0, len(qpoints), q_chunk):
        part = qpoints[start:start + q_chunk]
        n = len(part)
        if n < q_chunk:
            part = np.concatenate([part, np.zeros((q_chunk - n, 3))])
        yield part, n


def _eigenvalues(d: np.ndarray, basis: PairBasis | None) -> np.ndarray:
    """Eigenvalues of Hermitian D(q) (n_q, n, n): through the real pair-basis matrices
    where inversion makes them real to within ``MAX_RESIDUAL``, else complex."""
    if basis is not None:
        real, residual = basis.real_matrices(d)
        if (residual <= MAX_RESIDUAL).all():
            return host_eigvalsh_real(real)
    return host_eigvalsh(d)


def chunk_frequencies(qpoints, blocks, phase_tables, n_modes: int, q_chunk: int,
                      basis: PairBasis | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Frequencies (THz) of each chunk, padded to (q_chunk, 3n_p_padded) with zeros.

    blocks and phase_tables as for ``dynamical_matrices`` (padded atoms allowed:
    their rows are zero, and only the leading ``n_modes`` modes are solved).
    ``basis``: the inversion pair basis of the real modes (``phonjax.inversion``),
    for eigenvalues that only enter sums over modes. Yields (frequencies, number
    of real q-points in the chunk).
    """
    chunks = list(_chunks(np.asarray(qpoints, float), q_chunk))
    if not chunks:
        return
    width = 3 * blocks.shape[0]
    lattice_vectors, weights, image_positions, primitive_positions = (
        np.asarray(t) for t in phase_tables)
    weights = jax.device_put(weights)  # once, not per chunk
    for q, n_valid in chunks:
        # phase factors on the host (a few sines per atom, nothing to compile per shape),
        # their contraction with the force constants compiled
        phases = phase_factors(q, lattice_vectors, image_positions, primitive_positions)
        d = np.asarray(_from_phases(phases, blocks, weights))
        eigenvalues = _eigenvalues(d[:n_valid, :n_modes, :n_modes], basis)
        freqs = np.zeros((q_chunk, width))
        freqs[:n_valid, :n_modes] = eigenvalues_to_thz(eigenvalues)
        yield freqs, n_valid


def frequencies(qpoints, blocks, phase_tables, n_modes: int, q_chunk: int) -> np.ndarray:
    """Frequencies (n_q, n_modes) THz, ascending per q-point."""
    parts = [f[:n, :n_modes] for f, n in
             chunk_frequencies(qpoints, blocks, phase_tables, n_modes, q_chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, n_modes))


def mesh_thermal(qpoints, weights, blocks, phase_tables, n_modes: int, temperatures,
                 q_chunk: int, basis: PairBasis | None = None):
    """(free_energy kJ/mol, entropy J/K/mol, heat_capacity J/K/mol) on a weighted q-set.

    ``basis`` (inversion, see ``phonjax.inversion``): sums over modes are what the
    real solve leaves unchanged, so it may be used here."""
    weights = np.asarray(weights, float)
    temps = np.atleast_1d(np.asarray(temperatures, float))
    # summed on the host: a few exp/log per mode cost less than compiling them per shape
    sums = [thermal_sums(freqs[:n_valid, :n_modes], weights[k * q_chunk:k * q_chunk + n_valid], temps)
            for k, (freqs, n_valid) in enumerate(
                chunk_frequencies(qpoints, blocks, phase_tables, n_modes, q_chunk, basis))]
    return normalize_thermal(np.sum(sums, axis=0), weights.sum())
