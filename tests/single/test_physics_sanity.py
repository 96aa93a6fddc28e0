"""Physics sanity of what is accepted and what is printed (issue 23, item 7).

(a) displacement lengths outside the harmonic regime are refused (> 0.2 Å) or warned about
(> 0.05 Å) in ``prepare``, ``WorkflowSettings``, ``phonjax run`` and the bench protocol;
(b) F, S, Cv that are not defined (not one real mode integrated, as phonopy's
``num_integrated_modes`` = 0 on the same forces) are null / "n/a" with a reason, never 0;
and the T → 0 limit of Cv is 0, not NaN; (c) a q-mesh of non-integers or booleans is refused,
never truncated; (d) imaginary acoustic modes near Γ inside the supercell's interpolation
region are reported as a near-Γ acoustic dip (likely numerical), distinct from a real
instability, checked on a synthetic crystal against phonopy's frequencies on the same forces.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

import phonjax
from phonjax import options
from phonjax.structure.crystal import Crystal
from phonjax.io import PhononDataset
from phonjax.single import Phonons
from phonjax.single.settings import SettingsError, WorkflowSettings
from tests.conftest import sample_path


def _quiet_phonopy_load(path, **kwargs):
    import phonopy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return phonopy.load(path, is_nac=False, produce_fc=False, **kwargs)


# --- (a) displacement length ---------------------------------------------------------------

@pytest.mark.parametrize("value", [1, 10, 0.21, math.inf, math.nan, True, 0, -0.01])
def test_distance_out_of_range_is_refused_everywhere(value):
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.raises(ValueError, match="distance"):
        phonjax.prepare(ds.unitcell, ds.supercell_matrix, ds.primitive_matrix, mesh=(1, 1, 1),
                        distance=value)
    with pytest.raises(SettingsError, match="distance_A"):
        WorkflowSettings(distance_A=value)
    from phonjax.bench import protocols

    with pytest.raises(options.SettingError, match="distance_A"):
        protocols.resolve("loew2024", {"distance_A": str(value)})


def test_distance_rule_message_and_warning_range():
    with pytest.raises(options.SettingError, match=r"≤ 0\.2 Å.*phonopy uses 0\.01 Å"):
        options.displacement_distance("--distance", "1")
    assert options.displacement_distance("d", 0.2) == 0.2
    assert options.displacement_warning(0.03) is None  # phono3py's default: no warning
    assert "0.1 Å is above 0.05 Å" in options.displacement_warning(0.1)
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.warns(options.DisplacementWarning, match="above 0.05"):
        s = phonjax.prepare(ds.unitcell, ds.supercell_matrix, ds.primitive_matrix,
                            mesh=(1, 1, 1), distance=0.1)
    assert np.allclose(np.linalg.norm(s.displacements, axis=1), 0.1)


@pytest.mark.parametrize("distance, code, text", [("1", 2, "too large"), ("10", 2, "too large"),
                                                  ("inf", 2, "finite")])
def test_run_cli_refuses_distance_before_any_work(distance, code, text, tmp_path, capsys):
    from phonjax.single.cli import main

    rc = main([str(tmp_path / "missing.cif"), "--distance", distance, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == code and len(err) == 1 and text in err[0] and "distance" in err[0], err


# --- (b) undefined thermal properties --------------------------------------------------------

@pytest.fixture(scope="module")
def all_imaginary(tmp_path_factory):
    """mp-1000 (BaTe) with every force negated: D(q) → −D(q), every mode imaginary. phonopy
    on the same file integrates no mode (its F = S = Cv = 0 are sums over nothing)."""
    ph = _quiet_phonopy_load(sample_path("mp-1000"))
    ph.forces = -np.asarray(ph.forces)
    path = tmp_path_factory.mktemp("neg") / "neg.yaml"
    ph.save(str(path), settings={"force_sets": True, "displacements": True,
                                 "force_constants": False})
    ph.produce_force_constants()
    ph.run_mesh([4, 4, 4])
    ph.run_thermal_properties(temperatures=[300.0])
    assert ph.thermal_properties.number_of_integrated_modes == 0
    return path


def test_phonons_json_says_undefined_not_zero(all_imaginary, capsys):
    from phonjax.cli import main

    assert main(["phonons", "--json", "--mesh", "4", "4", "4", str(all_imaginary)]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["free_energy_kJmol"] is None and row["entropy_JKmol"] is None
    assert row["heat_capacity_JKmol"] is None
    assert "no real modes integrated" in row["thermal_undefined_reason"]
    main(["phonons", "--mesh", "4", "4", "4", str(all_imaginary)])
    out = capsys.readouterr()
    row_line = [line for line in out.out.splitlines() if line.startswith("neg")]
    assert len(row_line) == 1 and row_line[0].count("n/a") == 3, out.out
    assert "no real modes integrated" in out.err


def test_run_says_undefined_not_zero(all_imaginary):
    from rich.console import Console

    from phonjax.single.cli import print_thermal_table

    ph = _quiet_phonopy_load(all_imaginary)
    ph.produce_force_constants()
    ph.run_mesh([4, 4, 4])
    ph.run_thermal_properties(temperatures=[300.0])
    p = Phonons.from_dataset(all_imaginary, mesh=(4, 4, 4), band_points=5).run()
    th = p.thermal
    assert th.num_integrated_modes == ph.thermal_properties.number_of_integrated_modes == 0
    assert th.num_modes == 4 ** 3 * 6
    assert np.isnan(th.free_energy_kJmol).all() and np.isnan(th.heat_capacity_JKmol).all()
    summary = json.loads(json.dumps(p.summary()))
    assert summary["thermal"]["cells"]["free_energy_kJ_per_mol_cells"] is None
    assert "no real modes integrated" in summary["thermal"]["undefined_reason"]
    console = Console(record=True, width=160)
    print_thermal_table([p], console)
    text = console.export_text()
    assert "n/a" in text and "0.0000" not in text and "no real modes integrated" in text


def test_cv_at_tiny_temperature_is_its_limit():
    """x = hν/k_BT → ∞: S, Cv → 0 and F → ZPE (was Cv = NaN from x²·e^{−x} = inf·0)."""
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    system = phonjax.prepare(ds, mesh=(4, 4, 4))
    r = phonjax.phonon_properties([system], [ds.forces], phonjax.PhononSettings(
        temperatures_K=(0.0, 1e-300, 5e-324)))[0]
    assert r.heat_capacity_JKmol == [0.0, 0.0, 0.0]
    assert r.entropy_JKmol == [0.0, 0.0, 0.0]
    assert r.free_energy_kJmol[1] == r.free_energy_kJmol[2] == r.free_energy_kJmol[0] > 0


# --- (c) meshes ------------------------------------------------------------------------------

@pytest.mark.parametrize("mesh", [(2.5, 2, 2), (2.9, 2.9, 2.9), (True, True, True), (2, 2),
                                  (0, 1, 1)])
def test_non_integer_mesh_is_refused_everywhere(mesh):
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.raises(ValueError, match="mesh must be one or three positive integers"):
        phonjax.prepare(ds, mesh=mesh)
    with pytest.raises(SettingsError, match="mesh"):
        WorkflowSettings(mesh=mesh)
    from phonjax.bench import protocols

    with pytest.raises(options.SettingError, match="mesh"):
        protocols.resolve("loew2024", {"mesh": mesh})


def test_integral_meshes_still_accepted():
    assert options.mesh_numbers("mesh", (2.0, np.int64(3), "4")) == (2, 3, 4)
    assert options.mesh_numbers("mesh", 5) == (5, 5, 5)
    assert WorkflowSettings(mesh=np.array([4, 4, 4])).mesh == (4, 4, 4)


# --- (d) near-Γ acoustic dips ----------------------------------------------------------------

A_LATTICE, N_SUPER, MASS = 2.5, 5, 63.546


def _springs_dataset(beta: float) -> PhononDataset:
    """Simple cubic, one atom, 5×5×5 supercell, isotropic springs (Φ = −k·I) to the ±a
    neighbours (k = 1 eV/Å²) and the ±2a ones along x, y, z (k = −β): every branch is
    ω²(q) ∝ Σ_α [(1 − cos 2πq_α) − β(1 − cos 4πq_α)], negative near Γ for β > 1/4 and,
    for β < 0.38, positive at every commensurate q ≠ Γ (q_α = n/5). Exact harmonic forces."""
    unit = Crystal(np.eye(3) * A_LATTICE, np.zeros((1, 3)), np.array([29]), np.array([MASS]))
    smat = np.eye(3, dtype=int) * N_SUPER
    s = phonjax.prepare(unit, smat, np.eye(3), mesh=(1, 1, 1))
    cells = s.supercell.frac_positions * N_SUPER
    forces = []
    for atom, u in zip(s.displaced_atoms, s.displacements):
        d = cells - cells[atom]
        d = np.rint(d - N_SUPER * np.rint(d / N_SUPER)).astype(int)
        along_axis = np.count_nonzero(d, axis=1) == 1
        k = np.where(along_axis & (np.abs(d).max(axis=1) == 1), 1.0,
                     np.where(along_axis & (np.abs(d).max(axis=1) == 2), -beta, 0.0))
        f = k[:, None] * u[None, :]  # F_j = −Φ(j, i)·u
        f[atom] = -k.sum() * u
        forces.append(f)
    return PhononDataset("springs", unit, smat, np.eye(3), np.asarray(s.displaced_atoms),
                         np.asarray(s.displacements), np.asarray(forces))


def _phonopy_frequencies(ds: PhononDataset, qpoints) -> np.ndarray:
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(cell=ds.unitcell.lattice, scaled_positions=ds.unitcell.frac_positions,
                        numbers=ds.unitcell.numbers, masses=ds.unitcell.masses)
    ph = Phonopy(unit, ds.supercell_matrix, primitive_matrix=ds.primitive_matrix)
    ph.dataset = {"natom": len(ds.forces[0]), "first_atoms": [
        {"number": int(a), "displacement": np.array(d, float), "forces": np.array(f, float)}
        for a, d, f in zip(ds.displaced_atoms, ds.displacements, ds.forces)]}
    ph.produce_force_constants()
    ph.run_qpoints(np.asarray(qpoints, float))
    return ph.get_qpoints_dict()["frequencies"]


def _commensurate(n: int) -> np.ndarray:
    g = np.arange(n) / n
    return np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)


@pytest.fixture(scope="module")
def springs():
    out = {}
    for beta in (0.27, 0.45):
        ds = _springs_dataset(beta)
        out[beta] = (ds, Phonons.from_dataset(ds, mesh=(4, 4, 4), band_points=21).run())
    return out


def test_near_gamma_acoustic_dip_is_flagged_as_likely_numerical(springs):
    ds, p = springs[0.27]
    rep, tol = p.instability, p.settings.imaginary_tolerance_THz
    v = rep.verdict
    # phonopy on the same forces: imaginary acoustic modes at each reported q, all close to Γ;
    # every commensurate q-point (where the supercell fixes the frequencies) is real
    ref = _phonopy_frequencies(ds, [b.q for b in rep.branches])
    radius = 1 / (N_SUPER * A_LATTICE)  # Γ to the nearest commensurate point, 1/Å
    assert v.near_gamma_radius_per_A == pytest.approx(radius)
    for b, f in zip(rep.branches, ref):
        assert b.frequency_THz == pytest.approx(f[b.band], abs=1e-8)
        assert b.band < 3 and -0.5 <= b.frequency_THz < -tol
        assert 0 < np.linalg.norm(b.q) / A_LATTICE < radius and b.near_gamma_acoustic_dip
    comm = _phonopy_frequencies(ds, _commensurate(N_SUPER))
    assert comm[1:].min() > tol  # Γ first: its three modes are the excused acoustic ones
    assert not v.stable and v.kind == "acoustic_dip_near_gamma" and v.acoustic_dip_only
    assert v.n_acoustic_dip_modes > 0 and "larger --min-length" in v.advice
    s = json.loads(json.dumps(p.summary()))["stability"]
    assert s["stable"] is False and s["verdict"] == "acoustic_dip_near_gamma"
    assert s["n_acoustic_dip_branches"] == s["n_unstable_branches"] > 0
    assert s["not_modulated"] == []


def test_dip_files_and_console(springs, tmp_path):
    from phonjax.single.cli import verdict_line

    _, p = springs[0.27]
    p.write(tmp_path)
    modes = json.loads((tmp_path / "imaginary_modes.json").read_text())
    assert modes["verdict"]["kind"] == "acoustic_dip_near_gamma"
    assert all(b["near_gamma_acoustic_dip"] for b in modes["unstable_branches"])
    line = verdict_line(p.instability)
    assert "acoustic dip near Γ" in line and "likely numerical" in line
    assert "unstable" not in line


def test_real_long_wavelength_instability_stays_unstable(springs):
    """β = 0.45: the acoustic branches are imaginary out to commensurate points (phonopy
    agrees): a real instability, even though its smallest near-Γ values look like a dip."""
    ds, p = springs[0.45]
    v = p.instability.verdict
    comm = _phonopy_frequencies(ds, _commensurate(N_SUPER))
    assert comm[1:].min() < -1.0
    assert v.kind == "unstable" and not v.acoustic_dip_only and not v.stable
    assert not any(b.near_gamma_acoustic_dip for b in p.instability.branches)


def test_acoustic_character_against_phonopy_eigenvectors():
    """BaTe near Γ and at Γ: phonopy's three lowest modes are rigid translations (1), the
    optical ones have none (0)."""
    from phonjax.single.instability import acoustic_character

    ph = _quiet_phonopy_load(sample_path("mp-1000"))
    ph.produce_force_constants()
    ph.run_qpoints([[0.0, 0.0, 0.0], [0.01, 0.0, 0.0], [0.005, 0.005, 0.01]],
                   with_eigenvectors=True)
    d = ph.get_qpoints_dict()
    c = acoustic_character(d["eigenvectors"], ph.primitive.masses)
    assert c[:, :3] == pytest.approx(1.0, abs=1e-3) and c[:, 3:] == pytest.approx(0.0, abs=1e-3)
