"""The Γ acoustic rule of the thermal sums (``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``).

On a mesh that contains Γ (odd meshes, Γ-centred ones) the three acoustic modes at Γ come out
at ±1e-8…1e-7 THz, and with a cutoff of 0 the sign of that round-off decides which of them
enter F, S and Cv (each adds ≈ −35 k_BT·w/N to F: NaCl on 5³ was 0.73 kJ/mol off phonopy at
300 K). phonjax excludes them always, as phonopy 4.10 does with
``exclude_gamma_acoustic=True``; these tests compare against exactly that, through every plan,
the differentiable surface and the single-crystal workflow's bookkeeping, and check that the
result no longer depends on the signs.
"""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax.execution import ALL_PLANS
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import gamma_acoustic_modes, thermal_properties, zero_gamma_acoustic
from tests.conftest import EXAMPLES, sample_path
from validation.reference import phonopy_reference

TEMPERATURES = (0.0, 100.0, 300.0)


def test_rule_picks_the_three_smallest_modes_at_gamma_only():
    q = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [1.0, -1.0, 2.0]])  # the last is Γ + G
    f = np.array([[-3e-8, 5.0, 2e-8, 6.0, 9e-8, 7.0],
                  [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                  [8.0, 4e-8, -1e-8, 6e-8, -9.0, 3.0]])  # an imaginary optical mode stays
    assert is_gamma(q).tolist() == [True, False, True]
    chosen = gamma_acoustic_modes(f, is_gamma(q))
    assert chosen.tolist() == [[True, False, True, False, True, False], [False] * 6,
                               [False, True, True, True, False, False]]
    zeroed = zero_gamma_acoustic(f, is_gamma(q))
    assert (zeroed[chosen] == 0).all() and (zeroed[~chosen] == f[~chosen]).all()
    # padded modes (mask false) are never chosen
    mask = np.array([True, True, True, True, False, True])
    assert not gamma_acoustic_modes(f, is_gamma(q), mask)[:, 4].any()


def test_sums_do_not_depend_on_the_sign_of_gamma_round_off():
    """Flip the signs of the Γ acoustic noise: F, S, Cv stay the same to the last bit, and
    equal the sums with the three modes at exactly zero (analytic: they drop out)."""
    rng = np.random.default_rng(0)
    q = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0], [0.4, 0.0, 0.0]])
    w = np.array([1.0, 6.0, 6.0])
    optical = rng.uniform(2.0, 8.0, (3, 3))
    base = np.hstack([np.zeros((3, 3)), optical])
    base[1:, :3] = rng.uniform(0.5, 1.5, (2, 3))
    results = []
    for signs in ([1, 1, 1], [-1, 1, 1], [-1, -1, 1], [-1, -1, -1]):
        f = base.copy()
        f[0, :3] = np.array(signs) * np.array([3e-8, 6e-8, 8e-8])
        f = zero_gamma_acoustic(f, is_gamma(q))
        with phonjax.float64():
            results.append(np.array(thermal_properties(f, w, np.array(TEMPERATURES))))
    with phonjax.float64():
        exact = np.array(thermal_properties(base, w, np.array(TEMPERATURES)))
    for r in results:
        np.testing.assert_array_equal(r, results[0])
        np.testing.assert_allclose(r, exact, rtol=1e-14, atol=0)


@pytest.fixture(scope="module")
def odd_mesh_cases():
    """(phonopy reference with exclude_gamma_acoustic=True, phonjax system) for NaCl (phonopy's
    example, no NAC) and BaTe (mp-1000) on 3³ and 5³ meshes, all of which contain Γ."""
    folder = EXAMPLES / "NaCl"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    nacl = phonjax.read_input(folder, nac=False)
    bate = phonjax.read_dataset(sample_path("mp-1000"))
    out = []
    for ds, kw in ((nacl, dict(source=folder / "phonopy_disp.yaml",
                                force_sets=folder / "FORCE_SETS")),
                   (bate, dict(source=bate))):
        for mesh in ((3, 3, 3), (5, 5, 5)):
            ref = phonopy_reference(kw["source"], mesh=mesh, temperatures_K=TEMPERATURES,
                                    primitive_matrix=ds.primitive_matrix,
                                    force_sets=kw.get("force_sets"))
            out.append((ref, ds, phonjax.prepare(ds, mesh=mesh)))
    return out


@pytest.mark.parametrize("plan", ALL_PLANS, ids=lambda p: f"{p.runner}-{p.eigensolver}"
                         + ("" if p.real_form_tolerance else "-complex"))
def test_odd_meshes_match_phonopy_excluding_gamma_acoustic(odd_mesh_cases, plan):
    systems = [s for _, _, s in odd_mesh_cases]
    assert all(is_gamma(np.asarray(s.mesh.qpoints)).any() for s in systems)
    forces = [ds.forces for _, ds, _ in odd_mesh_cases]
    results = phonjax.phonon_properties(systems, forces,
                                        phonjax.PhononSettings(temperatures_K=TEMPERATURES),
                                        plan=plan)
    for (ref, _, s), r in zip(odd_mesh_cases, results):
        for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            ours, theirs = np.asarray(getattr(r, key)), np.asarray(getattr(ref, key))
            np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-12,
                                       err_msg=f"{s.id} {s.mesh.mesh} {key}")


def test_differentiable_surface_follows_the_same_rule(odd_mesh_cases):
    from phonjax.harmonic.differentiable import thermal_properties_from_forces

    ref, ds, s = odd_mesh_cases[1]  # NaCl, 5³
    f, entropy, cv = thermal_properties_from_forces(ds.forces, s.tables,
                                                    np.array(TEMPERATURES))
    np.testing.assert_allclose(np.asarray(f), ref.free_energy_kJmol, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(entropy), ref.entropy_JKmol, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(np.asarray(cv), ref.heat_capacity_JKmol, rtol=1e-8, atol=1e-12)


def test_single_crystal_workflow_writes_the_rule_and_phonopys_counts(tmp_path):
    """``Phonons`` on NaCl (no NAC) with a 5³ mesh: F, S, Cv equal phonopy's with
    exclude_gamma_acoustic=True, thermal_properties.yaml says so, and num_integrated_modes is
    phonopy's count (every mode but Γ's three acoustic ones)."""
    import yaml

    from phonjax.single import Phonons

    folder = EXAMPLES / "NaCl"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    p = Phonons.from_dataset(folder, nac=False, mesh=(5, 5, 5),
                             temperatures_K=(0.0, 300.0)).run()
    ref = phonopy_reference(folder / "phonopy_disp.yaml", force_sets=folder / "FORCE_SETS",
                            primitive_matrix=p.dataset.primitive_matrix, mesh=(5, 5, 5),
                            temperatures_K=(0.0, 300.0))
    np.testing.assert_allclose(p.thermal.free_energy_kJmol, ref.free_energy_kJmol, rtol=1e-8)
    np.testing.assert_allclose(p.thermal.entropy_JKmol, ref.entropy_JKmol, rtol=1e-8, atol=1e-12)
    p.write(tmp_path)
    written = yaml.safe_load((tmp_path / "thermal_properties.yaml").read_text())
    n_modes = 3 * p.system.n_primitive * 125
    assert written["exclude_gamma_acoustic"] is True
    assert (written["num_modes"], written["num_integrated_modes"]) == (n_modes, n_modes - 3)
    summary = p.summary()["thermal"]
    assert summary["mesh_contains_gamma"] and "exclude_gamma_acoustic" in summary["gamma_acoustic_rule"]
