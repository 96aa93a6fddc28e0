"""The non-analytical correction's dipole-dipole terms, phonopy's exactly (pure ``jnp``).

Two methods, as in phonopy 4.10 (``harmonic/dynamical_matrix.py``, the phonors kernels):

* **Gonze–Lee** (phonopy's default). The dipole-dipole matrix of q, before masses,

      C_iα,jβ(q) = f · [ Σ_G Σ_mn Z_i,mα K_m K_n Z_j,nβ / (K·ε·K) · exp(−K·ε·K / 4Λ²)
                          · exp(2πi G·(r_i − r_j))  −  δ_ij C⁰_i,αβ ],   K = q + G,

  summed over the G of ``NACTables.g_vectors`` (|G| < G_cutoff; Cartesian, no 2π),
  with f = unit factor · 4π/V and C⁰ the same sum at q = 0 summed over j (the
  acoustic sum rule; its 3×3 blocks made Hermitian). A K = 0 term (q at Γ, or at any
  G) is dropped, or with a direction d given replaced by d dᵀ/(d·ε·d) (the q → 0
  limit along d: the LO–TO splitting). D(q) is then D_SR(q) + C(q)/√(m_i m_j), where
  D_SR is built from the *short-range* force constants: the supercell's, with C at
  the commensurate points (in the first Brillouin zone) removed
  (``phonjax.dynamical_matrix.short_range_blocks``).
* **Wang**: every force constant Φ(i, k) gains (q·Z_i)_α (q·Z_j)_β · f / (q·ε·q) / n_c
  (n_c primitive cells in the supercell), with q the direction d when one is given;
  nothing at Γ without a direction.

q-points are reduced coordinates of the primitive reciprocal lattice, as everywhere.
"""

from __future__ import annotations

import jax.numpy as jnp

from phonjax.tables import NACTables

Q2_ZERO = 1e-10  # Å⁻²: |K|² below this is K = 0 (phonors' Q2_ZERO_TOLERANCE, |K| < 1e-5)


def cartesian(qpoints, nac: NACTables):
    """Cartesian q (Å⁻¹, no 2π) of reduced q-points (..., 3)."""
    return qpoints @ nac.reciprocal_lattice.T


def _born_sandwich(re, im, born):
    """Σ_mn Z_i,mα X_im,jn Z_j,nβ of (re, im) (n_q, np, 3, np, 3)."""
    def one(x):
        return jnp.einsum("ima,qimjn,jnb->qiajb", born, x, born)
    return one(re), one(im)


def _ewald_sums(q_cart, nac: NACTables, direction_cart):
    """(re, im) (n_q, np, 3, np, 3) of Σ_G K Kᵀ/(K·ε·K) e^{−K·ε·K/4Λ²} e^{2πi G·(r_i−r_j)},
    before Born charges; K = 0 terms dropped or, with a direction, d dᵀ/(d·ε·d)."""
    eps = nac.dielectric
    k = q_cart[:, None, :] + nac.g_vectors[None]  # (n_q, nG, 3)
    zero = (k * k).sum(-1) < Q2_ZERO
    k_eps_k = jnp.einsum("qga,ab,qgb->qg", k, eps, k)
    safe = jnp.where(zero, 1.0, k_eps_k)
    kk = (k[..., :, None] * k[..., None, :]
          * (jnp.exp(-safe / nac.ewald) / safe)[..., None, None])  # (n_q, nG, 3, 3)
    if direction_cart is None:
        limit = jnp.zeros((3, 3))
    else:
        limit = jnp.outer(direction_cart, direction_cart) / (direction_cart @ eps @ direction_cart)
    kk = jnp.where(zero[..., None, None], limit, kk) * nac.g_weights[None, :, None, None]
    re = jnp.einsum("qgab,gij->qiajb", kk, nac.g_cos)
    im = jnp.einsum("qgab,gij->qiajb", kk, nac.g_sin)
    return re, im


def gonze_q0(nac: NACTables):
    """C⁰ (re, im) (np, 3, 3): the q = 0 sum over G ≠ 0, Born charges applied, summed
    over the second atom, each 3×3 block made Hermitian (phonopy's ``dd_q0``)."""
    re, im = _born_sandwich(*_ewald_sums(jnp.zeros((1, 3)), nac, None), nac.born)
    re, im = re[0].sum(axis=2), im[0].sum(axis=2)  # (np, 3, 3)
    return 0.5 * (re + jnp.swapaxes(re, 1, 2)), 0.5 * (im - jnp.swapaxes(im, 1, 2))


def gonze_dipole_dipole(qpoints, nac: NACTables, q_direction=None):
    """C(q) (re, im) (n_q, np, 3, np, 3) in eV/Å² (before masses), phonopy's
    ``recip_dipole_dipole``; ``q_direction`` (3,) reduced, used for K = 0 terms only."""
    direction = None if q_direction is None else cartesian(q_direction, nac)
    re, im = _born_sandwich(*_ewald_sums(cartesian(qpoints, nac), nac, direction), nac.born)
    q0_re, q0_im = gonze_q0(nac)
    eye = jnp.eye(nac.born.shape[0])
    re = re - jnp.einsum("ij,iab->iajb", eye, q0_re)[None]
    im = im - jnp.einsum("ij,iab->iajb", eye, q0_im)[None]
    return re * nac.factor, im * nac.factor


def wang_charge_term(qpoints, nac: NACTables, q_direction=None):
    """(q·Z_i)_α (q·Z_j)_β · f / (q·ε·q) / n_c: (n_q, np, 3, np, 3) eV/Å², added to every
    force constant Φ(i, k(j, ·)) (phonopy's Wang ``charge_sum``). q is ``q_direction``
    (reduced) when given; without one the term is 0 at Γ (|q| < 1e-5 Å⁻¹)."""
    q_cart = cartesian(qpoints, nac)
    if q_direction is None:
        along = q_cart
        off = (q_cart * q_cart).sum(-1) < Q2_ZERO
    else:
        along = jnp.broadcast_to(cartesian(q_direction, nac), q_cart.shape)
        off = jnp.zeros(q_cart.shape[0], bool)
    q_eps_q = jnp.einsum("qa,ab,qb->q", along, nac.dielectric, along)
    scale = jnp.where(off, 0.0, nac.factor / jnp.where(off, 1.0, q_eps_q) / nac.cells)
    qz = jnp.einsum("qk,ika->qia", along, nac.born)
    return qz[:, :, :, None, None] * qz[:, None, None, :, :] * scale[:, None, None, None, None]
