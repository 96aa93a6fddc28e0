"""Lattice thermal conductivity from lifetimes: the relaxation-time approximation (RTA) and
the Wigner (Simoncelli–Marzari–Mauri 2019, phono3py's ``SMM19``) coherence term.

All sums run over the irreducible q-points of a Γ-centred mesh of N points; the symmetry
star of each point is already folded into the velocity products (``gv_by_gv``, Voigt order
xx, yy, zz, yz, xz, xy, in (THz·Å)²: the sum over the star of R v ⊗ R v, see
``phonjax.anharmonic.velocity``), so no extra weight enters.

Mode heat capacity (eV/K), x = h f / (k_B T):

    C = k_B x² eˣ / (eˣ − 1)²,   0 for f at or below the cutoff (1e-4 THz) and at T = 0

RTA, per mode (W/m·K), with Γ_eff = Γ_ph-ph + Γ_isotope + Γ_boundary (THz, half-widths):

    κ_λ = C_λ · (v⊗v)_λ / (2 Γ_eff,λ) · u / V_cell,   κ = Σ_λ κ_λ / N

u = (THz·Å)²/Å³ · eV/THz / 2π = 254.994… converts to W/m·K (the 2π makes τ = 1/(4πΓ));
V_cell in Å³. Non-finite values become 0; modes with f < cutoff are left out.

Wigner (phono3py ``SMM19``) per band pair (s, s′) at one q:

    κ_ss′ = C_ss′ · Re[(V_ss′ ⊗ V*_ss′)_star] · G / ((f_s − f_s′)² + G²) · u / V_cell

G = Γ_s + Γ_s′, C_ss′ = (f_s + f_s′)/4 · (C_s/f_s + C_s′/f_s′) (C_ss = C_s); the
diagonal (s = s′: G/(G²) = 1/(2Γ)… ·|v|² ) is the RTA κ ("intra"), the rest the coherence
part ("inter", degenerate pairs included, no threshold, as phono3py).

Boundary scattering (``boundary_mfp`` L in µm): Γ_b = |v|·10⁻⁴/(4π L) THz.
"""

from __future__ import annotations

import math

import numpy as np

from phonjax.anharmonic.degeneracy import CUTOFF_FREQUENCY_THZ
from phonjax.units import ANGSTROM_M, EV_J, KB_EV, THZ_TO_EV

THZ = 1e12
KAPPA_UNIT = (THZ * ANGSTROM_M) ** 2 / ANGSTROM_M ** 3 * EV_J / THZ / (2 * math.pi)  # W/m·K
VOIGT = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


def heat_capacities(frequencies_THz, temperatures_K, cutoff: float = CUTOFF_FREQUENCY_THZ
                    ) -> np.ndarray:
    """Mode heat capacities (n_T, ...) eV/K of ``frequencies_THz`` (...)."""
    f = np.asarray(frequencies_THz, float)
    t = np.asarray(temperatures_K, float).reshape((-1,) + (1,) * f.ndim)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x = np.abs(f * THZ_TO_EV / (KB_EV * t))
        c = KB_EV * x ** 2 * np.exp(-x) / np.expm1(-x) ** 2
    return np.where(np.isfinite(c) & (f > cutoff), c, 0.0)


def boundary_gamma(group_velocities, boundary_mfp_um: float) -> np.ndarray:
    """Γ_b (...) THz of velocities (..., 3) THz·Å for a mean free path in µm."""
    return np.linalg.norm(group_velocities, axis=-1) * ANGSTROM_M * 1e6 / (
        4 * math.pi * boundary_mfp_um)


def rta_mode_kappa(frequencies, gv_by_gv, heat_capacity, gamma_eff, volume_A3: float,
                   cutoff: float = CUTOFF_FREQUENCY_THZ) -> np.ndarray:
    """Mode κ (n_T, n_q, n_b, 6) W/m·K, not yet divided by N.

    frequencies (n_q, n_b) THz; gv_by_gv (n_q, n_b, 6) (THz·Å)²; heat_capacity (n_T, n_q, n_b)
    eV/K; gamma_eff (n_T, n_q, n_b) THz."""
    with np.errstate(divide="ignore", invalid="ignore"):
        k = (gv_by_gv[None] * heat_capacity[..., None] / (2 * gamma_eff[..., None])
             * (KAPPA_UNIT / volume_A3))
    k = np.nan_to_num(k)  # as phono3py: nan → 0, ±inf → ±largest float
    return k * (np.asarray(frequencies) >= cutoff)[None, :, :, None]


def wigner_heat_capacities(frequencies, heat_capacity, cutoff: float = CUTOFF_FREQUENCY_THZ
                           ) -> np.ndarray:
    """C_ss′ (n_T, n_q, n_b, n_b) eV/K (SMM19); heat_capacity (n_T, n_q, n_b) from
    ``heat_capacities``. Pairs with a mode at or below ``cutoff`` are 0; C_ss = C_s."""
    f = np.asarray(frequencies, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_f = np.where(f > cutoff, heat_capacity / f, 0.0)
        c = 0.25 * (f[:, :, None] + f[:, None, :]) * (per_f[..., :, None] + per_f[..., None, :])
    live = (f > cutoff)[:, :, None] & (f > cutoff)[:, None, :]
    diag = np.eye(f.shape[-1], dtype=bool)
    c = np.where(np.isfinite(c), c, heat_capacity[..., :, None] * diag)
    return np.where(live, c, 0.0)


def wigner_mode_kappa(frequencies, vm_by_vm, wigner_heat_capacity, gamma_eff,
                      volume_A3: float) -> np.ndarray:
    """κ_ss′ (n_T, n_q, n_b, n_b, 6) W/m·K, not divided by N.

    vm_by_vm (n_q, n_b, n_b, 6) complex (THz·Å)², star-summed V_ss′ ⊗ V*_ss′;
    wigner_heat_capacity (n_T, n_q, n_b, n_b); gamma_eff (n_T, n_q, n_b) THz."""
    f = np.asarray(frequencies, float)
    g = gamma_eff[..., :, None] + gamma_eff[..., None, :]
    df = f[:, :, None] - f[:, None, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k = (wigner_heat_capacity[..., None] * np.real(vm_by_vm)[None]
             * (g / (df[None] ** 2 + g ** 2))[..., None] * (KAPPA_UNIT / volume_A3))
    return np.where(np.isfinite(k), k, 0.0)


def total(mode_kappa: np.ndarray, n_mesh: int) -> np.ndarray:
    """κ (n_T, 6) W/m·K: mode κ summed over q-points and bands (and band pairs), over N."""
    return mode_kappa.reshape(mode_kappa.shape[0], -1, 6).sum(axis=1) / n_mesh
