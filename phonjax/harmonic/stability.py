"""ω_max and dynamical stability from frequencies at the commensurate q-points.

A structure is dynamically stable when every frequency at the q-points
commensurate with the supercell is real (≥ 0), except the three acoustic
modes at Γ, which numerical noise may push down to −``gamma_acoustic_tolerance_K``
(50 K in Loew et al. 2024; −35 K in the published benchmark code).
Imaginary frequencies are negative numbers, as in phonopy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.harmonic.mesh import is_gamma
from phonjax.units import THZ_TO_K


@dataclass(frozen=True)
class Stability:
    omega_max_K: float
    omega_min_K: float  # lowest frequency apart from the three Γ acoustic modes
    gamma_acoustic_min_K: float  # lowest of the three Γ acoustic modes (nan without Γ)
    stable: bool
    gamma_acoustic_tolerance_K: float


def stability(commensurate_q: np.ndarray, frequencies_thz: np.ndarray,
              gamma_acoustic_tolerance_K: float = 50.0, thz_to_k: float = THZ_TO_K,
              acoustic_modes: str = "smallest") -> Stability:
    """``frequencies_thz`` (n_q, n_modes) at ``commensurate_q`` (n_q, 3), real modes only.

    ``acoustic_modes``: which three Γ modes are acoustic: "smallest" |ν| (so an
    imaginary optical mode at Γ is never excused), or "lowest" ν (the published
    benchmark code's choice, after sorting).
    """
    f = np.sort(np.asarray(frequencies_thz, float), axis=1) * thz_to_k
    gamma = is_gamma(commensurate_q)
    rest = np.ones_like(f, bool)
    acoustic = np.array([np.nan])
    if gamma.any():
        g = int(np.flatnonzero(gamma)[0])
        if acoustic_modes == "smallest":
            idx = np.argsort(np.abs(f[g]), kind="stable")[:3]
        elif acoustic_modes == "lowest":
            idx = np.arange(3)
        else:
            raise ValueError("acoustic_modes must be 'smallest' or 'lowest'")
        acoustic = f[g, idx]
        rest[g, idx] = False
    others = f[rest]
    omega_min = float(others.min()) if others.size else float("nan")
    stable = bool((others >= 0).all() and np.all(acoustic[~np.isnan(acoustic)]
                                                   >= -gamma_acoustic_tolerance_K))
    return Stability(float(f.max()), omega_min, float(np.nanmin(acoustic)) if gamma.any() else
                     float("nan"), stable, float(gamma_acoustic_tolerance_K))
