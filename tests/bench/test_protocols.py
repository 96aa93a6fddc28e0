"""Protocol presets, overrides, and the length-100 mesh against phonopy's own length2mesh."""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.bench import protocols
from tests.bench.conftest import ROOT, SAMPLE

SHARED = ROOT.parent / "shared" / "data"


def test_presets_and_keys():
    p = protocols.resolve("loew2024")
    assert (p.mesh, p.gamma_acoustic_tolerance_K, p.commensurate, p.is_diagonal) == (
        (20, 20, 20), 50.0, "primitive", True)
    h = protocols.resolve("hyllios")
    assert (h.mesh_length_A, h.gamma_acoustic_tolerance_K, h.commensurate, h.is_diagonal,
            h.thz_to_k) == (100.0, 35.0, "supercell_matrix", False, 47.992)
    # the published code's Γ rule (three lowest modes) is part of hyllios since v2
    assert (p.acoustic_modes, h.acoustic_modes) == ("smallest", "lowest")
    assert p.key == "loew2024@v1" and h.key == "hyllios@v3"
    q = protocols.resolve("loew2024", {"mesh": "8", "gamma-acoustic-tolerance-K": "35"})
    assert q.mesh == (8, 8, 8) and q.key.startswith("loew2024@v1+") and q.key != p.key
    assert protocols.resolve("loew2024", {"mesh": "8x8x8", "gamma_acoustic_tolerance_K": 35}).key == q.key


@pytest.mark.parametrize("bad", [{"nope": "1"}, {"mesh": "1x2"}, {"relax": "maybe"},
                                 {"commensurate": "x"}, {"distance_A": "-1"}])
def test_bad_overrides(bad):
    with pytest.raises(ValueError):
        protocols.resolve("loew2024", bad)


@pytest.mark.parametrize("bad", [
    {"temperature_K": "-5"}, {"temperature_K": "nan"}, {"temperature_K": "inf"},
    {"thz_to_k": "0"}, {"thz_to_k": "-47.99"}, {"gamma_acoustic_tolerance_K": "nan"},
    {"gamma_acoustic_tolerance_K": "-10"}, {"mesh": "none", "mesh_length_A": "-5"},
    {"mesh": "none", "mesh_length_A": "nan"}, {"distance_A": "nan"}, {"distance_A": "0"},
    {"mesh": "abc"}, {"mesh": "0"}, {"mesh": "4x4x0"}, {"fmax_eV_A": "nan"},
    {"relax_steps": "0"}, {"max_force_eV_A": "inf"}, {"temperature_K": 1e400},
])
def test_nonsense_settings_are_refused_naming_the_setting(bad):
    """Each of these ran to a stored status=ok row before (F = ZPE with S = 0, ω_max = 0,
    a 1×1×1 mesh, stable = false for a stable crystal)."""
    name = [k for k in bad if bad[k] != "none"][-1]
    with pytest.raises(ValueError, match=name):
        protocols.resolve("loew2024", bad)


def test_bench_refuses_nonsense_settings_before_running(tmp_path, capsys):
    from phonjax.bench.cli import main

    out = tmp_path / "o"
    assert main(["--reference-only", "--limit", "1", "--out", str(out), "--no-progress",
                 "--set", "temperature_K=-5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "temperature_K" in err[0]
    assert not (out / "bench.sqlite").exists()


@pytest.mark.parametrize("mp_id", ["mp-1000", "mp-10851", "mp-14006", "mp-23215", "mp-28163",
                                   "mp-555483", "mp-673245"])
def test_length_mesh_matches_phonopy(mp_id):
    pytest.importorskip("phonopy")
    from phonopy.phonon.grid import length2mesh

    from phonjax import read_dataset
    from validation.reference import phonopy_reference

    path = SAMPLE / f"{mp_id}.yaml.xz"
    ph = phonopy_reference(path, load_only=True).phonopy
    expected = length2mesh(100.0, ph.primitive.cell,
                           rotations=ph.primitive_symmetry.pointgroup_operations)
    ds = read_dataset(path)
    got = protocols.mesh_for(protocols.resolve("hyllios"), ds.unitcell, ds.primitive_matrix)
    assert tuple(int(x) for x in expected) == got


def test_rows_carry_both_stability_verdicts():
    """An imaginary optical mode at Γ (-0.4 THz = -19 K): the three modes of smallest |ν|
    leave it out (unstable); the three lowest include it, excused down to -35/-50 K."""
    from dataclasses import replace
    from types import SimpleNamespace

    from phonjax.bench.compute import phonon_fields
    from phonjax.harmonic.properties import PhononResult

    gamma = [-0.4, -0.001, 0.001, 0.002, 5.0, 6.0]
    # a result whose own verdict is under neither protocol's tolerance: both are recomputed
    result = PhononResult(
        id="x", n_primitive=2, temperatures_K=[300.0], free_energy_kJmol=[-1.0],
        entropy_JKmol=[1.0], heat_capacity_JKmol=[1.0], omega_max_K=0.0, omega_min_K=0.0,
        gamma_acoustic_min_K=0.0, stable=True, gamma_acoustic_tolerance_K=1.0,
        acoustic_modes="smallest", mesh=[4, 4, 4], n_irreducible_q=1, n_commensurate_q=2,
        n_displacements=2, n_supercell=16, spacegroup="P1",
        commensurate_frequencies_THz=np.array([gamma, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]))
    system = SimpleNamespace(commensurate=np.array([[0, 0, 0], [0.5, 0, 0]]), n_supercell=16,
                             displacements=np.zeros((2, 3)))
    for name, stable in (("loew2024", False), ("hyllios", True)):
        fields = phonon_fields(result, system, protocols.resolve(name))
        assert (fields["stable_smallest"], fields["stable_lowest"]) == (False, True)
        assert fields["stable"] is stable
        assert fields["acoustic_modes"] == {"loew2024": "smallest", "hyllios": "lowest"}[name]
    fields = phonon_fields(result, system, protocols.resolve("loew2024"))
    assert fields["omega_min_K"] == pytest.approx(-0.4 * protocols.THZ_TO_K)
    assert (fields["mesh"], fields["n_supercell"], fields["n_displacements"]) == ("4x4x4", 16, 2)
    bad = replace(result, heat_capacity_JKmol=[float("nan")])
    with pytest.raises(ValueError, match="heat_capacity_JKmol is not a finite number"):
        phonon_fields(bad, system, protocols.resolve("loew2024"))


def _gamma_acoustic_terms(gamma_thz, weight: float, T: np.ndarray) -> np.ndarray:
    """(3, n_T) F kJ/mol, S and Cv J/K/mol of the three Γ modes of smallest |ν| with ν > 0
    (phonopy's formulas and constants, written out here), times the Γ point's weight."""
    kb, thz_ev, ev_kjmol = 8.6173382568083159e-05, 0.004135667662340164, 96.48533212331002
    f = np.asarray(gamma_thz, float)
    e = f[np.argsort(np.abs(f), kind="stable")[:3]]
    e = e[e > 0][:, None] * thz_ev
    kt = kb * T[None, :]
    x = e / kt
    F = (kt * np.log(-np.expm1(-x)) + e / 2).sum(0) * ev_kjmol
    S = (kb * (x / np.expm1(x) - np.log(-np.expm1(-x)))).sum(0) * ev_kjmol * 1000
    C = (kb * x**2 * np.exp(x) / np.expm1(x) ** 2).sum(0) * ev_kjmol * 1000
    return np.array([F, S, C]) * weight


@pytest.mark.skipif(not (SHARED / "alexandria-pbe").exists(), reason="needs ../shared/data")
@pytest.mark.parametrize("name", ["mp-149.yaml.xz", "mp-1000-pbesol.yaml.bz2"])
def test_hyllios_preset_reproduces_the_published_pipeline(name):
    """The Alexandria files store F, S, Cv from the published pipeline (phonopy 2.29,
    run_mesh(100.0)). The preset must give the same q-points and weights: the numbers
    agree to ~1e-10 once the three Γ acoustic modes (≈1e-7 THz, whose k_BT·ln ν terms
    follow 1e-14 eV/Å² noise in the force constants and move F by ~3e-3 kJ/mol at 600 K)
    are taken out of the stored values, as phonjax leaves them out of its own sums
    (``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``: the published pipeline counted those with
    ν > 0, so the stored values carry that round-off). A wrong mesh, shift or weight is
    ≥1e-5 off (a Monkhorst-Pack shift of the same mesh: ~1e-3)."""
    import phonjax
    from phonjax.bench.compute import prepare_for_protocol

    ds = phonjax.read_dataset(SHARED / "alexandria-pbe" / name)
    T = np.array(ds.reference["temperatures"], float)
    stored = np.array([ds.reference["free_e"], ds.reference["entropy"],
                       ds.reference["heat_capacity"]])
    p = protocols.resolve("hyllios")
    system = prepare_for_protocol(p, ds, unitcell=ds.unitcell, pmat=ds.primitive_matrix)
    [r] = phonjax.phonon_properties([system], [ds.forces], phonjax.PhononSettings(temperatures_K=T))
    got = np.array([r.free_energy_kJmol, r.entropy_JKmol, r.heat_capacity_JKmol])
    assert np.allclose(system.commensurate[0], 0)  # Γ first, as in the stored phonon_freq
    share = 1.0 / system.mesh.weights.sum()  # Γ has weight 1 on a Γ-centred mesh
    hot = T > 0
    stored[:, hot] -= _gamma_acoustic_terms(ds.reference["phonon_freq"][0], share, T[hot])
    np.testing.assert_allclose(got, stored, rtol=1e-9, atol=1e-9)
