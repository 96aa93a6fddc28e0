"""The non-analytical correction's dipole-dipole terms, phonopy's exactly (pure ``jnp``).

Two methods, as in phonopy 4.10 (``harmonic/dynamical_matrix.py``, the phonors kernels):

* **Gonze–Lee** (phonopy's default). The dipole-dipole matrix of q, before masses,

      C_iα,jβ(q) = f · [ Σ_G Σ_mn Z_i,mα K_m K_n Z_j,nβ / (K·ε·K) · exp(−K·ε·K / 4Λ²)
                          · exp(2πi G·(r_i − r_j))  −  δ_ij C⁰_i,αβ ],   K = q + G,

  summed over the G of ``NACTables.g_vectors`` (|G| < G_cutoff; Cartesian, no 2π),
  with f = unit factor · 4π/V and C⁰ the same sum at q = 0 summed over j (the
  acoustic sum rule; its 3×3 blocks made Hermitian). A K = 0 term (q at Γ, or at any
  G) is dropped, or with a direction d given replaced by d dᵀ/(d·ε·d) (the q → 0
  limit along d: the LO–TO splitting). A zero direction is no direction. D(q) is then D_SR(q) + C(q)/√(m_i m_j), where
  D_SR is built from the *short-range* force constants: the supercell's, with C at
  the commensurate points (in the first Brillouin zone) removed
  (``phonjax.harmonic.dynamical_matrix.short_range_blocks``).
* **Gonze–Lee with full terms** (phonopy's ``with_full_terms=True``, ``NACTables.full_terms``
  not None): as phonopy 4.10 computes it,

      C(q) = f · Σ_G (…)  +  δ_ij L  +  R_ij(q)  −  δ_ij (C⁰_i + n_p L + Σ_j R_ij(0)),

  the reciprocal sum without its C⁰ subtraction, the limiting term L, the real-space
  Ewald term R (``NACFullTerms``) and the drift: C⁰ here unscaled by f, and L and R
  without Born charges or f, exactly as phonopy adds them. It enters the short-range
  force constants and D(q) alike; C(q) need not be Hermitian (phonopy takes the first of
  equally short vectors only), and D(q) is then the Hermitian matrix that phonopy's
  eigensolver sees (``dynamical_matrix.dynamical_matrices``).
* **Wang**: every force constant Φ(i, k) gains (q·Z_i)_α (q·Z_j)_β · f / (q·ε·q) / n_c
  (n_c primitive cells in the supercell), with q the direction d when one is given;
  nothing at Γ without a direction.

q-points are reduced coordinates of the primitive reciprocal lattice, as everywhere.
"""

from __future__ import annotations

import jax.numpy as jnp

from phonjax.harmonic.tables import NACTables

Q2_ZERO = 1e-10  # Å⁻²: |K|² below this is K = 0 (phonors' Q2_ZERO_TOLERANCE, |K| < 1e-5)


def cartesian(qpoints, nac: NACTables):
    """Cartesian q (Å⁻¹, no 2π) of reduced q-points (..., 3)."""
    return qpoints @ nac.reciprocal_lattice.T


def direction_of(q_direction, nac: NACTables):
    """(Cartesian direction (3,), whether there is one): None or a zero vector is none.
    Both cases are arrays, so that one compiled function serves both."""
    if q_direction is None:
        return jnp.zeros(3), jnp.array(False)
    d = cartesian(jnp.asarray(q_direction, float), nac)
    return d, (d * d).sum() >= Q2_ZERO


def _dipole_sums(q_cart, nac: NACTables, direction, has_direction):
    """(2 (re, im), n_q, np, 3, np, 3): Σ_G Z_i K Kᵀ Z_j /(K·ε·K) e^{−K·ε·K/4Λ²}
    e^{2πi G·(r_i−r_j)} with K = q + G; a K = 0 term is d dᵀ/(d·ε·d) where
    ``has_direction`` (n_q,) holds, else 0."""
    eps = nac.dielectric
    k = q_cart[:, None, :] + nac.g_vectors[None]  # (n_q, nG, 3)
    zero = (k * k).sum(-1) < Q2_ZERO
    k_eps_k = jnp.einsum("qga,ab,qgb->qg", k, eps, k)
    safe = jnp.where(zero, 1.0, k_eps_k)
    kk = (k[..., :, None] * k[..., None, :]
          * (jnp.exp(-safe / nac.ewald) / safe)[..., None, None])  # (n_q, nG, 3, 3)
    d_eps_d = direction @ eps @ direction
    limit = jnp.outer(direction, direction) / jnp.where(d_eps_d > 0, d_eps_d, 1.0)
    limit = jnp.where(has_direction[:, None, None, None], limit, 0.0)  # (n_q, 1, 3, 3)
    kk = jnp.where(zero[..., None, None], limit, kk) * nac.g_weights[None, :, None, None]
    phase = jnp.stack([nac.g_cos, nac.g_sin])  # (2, nG, np, np)
    x = jnp.einsum("qgmn,rgij->rqimjn", kk, phase)
    return jnp.einsum("ima,rqimjn,jnb->rqiajb", nac.born, x, nac.born)


def gonze_dipole_dipole(qpoints, nac: NACTables, q_direction=None):
    """C(q) (re, im) (n_q, np, 3, np, 3) in eV/Å² (before masses), phonopy's
    ``recip_dipole_dipole``; ``q_direction`` (3,) reduced, used for K = 0 terms only.
    C⁰ is the same sum at an extra q = 0 without direction."""
    n_q = qpoints.shape[0]
    direction, has = direction_of(q_direction, nac)
    q_cart = jnp.concatenate([cartesian(qpoints, nac), jnp.zeros((1, 3))])
    has = jnp.concatenate([jnp.broadcast_to(has, (n_q,)), jnp.zeros(1, bool)])
    x = _dipole_sums(q_cart, nac, direction, has)  # (2, n_q + 1, np, 3, np, 3)
    q0 = x[:, n_q].sum(axis=3)  # (2, np, 3, 3): summed over the second atom
    q0_re = 0.5 * (q0[0] + jnp.swapaxes(q0[0], 1, 2))  # Hermitian 3×3 blocks
    q0_im = 0.5 * (q0[1] - jnp.swapaxes(q0[1], 1, 2))
    eye = jnp.eye(nac.born.shape[0])
    if nac.full_terms is not None:
        return _with_full_terms(qpoints, nac, x[:, :n_q], q0_re, q0_im, eye)
    re = x[0, :n_q] - jnp.einsum("ij,iab->iajb", eye, q0_re)[None]
    im = x[1, :n_q] - jnp.einsum("ij,iab->iajb", eye, q0_im)[None]
    return re * nac.factor, im * nac.factor


def _with_full_terms(qpoints, nac: NACTables, x, q0_re, q0_im, eye):
    """phonopy's ``_get_Gonze_dipole_dipole`` with full terms (before masses), from the
    reciprocal sums x (2, n_q, np, 3, np, 3) and their q = 0 sums C⁰ (np, 3, 3)."""
    full = nac.full_terms
    angle = 2 * jnp.pi * jnp.einsum("qc,abtc->qabt", qpoints, full.vectors)
    real_re = jnp.einsum("qabt,abtxy->qaxby", jnp.cos(angle), full.real_sym)
    real_im = jnp.einsum("qabt,abtxy->qaxby", jnp.sin(angle), full.real_anti)
    diagonal = jnp.einsum("ij,iab->iajb", eye, full.limiting - (q0_re + full.drift))
    re = x[0] * nac.factor + real_re + diagonal[None]
    im = x[1] * nac.factor + real_im - jnp.einsum("ij,iab->iajb", eye, q0_im)[None]
    return re, im


def wang_charge_term(qpoints, nac: NACTables, q_direction=None):
    """(q·Z_i)_α (q·Z_j)_β · f / (q·ε·q) / n_c: (n_q, np, 3, np, 3) eV/Å², added to every
    force constant Φ(i, k(j, ·)) (phonopy's Wang ``charge_sum``). q is ``q_direction``
    (reduced) when given; without one the term is 0 at Γ (|q| < 1e-5 Å⁻¹)."""
    q_cart = cartesian(qpoints, nac)
    direction, has = direction_of(q_direction, nac)
    along = jnp.where(has, direction[None, :], q_cart)
    off = ~has & ((q_cart * q_cart).sum(-1) < Q2_ZERO)
    q_eps_q = jnp.einsum("qa,ab,qb->q", along, nac.dielectric, along)
    scale = jnp.where(off, 0.0, nac.factor / jnp.where(off, 1.0, q_eps_q) / nac.cells)
    qz = jnp.einsum("qk,ika->qia", along, nac.born)
    return qz[:, :, :, None, None] * qz[:, None, None, :, :] * scale[:, None, None, None, None]
