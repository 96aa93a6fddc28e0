"""Harmonic thermal properties per mole of primitive cells.

phonopy's formulas and constants. With x = hν/k_BT, summed over the mesh with
integer weights w (N = Σw) and over modes with ν > 0 (imaginary and zero modes
are dropped), divided by N:

    F  = Σ [k_BT ln(1 − e^{−x}) + hν/2]                (kJ/mol, zero-point included)
    S  = Σ k_B [x/(e^x − 1) − ln(1 − e^{−x})]           (J/K/mol)
    Cv = Σ k_B x² e^x/(e^x − 1)²                        (J/K/mol)

At T = 0: F is the zero-point energy, S = Cv = 0.
"""

from __future__ import annotations

import jax.numpy as jnp

from phonjax.units import EV_TO_KJMOL, KB_EV, THZ_TO_EV


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
    x = e_safe[None] / kt[:, None, None]  # (n_T, n_q, n_modes)
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
