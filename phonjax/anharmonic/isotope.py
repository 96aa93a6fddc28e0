"""Phonon scattering by isotopic mass disorder (Tamura), phono3py's ``Isotope``.

Mass variance of an element with isotopes i (natural fractions c_i, masses m_i):

    g2 = Σ_i c_i (1 − m_i / m̄)²,   m̄ = Σ_i c_i m_i                  (dimensionless)

from phonopy's isotope table (``phonopy.structure.atomic_data``, the data phono3py uses).

Scattering rate of mode λ = (q, i) with frequency f0 (THz), on a Γ-centred grid of N points:

    Γ_iso(λ) = (π/4) f0² (1/N) Σ_{q′, b} Σ_κ g2_κ |Σ_α e*_{κα}(λ) e_{κα}(q′, b)|² δ(f_b(q′) − f0)

in THz (phono3py's ``gamma_isotope``, the half-width like the ph-ph Γ). q′ runs over the GR
grid (the first BZ image of each point, ``grid.grg2bzg``), e are eigenvectors with modes in
columns (``e[q, 3κ + α, b]``, phonopy's layout), and modes with f_b(q′) < cutoff, and
modes λ with f0 < cutoff, are left out (Γ = 0). The δ is

* the ordinary (one-phonon) tetrahedron weight of band b around q′ at ω = f0
  (``phonjax.anharmonic.tetrahedron.grid_point_weights``, no clamping), or
* a Gaussian exp(−x²/2σ²)/(√(2π)σ) of x = f_b(q′) − f0 with σ in THz.

With ``average_degenerate`` (phono3py's ``average_degenerate_weights``; tetrahedron only)
the tetrahedron weights are averaged over the degenerate sets of bands at q (band i) and
at each q′ (band b), and Γ_iso is then averaged over the degenerate sets at q (sets:
``phonjax.anharmonic.degeneracy.degenerate_labels``, 1e-4 THz).

The sums are pure ``jax.numpy`` (float64), over chunks of the requested points.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.degeneracy import CUTOFF_FREQUENCY_THZ, degenerate_labels, same_set
from phonjax.anharmonic.grid import BZGrid
from phonjax.anharmonic.tetrahedron import (grid_point_delta_kernel, relative_addresses,
                                            vertex_bz_indices)



# --------------------------------------------------------------------------- mass variances


def _symbol(x) -> str:
    from phonopy.structure.atomic_data import get_atomic_data

    if isinstance(x, str):
        return x
    for number, symbol, *_ in get_atomic_data().atom_data:
        if number == int(x):
            return symbol
    raise ValueError(f"no element with atomic number {x}")


def mass_variance(isotopes) -> float:
    """g2 of one element from its isotopes ((mass number, mass, fraction), ...)."""
    masses = np.array([x[1] for x in isotopes], dtype=np.float64)
    fractions = np.array([x[2] for x in isotopes], dtype=np.float64)
    mean = np.dot(masses, fractions)
    return float(np.dot(fractions, (1 - masses / mean) ** 2))


def mass_variances(elements: Sequence, isotope_data: dict | None = None) -> np.ndarray:
    """(n_atoms,) g2 of each atom from its symbol or atomic number, with phonopy's natural
    isotope abundances (``isotope_data`` {symbol: ((A, mass, fraction), ...)} overrides)."""
    from phonopy.structure.atomic_data import get_atomic_data

    table = get_atomic_data().isotope_data
    out = []
    for x in elements:
        s = _symbol(x)
        isotopes = isotope_data[s] if isotope_data and s in isotope_data else table.get(s)
        if not isotopes:
            raise ValueError(f"no isotope data for {s}")
        out.append(mass_variance(isotopes))
    return np.array(out, dtype=np.float64)


# --------------------------------------------------------------------------- kernels


@jax.jit
def overlaps(e0, e1, variances):
    """Σ_κ g2_κ |Σ_α e0*_{κα,i} e1_{κα,b}|²: e0 (n_p, 3n_a, n_b0), e1 (n_q, 3n_a, n_b)
    complex, variances (n_a,) → (n_p, n_q, n_b0, n_b)."""
    n_p, n_c, n_b0 = e0.shape
    a = e0.reshape(n_p, n_c // 3, 3, n_b0)
    b = e1.reshape(e1.shape[0], n_c // 3, 3, e1.shape[-1])
    amp = jnp.einsum("pkai,qkab->pqkib", jnp.conj(a), b)
    return jnp.einsum("pqkib,k->pqib", amp.real ** 2 + amp.imag ** 2, variances)


@jax.jit
def _gaussian_deltas(f0, f1, sigma):
    """f0 (n_p, n_b0), f1 (n_q, n_b) → (n_p, n_q, n_b0, n_b)."""
    x = f1[None, :, None, :] - f0[:, None, :, None]
    return 1.0 / math.sqrt(2 * math.pi) / sigma * jnp.exp(-(x * x) / 2 / sigma ** 2)


def _set_mean(values, same, axis: int):
    """Mean of ``values`` over degenerate sets along ``axis`` (the band axis, size n_b);
    ``same`` (..., n_b, n_b) 0/1 with leading axes broadcasting against ``values``."""
    v = jnp.moveaxis(values, axis, -1)
    return jnp.moveaxis(jnp.einsum("...j,...jl->...l", v, same) / jnp.sum(same, axis=-2),
                        -1, axis)


@partial(jax.jit, static_argnames=("tetrahedron", "averaging"))
def gamma_kernel(f0, e0, f1, e1, deltas_in, variances, same0, same1, cutoff, n_grid,
                 tetrahedron: bool, averaging: bool):
    """Γ_iso (n_p, n_b0) THz of a chunk of points.

    f0 (n_p, n_b0) THz and e0 (n_p, 3n_a, n_b0) at the points; f1 (n_q, n_b), e1
    (n_q, 3n_a, n_b) at the GR points q′; deltas_in: the vertex frequencies (n_q, 24, 4, n_b)
    (tetrahedron) or σ in THz (Gaussian); variances (n_a,); same0 (n_p, n_b0, n_b0) and
    same1 (n_q, n_b, n_b) 0/1 degenerate-set indicators (used when ``averaging``); cutoff
    THz; n_grid = N."""
    if tetrahedron:
        w = grid_point_delta_kernel(f0, deltas_in)
    else:
        w = _gaussian_deltas(f0, f1, deltas_in)
    if averaging:
        w = _set_mean(w, same0[:, None, None], 2)
        w = _set_mean(w, same1[None, :, None], 3)
    live = (f1 >= cutoff)[None, :, None, :]
    total = jnp.sum(jnp.where(live, overlaps(e0, e1, variances) * w, 0.0), axis=(1, 3))
    gamma = jnp.where(f0 < cutoff, 0.0, total * (math.pi / 4) * f0 * f0 / n_grid)
    return _set_mean(gamma, same0, 1) if averaging else gamma


# --------------------------------------------------------------------------- public


def isotope_gamma(grid: BZGrid, bz_points, frequencies, eigenvectors, mass_variances,
                  sigma_THz: float | None = None, average_degenerate: bool = False,
                  cutoff_frequency: float = CUTOFF_FREQUENCY_THZ, chunk: int = 8
                  ) -> np.ndarray:
    """Γ_iso (n_points, n_b) THz at the BZ points ``bz_points`` (e.g. the irreducible ones).

    frequencies (N_bz, n_b) THz and eigenvectors (N_bz, n_b, n_b) complex (modes in
    columns) on every BZ point; mass_variances (n_atoms,) g2; sigma_THz None for the
    tetrahedron method; average_degenerate: phono3py's ``average_degenerate_weights``
    (tetrahedron only, ignored with σ as in phono3py); cutoff_frequency THz; ``chunk``
    points per compiled call (memory ∝ chunk·N·n_b²·24 with the tetrahedron method).
    """
    bz_points = np.atleast_1d(np.asarray(bz_points, dtype=np.int64))
    freqs = np.asarray(frequencies, dtype=np.float64)
    n_b = freqs.shape[1]
    q1 = np.asarray(grid.grg2bzg)
    tetrahedron = sigma_THz is None
    averaging = bool(average_degenerate) and tetrahedron
    same = same_set(degenerate_labels(freqs)).astype(np.float64)  # (N_bz, n_b, n_b)
    out = []
    with jax.enable_x64(True):
        fj = jnp.asarray(freqs)
        ej = jnp.asarray(eigenvectors, jnp.complex128)
        if tetrahedron:
            vertices = vertex_bz_indices(grid, q1, relative_addresses(grid))
            deltas_in = fj[jnp.asarray(vertices)]  # (N, 24, 4, n_b)
        else:
            deltas_in = jnp.float64(sigma_THz)
        for start in range(0, len(bz_points), chunk):
            pts = bz_points[start:start + chunk]
            pad = np.concatenate([pts, np.repeat(pts[:1], chunk - len(pts))])
            gamma = gamma_kernel(fj[pad], ej[pad], fj[q1], ej[q1], deltas_in,
                                 jnp.asarray(mass_variances, jnp.float64),
                                 jnp.asarray(same[pad]), jnp.asarray(same[q1]),
                                 jnp.float64(cutoff_frequency), jnp.float64(grid.n_gr),
                                 tetrahedron=tetrahedron, averaging=averaging)
            out.append(np.asarray(gamma)[:len(pts)])
    return np.concatenate(out).reshape(len(bz_points), n_b)
