"""The real symmetric form of D(q) in a crystal with inversion symmetry.

If inversion (x → −x + c) maps primitive atom i onto ``partner[i]`` and the force
constants share the symmetry, then in phonopy's phase convention (atom positions)

    D_{P(i)a, P(j)b}(q) = conj(D_{ia, jb}(q))        (Π D Π = D*)

for every q, with Π the permutation of modes that P induces (an involution). Then
D is unitarily similar to a real symmetric matrix, A = Vᴴ D V, with V built from
Π's eigenvectors: for a fixed mode (P(i) = i) the unit vector e_μ, for each pair
of modes μ < ν = Π(μ) the vectors (e_μ + e_ν)/√2 and i(e_μ − e_ν)/√2. V has at
most two entries per column, so A costs one gather of D, and its eigenvalues
are D's: a real symmetric eigenproblem, about a quarter of the floating-point
work of the complex Hermitian one.

Where the symmetry holds only to ε (positions carry noise that phonopy keeps),
the eigenvalues of the form differ from D's by up to ~ε·max|D|.
``symmetry_residual`` measures ε = max|Π D Π − D*| / max|D| on D(q) itself; the
chunked runner takes the real form for the mesh (thermal sums), and only where ε
is at rounding level (``Plan.real_form_tolerance``, 1e-12: a frequency of
0.1 THz would move by < 1e-8 THz even then). In phonondb, ε is either ~1e-16
or, with position noise, ~1e-9.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def mode_partners(partner):
    """(3np,) the mode that inversion maps each mode onto, from the atom map (np,);
    ``partner[i] < 0`` (no partner: padding) maps i's modes onto themselves. NumPy in,
    NumPy out; JAX in, JAX out."""
    atoms = np.arange(partner.shape[-1])
    p = partner + (partner < 0) * (atoms - partner)
    return (3 * p[:, None] + np.arange(3)).reshape(-1)


def real_form(d, partner):
    """A (n_q, 3np, 3np) real symmetric with D's eigenvalues, for D (n_q, 3np, 3np) complex
    Hermitian with Π D Π = D* (``partner`` (np,) int: the atom map of Π).

    With D[:, Π(μ), ν] = conj(D[:, μ, Π(ν)]) and D[:, Π(μ), Π(ν)] = conj(D), the four
    terms of Re(Vᴴ D V) fold into two: A = Re(α ⊙ D) + Re(β ⊙ DΠ), with
    α_μν = c̄_μ c_ν + s_μ s̄_ν, β_μν = c̄_μ s_ν + s_μ c̄_ν for column μ of V = c_μ e_μ
    + s_μ e_Π(μ), and DΠ = D with columns permuted (whole atoms): one gather."""
    pm = mode_partners(partner)
    modes = np.arange(pm.shape[0])
    r = np.sqrt(0.5)
    c = jnp.where(pm == modes, 1.0, jnp.where(modes < pm, r, -1j * r))
    s = jnp.where(pm == modes, 0.0, jnp.where(modes < pm, r, 1j * r))
    alpha = jnp.conj(c)[:, None] * c[None, :] + s[:, None] * jnp.conj(s)[None, :]
    beta = jnp.conj(c)[:, None] * s[None, :] + s[:, None] * jnp.conj(c)[None, :]
    n_q, m = d.shape[0], d.shape[-1]
    re, im = jnp.real(d), jnp.imag(d)
    atoms = pm[::3] // 3  # the atom map, padding onto itself

    def columns_permuted(x):  # x[:, :, Π(ν)], gathered by whole atoms
        return x.reshape(n_q, m, m // 3, 3)[:, :, atoms].reshape(n_q, m, m)

    return (jnp.real(alpha) * re - jnp.imag(alpha) * im
            + jnp.real(beta) * columns_permuted(re) - jnp.imag(beta) * columns_permuted(im))


def symmetry_residual(d: np.ndarray, partner: np.ndarray) -> float:
    """max|Π D Π − D*| / max|D| over a batch D (n_q, m, m) of the real modes (NumPy)."""
    pm = mode_partners(np.asarray(partner))[: d.shape[-1]]
    scale = np.abs(d).max()
    if scale == 0:
        return 0.0
    return float(np.abs(d[:, pm][:, :, pm] - np.conj(d)).max() / scale)
