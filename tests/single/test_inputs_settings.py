"""Inputs (ASE, pymatgen, multi-frame files), settings that make no sense, cell choices and
the thermal table's normalisations, against hand-computed values."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from phonjax.pipeline.cells import choose_cells, min_image_distance, supercell_for_length
from phonjax.single.inputs import InputError, crystal_of, read_inputs
from phonjax.single.settings import SettingsError, WorkflowSettings
from phonjax.single.thermal_table import ThermalTable, reduced_formula


def test_inputs_of_every_kind(tmp_path):
    from pymatgen.io.ase import AseAtomsAdaptor

    nacl = bulk("NaCl", "rocksalt", 5.64, cubic=True)
    structure = AseAtomsAdaptor.get_structure(nacl)
    a, b = crystal_of(nacl), crystal_of(structure)
    np.testing.assert_allclose(a.lattice, b.lattice)
    assert a.numbers.tolist() == b.numbers.tolist()
    ase.io.write(tmp_path / "two.extxyz", [bulk("Si", "diamond", 5.43), bulk("Ge", "diamond", 5.66)])
    items = read_inputs(tmp_path / "two.extxyz")
    assert [i.name for i in items] == ["two-0", "two-1"]
    assert read_inputs(nacl)[0].name == "Cl4Na4"
    with pytest.raises(InputError, match="not periodic in all three directions"):
        crystal_of(Atoms("H2O", positions=[[0, 0, 0], [0.76, 0.59, 0], [-0.76, 0.59, 0]]))
    with pytest.raises(InputError, match="expected a file name, ASE Atoms"):
        crystal_of(42)


@pytest.mark.parametrize("changes, message", [
    (dict(fmax_eV_A=0), "fmax_eV_A must be > 0"),  # RelaxSettings' check
    (dict(relax_steps=2.5), "relax_steps must be an integer"),
    (dict(fix_symmetry="maybe"), "fix_symmetry must be true or false"),
    (dict(mesh=(4, 0, 4)), "mesh must be one or three positive integers"),
    (dict(mesh=(4, 4.5, 4)), "mesh must be one or three positive integers"),
    (dict(temperatures_K=(300, float("nan"))), "temperatures must be finite"),
    (dict(imaginary_tolerance_THz=-1), "imaginary_tolerance_THz must be a finite number ≥ 0"),
    (dict(dos_method="histogram"), "dos_method must be 'tetrahedron' or 'gaussian'"),
    (dict(primitive_matrix="P"), "primitive_matrix must be 'auto', 'spglib', 'unitcell'"),
    (dict(primitive_matrix=np.eye(3) * 2), "1/det must be an integer"),
    (dict(supercell_matrix=(2, 0, 2)), "not invertible"),
    (dict(nac={"born": 1}), "non-analytical correction"),
    (dict(nac="/no/such/BORN"), "born: /no/such/BORN: file not found"),
    (dict(band_points=1), "band_points must be ≥ 2"),
])
def test_settings_refuse_nonsense(changes, message):
    with pytest.raises(SettingsError, match=message):
        WorkflowSettings(**changes)
    assert WorkflowSettings(mesh=12).mesh == (12, 12, 12)


def test_supercell_from_length():
    si = crystal_of(bulk("Si", "diamond", 5.43))  # fcc primitive input
    smat, how = supercell_for_length(si, 20.0)
    # conventional cell (4 primitive cells) × 4 each way: 4·4³ primitive cells
    assert round(np.linalg.det(smat)) == 4 * 64 and "4×4×4 conventional cell" in how
    assert min_image_distance(smat.T @ si.lattice) == pytest.approx(4 * 5.43)
    mg = crystal_of(bulk("Mg", "hcp", 3.21, 5.21))
    smat, _ = supercell_for_length(mg, 20.0)
    np.testing.assert_array_equal(smat, np.diag([7, 7, 4]))  # ⌈20/3.21⌉, ⌈20/5.21⌉
    ch = choose_cells(si, WorkflowSettings(supercell_matrix=(2, 2, 2)))
    assert ch.n_supercell == 16 and ch.n_primitive == 2 and ch.supercell_how == "given"


def test_thermal_normalisations():
    assert reduced_formula(["Sr", "Ti", "O", "O", "O"]) == ("SrTiO3", 1)
    assert reduced_formula(["Cl", "Na", "Na", "Cl"]) == ("NaCl", 2)
    t = np.array([0.0, 300.0])
    th = ThermalTable(t, np.array([10.0, -4.0]), np.array([0.0, 60.0]), np.array([0.0, 40.0]),
                      n_atoms=4, formula="NaCl", z=2, zero_point_energy_kJmol=10.0)
    np.testing.assert_allclose(th.energy_kJmol, [10.0, -4.0 + 300 * 60 / 1000])
    assert th.columns("formula_units")["free_energy_kJ_per_mol_formula_units"][1] == -2.0
    assert th.columns("atoms")["heat_capacity_J_per_K_per_mol_atoms"][1] == 10.0
    assert set(th.all_columns()) >= {"temperature_K", "entropy_J_per_K_per_mol_cells"}
    with pytest.raises(ValueError, match="normalisation"):
        th.columns("moles")
