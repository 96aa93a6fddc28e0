"""Dynamical matrices D(q) and phonon frequencies (JAX).

phonopy's definition with its phase convention (atom positions, not lattice
vectors):

    D_ia,jb(q) = Σ_k Φ_ia,kb · (1/M_ki) Σ_l exp(2πi q·v_kil) / √(m_i m_j)

summed over the n_t supercell atoms k = k(j, t) that image primitive atom j,
with v_kil the M_ki shortest vectors from atom i to k in primitive fractional
coordinates. Every v is x_k − x_i + I with x the atoms' actual positions and I
an integer lattice vector from a small set, so

    exp(2πi q·v) = exp(2πi q·x_k) · exp(−2πi q·x_i) · exp(2πi q·I)

exactly (to rounding): the image sum is one real matrix product
cos/sin(2π q·I) @ W_I, and as few as N + n_I + n_p sines and cosines are
needed per q (``phase_factors``) instead of n_p·N·M. Positions are kept as they
are (not snapped to ideal sites): real datasets carry 1e-8-level position noise
that phonopy keeps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.eigen import eigvalsh
from phonjax.units import FORCE_CONSTANT_TO_THZ


def mass_weighted_blocks(fc_rows, image_atoms, masses):
    """Φ(i, k(j,t)) / √(m_i m_j): (n_p, n_p, n_t, 3, 3) from compact rows (n_p, N, 3, 3).

    ``image_atoms`` (n_p, n_t): supercell atom k(j, t).
    """
    blocks = fc_rows[:, image_atoms]  # (n_p, n_p, n_t, 3, 3)
    scale = 1.0 / jnp.sqrt(masses[:, None] * masses[None, :])
    return blocks * scale[:, :, None, None, None]


def _phase_angles(qpoints, lattice_vectors, image_positions, primitive_positions):
    """2π q·I (n_q, n_I), 2π q·x_k(j,t) (n_q, n_p, n_t), 2π q·x_i (n_q, n_p); NumPy or JAX."""
    xp = np if isinstance(qpoints, np.ndarray) else jnp
    return (2 * np.pi * qpoints @ lattice_vectors.T,
            2 * np.pi * xp.einsum("qc,jtc->qjt", qpoints, image_positions),
            2 * np.pi * qpoints @ primitive_positions.T)


def phase_factors(qpoints, lattice_vectors, image_positions, primitive_positions):
    """cos and sin of 2π q·I (n_q, n_I), of 2π q·x_k(j,t) (n_q, n_p, n_t) and of 2π q·x_i
    (n_q, n_p).

    The only transcendentals D(q) needs: N + n_I + n_p per q-point. NumPy in, NumPy
    out (the CPU path evaluates them on the host: nothing to compile per shape).
    """
    xp = np if isinstance(qpoints, np.ndarray) else jnp
    angle, to_k, from_i = _phase_angles(qpoints, lattice_vectors, image_positions,
                                        primitive_positions)
    return (xp.cos(angle), xp.sin(angle), xp.cos(to_k), xp.sin(to_k), xp.cos(from_i),
            xp.sin(from_i))


def dynamical_matrices_from_phases(phases, blocks, lattice_weights, hermitize: bool = True):
    """D(q) from ``phase_factors``, equal to ``dynamical_matrices`` to rounding.

    exp(2πi q·(x_k − x_i)) is assembled from the factors by the angle-difference
    identities. The CPU path (``phonjax.spectra``) jits this and ``phase_factors``
    as two functions: in one graph XLA fuses the sines back into the
    (n_q, n_p, n_p, n_t) products, and the split is ~1.9× faster than
    ``dynamical_matrices`` for 60 modes (one sine per element, which is the better
    form inside a single fused graph, e.g. the vmapped GPU path).
    """
    cos_img, sin_img, cos_k, sin_k, cos_i, sin_i = phases
    cos_k, sin_k = cos_k[:, None], sin_k[:, None]
    cos_i, sin_i = cos_i[:, :, None, None], sin_i[:, :, None, None]
    cos = cos_k * cos_i + sin_k * sin_i  # cos(2π q·(x_k − x_i))
    sin = sin_k * cos_i - cos_k * sin_i
    return _assemble(cos_img, sin_img, cos, sin, blocks, lattice_weights, hermitize)


def dynamical_matrices(qpoints, blocks, lattice_vectors, lattice_weights, image_positions,
                       primitive_positions, hermitize: bool = True):
    """D(q) (n_q, 3n_p, 3n_p) complex, eV/Å²/AMU, Hermitian when ``hermitize`` (phonopy does).

    blocks (n_p, n_p, n_t, 3, 3) from ``mass_weighted_blocks``; the phase tables of
    ``HarmonicSystem.phase_tables``: lattice_vectors I (n_I, 3), lattice_weights
    (n_I, n_p, n_p, n_t) = Σ 1/M over images with that I, image_positions x_k(j,t)
    (n_p, n_t, 3), primitive_positions x_i (n_p, 3).
    """
    angle, to_k, from_i = _phase_angles(qpoints, lattice_vectors, image_positions,
                                        primitive_positions)
    position = to_k[:, None, :, :] - from_i[:, :, None, None]
    return _assemble(jnp.cos(angle), jnp.sin(angle), jnp.cos(position), jnp.sin(position),
                     blocks, lattice_weights, hermitize)


def _assemble(cos_img, sin_img, cos, sin, blocks, lattice_weights, hermitize):
    """D(q) from cos/sin 2π q·I (n_q, n_I) and cos/sin 2π q·(x_k − x_i) (n_q, n_p, n_p, n_t)."""
    n_q, n_p = cos_img.shape[0], blocks.shape[0]
    w = lattice_weights.reshape(lattice_weights.shape[0], -1)
    shape = (n_q,) + lattice_weights.shape[1:]  # (n_q, n_p, n_p, n_t)
    image_re = (cos_img @ w).reshape(shape)
    image_im = (sin_img @ w).reshape(shape)
    # real arithmetic throughout: XLA's CPU complex contractions are 2-3x slower
    phase = jnp.stack([image_re * cos - image_im * sin, image_re * sin + image_im * cos], axis=1)
    d = jnp.einsum("qrijt,ijtab->qriajb", phase, blocks).reshape(n_q, 2, 3 * n_p, 3 * n_p)
    d_re, d_im = d[:, 0], d[:, 1]
    if hermitize:  # (D + D^H)/2, as phonopy
        d_re = 0.5 * (d_re + jnp.swapaxes(d_re, 1, 2))
        d_im = 0.5 * (d_im - jnp.swapaxes(d_im, 1, 2))
    return jax.lax.complex(d_re, d_im)


def eigenvalues_to_thz(eigenvalues, factor: float = FORCE_CONSTANT_TO_THZ):
    """Frequencies in THz; imaginary modes come out negative (phonopy's convention).

    Works on JAX and NumPy arrays alike (the host eigensolver path stays in NumPy).
    """
    xp = np if isinstance(eigenvalues, np.ndarray) else jnp
    return xp.sign(eigenvalues) * xp.sqrt(xp.abs(eigenvalues)) * factor


def frequencies(qpoints, blocks, phase_tables, mode_mask=None, q_chunk: int = 256,
                eigen_backend: str = "auto"):
    """Frequencies (n_q, 3n_p) in THz, ascending, in blocks of ``q_chunk`` q-points.

    Padded modes (``mode_mask`` False) are pushed above the real ones by a large
    diagonal and returned as 0.
    """
    n_q = qpoints.shape[0]
    n_chunks = -(-n_q // q_chunk)
    padded = jnp.zeros((n_chunks * q_chunk, 3), qpoints.dtype).at[:n_q].set(qpoints)
    if mode_mask is not None:
        big = 1e6 * (1.0 + jnp.abs(blocks).max())
        shift = jnp.diag(jnp.where(mode_mask, 0.0, big))

    def one_chunk(q):
        d = dynamical_matrices(q, blocks, *phase_tables)
        if mode_mask is not None:
            d = d + shift[None]
        return eigenvalues_to_thz(eigvalsh(d, eigen_backend))

    f = jax.lax.map(one_chunk, padded.reshape(n_chunks, q_chunk, 3)).reshape(n_chunks * q_chunk, -1)
    f = f[:n_q]
    if mode_mask is not None:
        f = jnp.where(jnp.arange(f.shape[-1])[None, :] < mode_mask.sum(), f, 0.0)
    return f
