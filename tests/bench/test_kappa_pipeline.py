"""The κ steps of (crystal, model) (``pipeline.kappa``) and the κ bench task, against the
benchmark's published pipeline written with ASE and phono3py 4.10 alone
(``validation.kappa_srme_phono3py``), on the toy Morse potential (NumPy float64, so the
two sides see the same forces to rounding)."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes
from ase.stress import full_3x3_to_voigt_6_stress

import tests.bench.fakes as fakes
from phonjax.pipeline import models
from phonjax.pipeline.kappa import KappaCrystal, KappaRecipe, imaginary_gate, kappa_of_crystals
from phonjax.pipeline.relax import relax_many
from phonjax.pipeline.settings import TwoStageRelaxSettings

pytest.importorskip("phono3py")
published = pytest.importorskip("validation.kappa_srme_phono3py")

FCC = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


class MorseCalculator(Calculator):
    """fakes.morse as an ASE calculator: the published pipeline's view of the model."""

    implemented_properties = ["energy", "free_energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=None, system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        e, f, s = fakes.morse(self.atoms)
        self.results = {"energy": e, "free_energy": e, "forces": f,
                        "stress": full_3x3_to_voigt_6_stress(s)}


def magnesium():
    """hcp Mg under the toy Morse potential: stable, two atoms (coherence terms), strained
    off its minimum so that both relaxations have work to do."""
    return bulk("Mg", "hcp", a=3.3, c=5.3)


def crystal(name="Mg", atoms=None, mesh=(4, 4, 3)):
    return KappaCrystal(name, magnesium() if atoms is None else atoms, np.diag([2, 2, 1]),
                        np.diag([3, 3, 2]), np.eye(3), mesh)


@pytest.fixture(scope="module")
def toy():
    fakes.register()
    return models.adapter("toy:morse")


def test_two_stage_relaxation_equals_ase_fire(toy):
    settings = TwoStageRelaxSettings()
    [ours] = relax_many([magnesium()], toy, settings)
    theirs, g0, g1 = published.published_relax(magnesium(), MorseCalculator())
    assert ours.ok and ours.details["steps"][0] > 10  # stage 1 did the work
    assert (ours.details["initial_space_group"], ours.details["final_space_group"]) == (g0, g1)
    assert not ours.details["broken_symmetry"]
    assert np.abs(np.asarray(ours.atoms.cell) - np.asarray(theirs.cell)).max() < 1e-10
    assert np.abs(ours.atoms.positions - theirs.positions).max() < 1e-10
    assert ours.fmax_eV_A <= settings.fmax_eV_A


def test_pipeline_kappa_equals_published_pipeline(toy):
    """Everything but isotope scattering, whose tetrahedron value in phono3py is decided by
    rounding on a mesh this small (BENCHMARKS §15; tests/anharmonic/test_isotope.py compares
    it on the same phonons)."""
    [o] = kappa_of_crystals([crystal()], toy, KappaRecipe(isotope=False))
    assert o.status == "ok", o.reason
    ref = published.phono3py_kappa(o.relaxation.atoms, np.diag([2, 2, 1]), np.diag([3, 3, 2]),
                                   (4, 4, 3), calculator=MorseCalculator(), isotope=False)
    r = o.result
    assert r.kappa_coherence is not None and r.kappa_coherence[0, 0] > 0
    scale = np.abs(ref["kappa"]).max()
    assert scale > 1  # W/m·K: a real conductivity, not a symmetry zero
    # tetrahedron weights amplify the eigensolvers' 1e-14 THz differences (BENCHMARKS §15)
    assert np.abs(r.kappa[0] - ref["kappa"]).max() <= 1e-6 * scale
    from phonjax.bench.kappa_metrics import mode_kappa_total, split_band_pairs

    p, c = split_band_pairs(r.mode_kappa_matrix, r.frequency)
    modes = mode_kappa_total(p, c, r.heat_capacity)[0]
    assert np.abs(modes - ref["mode_kappa_tot_avg"]).max() <= 1e-6 * np.abs(modes).max()
    live = ref["frequencies"] > 0.01  # Γ's acoustic modes: √(round-off), ~1e-7 THz apart
    np.testing.assert_allclose(r.frequency[live], ref["frequencies"][live], atol=1e-8)
    assert np.abs(r.frequency[~live]).max() < 1e-6
    np.testing.assert_array_equal(r.weight, ref["weights"])
    # the gate on the mesh phonons agrees with phono3py's (grid point 0 is Γ there)
    assert imaginary_gate(ref["mesh_frequencies"], 0, -0.01)[0] == o.gate.imaginary is False
    # the forces the model gave are the dataset handed over with the outcome
    assert o.dataset.fc3_forces.shape[0] == len(o.dataset.fc3_displacements.first_of_pair) + \
        len(o.dataset.fc3_displacements.first_atoms)


def test_unstable_crystal_is_censored_with_its_reason(toy):
    """Diamond under a pair potential has imaginary modes: censored at the gate, no κ."""
    si = bulk("Si", "diamond", a=5.43, cubic=True)
    c = KappaCrystal("Si", si, np.eye(3, dtype=int), 2 * np.eye(3, dtype=int), FCC, (4, 4, 4))
    [o] = kappa_of_crystals([c], toy, KappaRecipe(relax=None))
    assert o.status == "censored" and o.stage == "gate" and o.result is None
    assert "imaginary" in o.reason and o.gate.imaginary
    # phonopy's masses, as phono3py takes them for a cell given without (Si: 28.0855, not
    # ASE's 28.085)
    from phonopy.structure.atoms import PhonopyAtoms as _PA

    assert np.array_equal(o.dataset.unitcell.masses, _PA(symbols=["Si"] * 8, cell=np.eye(3),
                                                        scaled_positions=np.zeros((8, 3))).masses)
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    ph3 = Phono3py(PhonopyAtoms(cell=si.cell, scaled_positions=si.get_scaled_positions(),
                                numbers=si.numbers), supercell_matrix=np.eye(3, dtype=int),
                   primitive_matrix=FCC, phonon_supercell_matrix=2 * np.eye(3, dtype=int),
                   log_level=0)
    ph3.generate_displacements(distance=0.03)
    calc = MorseCalculator()

    def forces(cells):
        out = []
        for cell in cells:
            from ase import Atoms

            a = Atoms(cell.symbols, cell=cell.cell, positions=cell.positions, pbc=True)
            a.calc = calc
            out.append(a.get_forces())
        return np.array(out)

    ph3.phonon_forces = forces(ph3.phonon_supercells_with_displacements)
    ph3.produce_fc2()
    ph3.symmetrize_fc2()
    ph3.mesh_numbers = [4, 4, 4]
    ph3.init_phph_interaction()
    ph3.run_phonon_solver()
    assert imaginary_gate(np.array(ph3.get_phonon_data()[0]), 0, -0.01)[0]  # phono3py agrees


def test_imaginary_gate_rule():
    f = np.array([[-0.005, 0.0, 0.0, 5.0], [0.1, 0.2, 0.3, 4.0]])
    assert not imaginary_gate(f, 0, -0.01)[0]  # Γ acoustic round-off tolerated
    f[0, 0] = -0.02
    assert imaginary_gate(f, 0, -0.01)[0]
    f[0, 0], f[1, 0] = 0.0, -1e-6  # anywhere else: any negative frequency
    assert imaginary_gate(f, 0, -0.01)[0]
    f[1, 0], f[0] = 0.1, -1e-6  # Γ's fourth band (optical) too, bands ascending
    assert imaginary_gate(f, 0, -0.01)[0]


def test_bench_kappa_task_end_to_end(tmp_path):
    """``phonjax bench --task kappa`` on one benchmark crystal with the toy model: a row
    in the store with the protocol's key, the report's tables; a second run computes nothing."""
    from phonjax.bench.cli import main
    from phonjax.bench.kappa_reference import default_folder

    try:
        default_folder()
    except ValueError as exc:
        pytest.skip(str(exc))
    args = ["--task", "kappa", "--model", "toy:morse", "--material", "mp-1550",
            "--set", "mesh=3", "--set", "steps=50", "--out", str(tmp_path), "--no-progress",
            "--no-figures"]
    assert main(args) == 0
    with sqlite3.connect(tmp_path / "bench.sqlite") as db:
        rows = db.execute("SELECT material_id, model, protocol, status, data FROM results"
                          ).fetchall()
    assert len(rows) == 1
    mid, model, protocol, status, data = rows[0]
    assert (mid, model) == ("mp-1550", "toy:morse") and protocol.startswith("kappa-srme@v1+")
    data = json.loads(data)
    assert status in ("ok", "censored", "failed") and data["stage"]
    assert "relax" in data and data["relax"]["initial_space_group"] == 216
    summary = next(tmp_path.glob("kappa-*/summary.md")).read_text()
    assert "mp-1550" in summary and "toy:morse" in summary
    assert main(args) == 0  # nothing left to compute
    with sqlite3.connect(tmp_path / "bench.sqlite") as db:
        assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 1


def test_kappa_protocol_settings_and_keys():
    from phonjax.bench.kappa_task import KAPPA_PRESETS, resolve_kappa

    base = KAPPA_PRESETS["kappa-srme"]
    assert base.key == "kappa-srme@v1"
    r = base.recipe
    assert (r.method, r.isotope, r.boundary_mfp_um, r.temperatures_K, r.distance_A,
            r.symmetrization, r.relax.fmax_eV_A, r.relax.steps) == (
        "wigner", True, 1e6, (300.0,), 0.03, "traditional", 1e-4, 300)
    quick = resolve_kappa("kappa-srme", {"mesh": "5", "steps": "10"})
    assert quick.mesh == (5, 5, 5) and quick.recipe.relax.steps == 10
    assert quick.key.startswith("kappa-srme@v1+") and quick.key != base.key
    assert resolve_kappa("kappa-srme", {}).key == base.key
    for bad in ({"mesh": "2.5"}, {"method": "lbte"}, {"fmax_eV_A": "-1"}, {"nonsense": "1"}):
        with pytest.raises(ValueError):
            resolve_kappa("kappa-srme", bad)
