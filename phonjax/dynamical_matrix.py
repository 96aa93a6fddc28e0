"""Dynamical matrices D(q) and phonon frequencies (JAX).

phonopy's definition with its phase convention (atom positions, not lattice
vectors):

    D_ia,jb(q) = Σ_k Φ_ia,kb · (1/M_ki) Σ_l exp(2πi q·v_kil) / √(m_i m_j)

summed over the n_t supercell atoms k = k(j, t) that image primitive atom j,
with v_kil the M_ki shortest vectors from atom i to k in primitive fractional
coordinates. The vectors are used as they are: factoring out exact lattice
vectors would drop the 1e-8-level position noise of real datasets that
phonopy keeps, and with it the agreement. The sum over t is a batched matrix
product per (i, j) block, evaluated for a block of q-points at a time.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from phonjax.eigen import eigvalsh
from phonjax.units import FORCE_CONSTANT_TO_THZ


def mass_weighted_blocks(fc_rows, image_atoms, masses):
    """Φ(i, k(j,t)) / √(m_i m_j): (n_p, n_p, n_t, 3, 3) from compact rows (n_p, N, 3, 3).

    ``image_atoms`` (n_p, n_t): supercell atom k(j, t).
    """
    blocks = fc_rows[:, image_atoms]  # (n_p, n_p, n_t, 3, 3)
    scale = 1.0 / jnp.sqrt(masses[:, None] * masses[None, :])
    return blocks * scale[:, :, None, None, None]


def dynamical_matrices(qpoints, blocks, vectors, weights):
    """Hermitian D(q) (n_q, 3n_p, 3n_p) complex, eV/Å²/AMU.

    blocks (n_p, n_p, n_t, 3, 3) from ``mass_weighted_blocks``; vectors
    (n_p, n_p, n_t, M, 3) shortest vectors i → k(j,t); weights (n_p, n_p, n_t, M)
    = 1/M (0 for padding).
    """
    n_p = blocks.shape[0]
    angle = 2 * jnp.pi * jnp.einsum("qc,ijtmc->qijtm", qpoints, vectors)
    cos = (jnp.cos(angle) * weights).sum(-1)  # (n_q, n_p, n_p, n_t)
    sin = (jnp.sin(angle) * weights).sum(-1)
    d = (jnp.einsum("qijt,ijtab->qiajb", cos, blocks)
         + 1j * jnp.einsum("qijt,ijtab->qiajb", sin, blocks))
    d = d.reshape(qpoints.shape[0], 3 * n_p, 3 * n_p)
    return 0.5 * (d + jnp.conj(jnp.swapaxes(d, 1, 2)))


def eigenvalues_to_thz(eigenvalues, factor: float = FORCE_CONSTANT_TO_THZ):
    """Frequencies in THz; imaginary modes come out negative (phonopy's convention)."""
    return jnp.sign(eigenvalues) * jnp.sqrt(jnp.abs(eigenvalues)) * factor


def frequencies(qpoints, blocks, vectors, weights, mode_mask=None, q_chunk: int = 256,
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
        d = dynamical_matrices(q, blocks, vectors, weights)
        if mode_mask is not None:
            d = d + shift[None]
        return eigenvalues_to_thz(eigvalsh(d, eigen_backend))

    f = jax.lax.map(one_chunk, padded.reshape(n_chunks, q_chunk, 3)).reshape(n_chunks * q_chunk, -1)
    f = f[:n_q]
    if mode_mask is not None:
        f = jnp.where(jnp.arange(f.shape[-1])[None, :] < mode_mask.sum(), f, 0.0)
    return f
