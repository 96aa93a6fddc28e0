"""Inversion symmetry makes the dynamical matrix real in a pair basis.

If the crystal has an inversion x → −x + t sending primitive atom i to σ(i),
then with phonopy's phase convention (atom positions) Φ(σi, σk) = Φ(i, k) and
every shortest vector is reversed, so

    D(q)* = D(−q) = P D(q) Pᵀ,        P = (permutation σ) ⊗ 1₃,  P² = 1.

In the basis e_m (m = π(m)), (e_m + e_π(m))/√2 and i(e_m − e_π(m))/√2 (one
pair per mode m < π(m)), U†DU is therefore real symmetric: the same
eigenvalues from a real eigensolver, ~4× fewer flops than the complex one.

Real datasets carry ~1e-8 Å position noise, so U†DU keeps a tiny imaginary,
antisymmetric part iB. Dropping it moves no eigenvalue at first order (the
eigenvectors of the real part are real, vᵀBv = 0) and only splits degenerate
levels by ±|B|, which cancels in every sum over modes: F, S and Cv change at
O(|B|²). ``PairBasis.real_matrices`` returns |B| relative to |D| per q-point,
and callers take the real solve only where it is below ``MAX_RESIDUAL``.
Individual frequencies (ω_max, stability) always come from the complex solve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# |Im U†DU|max / |D|max up to which the real part is used: F/S/Cv then move by
# O(1e-12) relative at most, four orders inside phonopy's 1e-8 contract
MAX_RESIDUAL = 1e-6


def inversion_partners(rotations: np.ndarray, translations: np.ndarray, positions: np.ndarray,
                       match) -> np.ndarray | None:
    """σ(i) for each atom under the first operation with rotation −1; None if there is none.

    ``rotations``/``translations``: fractional operations of a cell, ``positions``
    fractional positions of the atoms in question, ``match(frac)`` the atom index
    at each position (mod lattice).
    """
    minus_one = -np.eye(3, dtype=np.asarray(rotations).dtype)
    inversions = np.flatnonzero((np.asarray(rotations) == minus_one).all(axis=(1, 2)))
    if not len(inversions):
        return None
    return np.asarray(match(-positions + translations[inversions[0]]), np.int64)


@dataclass(frozen=True, eq=False)
class PairBasis:
    """Mode p of the basis = wa[p]·e_a[p] + wb[p]·e_b[p], times i where ``odd[p]``."""

    a: np.ndarray  # (n_modes,) int
    b: np.ndarray  # (n_modes,) int
    wa: np.ndarray  # (n_modes,) float
    wb: np.ndarray  # (n_modes,) float
    odd: np.ndarray  # (n_modes,) bool

    @classmethod
    def from_partners(cls, partner_atoms: np.ndarray) -> PairBasis:
        sigma = np.asarray(partner_atoms, np.int64)
        m = np.arange(3 * len(sigma))
        partner = 3 * sigma[m // 3] + m % 3
        if (partner[partner] != m).any():
            raise ValueError("the inversion's atom map is not an involution")
        r = np.sqrt(0.5)
        fixed, lower = partner == m, m < partner
        return cls(np.minimum(m, partner), np.maximum(m, partner), np.where(fixed, 1.0, r),
                   np.where(fixed, 0.0, np.where(lower, r, -r)), ~fixed & ~lower)

    def real_matrices(self, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Re U†DU (n_q, n, n) contiguous, |Im U†DU|max / |D|max (n_q,)) for complex D."""
        a, b, wa, wb = self.a, self.b, self.wa, self.wb
        rows = wa[:, None] * d[:, a, :] + wb[:, None] * d[:, b, :]
        g = rows[:, :, a] * wa + rows[:, :, b] * wb  # Vᵀ D V, V real
        phase = np.where(self.odd, 1j, 1.0)
        u = g * (np.conj(phase)[:, None] * phase[None, :])
        scale = np.abs(d).max(axis=(1, 2))
        return (np.ascontiguousarray(u.real),
                np.abs(u.imag).max(axis=(1, 2)) / np.maximum(scale, 1e-300))
