"""FC3 and FC2 against phono3py 4.10 on the same forces (``phonjax.anharmonic.fc3``), and the
reader of phono3py's files (``phonjax.io.phono3py_files``).

Contract: FC3 ≤ 1e-8 relative to its largest element, FC2 ≤ 1e-10 eV/Å². phono3py is run
here from the same files (Si-PBEsol: type 1, 111 supercells of 64 atoms, about a second per
route; NaCl-rd: type 2 through symfc, about 25 s with the reference, marked slow).
Pair cutoffs: phono3py's displacements with ``cutoff_pair_distance`` (Si 2×2×2 at 4 and 5 Å,
wurtzite GaN 2×2×2 at 3.5 Å), forces of the included supercells from the toy Morse model
(``tests.bench.fakes.morse``, float64), fed to ``Phono3py.produce_fc3`` and to phonjax alike.
The command that prints the table: ``validation/fc3_phono3py.py``.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import numpy as np
import pytest

from phonjax.anharmonic import fc3 as fc3_module
from phonjax.io.dataset import DatasetError
from phonjax.io.phono3py_files import (PairDisplacements, RandomDisplacements,
                                       read_phono3py_folder, read_phono3py_yaml)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phono3py-examples"
SI = DATA / "Si-PBEsol"
NACL = DATA / "NaCl-rd" / "phono3py_params_NaCl.yaml.xz"
FC3_RELATIVE = 1e-8
FC2_ABSOLUTE = 1e-10

pytestmark = pytest.mark.skipif(not SI.is_dir(), reason="phono3py examples not in shared/data")


def _assert_equal(fc2, fc3, ref_fc2, ref_fc3):
    assert fc3.shape == ref_fc3.shape and fc2.shape == ref_fc2.shape
    assert np.abs(fc3 - ref_fc3).max() <= FC3_RELATIVE * np.abs(ref_fc3).max()
    assert np.abs(fc2 - ref_fc2).max() <= FC2_ABSOLUTE


@pytest.fixture(scope="module")
def si_raw():
    """phono3py's unsymmetrized compact FC2/FC3 of Si-PBEsol, and the Phono3py object."""
    import phono3py

    ph = phono3py.load(SI / "phono3py_disp.yaml", forces_fc3_filename=SI / "FORCES_FC3",
                       symmetrize_fc=False)
    return ph.fc2.copy(), ph.fc3.copy(), ph


@pytest.fixture(scope="module")
def si_dataset():
    return read_phono3py_folder(SI)


@pytest.fixture(scope="module")
def si_solved(si_dataset):
    return fc3_module.force_constants(si_dataset, "none")


def test_read_si_folder(si_dataset, si_raw):
    ph = si_raw[2]
    ds = si_dataset
    assert isinstance(ds.fc3_displacements, PairDisplacements)
    assert ds.fc3_displacements.n_supercells == 111 and ds.fc3_forces.shape == (111, 64, 3)
    assert ds.phonon_supercell_matrix is None and ds.nac is None
    np.testing.assert_array_equal(ds.supercell_matrix, ph.supercell_matrix)
    np.testing.assert_allclose(ds.primitive_matrix, ph.primitive_matrix)
    first = ph.dataset["first_atoms"]
    np.testing.assert_array_equal(ds.fc3_displacements.first_atoms, [d["number"] for d in first])
    pairs = [d2 for d in first for d2 in d["second_atoms"]]
    np.testing.assert_array_equal(ds.fc3_displacements.second_atoms, [d["number"] for d in pairs])
    np.testing.assert_array_equal(ds.fc3_displacements.second_displacements,
                                  [d["displacement"] for d in pairs])
    np.testing.assert_array_equal(ds.fc3_forces[1:], [d["forces"] for d in pairs])


def test_traditional_solve_equals_phono3py(si_solved, si_raw):
    ref_fc2, ref_fc3, ph = si_raw
    np.testing.assert_array_equal(si_solved.cells.primitive.p2s, ph.primitive.p2s_map)
    _assert_equal(si_solved.fc2, si_solved.fc3, ref_fc2, ref_fc3)


def test_traditional_symmetrization_equals_phono3py(si_solved, si_raw):
    ph = si_raw[2]
    ph.fc2, ph.fc3 = si_raw[0].copy(), si_raw[1].copy()
    ph.symmetrize_fc3()
    ph.symmetrize_fc2()
    ours = fc3_module.symmetrized(si_solved, "traditional")
    _assert_equal(ours.fc2, ours.fc3, ph.fc2, ph.fc3)


def test_symfc_projector_equals_phono3py_load(si_solved):
    import phono3py

    ph = phono3py.load(SI / "phono3py_disp.yaml", forces_fc3_filename=SI / "FORCES_FC3")
    ours = fc3_module.symmetrized(si_solved, "symfc-projector")
    _assert_equal(ours.fc2, ours.fc3, ph.fc2, ph.fc3)


def test_full_form_equals_phono3py(si_dataset, si_raw):
    import phono3py

    ph = phono3py.load(SI / "phono3py_disp.yaml", forces_fc3_filename=SI / "FORCES_FC3",
                       symmetrize_fc=False, is_compact_fc=False)
    ours = fc3_module.force_constants(si_dataset, "none", compact=False)
    _assert_equal(ours.fc2, ours.fc3, ph.fc2, ph.fc3)
    # the compact array expanded by translations is the full one
    full = fc3_module.compact_to_full(si_raw[1], ours.cells)
    assert np.abs(full - ph.fc3).max() <= FC3_RELATIVE * np.abs(ph.fc3).max()


@pytest.mark.slow
def test_random_displacements_through_symfc():
    import phono3py

    ds = read_phono3py_yaml(NACL)
    assert isinstance(ds.fc3_displacements, RandomDisplacements)
    assert ds.fc3_forces.shape == (100, 64, 3) and ds.fc2_forces.shape == (2, 512, 3)
    assert ds.nac is not None
    ph = phono3py.load(NACL, fc_calculator="symfc")
    ours = fc3_module.force_constants(ds)
    _assert_equal(ours.fc2, ours.fc3, ph.fc2, ph.fc3)


def test_read_nacl_params():
    ds = read_phono3py_yaml(NACL)
    assert ds.is_random and ds.fc3_displacements.displacements.shape == (100, 64, 3)
    np.testing.assert_array_equal(ds.phonon_supercell_matrix, 4 * np.eye(3, dtype=int))
    assert ds.fc2_displacements.displacements.shape == (2, 512, 3)
    assert ds.nac.born.shape[1:] == (3, 3)


# --- one-line refusals -------------------------------------------------------------------------


def _copy_si(tmp_path: Path) -> Path:
    folder = tmp_path / "Si"
    folder.mkdir()
    for name in ("phono3py_disp.yaml", "FORCES_FC3"):
        shutil.copy(SI / name, folder / name)
    return folder


def _one_line(exc_info) -> str:
    text = str(exc_info.value)
    assert "\n" not in text
    return text


def test_short_forces_file_is_refused(tmp_path):
    folder = _copy_si(tmp_path)
    lines = (folder / "FORCES_FC3").read_text().splitlines()
    (folder / "FORCES_FC3").write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(DatasetError) as exc:
        read_phono3py_folder(folder)
    assert "FORCES_FC3" in _one_line(exc) and "7104" in str(exc.value)


def test_code_tag_is_refused(tmp_path):
    folder = _copy_si(tmp_path)
    path = folder / "phono3py_disp.yaml"
    path.write_text(path.read_text() + "\nextra: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(DatasetError) as exc:
        read_phono3py_folder(folder)
    assert "phono3py_disp.yaml" in _one_line(exc) and "code" in str(exc.value)


def test_missing_folder_and_yaml(tmp_path):
    with pytest.raises(DatasetError) as exc:
        read_phono3py_folder(tmp_path)
    _one_line(exc)
    with pytest.raises(DatasetError) as exc:
        read_phono3py_yaml(tmp_path / "phono3py_disp.yaml")
    assert "file not found" in _one_line(exc)


def test_missing_forces_refused_by_solver(tmp_path):
    folder = _copy_si(tmp_path)
    (folder / "FORCES_FC3").unlink()
    ds = read_phono3py_folder(folder)
    assert ds.fc3_forces is None
    with pytest.raises(fc3_module.FC3Error):
        fc3_module.force_constants(ds)


# --- pair cutoffs: phono3py's full-form solve and re-average ------------------------------------

FCC_P = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
CUTOFF_CRYSTALS = {"Si": (5.0, FCC_P), "GaN": (3.5, np.eye(3))}  # largest cutoff of each


def _crystal(name: str):
    from ase.build import bulk

    from phonjax.structure.crystal import Crystal

    atoms = (bulk("Si", "diamond", a=5.43, cubic=True) if name == "Si"
             else bulk("GaN", "wurtzite", a=3.19, c=5.19))
    return Crystal.from_ase(atoms)


def _phono3py(crystal, pmat, cutoff_A: float):
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    ph3 = Phono3py(unit, supercell_matrix=2 * np.eye(3, dtype=int), primitive_matrix=pmat)
    ph3.generate_displacements(distance=0.03, cutoff_pair_distance=cutoff_A)
    return ph3


@functools.cache
def _morse_forces(name: str) -> np.ndarray:
    """Toy forces of every supercell included at the crystal's largest cutoff (zeros for
    the others, as in FORCES_FC3); a smaller cutoff includes a subset of the same list."""
    from ase import Atoms

    import tests.bench.fakes as fakes

    cutoff_A, pmat = CUTOFF_CRYSTALS[name]
    cells = _phono3py(_crystal(name), pmat, cutoff_A).supercells_with_displacements
    n = next(c for c in cells if c is not None).positions.shape[0]
    return np.array([np.zeros((n, 3)) if c is None else
                     fakes.morse(Atoms(cell=c.cell, positions=c.positions, numbers=c.numbers,
                                       pbc=True))[1] for c in cells])


def _cutoff_case(name: str, cutoff_A: float, compact: bool):
    """(phono3py's Phono3py after ``produce_fc3``, phonjax's unsymmetrized ForceConstants3,
    phonjax's dataset) of one crystal and cutoff on the same forces."""
    from phonjax.pipeline.fc3 import dataset_with_forces, fc3_job

    crystal, pmat = _crystal(name), CUTOFF_CRYSTALS[name][1]
    ph3 = _phono3py(crystal, pmat, cutoff_A)
    included = np.array([c is not None for c in ph3.supercells_with_displacements])
    forces = np.where(included[:, None, None], _morse_forces(name), 0.0)
    ph3.forces = forces
    ph3.produce_fc3(is_compact_fc=compact)
    job = fc3_job(name, crystal, 2 * np.eye(3, dtype=int), pmat, cutoff_pair_distance_A=cutoff_A)
    _, mask = job.displacements.fc3.displacement_vectors()
    np.testing.assert_array_equal(mask, included)
    dataset = dataset_with_forces(job, forces[mask])
    return ph3, fc3_module.force_constants(dataset, "none", compact=compact), dataset


def _assert_symmetrizations(ph3, ours, hows=("traditional", "symfc-projector")):
    """"none", then phono3py's symmetrizations ``hows`` of the same arrays (traditional:
    the CLI's default; symfc-projector: ``phono3py.load``'s) after ``produce_fc3``."""
    raw2, raw3 = ph3.fc2.copy(), ph3.fc3.copy()
    assert np.abs(raw3).max() > 0.1  # eV/Å³: a real third order
    _assert_equal(ours.fc2, ours.fc3, raw2, raw3)
    for how in hows:
        ph3.fc2, ph3.fc3 = raw2.copy(), raw3.copy()
        ph3.symmetrize_fc3(use_symfc_projector=how == "symfc-projector")
        ph3.symmetrize_fc2(use_symfc_projector=how == "symfc-projector")
        sym = fc3_module.symmetrized(ours, how)
        _assert_equal(sym.fc2, sym.fc3, ph3.fc2, ph3.fc3)


def test_cutoff_si_4A_compact_equals_phono3py():
    from dataclasses import replace

    ph3, ours, dataset = _cutoff_case("Si", 4.0, compact=True)
    _assert_symmetrizations(ph3, ours)
    # the re-average matters: without it the same forces give another FC3
    pairs = replace(dataset.fc3_displacements, cutoff_distance=None)
    plain = fc3_module.force_constants(replace(dataset, fc3_displacements=pairs), "none")
    assert np.abs(plain.fc3 - ours.fc3).max() > 1e-3 * np.abs(ours.fc3).max()


def test_cutoff_si_5A_full_equals_phono3py():
    ph3, ours, _ = _cutoff_case("Si", 5.0, compact=False)
    assert ours.fc3.shape == (64, 64, 64, 3, 3, 3)
    _assert_symmetrizations(ph3, ours, ())  # symmetrized full forms: slow, below


@pytest.mark.slow
@pytest.mark.parametrize("cutoff_A, compact", [(5.0, False), (4.0, False), (5.0, True)])
def test_cutoff_si_other_forms_equal_phono3py(cutoff_A, compact):
    _assert_symmetrizations(*_cutoff_case("Si", cutoff_A, compact)[:2])


def test_cutoff_gan_compact_equals_phono3py():
    ph3, ours, _ = _cutoff_case("GaN", 3.5, compact=True)
    assert ours.fc3.shape == (4, 32, 32, 3, 3, 3)
    _assert_symmetrizations(ph3, ours)


@pytest.mark.slow
def test_cutoff_gan_full_equals_phono3py():
    _assert_symmetrizations(*_cutoff_case("GaN", 3.5, compact=False)[:2])


def test_done_pairs_equal_phono3py():
    """The done atom pairs against phono3py's own table (``fc3_done``, set for every k)."""
    from phono3py.phonon3.fc3 import _get_fc3_done

    from phonjax.pipeline.fc3 import fc3_job, pair_dataset

    for name, cutoff_A in (("Si", 4.0), ("GaN", 3.5)):
        crystal, pmat = _crystal(name), CUTOFF_CRYSTALS[name][1]
        ph3 = _phono3py(crystal, pmat, cutoff_A)
        n = len(ph3.supercell)
        ref = _get_fc3_done(ph3.supercell, ph3.dataset, ph3.symmetry, (n, n, n))
        job = fc3_job(name, crystal, 2 * np.eye(3, dtype=int), pmat,
                      cutoff_pair_distance_A=cutoff_A)
        cells = fc3_module.fc3_cells(crystal, 2 * np.eye(3, dtype=int), pmat)
        done = fc3_module.done_pairs(cells, pair_dataset(job))
        assert 0 < done.sum() < n * n
        np.testing.assert_array_equal(np.broadcast_to(done[:, :, None], (n, n, n)), ref == 1)
