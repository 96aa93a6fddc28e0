"""Dynamical matrices D(q) and phonon frequencies.

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

For polar materials the non-analytical correction (``NACTables``, phonopy's
Gonze–Lee or Wang method, ``phonjax.harmonic.dipole_dipole``) enters here, in the same
function: D(q) gains the dipole-dipole term, and with Gonze–Lee the force
constants are first made short-ranged (``short_range_blocks``). With phonopy's
``with_full_terms`` (``NACTables.full_terms``) D(q) is the Hermitian matrix phonopy's
eigensolver sees (``_as_phonopy_solves``).

Pure ``jnp`` functions of (force constants, ``PhaseTables``, q-points):
differentiable in the force constants and the masses.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from phonjax.harmonic.dipole_dipole import (Q2_ZERO, cartesian, direction_of,
                                            gonze_dipole_dipole, wang_charge_term)
from phonjax.harmonic.tables import NACTables, PhaseTables
from phonjax.units import FORCE_CONSTANT_TO_THZ


def mass_weighted_blocks(fc, phases: PhaseTables):
    """Φ(i, k(j,t)) / √(m_i m_j): (np, np, nt, 3, 3) from full force constants (N, N, 3, 3)
    eV/Å² (masses in AMU: D(q) comes out in eV/Å²/AMU)."""
    blocks = fc[phases.p2s][:, phases.image_atoms]  # (np, np, nt, 3, 3)
    m = phases.masses
    scale = 1.0 / jnp.sqrt(m[:, None] * m[None, :])
    return blocks * scale[:, :, None, None, None]


class PhaseFactors(NamedTuple):
    """cos/sin of 2π q·I (n_q, nI), of 2π q·x_k(j,t) (n_q, np, nt) and of 2π q·x_i (n_q, np)."""

    cos_lattice: jnp.ndarray
    sin_lattice: jnp.ndarray
    cos_image: jnp.ndarray
    sin_image: jnp.ndarray
    cos_primitive: jnp.ndarray
    sin_primitive: jnp.ndarray


def phase_factors(qpoints, phases: PhaseTables) -> PhaseFactors:
    """The only transcendentals D(q) needs: N + nI + np sines and cosines per q-point."""
    lattice = 2 * jnp.pi * qpoints @ phases.lattice_vectors.T
    image = 2 * jnp.pi * jnp.einsum("qc,jtc->qjt", qpoints, phases.image_positions)
    primitive = 2 * jnp.pi * qpoints @ phases.primitive_positions.T
    return PhaseFactors(jnp.cos(lattice), jnp.sin(lattice), jnp.cos(image), jnp.sin(image),
                        jnp.cos(primitive), jnp.sin(primitive))


def image_phases(qpoints, phases: PhaseTables):
    """(re, im) (n_q, np, np, nt) of (1/M) Σ_l exp(2πi q·v_l) for the images k(j, t) of j
    seen from i: exp(2πi q·(x_k − x_i)) · Σ_I W_I exp(2πi q·I), from ``phase_factors``
    by the angle-difference identities. The factors pass an optimization barrier:
    fused into the (n_q, np, np, nt) products, XLA would evaluate a sine per element
    instead (BENCH_NOTES.md, "Kernel tuning")."""
    f = jax.lax.optimization_barrier(phase_factors(qpoints, phases))
    cos_k, sin_k = f.cos_image[:, None], f.sin_image[:, None]
    cos_i, sin_i = f.cos_primitive[:, :, None, None], f.sin_primitive[:, :, None, None]
    cos = cos_k * cos_i + sin_k * sin_i  # cos 2π q·(x_k − x_i): (n_q, np, np, nt)
    sin = sin_k * cos_i - cos_k * sin_i
    w = phases.lattice_weights
    shape = (qpoints.shape[0],) + w.shape[1:]  # (n_q, np, np, nt)
    w = w.reshape(w.shape[0], -1)
    image_re = (f.cos_lattice @ w).reshape(shape)
    image_im = (f.sin_lattice @ w).reshape(shape)
    return image_re * cos - image_im * sin, image_re * sin + image_im * cos


def _inverse_masses(phases: PhaseTables):
    """1/√(m_i m_j) as (1, np, 1, np, 1) for (n_q, np, 3, np, 3) blocks."""
    m = phases.masses
    return (1.0 / jnp.sqrt(m[:, None] * m[None, :]))[None, :, None, :, None]


def dynamical_matrices(qpoints, blocks, phases: PhaseTables, hermitize: bool = True,
                       nac: NACTables | None = None, q_direction=None):
    """D(q) (n_q, 3np, 3np) complex, eV/Å²/AMU, Hermitian when ``hermitize`` (phonopy does).

    qpoints (n_q, 3) reduced; blocks (np, np, nt, 3, 3) from ``mass_weighted_blocks`` —
    with a Gonze–Lee ``nac``, the short-range ones (``short_range_blocks``). ``nac``: the
    material's ``NACTables`` or None (no correction); ``q_direction`` (3,) reduced: the
    direction of q → 0 for the non-analytical term (phonopy's ``q_direction``), or None.
    As in phonopy, Wang's term is added before the Hermitian symmetrization and the
    Gonze–Lee term after it.
    """
    re, im = image_phases(qpoints, phases)
    n_q, n_p = qpoints.shape[0], blocks.shape[0]
    # real arithmetic throughout: XLA's CPU complex contractions are 2-3x slower
    phase = jnp.stack([re, im], axis=1)
    d = jnp.einsum("qrijt,ijtab->qriajb", phase, blocks)  # (n_q, 2, np, 3, np, 3)
    d_re, d_im = d[:, 0], d[:, 1]
    if nac is not None and nac.method == "wang":
        c = wang_charge_term(qpoints, nac, q_direction) * _inverse_masses(phases)
        image_sum_re, image_sum_im = re.sum(axis=-1), im.sum(axis=-1)  # Σ_t: (n_q, np, np)
        d_re = d_re + c * image_sum_re[:, :, None, :, None]
        d_im = d_im + c * image_sum_im[:, :, None, :, None]
    d_re = d_re.reshape(n_q, 3 * n_p, 3 * n_p)
    d_im = d_im.reshape(n_q, 3 * n_p, 3 * n_p)
    if hermitize:  # (D + D^H)/2, as phonopy
        d_re = 0.5 * (d_re + jnp.swapaxes(d_re, 1, 2))
        d_im = 0.5 * (d_im - jnp.swapaxes(d_im, 1, 2))
    if nac is not None and nac.method == "gonze":
        c_re, c_im = gonze_dipole_dipole(qpoints, nac, q_direction)
        d_re = d_re + (c_re * _inverse_masses(phases)).reshape(n_q, 3 * n_p, 3 * n_p)
        d_im = d_im + (c_im * _inverse_masses(phases)).reshape(n_q, 3 * n_p, 3 * n_p)
        if nac.full_terms is not None:
            d_re, d_im = _as_phonopy_solves(qpoints, nac, q_direction, d_re, d_im)
    return jax.lax.complex(d_re, d_im)


def _as_phonopy_solves(qpoints, nac: NACTables, q_direction, d_re, d_im):
    """D(q) with Gonze–Lee's full terms, as phonopy's frequencies and eigenvectors come from
    it. The real-space term need not be Hermitian (phonopy takes the first of equally short
    vectors only), and phonopy's eigensolvers (NumPy's ``eigh``, phonors') read the lower
    triangle: that Hermitian matrix is returned. Within 1e-5 Å⁻¹ of Γ without a direction
    phonopy leaves the correction out (D of the supercell's force constants); at Γ that is
    D_SR + (C + Cᴴ)/2, the Hermitian part here (D_SR is Hermitian)."""
    q_cart = cartesian(qpoints, nac)
    _, has_direction = direction_of(q_direction, nac)
    plain = (~has_direction & ((q_cart * q_cart).sum(-1) < Q2_ZERO))[:, None, None]
    n = d_re.shape[-1]
    row, col = jnp.arange(n)[:, None], jnp.arange(n)[None, :]
    re_t, im_t = jnp.swapaxes(d_re, 1, 2), jnp.swapaxes(d_im, 1, 2)
    lower_re = jnp.where(row >= col, d_re, re_t)
    lower_im = jnp.where(row > col, d_im, jnp.where(row < col, -im_t, 0.0))
    return (jnp.where(plain, 0.5 * (d_re + re_t), lower_re),
            jnp.where(plain, 0.5 * (d_im - im_t), lower_im))


def short_range_blocks(blocks, phases: PhaseTables, nac: NACTables):
    """Gonze–Lee short-range blocks (np, np, nt, 3, 3) from the supercell's: phonopy's
    ``make_Gonze_nac_dataset``. At the commensurate q-points (first Brillouin zone) the
    dipole-dipole C(q)/√(m_i m_j) is removed from D(q), and the blocks are transformed
    back: Σ_q w_q Re[(D − C)(q)_iα,jβ · conj(phase(q)_ijt)] (phonopy's
    ``transform_dynmat_to_fc``; the phase is averaged over the images, as in D)."""
    q = nac.comm_qpoints
    n_q, n_p = q.shape[0], blocks.shape[0]
    d = dynamical_matrices(q, blocks, phases).reshape(n_q, n_p, 3, n_p, 3)
    c_re, c_im = gonze_dipole_dipole(q, nac)
    x_re = jnp.real(d) - c_re * _inverse_masses(phases)
    x_im = jnp.imag(d) - c_im * _inverse_masses(phases)
    re, im = image_phases(q, phases)  # (n_q, np, np, nt)
    w = nac.comm_weights[:, None, None, None]
    return (jnp.einsum("qiajb,qijt->ijtab", x_re, re * w)
            + jnp.einsum("qiajb,qijt->ijtab", x_im, im * w))


def eigenvalues_to_thz(eigenvalues, factor: float = FORCE_CONSTANT_TO_THZ):
    """Frequencies in THz from eigenvalues of D (eV/Å²/AMU); imaginary modes come out
    negative (phonopy's convention). Finite derivative everywhere (0 at λ = 0)."""
    magnitude = jnp.abs(eigenvalues)
    nonzero = magnitude > 0
    root = jnp.sqrt(jnp.where(nonzero, magnitude, 1.0))
    return jnp.where(nonzero, jnp.sign(eigenvalues) * root, 0.0) * factor


def frequencies(d, mode_mask=None):
    """Frequencies (n_q, 3np) THz, ascending, from D(q) (n_q, 3np, 3np) by XLA's eigensolver.

    Padded modes (``mode_mask`` False: zero rows and columns of D) are pushed above
    the real ones by a large diagonal shift and returned as 0 after the real modes.
    """
    if mode_mask is None:
        return eigenvalues_to_thz(jnp.linalg.eigvalsh(d))
    big = 1e6 * (1.0 + jnp.abs(d).max())
    shifted = d + jnp.diag(jnp.where(mode_mask, 0.0, big))[None]
    f = eigenvalues_to_thz(jnp.linalg.eigvalsh(shifted))
    return jnp.where(jnp.arange(f.shape[-1])[None, :] < mode_mask.sum(), f, 0.0)
