"""Imaginary part of the phonon self-energy from three-phonon scattering (phono3py's Γ).

For a band j0 at q, summed over the symmetry-reduced triplets t = (q, q′, q″) with weights
w_t and over the band pairs (j1, j2) at (q′, q″):

    Γ_j0(T) = V · Σ_t w_t Σ_{j1 j2} |Φ|²_t(j0, j1, j2) · [(n1 + n2 + 1)·g0 + (n1 − n2)·g1]

n = 1/(exp(f/T_THz) − 1) the Bose occupation (0 at T = 0), T_THz = k_B·T/h in THz;
g0 = δ(f0 − f1 − f2) and g1 = δ(f0 + f1 − f2) − δ(f0 − f1 + f2) the integration weights
(1/THz, ``phonjax.anharmonic.integration_weights``) at f0 = the frequencies of q;
|Φ|² in eV² (``phonjax.anharmonic.interaction``, 1/N included) and
V = 18π/(ħ²(2π·THz)²) = 18π / (ħ[eV s]·2π·10¹²)² (eV⁻² THz), so Γ is in THz: the
half-width of the self-energy in ordinary-frequency units (τ = 1/(4πΓ) in ps).
Pairs with f1 or f2 at or below the cutoff frequency (1e-4 THz) are left out.

Γ is linear in the triplets, so chunks of triplets are summed (``gamma_of_triplets``), all
temperatures at once; then it is averaged over each degenerate set of bands at q
(``average_by_degeneracy``), as phono3py does.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.degeneracy import (CUTOFF_FREQUENCY_THZ, average_over_sets,
                                           degenerate_labels)
from phonjax.units import KB_EV, PLANCK_EV_S, THZ_TO_EV

HBAR_EV_S = PLANCK_EV_S / (2 * math.pi)
SELF_ENERGY_FACTOR = 18 * math.pi / (HBAR_EV_S * 2 * math.pi * 1e12) ** 2  # V, eV⁻²·THz


def temperatures_thz(temperatures_K) -> np.ndarray:
    """k_B·T in THz (h = 1): the scale of the occupation numbers."""
    return np.asarray(temperatures_K, float) * KB_EV / THZ_TO_EV


def occupations(frequencies_THz, temperatures_THz, cutoff: float = CUTOFF_FREQUENCY_THZ):
    """Bose occupations (n_T, ...) of ``frequencies_THz`` (...); 0 at T = 0 and for modes
    at or below ``cutoff``."""
    f = jnp.asarray(frequencies_THz)
    t = jnp.asarray(temperatures_THz).reshape((-1,) + (1,) * f.ndim)
    live = (f > cutoff) & (t > 0)
    x = jnp.where(live, f / jnp.where(t > 0, t, 1.0), 1.0)
    return jnp.where(live, 1.0 / jnp.expm1(x), 0.0)


@partial(jax.jit, static_argnames="cutoff")
def gamma_of_triplets(pp, g0, g1, weights, f1, f2, temperatures_THz,
                      cutoff: float = CUTOFF_FREQUENCY_THZ):
    """Γ (n_T, n_b0) THz from one chunk of triplets.

    pp (n_t, n_b0, n_b, n_b) |Φ|² eV²; g0, g1 (n_t, n_b0, n_b, n_b) 1/THz; weights (n_t,);
    f1, f2 (n_t, n_b) THz at q′ and q″; temperatures_THz (n_T,)."""
    n1 = occupations(f1, temperatures_THz, cutoff)[:, :, None, :, None]  # (T, t, 1, b1, 1)
    n2 = occupations(f2, temperatures_THz, cutoff)[:, :, None, None, :]
    live = ((f1 > cutoff)[:, None, :, None] & (f2 > cutoff)[:, None, None, :])
    wpp = jnp.where(live, pp, 0.0) * jnp.asarray(weights, pp.dtype)[:, None, None, None]
    bracket = (n1 + n2 + 1.0) * g0[None] + (n1 - n2) * g1[None]
    return SELF_ENERGY_FACTOR * jnp.einsum("tqabc,qabc->ta", bracket, wpp)


def average_by_degeneracy(gamma: np.ndarray, frequencies_q: np.ndarray) -> np.ndarray:
    """Γ (..., n_b) averaged over the degenerate sets of the frequencies (n_b,) at q."""
    return average_over_sets(gamma, degenerate_labels(np.asarray(frequencies_q)), axis=-1)
