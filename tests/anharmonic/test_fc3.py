"""FC3 and FC2 against phono3py 4.10 on the same forces (``phonjax.anharmonic.fc3``), and the
reader of phono3py's files (``phonjax.io.phono3py_files``).

Contract: FC3 ≤ 1e-8 relative to its largest element, FC2 ≤ 1e-10 eV/Å². phono3py is run
here from the same files (Si-PBEsol: type 1, 111 supercells of 64 atoms, about a second per
route; NaCl-rd: type 2 through symfc, about 25 s with the reference, marked slow).
The command that prints the table: ``validation/fc3_phono3py.py``.
"""

from __future__ import annotations

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
