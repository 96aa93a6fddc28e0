"""Harmonic thermal properties per mole of primitive cells.

phonopy's formulas and constants. With x = hν/k_BT, summed over the mesh with
integer weights w (N = Σw) and over modes with ν > 0 (imaginary and zero modes
are dropped), divided by N:

    F  = Σ [k_BT ln(1 − e^{−x}) + hν/2]                (kJ/mol, zero-point included)
    S  = Σ k_B [x/(e^x − 1) − ln(1 − e^{−x})]           (J/K/mol)
    Cv = Σ k_B x² e^x/(e^x − 1)²                        (J/K/mol)

At T = 0: F is the zero-point energy, S = Cv = 0.

The Γ acoustic rule (``GAMMA_ACOUSTIC_RULE``): on a mesh that contains Γ, the
three acoustic modes there should be 0 THz but come out at ±1e-8…1e-7 THz, and
which of them pass ν > 0 is decided by the sign of round-off (each adds about
−35 k_BT·w/N to F). phonjax always does what phonopy 4.10 does with
``exclude_gamma_acoustic=True``: at every q-point equal to Γ modulo a reciprocal
lattice vector (``phonjax.harmonic.mesh.is_gamma``), the three modes of smallest |ν| are set to 0 before the sums
(``zero_gamma_acoustic``), so they enter neither F, S, Cv nor the zero-point
energy, whatever the eigensolver's rounding. Meshes without Γ (phonopy's default
even, shifted meshes) are unaffected.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from phonjax.units import EV_TO_KJMOL, KB_EV, THZ_TO_EV


GAMMA_ACOUSTIC_RULE = ("exclude_gamma_acoustic (phonopy 4.10's exclude_gamma_acoustic=True): on a "
                       "mesh containing Γ, the three Γ modes of smallest |ν| are excluded from "
                       "F, S, Cv and the zero-point energy")


def gamma_acoustic_modes(values, gamma, mode_mask=None):
    """(n_q, n_modes) bool: the three modes of smallest |value| at the q-points where
    ``gamma`` (n_q,) is true (``phonjax.harmonic.mesh.is_gamma``; frequencies or eigenvalues: same
    order in |·|; ties by band index); padded modes (``mode_mask`` (n_modes,) false) are
    never chosen. phonopy's ``gamma_acoustic_bands``."""
    xp = np if isinstance(values, np.ndarray) else jnp
    size = xp.where(mode_mask[None, :], xp.abs(values), xp.inf) if mode_mask is not None \
        else xp.abs(values)
    order = (np.argsort(size, axis=-1, kind="stable") if xp is np
             else jnp.argsort(size, axis=-1, stable=True))
    rank = xp.argsort(order, axis=-1)  # a permutation's inverse: no ties
    return xp.asarray(gamma)[:, None] & (rank < 3)


def zero_gamma_acoustic(values, gamma, mode_mask=None):
    """``values`` (n_q, n_modes) with the Γ acoustic modes (``gamma_acoustic_modes``) set to 0,
    so that the thermal sums skip them (the rule of ``GAMMA_ACOUSTIC_RULE``)."""
    xp = np if isinstance(values, np.ndarray) else jnp
    return xp.where(gamma_acoustic_modes(values, gamma, mode_mask), 0.0, values)


GAMMA_ACOUSTIC_LARGE_THZ = 0.1  # phonopy's GAMMA_ACOUSTIC_LARGE_FREQUENCY


class GammaAcousticWarning(UserWarning):
    """The Γ acoustic frequencies are far from zero (above ``GAMMA_ACOUSTIC_LARGE_THZ``): the
    force constants break translational invariance (phonopy 4.10's warning of that name)."""


def large_gamma_acoustic(values, gamma) -> np.ndarray:
    """The Γ acoustic frequencies (``gamma_acoustic_modes``) of a mesh whose largest |ν|
    exceeds ``GAMMA_ACOUSTIC_LARGE_THZ`` (empty when none does, or the mesh has no Γ):
    what phonopy's ``GammaAcousticWarning`` reports, for the caller to warn about."""
    values = np.asarray(values, float)
    chosen = gamma_acoustic_modes(values, np.asarray(gamma, bool))
    rows = np.flatnonzero(chosen.any(axis=1))
    if rows.size == 0:
        return np.zeros(0)
    acoustic = values[rows[0]][chosen[rows[0]]]
    return acoustic if np.abs(acoustic).max() > GAMMA_ACOUSTIC_LARGE_THZ else np.zeros(0)


X_CAP = 1000.0  # largest x = hν/k_BT used: every term of the sums is exactly 0 beyond it


def thermal_sums(frequencies_thz, weights, temperatures, mode_mask=None):
    """Weighted mode sums (3, n_T): F (eV, zero-point included), S and Cv (eV/K).

    Not yet divided by Σw, so sums over separate chunks of one mesh add up
    (``per_mole`` finishes them). frequencies_thz (n_q, n_modes); weights (n_q,)
    (0 for padded q-points); temperatures (n_T,) K; mode_mask (n_modes,) for
    padded modes. Differentiable in the frequencies (finite everywhere: modes
    at or below zero and T = 0 are masked with safe ``where``).
    """
    e = frequencies_thz * THZ_TO_EV
    used = e > 0
    if mode_mask is not None:
        used = used & mode_mask[None, :]
    w = jnp.where(used, weights[:, None], 0.0)
    e_safe = jnp.where(used, e, 1.0)
    t = jnp.asarray(temperatures, e.dtype)
    kt = KB_EV * jnp.where(t > 0, t, 1.0)
    # (n_T, n_q, n_modes); capped at X_CAP, where e^{−x} is already exactly 0 in float32 and
    # float64 (so no value changes), lest x² overflow to inf and inf·0 give Cv = NaN (T ≲ 1e-150 K)
    x = jnp.minimum(e_safe[None] / kt[:, None, None], X_CAP)
    # written with e^{−x} so that large x (cold, stiff modes) cannot overflow
    em = jnp.exp(-x)
    one_minus = -jnp.expm1(-x)  # 1 − e^{−x}
    ln_term = jnp.log(one_minus)
    zpe = (w * e_safe / 2).sum()
    free = (w * (kt[:, None, None] * ln_term)).sum(axis=(1, 2))
    entropy = (w * KB_EV * (x * em / one_minus - ln_term)).sum(axis=(1, 2))
    cv = (w * KB_EV * x**2 * em / one_minus**2).sum(axis=(1, 2))
    positive = t > 0
    return jnp.stack([jnp.where(positive, free, 0.0) + zpe, jnp.where(positive, entropy, 0.0),
                      jnp.where(positive, cv, 0.0)])


def per_mole(sums, total_weight):
    """(free_energy kJ/mol, entropy J/K/mol, heat_capacity J/K/mol), each (n_T,), from
    ``thermal_sums`` of a whole mesh and its total weight Σw. Arithmetic only, so it takes
    the host's summed chunks (NumPy) as they are, and traced arrays inside a graph."""
    per_cell = sums / total_weight * EV_TO_KJMOL
    return per_cell[0], per_cell[1] * 1000, per_cell[2] * 1000


def thermal_properties(frequencies_thz, weights, temperatures, mode_mask=None):
    """(free_energy kJ/mol, entropy J/K/mol, heat_capacity J/K/mol), each (n_T,), of a
    whole weighted mesh: frequencies_thz (n_q, n_modes), weights (n_q,)."""
    return per_mole(thermal_sums(frequencies_thz, weights, temperatures, mode_mask),
                    weights.sum())
