"""Reading phonopy's own files: phonopy_disp.yaml + FORCE_SETS + BORN, and nac sections.

Good files must give what phonopy itself reads (its Born-charge expansion, its forces);
bad or inconsistent ones must fail with one line naming the file and the reason, never
be misread: force rows of the wrong length, numbers that are not numbers, zero-length
displacements, a supercell count or a line count that does not add up, a stored
supercell that is not the one ``supercell_matrix`` makes, a BORN with too many lines.
"""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest

import phonjax
from phonjax.io import DatasetError, read_born, read_dataset, read_input
from tests.conftest import EXAMPLES

pytestmark = pytest.mark.skipif(not EXAMPLES.is_dir(), reason="phonopy example folders not found")


def _copy(tmp_path, name="NaCl"):
    folder = tmp_path / name
    shutil.copytree(EXAMPLES / name, folder)
    for f in folder.iterdir():
        f.chmod(0o644)
    return folder


def _edit(path, old, new, count=1):
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, count))


def _fails(folder, *words):
    with pytest.raises(DatasetError) as info:
        read_input(folder)
    message = str(info.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_folders_read_as_phonopy_reads_them():
    import phonopy

    for name in ("NaCl", "MgO", "Al2O3", "Cr", "MgB2"):
        folder = EXAMPLES / name
        ds = read_input(folder)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = phonopy.load(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                              born_filename=(folder / "BORN") if (folder / "BORN").is_file() else None,
                              produce_fc=False, primitive_matrix=ds.primitive_matrix.tolist())
        first = ph.dataset["first_atoms"]
        assert ds.id == name
        np.testing.assert_array_equal(ds.displaced_atoms, [d["number"] for d in first])
        np.testing.assert_array_equal(ds.forces, [d["forces"] for d in first])
        np.testing.assert_array_equal(ds.supercell_matrix, ph.supercell_matrix)
        if (folder / "BORN").is_file():  # phonopy's expansion, in the same atom order
            np.testing.assert_allclose(ds.nac.born, ph.nac_params["born"], atol=1e-12, rtol=0)
            np.testing.assert_allclose(ds.nac.dielectric, ph.nac_params["dielectric"], atol=1e-12)
            assert ds.nac.factor == ph.nac_params["factor"]
        else:
            assert ds.nac is None
    assert read_input(EXAMPLES / "Al2O3", nac=False).nac is None


def test_born_comment_line_gives_the_default_factor():
    ds = read_input(EXAMPLES / "Al2O3")  # its BORN opens with a comment, not a factor
    assert ds.nac.factor == 14.39965172592227 and len(ds.nac.born) == 10


@pytest.mark.parametrize("old, new, words", [
    ("  -0.0180619400    0.0000000000    0.0000000000", "  -0.0180619400    0.0 0.0 1.0",
     ["FORCE_SETS", "line 6: force row 1 of displacement 1 has 4 numbers"]),
    ("   0.0030240400    0.0000000000    0.0000000000", "   0.0030240400    0.0000000000",
     ["FORCE_SETS", "line 7: force row 2 of displacement 1 has 2 numbers"]),
    ("  -0.0180619400    0.0000000000", "  -0.0180619400    .nan",
     ["FORCE_SETS", "line 6", "not numbers"]),
    ("  -0.0180619400    0.0000000000", "  -0.0180619400    nan", ["FORCE_SETS", "line 6", "NaN"]),
    ("\n1\n  0.01", "\n1.5\n  0.01", ["FORCE_SETS", "line 4: the atom of displacement 1",
                                         "not an integer"]),
    ("  0.0100000000000000   0.0000000000000000", "  0.0000000000000000   0.0000000000000000",
     ["FORCE_SETS", "displacement 1", "zero length"]),
    ("64\n2\n", "63\n2\n", ["FORCE_SETS", "line 69: the atom of displacement 2 has 3 numbers"]),
    ("64\n2\n", "64\n1\n", ["FORCE_SETS", "line 71: more lines than 1 displacements"]),
    ("64\n2\n", "64\n3\n", ["FORCE_SETS", "ends before the atom of displacement 3"]),
    ("64\n2\n", "64 atoms\n2\n", ["FORCE_SETS", "line 1: the number of atoms is not an integer "
                                   "('64 atoms'); expected one integer"]),
    ("64\n2\n", "64\ntwo\n", ["FORCE_SETS", "line 2: the number of displacements is not an "
                               "integer ('two'); expected one integer"]),
    ("64\n2\n", "# FORCE_SETS of NaCl\n64\n2\n", ["FORCE_SETS", "line 1: the number of atoms is "
                                                   "not an integer ('# FORCE_SETS of NaCl')"]),
    ("64\n2\n", "64\n-1\n", ["FORCE_SETS", "line 2: the number of displacements is -1"]),
])
def test_bad_force_sets_fail_in_one_line(tmp_path, old, new, words):
    folder = _copy(tmp_path)
    _edit(folder / "FORCE_SETS", old, new)
    _fails(folder, *words)


def test_force_sets_of_another_supercell_fail(tmp_path):
    folder = _copy(tmp_path)
    shutil.copy(EXAMPLES / "Cr" / "FORCE_SETS", folder / "FORCE_SETS")
    _fails(folder, "FORCE_SETS", "forces on 16 atoms, but the supercell has 64")


def test_type2_force_sets_are_read_and_fitted_as_phonopy(tmp_path):
    """A type-2 FORCE_SETS (random displacements, every atom displaced) next to
    phonopy_disp.yaml: read as phonopy reads it, fitted by symfc as phonopy 4 fits it."""
    import warnings

    import phonopy
    from phonopy.file_IO import write_FORCE_SETS

    from phonjax import Phonons

    folder = _copy(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = phonopy.load(EXAMPLES / "NaCl" / "phonopy_disp.yaml", is_nac=False,
                           is_compact_fc=False,
                           force_sets_filename=EXAMPLES / "NaCl" / "FORCE_SETS")
    fc = ref.force_constants  # a harmonic model: F = −Φ·u
    ref.generate_displacements(distance=0.03, number_of_snapshots=3, random_seed=5)
    u = ref.displacements
    ref.forces = -np.einsum("ijab,sjb->sia", fc, u)
    write_FORCE_SETS(ref.dataset, filename=folder / "FORCE_SETS")
    ds = read_input(folder, nac=False)
    assert ds.displacements is None
    np.testing.assert_allclose(ds.displacement_fields, u, atol=1e-8)  # printed to 1e-8 Å
    np.testing.assert_allclose(ds.forces, ref.forces, atol=1e-8)  # printed to 1e-8 eV/Å
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                          is_nac=False, fc_calculator="symfc", symmetrize_fc=False,
                          is_compact_fc=False)
    p = Phonons.from_dataset(folder, nac=False, mesh=(3, 3, 3))
    p.produce_force_constants()
    assert "type-2" in p.harmonic.fc_rule and p.settings.fc_calculator == "symfc"
    assert np.abs(p.result.force_constants - ph.force_constants).max() < 1e-10  # measured 0


def test_type2_force_sets_are_refused_by_the_type1_reader(tmp_path):
    from phonjax.io import read_force_sets

    path = tmp_path / "FORCE_SETS"
    path.write_text("0.01 0 0 -0.1 0 0\n" * 64)
    with pytest.raises(DatasetError, match="read_force_sets reads type 1"):
        read_force_sets(path, 64)


def test_type2_force_sets_after_a_comment_are_refused_naming_the_line(tmp_path):
    folder = _copy(tmp_path)
    (folder / "FORCE_SETS").write_text("# displacements and forces\n" + "0.01 0 0 -0.1 0 0\n" * 64)
    _fails(folder, "FORCE_SETS", "line 2: type-2 FORCE_SETS", "'#' comment on line 1")


def test_a_stored_supercell_other_than_the_built_one_fails(tmp_path):
    folder = _copy(tmp_path)
    text = (folder / "phonopy_disp.yaml").read_text()
    head, supercell = text.split("\nsupercell:", 1)
    # move one atom of the stored supercell: its forces would belong to another structure
    supercell = supercell.replace("coordinates: [  0.000000000000000,  0.000000000000000,  "
                                  "0.250000000000000 ]", "coordinates: [  0.000000000000000,  "
                                  "0.000000000000000,  0.260000000000000 ]", 1)
    (folder / "phonopy_disp.yaml").write_text(head + "\nsupercell:" + supercell)
    _fails(folder, "phonopy_disp.yaml", "stored supercell")


def test_force_sets_of_other_displacements_warn_and_are_used(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder / "phonopy_disp.yaml", "- atom:   33", "- atom:   34")
    with pytest.warns(UserWarning, match="FORCE_SETS"):
        ds = read_input(folder)
    assert ds.displaced_atoms.tolist() == [0, 32]  # FORCE_SETS's, as phonopy


@pytest.mark.parametrize("old, new, words", [
    ("-1.08672 0 0 0 -1.08672 0 0 0 -1.08672", "-1.08672 0 0 0 -1.08672 0 0 0 -1.08672\n1 0 0 0 1 0 "
     "0 0 1", ["BORN", "3 row(s) of Born charges", "2 symmetry-independent atom(s) (Na1, Cl2)"]),
    ("2.43533967 0 0 0 2.43533967 0 0 0 2.43533967", "2.43533967 0 0 0 2.43533967 0 0 0",
     ["BORN", "line 2"]),
    ("2.43533967 0 0 0 2.43533967 0 0 0 2.43533967", "2.4 0 0 0 -2.4 0 0 0 2.4",
     ["BORN", "not positive definite"]),
])
def test_bad_born_fails_in_one_line(tmp_path, old, new, words):
    folder = _copy(tmp_path)
    _edit(folder / "BORN", old, new)
    _fails(folder, *words)


def test_no_forces_anywhere_fails(tmp_path):
    folder = _copy(tmp_path, "Cr")
    (folder / "FORCE_SETS").unlink()
    _fails(folder, "phonopy_disp.yaml", "no forces")


def test_nac_section_of_phonopy_params_as_phonopy_reads_it(tmp_path):
    """phonopy's own phonopy_params.yaml (written by phonopy, with its nac section) reads to
    the same NAC parameters and results as the folder it came from."""
    import phonopy

    folder = EXAMPLES / "NaCl"
    ds = read_input(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                          born_filename=folder / "BORN", produce_fc=False,
                          primitive_matrix=ds.primitive_matrix.tolist())
    ph.save(tmp_path / "phonopy_params.yaml")
    params = read_dataset(tmp_path / "phonopy_params.yaml")
    np.testing.assert_allclose(params.nac.born, ph.nac_params["born"], atol=1e-14)
    np.testing.assert_allclose(params.nac.dielectric, ph.nac_params["dielectric"], atol=1e-14)
    assert params.nac.factor == ph.nac_params["factor"]
    assert read_input(tmp_path, nac=False).nac is None


def test_unit_cell_born_charges_with_a_crystal(phonopy_example):
    """``prepare(crystal, S, P, nac=NACParams(...))``: Born charges given per unit-cell atom
    (NaCl's conventional 8-atom cell) give phonopy's NAC results, as the BORN file does."""
    ref, ds, _ = phonopy_example("NaCl", "gonze")
    unit_born = np.where(ds.unitcell.numbers[:, None, None] == 11, 1.08703, -1.08672) * np.eye(3)
    nac = phonjax.NACParams(born=unit_born, dielectric=ds.nac.dielectric, factor=ds.nac.factor)
    system = phonjax.prepare(ds.unitcell, ds.supercell_matrix, ds.primitive_matrix, nac=nac)
    r = phonjax.phonon_properties([system], [ds.forces])[0]
    theirs = ref.free_energy_kJmol[0]
    assert abs(r.free_energy_kJmol[0] - theirs) <= 1e-8 * abs(theirs)
    with pytest.raises(ValueError, match="3 Born charges"):
        phonjax.prepare(ds.unitcell, ds.supercell_matrix, ds.primitive_matrix,
                        nac=nac.replace(born=unit_born[:3]))
    with pytest.raises(ValueError, match="method"):
        nac.replace(method="ewald")


def test_cli_folder_with_and_without_nac(phonopy_example, capsys):
    from phonjax.cli import main

    ref_nac, _, _ = phonopy_example("NaCl", "gonze")
    ref_off, _, _ = phonopy_example("NaCl", None)
    for extra, ref in (([], ref_nac), (["--no-nac"], ref_off)):
        assert main(["phonons", str(EXAMPLES / "NaCl"), "--json", *extra]) == 0
        row = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert row["id"] == "NaCl" and row["nac"] == (None if extra else "gonze")
        assert abs(row["free_energy_kJmol"] - ref.free_energy_kJmol[0]) <= 1e-8 * abs(
            ref.free_energy_kJmol[0])
    assert main(["phonons", str(EXAMPLES / "Cr"), "--born", str(EXAMPLES / "NaCl" / "BORN")]) == 1
    assert "BORN" in capsys.readouterr().err


def _phonopy_load_default(yaml_path, **files):
    """``phonopy.load`` with its default ``primitive_matrix`` ("auto", unless the file has one)."""
    import phonopy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return phonopy.load(yaml_path, produce_fc=False, **files)


def test_primitive_cell_is_the_one_phonopy_load_chooses(tmp_path):
    """Without ``primitive_matrix`` in the yaml (MgO's phonopy_disp.yaml, written by phonopy
    2.7) ``phonopy.load`` uses "auto": the 2-atom primitive cell, not the stored 8-atom unit
    cell; with one (NaCl) the file's. The same for a phonopy_params.yaml."""
    from phonjax.io.readers import PRIMITIVE_AUTO, PRIMITIVE_FROM_FILE

    for name, rule in (("MgO", PRIMITIVE_AUTO), ("NaCl", PRIMITIVE_FROM_FILE),
                       ("MgB2", PRIMITIVE_AUTO)):
        folder = EXAMPLES / name
        ds = read_input(folder)
        ph = _phonopy_load_default(folder / "phonopy_disp.yaml",
                                   force_sets_filename=folder / "FORCE_SETS")
        np.testing.assert_allclose(ds.primitive_matrix, ph.primitive_matrix, atol=1e-12)
        assert ds.primitive_matrix_rule == rule, name
    ph.save(tmp_path / "with.yaml")  # MgB2, its primitive_matrix written out
    text = (tmp_path / "with.yaml").read_text()
    head, rest = text.split("primitive_matrix:\n", 1)
    (tmp_path / "without.yaml").write_text(head + rest.split("\n", 3)[3])
    for file, rule in (("with.yaml", PRIMITIVE_FROM_FILE), ("without.yaml", PRIMITIVE_AUTO)):
        params = read_dataset(tmp_path / file)
        np.testing.assert_allclose(params.primitive_matrix,
                                   _phonopy_load_default(tmp_path / file).primitive_matrix,
                                   atol=1e-12)
        assert params.primitive_matrix_rule == rule


def test_mgo_without_primitive_matrix_matches_phonopy_load(capsys):
    """MgO through ``phonjax phonons --json`` and the API equals ``phonopy.load`` with its
    default primitive matrix (its 2-atom "auto" cell): F, S, Cv per mole at 300 K on the
    default (shifted, Γ-free) 20³ mesh, and the mesh frequencies, to 1e-8."""
    from phonjax.cli import main
    from phonjax.execution.modes import modes
    from phonjax.io.readers import PRIMITIVE_AUTO

    folder = EXAMPLES / "MgO"
    ph = _phonopy_load_default(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                               born_filename=folder / "BORN")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # phonopy: the shifted mesh has time-reversal symmetry only
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
        ph.run_mesh([20, 20, 20])
        ph.run_thermal_properties(temperatures=[300.0])
    tp = ph.thermal_properties
    theirs = {"free_energy": tp.free_energy, "entropy": tp.entropy,
              "heat_capacity": tp.heat_capacity}
    assert main(["phonons", str(folder), "--json"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["n_primitive"] == 2 == len(ph.primitive)
    assert row["primitive_matrix_rule"] == PRIMITIVE_AUTO
    np.testing.assert_allclose(row["primitive_matrix"], ph.primitive_matrix, atol=1e-12)
    for ours, key in (("free_energy_kJmol", "free_energy"), ("entropy_JKmol", "entropy"),
                      ("heat_capacity_JKmol", "heat_capacity")):
        assert abs(row[ours] - theirs[key][0]) <= 1e-8 * abs(theirs[key][0]), (ours, row[ours])
    assert main(["phonons", str(folder)]) == 0  # the table marks the "auto" cell
    out, err = capsys.readouterr()
    assert any(line.split()[:2] == ["MgO", "2*"] for line in out.splitlines()), out
    assert f"n_p*: primitive cell by {PRIMITIVE_AUTO}" in err
    ds = read_input(folder)
    system = phonjax.prepare(ds)
    r = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True)[0]
    ours = modes(system.tables, r.force_constants, ph.mesh.qpoints)[0]
    assert np.abs(ours - ph.mesh.frequencies).max() <= 1e-8


def test_type2_phonopy_params_both_layouts(tmp_path):
    """A phonopy_params.yaml with random displacements, in phonopy ≥ 2.24's layout (``dataset:``)
    and in the older one (``displacements:`` with a displacement and a force per atom, as
    phonopy's own test file phonopy_params_NaCl-rd.yaml): the same arrays, and the force
    constants of phonopy.load (symfc) on the same file."""
    import warnings

    import phonopy

    from phonjax import Phonons

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(EXAMPLES / "NaCl" / "phonopy_disp.yaml", is_nac=False,
                          is_compact_fc=False, force_sets_filename=EXAMPLES / "NaCl" / "FORCE_SETS")
    fc = ph.force_constants
    ph.generate_displacements(distance=0.03, number_of_snapshots=3, random_seed=9)
    ph.forces = -np.einsum("ijab,sjb->sia", fc, ph.displacements)
    new = tmp_path / "phonopy_params.yaml"
    ph.save(new)
    text = new.read_text()
    head, _, _ = text.partition("dataset:")
    old_lines = ["displacements:"]
    for s, (u, f) in enumerate(zip(ph.displacements, ph.forces)):
        old_lines.append(f"- # {s + 1}")
        for i, (d, g) in enumerate(zip(u, f)):
            old_lines += [f"  - displacement: # {i + 1}", "      [ %.16f, %.16f, %.16f ]" % tuple(d),
                          "    force:", "      [ %.16f, %.16f, %.16f ]" % tuple(g)]
    old = tmp_path / "old" / "phonopy_params.yaml"
    old.parent.mkdir()
    old.write_text(head + "\n".join(old_lines) + "\n")
    a, b = read_input(new, nac=False), read_input(old, nac=False)
    for ds in (a, b):
        assert ds.displacements is None
        np.testing.assert_allclose(ds.displacement_fields, ph.displacements, atol=1e-15)
        np.testing.assert_allclose(ds.forces, ph.forces, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = phonopy.load(new, is_nac=False, fc_calculator="symfc", symmetrize_fc=False,
                           is_compact_fc=False)
    for path in (new, old):
        p = Phonons.from_dataset(path, nac=False, mesh=(3, 3, 3))
        p.produce_force_constants()
        assert np.abs(p.result.force_constants - ref.force_constants).max() < 1e-10
