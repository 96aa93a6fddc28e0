"""``phonjax fc3``: a phono3py folder → fc3.hdf5/fc2.hdf5 equal to ``phono3py.load``'s FC from
the same folder; structure files with the toy model (every crystal in one batched call) →
equal to phono3py fed the same model supercell by supercell; bad options → one line, exit
status 2; a crystal that fails → one line, nothing written for it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import tests.bench.fakes as fakes
from phonjax.anharmonic.cli import main
from tests.anharmonic.test_model_fc3 import phono3py_fc3

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phono3py-examples"
SI_FOLDER = DATA / "Si-PBEsol"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def read_fc(folder: Path):
    from phono3py.file_IO import read_fc2_from_hdf5, read_fc3_from_hdf5

    return read_fc2_from_hdf5(folder / "fc2.hdf5"), read_fc3_from_hdf5(folder / "fc3.hdf5")


@pytest.mark.skipif(not SI_FOLDER.is_dir(), reason="phono3py examples not in shared/data")
def test_phono3py_folder_equals_phono3py_load(tmp_path, capsys):
    import phono3py

    code, out, err = run([SI_FOLDER, "--out", tmp_path], capsys)
    assert code == 0, err
    folder = tmp_path / "Si-PBEsol"
    assert sorted(p.name for p in folder.iterdir()) == ["fc2.hdf5", "fc3.hdf5",
                                                        "phono3py_disp.yaml", "summary.json"]
    fc2, fc3 = read_fc(folder)
    ref = phono3py.load(SI_FOLDER / "phono3py_disp.yaml",
                        forces_fc3_filename=SI_FOLDER / "FORCES_FC3", log_level=0)
    assert fc3.shape == ref.fc3.shape == (2, 64, 64, 3, 3, 3)
    assert np.abs(fc3 - ref.fc3).max() <= 1e-8 * np.abs(ref.fc3).max()
    assert np.abs(fc2 - ref.fc2).max() <= 1e-10
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["symmetrization"] == "symfc-projector" and summary["model"] is None
    assert summary["displacements"]["n_fc3_supercells"] == 111
    assert summary["cells"]["n_supercell"] == 64 and summary["cells"]["n_primitive"] == 2
    assert summary["phono3py_version"] == phono3py.__version__ and summary["phonjax_version"]
    assert "Si-PBEsol" in out and "111" in out  # the crystal's row
    # phono3py-load's starting point: the written yaml reads our files back
    ph = phono3py.load(folder / "phono3py_disp.yaml", fc3_filename=folder / "fc3.hdf5",
                       fc2_filename=folder / "fc2.hdf5", log_level=0)
    np.testing.assert_array_equal(ph.fc3, fc3)


def test_structure_files_with_a_model_equal_phono3py(tmp_path, capsys, monkeypatch):
    from phonjax.pipeline import models
    from phonjax.single.inputs import read_inputs

    fakes.register()
    calls = []
    adapter_type = type(models.adapter("toy:morse", "cpu", 256))
    evaluate = adapter_type.evaluate
    monkeypatch.setattr(adapter_type, "evaluate",
                        lambda self, *a, **k: calls.append(1) or evaluate(self, *a, **k))
    cif = EXAMPLES / "Si.cif"
    code, out, err = run([cif, cif, "--model", "toy:morse", "--supercell", "1", "1", "1",
                          "--fc2-supercell", "2", "2", "2", "--symmetrization", "none",
                          "--out", tmp_path], capsys)
    assert code == 0, err
    assert len(calls) == 1  # both crystals, FC3 and FC2 supercells: one batched model call
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Si", "Si-2"]
    crystal = read_inputs(cif)[0].crystal
    summary = json.loads((tmp_path / "Si" / "summary.json").read_text())
    assert summary["model"] == "toy:morse" and summary["displacements"]["distance_A"] == 0.03
    pmat = np.array(summary["cells"]["primitive_matrix"])
    ref_fc2, ref_fc3 = phono3py_fc3(crystal, np.eye(3, dtype=int), pmat, 2 * np.eye(3, dtype=int))
    for name in ("Si", "Si-2"):
        fc2, fc3 = read_fc(tmp_path / name)
        assert np.abs(ref_fc3).max() > 0.1  # a real third order
        assert np.abs(fc3 - ref_fc3).max() <= 1e-8 * np.abs(ref_fc3).max()
        assert fc2.shape == (2, 64, 3, 3) and np.abs(fc2 - ref_fc2).max() <= 1e-10


def test_cutoff_pair_distance_equals_phono3py(tmp_path, capsys):
    """``--cutoff-pair-distance``: pairs beyond it get no supercell; FC3 as phono3py solves a
    cutoff dataset (full form, re-averaged), from the same model's forces."""
    from phonjax.single.inputs import read_inputs

    fakes.register()
    cif = EXAMPLES / "Si.cif"
    code, out, err = run([cif, "--model", "toy:morse", "--supercell", "1", "1", "1",
                          "--cutoff-pair-distance", "3", "--symmetrization", "none",
                          "--out", tmp_path], capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "Si" / "summary.json").read_text())
    pmat = np.array(summary["cells"]["primitive_matrix"])
    crystal = read_inputs(cif)[0].crystal
    _, ref_fc3 = phono3py_fc3(crystal, np.eye(3, dtype=int), pmat, cutoff_A=3.0)
    _, plain = phono3py_fc3(crystal, np.eye(3, dtype=int), pmat)
    _, fc3 = read_fc(tmp_path / "Si")
    assert np.abs(ref_fc3 - plain).max() > 1e-4 * np.abs(plain).max()  # the cutoff matters
    assert np.abs(fc3 - ref_fc3).max() <= 1e-8 * np.abs(ref_fc3).max()


@pytest.mark.parametrize("args, words", [
    (["--supercell", "1", "2"], "--supercell takes 3 or 9"),
    (["--distance", "0.5"], "too large"),
    (["--symmetrization", "sideways"], "invalid choice"),
    (["--primitive", "1", "2"], "--primitive takes"),
    (["--model", "no-such-model"], "no-such-model"),
    (["--memory-gb", "-1"], "--memory-gb"),
    ([], "needs --model"),
])
def test_bad_options_one_line_status_2(tmp_path, capsys, args, words):
    code, out, err = run([EXAMPLES / "Si.cif", "--out", tmp_path / "out", *args], capsys)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and words in lines[0], err
    assert not (tmp_path / "out").exists()


def test_out_is_a_file_or_a_foreign_folder(tmp_path, capsys):
    fakes.register()
    (tmp_path / "file").write_text("x")
    code, _, err = run([EXAMPLES / "Si.cif", "--model", "toy:morse", "--out", tmp_path / "file"],
                       capsys)
    assert code == 2 and "is a file" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "out" / "Si").mkdir(parents=True)
    (tmp_path / "out" / "Si" / "notes.txt").write_text("mine")
    code, _, err = run([EXAMPLES / "Si.cif", "--model", "toy:morse", "--supercell", "1", "1",
                        "1", "--out", tmp_path / "out"], capsys)
    assert code == 2 and "notes.txt" in err
    assert (tmp_path / "out" / "Si" / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(not SI_FOLDER.is_dir(), reason="phono3py examples not in shared/data")
def test_failed_crystals_write_nothing(tmp_path, capsys):
    fakes.register()
    no_forces = tmp_path / "Si-noforces"
    no_forces.mkdir()
    shutil.copy(SI_FOLDER / "phono3py_disp.yaml", no_forces)
    out = tmp_path / "out"
    # one input without forces (refused when read), one crystal over the memory bound
    code, stdout, err = run([no_forces, EXAMPLES / "Si.cif", "--model", "toy:morse",
                             "--supercell", "1", "1", "1", "--memory-gb", "1e-6",
                             "--out", out], capsys)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 2 and "no FC3 forces" in lines[0] and "memory bound" in lines[1]
    assert not out.exists() or not any(out.iterdir())
    assert "failed" in stdout
