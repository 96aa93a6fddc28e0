"""phonopy's mesh, DOS and thermal options through ``Phonons``, against phonopy 4.10 run here on
the same force sets: a mesh given as a length (with phonopy's generalized regular grid where a
regular one breaks the symmetry), a Γ-centred mesh, the DOS's ``freq_min``/``freq_max``/
``freq_pitch``, the thermal properties' ``cutoff_frequency``, and the Γ acoustic warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import phonjax
from phonjax import Phonons
from phonjax.harmonic.thermal import GAMMA_ACOUSTIC_LARGE_THZ, large_gamma_acoustic
from tests.conftest import sample_path
from validation.reference import phonopy_of_dataset

# measured here (mp-23215, mp-1000): eigenvalues ν|ν| ≤ 3.7e-13 THz² apart, F/S/Cv ≤ 2.3e-15
# relative, DOS (tetrahedron and Gaussian) ≤ 6.3e-10 of its maximum (the project's DOS
# tolerance, tests/single/test_against_phonopy.py: 1e-8)
FREQ_TOL_THZ = 1e-9
REL_TOL = 1e-10
DOS_REL_TOL = 1e-8


def _pair(mp_id: str):
    """(phonjax Phonons with its force constants, phonopy on the same force set)."""
    ds = phonjax.read_input(sample_path(mp_id))
    p = Phonons.from_dataset(ds, temperatures_K=(0.0, 100.0, 300.0, 700.0))
    p.produce_force_constants()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy_of_dataset(ds)
    return p, ph


@pytest.fixture(scope="module")
def rutile_like():  # mp-23215, I4_1/amd: a length of 20 Å breaks the regular grid's symmetry
    return _pair("mp-23215")


@pytest.fixture(scope="module")
def rocksalt():  # mp-1000, BaTe
    return _pair("mp-1000")


def _same_mesh(grid, spectrum, mesh):
    np.testing.assert_array_equal(grid.mesh, mesh.mesh_numbers)
    np.testing.assert_array_equal(grid.weights, mesh.weights)
    np.testing.assert_allclose(grid.qpoints, mesh.qpoints, atol=1e-12)
    # as eigenvalues (ν|ν|, THz²): the Γ acoustic ν ≈ ±1e-8 THz are √ of round-off
    ours, theirs = (f * np.abs(f) for f in (spectrum.frequencies_THz, mesh.frequencies))
    assert np.abs(ours - theirs).max() < FREQ_TOL_THZ


@pytest.mark.parametrize("length", [20.0, 35.0])
def test_mesh_from_length_as_phonopy(rutile_like, length):
    p, ph = rutile_like
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesh = ph.run_mesh(length)
    spectrum = p.run_mesh(length_A=length)
    _same_mesh(spectrum.grid, spectrum, mesh)
    assert spectrum.grid.length_A == length and spectrum.grid.gamma_center
    if length == 20.0:  # phonopy's length2mesh gives 4×4×3, which breaks I4_1/amd: a GR grid
        assert spectrum.grid.generalized and "generalized" in spectrum.grid.rule


def test_gamma_centred_mesh_as_phonopy(rocksalt):
    p, ph = rocksalt
    mesh = ph.run_mesh([6, 6, 6], is_gamma_center=True)
    spectrum = p.run_mesh((6, 6, 6), gamma_center=True)
    _same_mesh(spectrum.grid, spectrum, mesh)
    shifted = p.run_mesh((6, 6, 6))
    assert not np.allclose(np.sort(shifted.grid.qpoints, axis=0)[:1], 0)  # no Γ when shifted


@pytest.mark.parametrize("method", ["tetrahedron", "gaussian"])
def test_dos_range_and_pitch_as_phonopy(rocksalt, method):
    p, ph = rocksalt
    ph.run_mesh([7, 7, 7], with_eigenvectors=True, is_mesh_symmetry=False)
    sigma = None if method == "tetrahedron" else 0.15
    ph.run_total_dos(sigma=sigma, freq_min=-0.5, freq_max=4.0, freq_pitch=0.05,
                     use_tetrahedron_method=method == "tetrahedron")
    ref = ph.total_dos
    p.run_mesh((7, 7, 7))
    dos = p.run_dos(method, sigma, freq_min_THz=-0.5, freq_max_THz=4.0, freq_pitch_THz=0.05)
    np.testing.assert_allclose(dos.frequency_points_THz, ref.frequency_points, atol=1e-12)
    assert np.abs(dos.total - ref.dos).max() < DOS_REL_TOL * np.abs(ref.dos).max()
    # the projected DOS on the same points (phonopy's per atom)
    ph.run_projected_dos(sigma=sigma, freq_min=-0.5, freq_max=4.0, freq_pitch=0.05,
                         use_tetrahedron_method=method == "tetrahedron")
    pdos = ph.projected_dos.projected_dos
    assert np.abs(dos.atoms - pdos).max() < DOS_REL_TOL * np.abs(pdos).max()


def test_dos_options_from_settings(rocksalt):
    p, _ = rocksalt
    q = Phonons.from_dataset(phonjax.read_input(sample_path("mp-1000")), mesh=(5, 5, 5),
                             dos_freq_min_THz=0.0, dos_freq_max_THz=3.0, dos_freq_pitch_THz=0.5)
    q.harmonic = p.harmonic  # same force constants, the settings' DOS points
    assert np.allclose(q.run_dos().frequency_points_THz, np.arange(0, 3.01, 0.5))


@pytest.mark.parametrize("cutoff", [0.0, 1.2])
def test_cutoff_frequency_as_phonopy(rocksalt, cutoff):
    p, ph = rocksalt
    ph.run_mesh([7, 7, 7])  # contains Γ
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_thermal_properties(temperatures=[0.0, 100.0, 300.0, 700.0],
                                  cutoff_frequency=cutoff, exclude_gamma_acoustic=True)
    tp = ph.thermal_properties
    p.run_mesh((7, 7, 7))
    th = p.run_thermal_properties(cutoff_frequency_THz=cutoff)
    for ours, theirs in ((th.free_energy_kJmol, tp.free_energy), (th.entropy_JKmol, tp.entropy),
                         (th.heat_capacity_JKmol, tp.heat_capacity)):
        np.testing.assert_allclose(ours, theirs, rtol=REL_TOL, atol=1e-12)
    assert th.zero_point_energy_kJmol == pytest.approx(tp.zero_point_energy, rel=REL_TOL)
    assert th.num_integrated_modes == tp.number_of_integrated_modes
    assert th.cutoff_frequency_THz == cutoff
    if cutoff:  # the cutoff removed real modes: F(300 K) differs from the uncut one
        assert th.num_integrated_modes < th.num_modes - 3


def test_gamma_acoustic_warning_rule():
    """phonopy warns when a Γ acoustic frequency (three smallest |ν| at Γ) exceeds 0.1 THz."""
    from phonopy.phonon.thermal_properties import GAMMA_ACOUSTIC_LARGE_FREQUENCY

    assert GAMMA_ACOUSTIC_LARGE_THZ == GAMMA_ACOUSTIC_LARGE_FREQUENCY
    rng = np.random.default_rng(7)
    gamma = np.array([False, True, False])
    for _ in range(200):
        f = np.sort(rng.normal(0, 0.12, (3, 6)) + np.array([0, 0, 0, 3, 4, 5]), axis=1)
        acoustic = f[1][np.sort(np.argsort(np.abs(f[1]))[:3])]
        expected = np.abs(acoustic).max() > GAMMA_ACOUSTIC_LARGE_FREQUENCY
        assert bool(large_gamma_acoustic(f, gamma).size) == expected
    assert large_gamma_acoustic(f, np.zeros(3, bool)).size == 0  # no Γ in the mesh


def test_settings_refuse_nonsense():
    from phonjax.single.settings import SettingsError, WorkflowSettings

    for bad in ({"cutoff_frequency_THz": -1.0}, {"dos_freq_pitch_THz": 0.0},
                {"mesh_length_A": float("nan")},
                {"dos_freq_min_THz": 3.0, "dos_freq_max_THz": 1.0}):
        with pytest.raises(SettingsError):
            WorkflowSettings(**bad)


def test_connected_bands_with_velocities_as_phonopy():
    """``run_band_structure(per_segment=True, band_connection=True, with_group_velocities=True)``
    against phonopy's ``run_band_structure(..., is_band_connection=True,
    with_group_velocities=True)`` on MgB2's force sets (branches crossing along M–K and two
    general segments)."""
    from tests.conftest import EXAMPLES

    folder = EXAMPLES / "MgB2"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    p = Phonons.from_dataset(folder, mesh=(3, 3, 3))
    # segments that start where no bands are degenerate: a connection out of a degenerate
    # point follows the eigensolver's basis there, in phonopy too (phonon.band_connection)
    path = [[("M", (0.5, 0, 0)), ("K", (1 / 3, 1 / 3, 0))],
            [("a", (0.1, 0.05, 0.2)), ("b", (0.4, 0.3, 0.1)), ("c", (0.2, 0.45, 0.35))]]
    band = p.run_band_structure(path, 21, per_segment=True, band_connection=True,
                                with_group_velocities=True)
    assert [len(q) for q in band.sampling.qpoints] == [21, 21, 21]
    ph = phonopy_of_dataset(phonjax.read_input(folder))
    ph.run_band_structure(band.sampling.qpoints, is_band_connection=True,
                          with_group_velocities=True)
    ref = ph.band_structure
    moved = 0
    for ours, theirs, v, vref in zip(band.frequencies_THz, ref.frequencies,
                                     p.band_group_velocities, ref.group_velocities):
        assert np.abs(ours - theirs).max() < FREQ_TOL_THZ
        # at a degenerate point (K) which connected branch takes which velocity follows the
        # eigensolvers' bases inside the degenerate set, in phonopy as here: compare elsewhere
        plain = np.diff(np.sort(theirs, axis=1), axis=1).min(axis=1) > 1e-3
        assert plain.sum() >= len(plain) - 2
        assert np.abs(v.velocities_THz_A[plain] - vref[plain]).max() < 1e-9
        moved += int((np.diff(theirs, axis=1) < 0).any(axis=1).sum())
    assert moved > 0  # the connection reordered branches: the test exercises it


def test_sigma_alone_means_smearing_as_phonopy(rocksalt):
    """phonopy's run_total_dos(sigma=σ) smears even where the tetrahedron method is the default;
    so does run_dos(sigma_THz=σ) (and run --sigma without --dos)."""
    p, ph = rocksalt
    ph.run_mesh([7, 7, 7])
    ph.run_total_dos(sigma=0.3)
    p.run_mesh((7, 7, 7))
    dos = p.run_dos(sigma_THz=0.3)
    assert dos.method == "gaussian"
    # the points start at min ν − 10σ, min ν a Γ acoustic mode: √ of round-off (±1e-8 THz)
    np.testing.assert_allclose(dos.frequency_points_THz, ph.total_dos.frequency_points, atol=1e-7)
    assert np.abs(dos.total - ph.total_dos.dos).max() < DOS_REL_TOL * ph.total_dos.dos.max()
    from phonjax.single.cli import parser, settings_from

    args = parser().parse_args(["x.cif", "--sigma", "0.3"])
    assert settings_from(args).dos_method == "gaussian"
