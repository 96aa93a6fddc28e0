"""Classical (high-temperature) harmonic thermal properties per mole of primitive cells.

phonopy's ``ThermalProperties(classical=True)`` (``Phonopy.run_thermal_properties(
classical=True)``): each mode is a classical oscillator, of partition function k_BT/hν.
With ε = hν (eV), summed over the mesh with integer weights w (N = Σw) and over the modes
with ν > ν_c (the cutoff, 0 THz by default: imaginary and zero modes are dropped), divided
by N:

    F  = Σ k_BT ln(ε/k_BT)               (kJ/mol; no zero-point energy)
    S  = Σ k_B [1 − ln(ε/k_BT)]          (J/K/mol)
    Cv = Σ k_B                           (J/K/mol: equipartition, k_B per mode)

At T = 0: F = S = Cv = 0, as phonopy. Units and constants are phonopy's
(``phonjax.units``: ``EV_TO_KJMOL``, ``KB_EV``, ``THZ_TO_EV``). The quantum sums are in
``phonjax.harmonic.thermal``.

The Γ acoustic modes follow phonjax's rule (``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``,
phonopy's ``exclude_gamma_acoustic=True``): given the mesh's q-points, the three modes of
smallest |ν| at Γ are set to 0 THz and so fail the cutoff (classically each one that passed
would add k_BT ln(hν/k_BT) ≈ −35 k_BT·w/N to F, its sign decided by round-off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import zero_gamma_acoustic
from phonjax.units import EV_TO_KJMOL, KB_EV, THZ_TO_EV


@dataclass(frozen=True, eq=False)
class ClassicalThermalProperties:
    """Classical F, S, Cv per mole of primitive cells, at ``temperatures_K``."""

    temperatures_K: np.ndarray  # (n_T,)
    free_energy_kJmol: np.ndarray  # (n_T,), no zero-point energy (classical)
    entropy_JKmol: np.ndarray  # (n_T,)
    heat_capacity_JKmol: np.ndarray  # (n_T,)
    cutoff_frequency_THz: float
    n_modes: int  # Σw · 3n (phonopy's num_modes)
    n_integrated_modes: int  # Σw over the modes above the cutoff (num_integrated_modes)


def classical_thermal_properties(frequencies_THz, weights, temperatures_K, qpoints, *,
                                 cutoff_frequency_THz: float = 0.0
                                 ) -> ClassicalThermalProperties:
    """Classical F (kJ/mol), S and Cv (J/K/mol) of a weighted mesh, as phonopy's
    ``run_thermal_properties(classical=True, cutoff_frequency=..., exclude_gamma_acoustic=True)``.

    ``frequencies_THz`` (n_q, n_modes); ``weights`` (n_q,) integers (phonopy's mesh weights);
    ``temperatures_K`` (n_T,) ≥ 0; ``qpoints`` (n_q, 3) reduced, to find Γ (its three acoustic
    modes are excluded), or None when the frequencies already have them at 0;
    ``cutoff_frequency_THz`` ≥ 0: modes with ν > cutoff enter the sums.
    """
    f = np.asarray(frequencies_THz, float)
    if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
        raise ValueError(f"frequencies_THz must be (n_q, n_modes), got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError("frequencies_THz must be finite")
    w = np.asarray(weights)
    if w.shape != (f.shape[0],):
        raise ValueError(f"weights must be ({f.shape[0]},), got shape {w.shape}")
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError("weights must be finite, ≥ 0 and not all 0")
    t = np.asarray(temperatures_K, float)
    if t.ndim != 1 or not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"temperatures_K must be a list of finite numbers ≥ 0, got {t.tolist()}")
    cutoff = float(cutoff_frequency_THz)
    if not (np.isfinite(cutoff) and cutoff >= 0):
        raise ValueError(f"cutoff_frequency_THz must be finite and ≥ 0, got {cutoff_frequency_THz}")
    if qpoints is not None:
        q = np.asarray(qpoints, float)
        if q.shape != (f.shape[0], 3):
            raise ValueError(f"qpoints must be ({f.shape[0]}, 3), got shape {q.shape}")
        f = zero_gamma_acoustic(f, is_gamma(q))

    e = f * THZ_TO_EV  # eV, as phonopy compares and sums
    used = e > cutoff * THZ_TO_EV
    e_used = e[used]
    w_used = np.broadcast_to(w[:, None], f.shape)[used].astype(float)
    free = np.zeros(len(t))
    entropy = np.zeros(len(t))
    cv = np.zeros(len(t))
    hot = t > 0
    if hot.any():
        kt = KB_EV * t[hot][:, None]  # (n_T>0, 1)
        ln = np.log(e_used[None, :] / kt)
        free[hot] = (kt * ln) @ w_used
        entropy[hot] = (KB_EV - KB_EV * ln) @ w_used
        cv[hot] = KB_EV * w_used.sum()
    total = float(np.sum(w))
    return ClassicalThermalProperties(
        t.copy(), free / total * EV_TO_KJMOL, entropy / total * EV_TO_KJMOL * 1000,
        cv / total * EV_TO_KJMOL * 1000, cutoff, int(round(total)) * f.shape[1],
        int(round(float((w[:, None] * used).sum()))))
