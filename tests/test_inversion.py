"""The real pair-basis solve of centrosymmetric crystals (phonjax.inversion)."""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax import batch
from phonjax.inversion import MAX_RESIDUAL, PairBasis


def _permutation(sigma):
    n = 3 * len(sigma)
    p = np.zeros((n, n))
    for i, s in enumerate(sigma):
        p[3 * s + np.arange(3), 3 * i + np.arange(3)] = 1.0
    return p


def test_real_matrices_have_the_eigenvalues_of_symmetric_hermitian_matrices():
    """Random Hermitian D with D* = P D Pᵀ: same spectrum, zero residual; without the
    symmetry the residual says so."""
    rng = np.random.default_rng(0)
    sigma = np.array([1, 0, 2, 4, 3, 5, 6])  # two pairs, three atoms on inversion centres
    p = _permutation(sigma)
    x = rng.standard_normal((4, 21, 21)) + 1j * rng.standard_normal((4, 21, 21))
    h = x + np.conj(np.transpose(x, (0, 2, 1)))
    d = 0.5 * (h + p @ np.conj(h) @ p.T)
    basis = PairBasis.from_partners(sigma)
    real, residual = basis.real_matrices(d)
    assert residual.max() < 1e-15
    np.testing.assert_allclose(real, np.transpose(real, (0, 2, 1)), atol=0)
    np.testing.assert_allclose(np.linalg.eigvalsh(real), np.linalg.eigvalsh(d), atol=1e-12)
    _, residual = basis.real_matrices(h)
    assert (residual > 0.1).all()


def test_partners_must_be_an_involution():
    with pytest.raises(ValueError):
        PairBasis.from_partners(np.array([1, 2, 0]))


def test_inversion_found_only_in_centrosymmetric_crystals(kernel_cases):
    for _, s, _ in kernel_cases:
        centro = s.info["spacegroup"] in ("Fm-3m", "Pn-3m", "I4_1/amd", "P6_3/mmc", "R-3m", "Imma",
                                          "C2/m", "Ibam", "Pnma", "P-1", "C2/c")
        assert (s.inversion_partners is not None) == centro, s.info["spacegroup"]
        if s.inversion_partners is not None:
            sigma = s.inversion_partners
            assert (sigma[sigma] == np.arange(s.n_primitive)).all()
            z = s.primitive.crystal.numbers
            assert (z[sigma] == z).all()


def test_real_solve_matches_phonopy(kernel_cases, monkeypatch):
    """Every centrosymmetric material of the dozen through the real solve: F, S, Cv
    within the contract against phonopy, and equal to the complex solve."""
    monkeypatch.setattr(batch, "REAL_SOLVE_MIN_MODES", 0)
    cases = [c for c in kernel_cases if c[1].inversion_partners is not None]
    assert len(cases) >= 6
    results = phonjax.phonon_properties([s for _, s, _ in cases],
                                        [ref.dataset.forces for ref, _, _ in cases])
    for (ref, _, complex_result), r in zip(cases, results):
        for attr in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            ours, theirs = getattr(r, attr)[0], getattr(ref, attr)[0]
            assert abs(ours - theirs) <= 1e-8 * abs(theirs), (ref.dataset.id, attr)
            assert ours == pytest.approx(getattr(complex_result, attr)[0], rel=1e-12)
        # commensurate points stay complex (other padding in this call: rounding only)
        assert r.omega_max_K == pytest.approx(complex_result.omega_max_K, rel=1e-12)


def test_noisy_matrices_fall_back_to_the_complex_solve():
    from phonjax.spectra import _eigenvalues

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 6, 6)) + 1j * rng.standard_normal((3, 6, 6))
    h = x + np.conj(np.transpose(x, (0, 2, 1)))  # no inversion symmetry at all
    basis = PairBasis.from_partners(np.array([1, 0]))
    assert basis.real_matrices(h)[1].min() > MAX_RESIDUAL
    np.testing.assert_allclose(_eigenvalues(h, basis), np.linalg.eigvalsh(h), atol=1e-12)
