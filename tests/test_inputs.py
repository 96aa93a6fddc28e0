"""Inputs: file formats, other structure sources, and clear errors for bad input."""

from __future__ import annotations

import bz2
import json
import lzma
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import phonjax
from phonjax import Crystal, CrystalError, DatasetError
from phonjax.io.readers import dataset_id
from tests.conftest import SHARED, sample_path

ROOT = Path(__file__).resolve().parents[1]


def _text(mp_id="mp-1000") -> str:
    return lzma.open(sample_path(mp_id), "rt").read()


def test_compressions_and_plain(tmp_path):
    text = _text()
    (tmp_path / "a.yaml").write_text(text)
    with bz2.open(tmp_path / "b.yaml.bz2", "wt") as f:
        f.write(text)
    ref = phonjax.read_dataset(sample_path("mp-1000"))
    for name in ("a.yaml", "b.yaml.bz2"):
        ds = phonjax.read_dataset(tmp_path / name)
        np.testing.assert_array_equal(ds.forces, ref.forces)
    assert dataset_id("x/mp-1000-pbesol.yaml.bz2") == "mp-1000-pbesol"


def test_parsed_forces_equal_phonopy_loader():
    from validation.reference import phonopy_reference

    ph = phonopy_reference(sample_path("mp-8187"), load_only=True).phonopy
    ds = phonjax.read_dataset(sample_path("mp-8187"))
    np.testing.assert_array_equal(ds.forces, [d["forces"] for d in ph.dataset["first_atoms"]])
    np.testing.assert_array_equal(ds.displacements, [d["displacement"] for d in ph.dataset["first_atoms"]])


@pytest.mark.skipif(not (SHARED / "alexandria-pbe").exists(), reason="needs ../shared/data")
def test_alexandria_format():
    si = phonjax.read_dataset(SHARED / "alexandria-pbe" / "mp-149.yaml.xz")
    assert si.energy_eV == pytest.approx(-43.36303155)
    assert {"free_e", "entropy", "heat_capacity", "phonon_freq", "volume"} <= set(si.reference)
    bate = phonjax.read_dataset(SHARED / "alexandria-pbe" / "mp-1000-pbesol.yaml.bz2")
    assert bate.energy_eV is None and bate.forces.shape == (2, 64, 3)
    # same physics as the phonondb file of BaTe
    r = phonjax.from_dataset(bate)
    assert r.heat_capacity_JKmol[0] == pytest.approx(49.3042, abs=2e-3)


def test_ase_and_pymatgen_inputs_give_the_same_system():
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    atoms = ds.unitcell.to_ase()
    from pymatgen.io.ase import AseAtomsAdaptor

    for crystal in (Crystal.from_ase(atoms), Crystal.from_pymatgen(AseAtomsAdaptor.get_structure(atoms),
                                                                    masses=ds.unitcell.masses)):
        s = phonjax.prepare(crystal, ds.supercell_matrix, ds.primitive_matrix)
        ref = phonjax.prepare(ds, use_dataset_displacements=False)
        np.testing.assert_array_equal(s.displaced_atoms, ref.displaced_atoms)
        np.testing.assert_allclose(s.displacements, ref.displacements, atol=1e-15)


def _write(tmp_path, text, name="bad.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_missing_forces(tmp_path):
    text = _text()
    # drop the forces of the second displacement only
    head, _, tail = text.rpartition("- atom:")
    broken = head + "- atom:" + tail.split("forces:")[0]
    with pytest.raises(DatasetError, match="forces missing"):
        phonjax.read_dataset(_write(tmp_path, broken))
    ds = phonjax.read_dataset(_write(tmp_path, text.split("displacements:")[0], "nodisp.yaml"))
    with pytest.raises(ValueError, match="no forces"):
        phonjax.from_dataset(ds)


def test_wrong_force_shapes(tmp_path):
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    s = phonjax.prepare(ds)
    with pytest.raises(ValueError, match="expected"):
        phonjax.phonon_properties([s], [ds.forces[:, :10]])
    with pytest.raises(DatasetError, match="shape"):
        phonjax.PhononDataset("x", ds.unitcell, ds.supercell_matrix, ds.primitive_matrix,
                              ds.displaced_atoms, ds.displacements, ds.forces[:, :-1])
    bad = ds.forces.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        phonjax.phonon_properties([s], [bad])


@pytest.mark.parametrize("smat, message", [
    (np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0]]), "not invertible"),
    (np.array([[1.5, 0, 0], [0, 1, 0], [0, 0, 1]]), "integer"),
    (np.zeros((2, 2)), "3x3"),
])
def test_bad_supercell_matrix(smat, message):
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.raises(DatasetError, match=message):
        phonjax.prepare(ds.unitcell, smat, ds.primitive_matrix)


def test_primitive_matrix_must_be_explicit_and_fit():
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.raises(DatasetError, match="explicit"):
        phonjax.prepare(ds.unitcell, ds.supercell_matrix, "auto")
    with pytest.raises((CrystalError, DatasetError)):
        phonjax.prepare(ds.unitcell, ds.supercell_matrix, np.diag([0.5, 1, 1]))


def test_unknown_element_and_nonperiodic_cell(tmp_path):
    with pytest.raises(CrystalError, match="unknown element"):
        Crystal.from_symbols(np.eye(3) * 4, [[0, 0, 0]], ["Xx"])
    with pytest.raises(CrystalError, match="unknown atomic number"):
        Crystal(np.eye(3) * 4, [[0, 0, 0]], [0])
    with pytest.raises(CrystalError, match="singular"):
        Crystal(np.diag([4.0, 4.0, 0.0]), [[0, 0, 0]], [14])
    from ase import Atoms

    with pytest.raises(CrystalError, match="periodic"):
        Crystal.from_ase(Atoms("Si2", positions=[[0, 0, 0], [1, 1, 1]], cell=np.eye(3) * 5,
                               pbc=[True, True, False]))
    with pytest.raises(DatasetError, match="unknown element"):
        phonjax.read_dataset(_write(tmp_path, _text().replace("symbol: Ba", "symbol: Qq")))


def test_corrupt_files(tmp_path):
    (tmp_path / "x.yaml.xz").write_bytes(b"not xz at all")
    with pytest.raises(DatasetError, match="decompress"):
        phonjax.read_dataset(tmp_path / "x.yaml.xz")
    with pytest.raises(DatasetError, match="missing 'unit_cell'"):
        phonjax.read_dataset(_write(tmp_path, "phonopy:\n  version: 1\n"))


def test_cli_reports_bad_files_and_runs_the_rest(tmp_path):
    bad = _write(tmp_path, "supercell_matrix: [[1,0,0],[0,1,0],[0,0,1]]\n", "broken.yaml")
    proc = subprocess.run([sys.executable, "-m", "phonjax", "phonons", "--json", "--mesh", "4", "4", "4",
                           str(sample_path("mp-1000")), str(bad)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode != 0
    errors = [l for l in proc.stderr.splitlines() if "broken.yaml" in l]
    assert len(errors) == 1 and "unit_cell" in errors[0]
    lines = [json.loads(l) for l in proc.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["id"] == "mp-1000"
    for key in ("id", "n_primitive", "free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol",
                "omega_max_K", "omega_min_K", "stable", "gamma_acoustic_tolerance_K"):
        assert key in lines[0]


def test_element_symbols_are_ases():
    from ase.data import chemical_symbols

    from phonjax.structure.elements import SYMBOLS

    assert list(SYMBOLS) == list(chemical_symbols)


def test_memory_bounds_refuse_before_running():
    """A mesh or a kernel over the bound: one line naming the material, before any work."""
    from phonjax.resources import ResourceError

    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.raises(ResourceError, match=r"mp-1000: the 300×300×300 q-mesh needs ~\d"):
        phonjax.prepare(ds, mesh=(300, 300, 300))
    s = phonjax.prepare(ds)
    with pytest.raises(ResourceError, match=r"mp-1000: the kernel \(64 supercell atoms, 6 modes\)"):
        phonjax.phonon_properties([s], [ds.forces], plan=phonjax.Plan(memory_bytes=1e6))


# --- inputs that are wrong but used to be read (issue 18, item 3) -------------------------

FIRST_ROWS = ("  - [  -0.0287963800000000,  0.0000000000000000,  0.0000000000000000 ]\n"
              "  - [   0.0052340100000000,  0.0000000000000000,  0.0000000000000000 ]\n")


def _edited(tmp_path, old: str, new: str, name="edited.yaml"):
    text = _text()
    assert text.count(old) >= 1, old
    return _write(tmp_path, text.replace(old, new, 1), name)


def test_force_rows_keep_their_boundaries(tmp_path):
    """A row of 2 numbers followed by a row of 4 shifted every force (F = -15.93 instead of
    -16.10 kJ/mol at exit status 0): each row must hold exactly three numbers."""
    ragged = ("  - [  -0.0287963800000000,  0.0000000000000000 ]\n"
              "  - [   0.0052340100000000,  0.0000000000000000,  0.0000000000000000, 0.0 ]\n")
    with pytest.raises(DatasetError, match=r"forces of displaced atom 1, row 1: 2 numbers"):
        phonjax.read_dataset(_edited(tmp_path, FIRST_ROWS, ragged))


def test_yaml_comments_and_spellings_in_force_rows(tmp_path):
    ref = phonjax.read_dataset(sample_path("mp-1000"))
    commented = FIRST_ROWS.replace(" ]\n", " ] # a comment\n")
    ds = phonjax.read_dataset(_edited(tmp_path, FIRST_ROWS, "  # whole-line comment\n" + commented))
    np.testing.assert_array_equal(ds.forces, ref.forces)
    nan = FIRST_ROWS.replace("-0.0287963800000000", ".nan", 1)
    with pytest.raises(DatasetError, match="NaN"):
        phonjax.read_dataset(_edited(tmp_path, FIRST_ROWS, nan, "nan.yaml"))
    word = FIRST_ROWS.replace("-0.0287963800000000", "abc", 1)
    with pytest.raises(DatasetError, match="'abc' is not a number"):
        phonjax.read_dataset(_edited(tmp_path, FIRST_ROWS, word, "word.yaml"))


def test_block_style_rows():
    from phonjax.io.readers import triples, vector_rows

    block = "\n  - - -0.1  # first\n    - 0.0\n    - -.inf\n  - - 2e-3\n    - -1\n    - .5\n"
    rows = triples(vector_rows(block, "forces"), "forces")
    np.testing.assert_array_equal(rows, [[-0.1, 0.0, -np.inf], [2e-3, -1.0, 0.5]])
    with pytest.raises(DatasetError, match="row 2: 2 numbers"):
        triples(vector_rows(block.replace("    - .5\n", ""), "forces"), "forces")


def test_zero_length_displacement_is_refused(tmp_path):
    """It was dropped by the pseudo-inverse: F = -8.88 instead of -16.10, stable = false."""
    disp = "    [   0.0100000000000000,  0.0000000000000000,  0.0000000000000000 ]"
    with pytest.raises(DatasetError, match="displacement 1 .*at least 1e-06"):
        phonjax.read_dataset(_edited(tmp_path, disp, disp.replace("0.01", "0.00")))


def test_stored_supercell_must_match_the_built_one(tmp_path):
    """diag(1,2,4) for diag(2,2,2) has the same determinant and gave F = -103 kJ/mol,
    'unstable', at exit status 0; so did a unit cell edited without its forces."""
    smat = "- [   2,   0,   0 ]\n- [   0,   2,   0 ]\n- [   0,   0,   2 ]"
    permuted = "- [   1,   0,   0 ]\n- [   0,   2,   0 ]\n- [   0,   0,   4 ]"
    with pytest.raises(DatasetError, match="supercell lattice differs"):
        phonjax.read_dataset(_edited(tmp_path, smat, permuted))
    lattice = "  - [     6.969672770000000,     0.000000000000000,     0.000000000000000 ] # a"
    sheared = lattice.replace("0.000000000000000,     0.000000000000000 ] # a",
                              "0.500000000000000,     0.000000000000000 ] # a")
    with pytest.raises(DatasetError, match="supercell lattice differs"):
        phonjax.read_dataset(_edited(tmp_path, lattice, sheared, "sheared.yaml"))


@pytest.mark.skipif(not (SHARED / "alexandria-pbe").exists(), reason="needs ../shared/data")
def test_stored_supercell_checked_in_alexandria_files(tmp_path):
    text = lzma.open(SHARED / "alexandria-pbe" / "mp-149.yaml.xz", "rt").read()
    smat = "supercell_matrix:\n- - 2\n  - 0\n  - 0\n- - 0\n  - 2\n  - 0\n- - 0\n  - 0\n  - 2\n"
    assert smat in text
    bad = text.replace(smat, smat.replace("- - 2\n  - 0\n  - 0", "- - 1\n  - 0\n  - 0")
                       .replace("  - 0\n  - 2\n", "  - 0\n  - 4\n", 1))
    with pytest.raises(DatasetError, match="supercell lattice differs"):
        phonjax.read_dataset(_write(tmp_path, bad, "si.yaml"))


def test_left_handed_primitive_matrix_is_refused():
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    with pytest.raises(DatasetError, match="negative determinant"):
        phonjax.prepare(ds.unitcell, ds.supercell_matrix, -ds.primitive_matrix)
