"""phono3py's files out (``phonjax.anharmonic.files``): fc3.hdf5, fc2.hdf5 and
phono3py_disp.yaml read back by phono3py's own readers and by ``phono3py.load``, bit for bit,
and accepted by phono3py's κ (a 5×5×5 RTA smoke on Si-PBEsol, ~0.1 s); the yaml of a
generated dataset gives phono3py the displacements phono3py itself generates; a writer that
fails leaves the previous file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phonjax.anharmonic import files
from phonjax.anharmonic.fc3 import (ForceConstants3, compact_to_full, fc2_compact_to_full,
                                    force_constants)
from phonjax.io.phono3py_files import read_phono3py_folder

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phono3py-examples"
SI = DATA / "Si-PBEsol"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

needs_si = pytest.mark.skipif(not SI.is_dir(), reason="phono3py examples not in shared/data")


@pytest.fixture(scope="module")
def si():
    ds = read_phono3py_folder(SI)
    return ds, force_constants(ds)  # phono3py.load's default: the symfc projector


@pytest.fixture(scope="module")
def si_written(si, tmp_path_factory):
    ds, result = si
    folder = tmp_path_factory.mktemp("si")
    paths = files.write_phono3py_files(folder, result, ds)
    assert [p.name for p in paths] == ["fc3.hdf5", "fc2.hdf5", "phono3py_disp.yaml"]
    assert sorted(p.name for p in folder.iterdir()) == ["fc2.hdf5", "fc3.hdf5",
                                                        "phono3py_disp.yaml"]
    return folder


@needs_si
def test_phono3py_readers_give_our_arrays(si, si_written):
    import h5py
    from phono3py.file_IO import read_fc2_from_hdf5, read_fc3_from_hdf5

    _, result = si
    p2s = result.cells.primitive.p2s
    fc3 = read_fc3_from_hdf5(si_written / "fc3.hdf5", p2s_map=p2s)
    fc2 = read_fc2_from_hdf5(si_written / "fc2.hdf5", p2s_map=p2s)
    np.testing.assert_array_equal(fc3, result.fc3)
    np.testing.assert_array_equal(fc2, result.fc2)
    with h5py.File(si_written / "fc3.hdf5") as f:
        np.testing.assert_array_equal(f["p2s_map"][:], p2s)
        assert f["version"][()].decode() == __import__("phono3py").__version__
    with h5py.File(si_written / "fc2.hdf5") as f:
        assert f["physical_unit"][0].decode() == "eV/angstrom^2"


@needs_si
def test_phono3py_load_reads_them_and_runs_kappa(si, si_written):
    import phono3py

    _, result = si
    ph = phono3py.load(si_written / "phono3py_disp.yaml",
                       fc3_filename=si_written / "fc3.hdf5",
                       fc2_filename=si_written / "fc2.hdf5", log_level=0)
    np.testing.assert_array_equal(ph.fc3, result.fc3)
    np.testing.assert_array_equal(ph.fc2, result.fc2)
    np.testing.assert_array_equal(ph.primitive.p2s_map, result.cells.primitive.p2s)
    # phono3py's own FC from the same folder. Our FC3 equals phono3py's to ~1e-15 relative
    # and FC2 to ~4e-16 eV/Å². phono3py's default tetrahedron κ follows its eigensolver's basis
    # inside degenerate subspaces (4e-4 with that round-off on one CPU, 1.2e-2 on another:
    # phono3py-internals.md), so both runs average the degenerate weights
    # (average_degenerate_weights=True, the project's contract), which removes that basis:
    # measured 1.2e-10 relative.
    ref = phono3py.load(SI / "phono3py_disp.yaml", forces_fc3_filename=SI / "FORCES_FC3",
                        log_level=0)
    kappas = []
    for p in (ph, ref):
        p.mesh_numbers = [5, 5, 5]
        p.init_phph_interaction(average_degenerate_weights=True)
        p.run_thermal_conductivity(temperatures=[300])
        kappas.append(np.asarray(p.thermal_conductivity.kappa)[0, 0, :3])
    assert 30 < kappas[0][0] < 200  # W/m-K: Si at 300 K on a coarse mesh
    np.testing.assert_allclose(kappas[0], kappas[1], rtol=1e-8)


@needs_si
def test_full_form_written_and_read(si, tmp_path):
    import phono3py

    ds, result = si
    full = ForceConstants3(fc2_compact_to_full(result.fc2, result.fc2_cells),
                           compact_to_full(result.fc3, result.cells), result.cells,
                           result.fc2_cells, False, result.symmetrization)
    files.write_phono3py_files(tmp_path, full, ds)
    ph = phono3py.load(tmp_path / "phono3py_disp.yaml", fc3_filename=tmp_path / "fc3.hdf5",
                       fc2_filename=tmp_path / "fc2.hdf5", is_compact_fc=False, log_level=0)
    assert ph.fc3.shape == (64, 64, 64, 3, 3, 3)
    np.testing.assert_array_equal(ph.fc3, full.fc3)
    np.testing.assert_array_equal(ph.fc2, full.fc2)


def test_disp_yaml_of_a_generated_dataset_is_phono3pys(tmp_path):
    """phonjax's displacements (a separate FC2 cell too) written, then read by
    phono3py.load: the dataset phono3py itself generates for the crystal."""
    import phono3py
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    from phonjax.pipeline.fc3 import fc3_job
    from phonjax.single.inputs import read_inputs
    from phonjax.structure.symmetry import auto_primitive_matrix

    crystal = read_inputs(EXAMPLES / "Si.cif")[0].crystal
    pmat, _ = auto_primitive_matrix(crystal)
    smat, fc2_smat = np.eye(3, dtype=int), 2 * np.eye(3, dtype=int)
    job = fc3_job("Si", crystal, smat, pmat, phonon_supercell_matrix=fc2_smat)
    path = files.write_disp_yaml(tmp_path / "phono3py_disp.yaml", crystal, smat, pmat,
                                 job.displacements.fc3, fc2_smat, job.displacements.fc2)
    ours = phono3py.load(path, produce_fc=False, log_level=0)
    unit = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    ref = Phono3py(unit, supercell_matrix=smat, primitive_matrix=pmat,
                   phonon_supercell_matrix=fc2_smat)
    ref.generate_displacements(distance=0.03)
    for a, b in ((ours.supercells_with_displacements, ref.supercells_with_displacements),
                 (ours.phonon_supercells_with_displacements,
                  ref.phonon_supercells_with_displacements)):
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.positions, y.positions, atol=1e-12)


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    import phono3py.file_IO

    target = tmp_path / "fc3.hdf5"
    target.write_bytes(b"previous")

    def broken(fc3, filename, **kw):
        Path(filename).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(phono3py.file_IO, "write_fc3_to_hdf5", broken)

    class Result:  # only what the writer reads
        fc3 = np.zeros((1, 1, 1, 3, 3, 3))

        class cells:
            class primitive:
                p2s = np.array([0])

    with pytest.raises(OSError, match="disk full"):
        files.write_fc3_hdf5(target, Result)
    assert target.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["fc3.hdf5"]
