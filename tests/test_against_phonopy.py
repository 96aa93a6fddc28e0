"""phonjax against phonopy on real DFT datasets: every stage, at the contract's tolerances."""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax.harmonic.stability import stability
from phonjax.units import THZ_TO_K
from tests.conftest import KERNEL_IDS, sample_path
from validation.reference import phonopy_reference


@pytest.mark.parametrize("is_diagonal", [True, False])
@pytest.mark.parametrize("mp_id", KERNEL_IDS)
def test_displacements_identical(mp_id, is_diagonal):
    ref = phonopy_reference(sample_path(mp_id), load_only=True,
                            generate_displacements=[is_diagonal])
    s = phonjax.prepare(ref.dataset, use_dataset_displacements=False, is_diagonal=is_diagonal)
    atoms, displacements = ref.generated_displacements[is_diagonal]
    assert s.displaced_atoms.tolist() == atoms.tolist()
    np.testing.assert_array_equal(s.displacements, displacements)
    ph = ref.phonopy
    # the cells phonopy builds, atom for atom
    np.testing.assert_allclose(s.supercell.frac_positions, ph.supercell.scaled_positions, atol=1e-12)
    np.testing.assert_array_equal(s.primitive.p2s, ph.primitive.p2s_map)
    np.testing.assert_array_equal(s.primitive.s2p, ph.primitive.s2p_map)


def test_force_constants(kernel_cases):
    for ref, _, res in kernel_cases:
        err = np.abs(res.force_constants - ref.force_constants).max()
        assert err <= 1e-10, (ref.dataset.id, err)


def test_commensurate_frequencies_omega_max_stability(kernel_cases):
    for ref, system, res in kernel_cases:
        ph_f = np.sort(ref.commensurate_frequencies_THz, axis=1)
        np.testing.assert_allclose(system.commensurate, ref.commensurate_qpoints, atol=1e-12)
        ours = np.sort(res.commensurate_frequencies_THz, axis=1)
        # Γ acoustic modes are sqrt(±1e-16)-level noise on both sides: compare their size only
        noise = np.zeros_like(ours, bool)
        noise[0] = (np.abs(ours[0]) < 1e-6) & (np.abs(ph_f[0]) < 1e-6)
        assert noise[0].sum() == 3
        np.testing.assert_allclose(ours[~noise], ph_f[~noise], atol=1e-8, rtol=0)
        assert abs(res.omega_max_K - ph_f.max() * THZ_TO_K) <= 1e-4
        assert res.stable == stability(ref.commensurate_qpoints, ph_f).stable


def test_thermal_properties(kernel_cases):
    for ref, _, res in kernel_cases:
        for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            ours, theirs = getattr(res, key)[0], getattr(ref, key)[0]
            assert abs(ours - theirs) <= 1e-8 * abs(theirs), (ref.dataset.id, key, ours, theirs)


def test_mesh_qpoints_are_phonopys(kernel_cases):
    """phonopy's irreducible q-points (BZ-relocated), point for point, and its weights.

    By default phonjax keeps every rotation the shifted grid allows, fewer points where
    phonopy falls back to time reversal; ``phonopy_mesh_fallback=True`` gives its exact set.
    """
    n_fewer = 0
    for ref, system, res in kernel_cases:
        theirs_q = ref.mesh_qpoints
        exact = phonjax.prepare(ref.dataset, phonopy_mesh_fallback=True)
        np.testing.assert_allclose(exact.mesh.qpoints, theirs_q, atol=1e-12, rtol=0)
        np.testing.assert_array_equal(exact.mesh.weights, ref.mesh_weights)
        if len(system.mesh.qpoints) == len(theirs_q):
            np.testing.assert_allclose(system.mesh.qpoints, theirs_q, atol=1e-12, rtol=0)
        else:
            n_fewer += 1
            assert len(system.mesh.qpoints) < len(theirs_q)
            [r] = phonjax.phonon_properties([exact], [ref.dataset.forces])
            theirs_f = ref.free_energy_kJmol[0]
            assert abs(r.free_energy_kJmol[0] - theirs_f) <= 1e-8 * abs(theirs_f)
    assert n_fewer > 0  # the dozen include cells where phonopy falls back


def test_dynamical_matrix_equals_phonopy_and_is_hermitian(kernel_cases):
    """D(q) at random q-points, also far outside the first zone."""
    from phonjax.harmonic.dynamical_matrix import dynamical_matrices, mass_weighted_blocks

    rng = np.random.default_rng(0)
    for ref, s, res in kernel_cases[:6]:
        q = rng.uniform(-0.6, 0.6, size=(3, 3))
        with phonjax.float64():
            blocks = mass_weighted_blocks(res.force_constants, s.tables.phases)
            d = np.asarray(dynamical_matrices(q, blocks, s.tables.phases))
        dm = ref.phonopy.dynamical_matrix
        for qi, di in zip(q, d):
            dm.run(qi)
            np.testing.assert_allclose(di, dm.dynamical_matrix, atol=1e-12, rtol=0)
            np.testing.assert_allclose(di, di.conj().T, atol=0)


def test_published_reference_values():
    """BaTe (mp-1000) as given in the data README, computed with phonopy."""
    r = phonjax.from_dataset(sample_path("mp-1000"))
    assert r.free_energy_kJmol[0] == pytest.approx(-16.0981, abs=5e-5)
    assert r.entropy_JKmol[0] == pytest.approx(104.133, abs=5e-4)
    assert r.heat_capacity_JKmol[0] == pytest.approx(49.3042, abs=5e-5)
    assert r.omega_max_K == pytest.approx(165.18, abs=5e-3)
