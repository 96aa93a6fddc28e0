"""Physical invariants and analytic limits, independent of phonopy."""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax import units
from phonjax.harmonic.force_constants import acoustic_sum_rule_error
from phonjax.harmonic.mesh import commensurate_qpoints, irreducible_mesh
from phonjax.harmonic.thermal import thermal_properties as _thermal_properties


def thermal_properties(*args):
    with phonjax.float64():
        return tuple(np.asarray(x) for x in _thermal_properties(*args))


def test_acoustic_sum_rule_and_permutation_symmetry(kernel_cases):
    for ref, _, res in kernel_cases:
        fc = res.force_constants
        with phonjax.float64():
            assert float(acoustic_sum_rule_error(fc)) < 1e-12
        assert float(np.abs(fc.sum(axis=0)).max()) < 1e-12  # columns too
        np.testing.assert_allclose(fc, np.transpose(fc, (1, 0, 3, 2)), atol=1e-14)


def test_gamma_acoustic_modes_vanish(kernel_cases):
    for _, s, res in kernel_cases:
        gamma = res.commensurate_frequencies_THz[0]
        assert np.allclose(s.commensurate[0], 0)
        assert np.abs(np.sort(np.abs(gamma))[:3]).max() < 1e-4


def test_einstein_solid_matches_analytic_formulas():
    """One frequency ν: F, S, Cv in closed form (per mode)."""
    nu_thz, t = 5.0, np.array([0.0, 50.0, 300.0, 1000.0])
    f, s, cv = thermal_properties(np.full((4, 3), nu_thz), np.ones(4), t)
    e = nu_thz * units.THZ_TO_EV
    kt = units.KB_EV * t[1:]
    x = e / kt
    conv = units.EV_TO_KJMOL
    np.testing.assert_allclose(f[1:], 3 * (e / 2 + kt * np.log(1 - np.exp(-x))) * conv, rtol=1e-13)
    np.testing.assert_allclose(s[1:], 3 * units.KB_EV * (x / np.expm1(x) - np.log(1 - np.exp(-x)))
                               * conv * 1000, rtol=1e-12)
    np.testing.assert_allclose(cv[1:], 3 * units.KB_EV * x**2 * np.exp(x) / np.expm1(x) ** 2
                               * conv * 1000, rtol=1e-12)
    assert f[0] == pytest.approx(3 * e / 2 * conv) and s[0] == 0 and cv[0] == 0
    # high-temperature limit: Dulong-Petit, 3 k_B per atom
    _, _, cv_hot = thermal_properties(np.full((1, 3), 0.01), np.ones(1), np.array([3000.0]))
    assert cv_hot[0] == pytest.approx(3 * units.KB_J * units.AVOGADRO, rel=1e-6)


def test_imaginary_modes_are_dropped():
    freqs = np.array([[-2.0, 3.0, 4.0]])
    ref = thermal_properties(np.array([[3.0, 4.0]]), np.ones(1), np.array([300.0]))
    got = thermal_properties(freqs, np.ones(1), np.array([300.0]))
    np.testing.assert_allclose(np.array(got), np.array(ref), rtol=1e-14)


def test_phonopy_constants():
    assert units.FORCE_CONSTANT_TO_THZ == pytest.approx(15.633302300230191, rel=1e-15)
    assert units.THZ_TO_K == pytest.approx(47.992398658977166, rel=1e-15)
    assert units.EV_TO_KJMOL == pytest.approx(96.4853905398362, rel=1e-15)
    assert units.KB_EV == pytest.approx(8.617338256808316e-05, rel=1e-15)


@pytest.mark.parametrize("mesh", [(20, 20, 20), (4, 6, 5), (3, 3, 3)])
def test_mesh_weights_and_shift(mesh):
    cubic = np.array([r for r in _cubic_point_group()])
    m = irreducible_mesh(mesh, cubic if len(set(mesh)) == 1 else None)
    assert m.weights.sum() == np.prod(mesh)
    doubled = m.qpoints * 2 * np.array(mesh)
    expected_parity = [(n % 2 == 0) for n in mesh]
    assert np.allclose(doubled, np.rint(doubled))
    assert ((np.rint(doubled) % 2 == 1) == expected_parity).all()  # even axes half-shifted


def _cubic_point_group():
    import itertools

    for perm in itertools.permutations(range(3)):
        for signs in itertools.product([1, -1], repeat=3):
            r = np.zeros((3, 3), int)
            r[range(3), perm] = signs
            yield r


def test_full_point_group_reduction_gives_the_full_grid_sum(kernel_cases):
    """F from the irreducible mesh equals F from all 8000 points (no symmetry used)."""
    ref, s, res = kernel_cases[0]
    full = phonjax.prepare(ref.dataset, mesh_symmetry=False)
    assert len(full.mesh.qpoints) == 8000 and len(s.mesh.qpoints) < 8000
    r_full = phonjax.phonon_properties([full], [ref.dataset.forces])[0]
    assert r_full.free_energy_kJmol[0] == pytest.approx(res.free_energy_kJmol[0], rel=1e-12)


@pytest.mark.parametrize("matrix", [np.diag([2, 2, 2]), np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]]) * 2,
                                    np.diag([3, 1, 2])])
def test_commensurate_points_count(matrix):
    q = commensurate_qpoints(matrix)
    assert len(q) == round(abs(np.linalg.det(matrix)))
    assert np.allclose(q[0], 0)
    assert np.allclose((q @ matrix) - np.rint(q @ matrix), 0)  # exp(2πi q·R) = 1


def test_mesh_points_are_their_images_closest_to_gamma(kernel_cases):
    """Each irreducible q is no longer (Cartesian) than any q + G, G over 5³ lattice vectors,
    within phonopy's tolerance: a shorter image replaces the first one found only when its
    squared length is smaller by more than 1 % of the largest squared grid step."""
    import itertools

    shifts = np.array(list(itertools.product(range(-2, 3), repeat=3)))
    for _, s, _ in kernel_cases:
        reciprocal = np.linalg.inv(s.primitive.crystal.lattice).T  # rows b_i (no 2π)
        q = s.mesh.qpoints
        length2 = ((q @ reciprocal) ** 2).sum(axis=1)
        images2 = (((q[:, None, :] + shifts[None]) @ reciprocal) ** 2).sum(axis=2).min(axis=1)
        tau = 0.01 * ((np.linalg.norm(reciprocal, axis=1) / np.array(s.mesh.mesh)) ** 2).max()
        assert (length2 <= images2 + tau).all(), s.id
        assert (length2 <= images2 + 1e-12).mean() > 0.9  # ties on the zone surface are few
        frac = q * 2 * np.array(s.mesh.mesh)  # still on the shifted grid
        assert np.allclose(frac, np.rint(frac))


def test_time_reversal_fallback_only_where_the_grid_breaks_a_rotation(kernel_cases):
    for ref, s, _ in kernel_cases:
        fallback = phonjax.prepare(ref.dataset, phonopy_mesh_fallback=True).mesh
        assert fallback.weights.sum() == 8000
        if fallback.n_rotations == s.mesh.n_rotations:
            np.testing.assert_array_equal(fallback.qpoints, s.mesh.qpoints)
        else:  # time reversal alone: {q, -q} pairs, none of them equal on a half-shifted grid
            assert fallback.n_rotations == 2 and (fallback.weights == 2).all()


def test_unique_rows_equals_numpys_row_unique():
    from phonjax.harmonic.system import unique_rows

    rng = np.random.default_rng(3)
    for n in (1, 7, 2000):
        rows = rng.integers(-4, 5, size=(n, 3))
        expected, expected_inverse = np.unique(rows, axis=0, return_inverse=True)
        got, inverse = unique_rows(rows)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(inverse.ravel(), expected_inverse.ravel())


def test_fine_padding_never_exceeds_the_bucket_padding():
    """Per-material D(q) slices the bucket's padded force constants: fine(n) ≤ padded(n)."""
    plan = phonjax.Plan()
    sizes = np.arange(1, 5000)
    assert all(n <= plan.fine(n) <= plan.padded(n) for n in sizes)
    assert max(plan.fine(n) / n for n in range(8, 257)) <= 1.25
