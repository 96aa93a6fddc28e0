"""Harmonic thermal properties per mole of primitive cells (JAX).

phonopy's formulas and constants. With x = hν/k_BT, summed over the mesh with
integer weights w (N = Σw) and over modes with ν > cutoff (default 0, so
imaginary and zero modes are dropped), divided by N:

    F  = Σ [k_BT ln(1 − e^{−x}) + hν/2]                (kJ/mol, zero-point included)
    S  = Σ k_B [x/(e^x − 1) − ln(1 − e^{−x})]           (J/K/mol)
    Cv = Σ k_B x² e^x/(e^x − 1)²                        (J/K/mol)

At T = 0: F is the zero-point energy, S = Cv = 0.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from phonjax.units import EV_TO_KJMOL, KB_EV, THZ_TO_EV


def thermal_sums(frequencies_thz, weights, temperatures, mode_mask=None, cutoff_thz=0.0):
    """Weighted mode sums (3, n_T): F (eV, zero-point included), S and Cv (eV/K).

    Not yet divided by Σw, so sums over separate chunks of one mesh add up
    (``normalize_thermal`` finishes them). frequencies_thz (n_q, n_modes);
    weights (n_q,) (0 for padded q-points); temperatures (n_T,) K;
    mode_mask (n_modes,) for padded modes. NumPy in, NumPy out (the CPU path
    sums on the host, nothing to compile); JAX arrays stay in JAX.
    """
    xp = np if isinstance(frequencies_thz, np.ndarray) else jnp
    e = frequencies_thz * THZ_TO_EV
    used = e > cutoff_thz * THZ_TO_EV
    if mode_mask is not None:
        used = used & mode_mask[None, :]
    w = xp.where(used, weights[:, None], 0.0)
    e_safe = xp.where(used, e, 1.0)
    t = xp.asarray(temperatures, e.dtype)
    kt = KB_EV * xp.where(t > 0, t, 1.0)
    x = e_safe[None] / kt[:, None, None]  # (n_T, n_q, n_modes)
    # written with e^{−x} so that large x (cold, stiff modes) cannot overflow
    em = xp.exp(-x)
    one_minus = -xp.expm1(-x)  # 1 − e^{−x}
    ln_term = xp.log(one_minus)
    zpe = (w * e_safe / 2).sum()
    free = (w * (kt[:, None, None] * ln_term)).sum(axis=(1, 2))
    entropy = (w * KB_EV * (x * em / one_minus - ln_term)).sum(axis=(1, 2))
    cv = (w * KB_EV * x**2 * em / one_minus**2).sum(axis=(1, 2))
    positive = t > 0
    return xp.stack([xp.where(positive, free, 0.0) + zpe, xp.where(positive, entropy, 0.0),
                      xp.where(positive, cv, 0.0)])


def normalize_thermal(sums, total_weight):
    """(free_energy kJ/mol, entropy J/K/mol, heat_capacity J/K/mol) from ``thermal_sums``."""
    per_cell = sums / total_weight * EV_TO_KJMOL
    return per_cell[0], per_cell[1] * 1000, per_cell[2] * 1000


def thermal_properties(frequencies_thz, weights, temperatures, mode_mask=None, cutoff_thz=0.0):
    """(free_energy kJ/mol, entropy J/K/mol, heat_capacity J/K/mol), each (n_T,).

    frequencies_thz (n_q, n_modes); weights (n_q,) (0 for padded q-points);
    temperatures (n_T,) K; mode_mask (n_modes,) for padded modes.
    """
    sums = thermal_sums(frequencies_thz, weights, temperatures, mode_mask, cutoff_thz)
    return normalize_thermal(sums, weights.sum())
