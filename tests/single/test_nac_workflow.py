"""Polar crystals in the single-crystal workflow, against phonopy 4.10 computed during the run.

phonopy's NaCl example folder (phonopy_disp.yaml + FORCE_SETS + BORN) as a phonopy user gives
it: ``Phonons.from_dataset(folder)`` and ``phonjax run FOLDER`` equal phonopy's
``auto_band_structure`` with NAC (LO–TO splitting at Γ) and, with ``--no-nac``, without it;
the files written (phonopy_params.yaml with its ``nac`` section) give phonopy the same
numbers. A model's force constants with DFT Born charges (``--born``, CHGNet on the
conventional NaCl CIF) show the splitting and equal phonopy on the files written; a BORN file
or NACParams that do not fit the crystal fail in one line before any model work.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from phonjax.single.cli import main
from tests.conftest import EXAMPLES as PHONOPY_EXAMPLES
from tests.single.test_run_cli import EXAMPLES, needs_chgnet, run
from validation.reference import phonopy_reference

NACL = PHONOPY_EXAMPLES / "NaCl"
REAL = 0.1  # THz: the contract's modes
MESH = (8, 8, 8)
TEMPS = (0.0, 300.0, 1000.0)
needs_examples = pytest.mark.skipif(not NACL.is_dir(), reason="phonopy examples not found")


def _close(ours, theirs, tol=1e-8):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape
    real = np.abs(theirs) >= REAL
    assert np.abs(ours - theirs)[real].max() <= tol


def _band_yaml(path):
    band = yaml.safe_load(open(path))
    q = np.array([b["q-position"] for b in band["phonon"]])
    f = np.array([[x["frequency"] for x in b["band"]] for b in band["phonon"]])
    return q, f


def _reference(nac: bool, npoints: int, **kw):
    return phonopy_reference(NACL / "phonopy_disp.yaml", force_sets=NACL / "FORCE_SETS",
                             born=NACL / "BORN" if nac else None, band_npoints=npoints, **kw)


@needs_examples
def test_from_dataset_folder_with_born_equals_phonopy():
    from phonjax.single import Phonons

    p = Phonons.from_dataset(NACL, mesh=MESH, temperatures_K=TEMPS, band_points=21).run()
    assert p.system.nac is not None and p.system.nac.source == str(NACL / "BORN")
    ref = _reference(True, 21, primitive_matrix=p.dataset.primitive_matrix, mesh=MESH,
                     temperatures_K=TEMPS)
    assert len(ref.band_qpoints) == len(p.band.sampling.qpoints)
    for q_ref, q, f_ref, f in zip(ref.band_qpoints, p.band.sampling.qpoints,
                                  ref.band_frequencies_THz, p.band.frequencies_THz):
        np.testing.assert_allclose(q, q_ref, atol=1e-12)  # phonopy's own path and sampling
        _close(f, f_ref)
    gamma = p.band.frequencies_THz[0][0]  # Γ on Γ–X, q → 0 along [100]
    assert gamma[-1] - gamma[-2] > 2.0  # LO above TO (7.40 vs 4.62 THz)
    assert p.band.path.labels[0] == "GAMMA"
    _close(p.mesh.frequencies_THz, ref.mesh_frequencies_THz)  # the DOS's mesh, with NAC
    for ours, theirs in ((p.thermal.free_energy_kJmol, ref.free_energy_kJmol),
                         (p.thermal.entropy_JKmol[1:], ref.entropy_JKmol[1:]),
                         (p.thermal.heat_capacity_JKmol[1:], ref.heat_capacity_JKmol[1:])):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8)
    assert p.instability.verdict.stable
    s = p.summary()["nac"]
    assert s["applied"] and s["method"].startswith("gonze") and len(s["file"]["sha256"]) == 64


@needs_examples
def test_run_folder_no_nac_equals_phonopy_without(tmp_path, capsys):
    code, out, err = run([NACL, "--no-nac", "--mesh", "6", "--band-points", "11", "--no-plots",
                          "--temperatures", "0", "300", "100", "--out", tmp_path], capsys)
    assert code == 0, err
    folder = tmp_path / "NaCl" / "dft"
    assert json.loads((folder / "summary.json").read_text())["nac"]["applied"] is False
    q, f = _band_yaml(folder / "band.yaml")
    ref = _reference(False, 11, mesh=None)
    np.testing.assert_allclose(q, np.concatenate(ref.band_qpoints), atol=1e-7)
    _close(f, np.concatenate(ref.band_frequencies_THz), 2e-10)  # band.yaml keeps 1e-10 THz
    gamma = f[0]
    assert gamma[-1] - gamma[-3] < 1e-6  # no splitting without NAC


@needs_examples
def test_run_folder_writes_files_phonopy_reads_with_nac(tmp_path, capsys):
    """``phonjax run FOLDER``: the BORN next to the files turns NAC on; every file and plot
    is written, and phonopy on our phonopy_params.yaml (its nac section) gives band.yaml."""
    folder = tmp_path / "NaCl-copy"
    shutil.copytree(NACL, folder)
    code, out, err = run([folder, "--mesh", "6", "--band-points", "11",
                          "--temperatures", "0", "300", "100", "--out", tmp_path / "out"], capsys)
    assert code == 0, err
    assert "NAC (gonze): Born charges and ε∞ from BORN" in out
    result = tmp_path / "out" / "NaCl-copy" / "dft"
    for name in ("phonopy_params.yaml", "band.yaml", "total_dos.dat", "projected_dos.dat",
                 "thermal_properties.yaml", "summary.json", "bands_dos.png", "pdos.png"):
        assert (result / name).is_file(), name
    q, f = _band_yaml(result / "band.yaml")
    ref = phonopy_reference(result / "phonopy_params.yaml", file_nac=True, mesh=None,
                            band_npoints=11)
    assert ref.phonopy.nac_params is not None
    _close(f, np.concatenate(ref.band_frequencies_THz), 2e-10)
    assert f[0, -1] - f[0, -2] > 2.0


def _toy():
    import tests.bench.fakes  # noqa: F401  registers the numpy "toy" models (no torch)


@needs_examples
def test_born_that_does_not_fit_fails_in_one_line(tmp_path, capsys):
    """Before any model work: a BORN with a row too many, Al2O3's BORN on an Al2O3 cell with
    its atoms in another order (O first: Σ Z* far from 0), and NACParams for 3 atoms."""
    import ase.io

    from phonjax.harmonic.nac import NACParams
    from phonjax.single import Phonons
    from phonjax.single.inputs import InputError

    _toy()
    born = tmp_path / "BORN"
    born.write_text((NACL / "BORN").read_text().rstrip() + "\n1 0 0 0 1 0 0 0 1\n")
    al2o3 = PHONOPY_EXAMPLES / "Al2O3"
    atoms = ase.io.read(al2o3 / "POSCAR-unitcell")
    swapped = atoms[np.argsort(atoms.numbers != 8, kind="stable")]  # O before Al
    ase.io.write(tmp_path / "Al2O3-swapped.vasp", swapped, format="vasp")
    for args, words in (
            ([EXAMPLES / "NaCl.cif", "--born", born],
             ["NaCl: BORN: 3 row(s) of Born charges", "(Na1, Cl2)"]),
            ([tmp_path / "Al2O3-swapped.vasp", "--born", al2o3 / "BORN"],
             ["BORN: the Born charges do not sum to zero", "another order"])):
        code, _, err = run([*args, "--model", "toy:morse", "--no-relax",
                            "--out", tmp_path / "out"], capsys)
        lines = [x for x in err.strip().splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1, err
        assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "out").exists()  # nothing ran
    bad = NACParams(born=np.zeros((3, 3, 3)), dielectric=np.eye(3))
    with pytest.raises(InputError, match="3 Born charges, but the primitive cell has 2 atoms"):
        Phonons.from_structure(EXAMPLES / "NaCl.cif", "toy:morse", born=bad)


@needs_chgnet
@needs_examples
def test_chgnet_with_dft_born_on_conventional_cif(tmp_path, capsys):
    """CHGNet's force constants (relaxed conventional NaCl, 8-atom supercell) with DFT Born
    charges: LO above TO at Γ, and phonopy on the files we wrote (phonopy_params.yaml with
    its nac section, its own seekpath path) gives band.yaml's numbers."""
    import torch

    torch.set_num_threads(1)
    code, out, err = run([EXAMPLES / "NaCl.cif", "--model", "chgnet", "--born", NACL / "BORN",
                          "--supercell", "1", "1", "1", "--mesh", "4", "--band-points", "11",
                          "--temperatures", "0", "300", "100", "--no-plots",
                          "--out", tmp_path], capsys)
    assert code == 0, err
    assert "on the model's force constants" in out
    folder = tmp_path / "NaCl" / "chgnet"
    s = json.loads((folder / "summary.json").read_text())
    assert s["relaxation"]["converged"] and s["nac"]["origin"] == "--born file"
    assert s["nac"]["file"]["path"] == str(NACL / "BORN")
    assert s["nac"]["born_charges_used"]["Na1"][0][0] > 1.0
    q, f = _band_yaml(folder / "band.yaml")
    assert np.allclose(q[0], 0.0) and f[0, -1] - f[0, -2] > 1.0  # LO–TO at Γ
    assert abs(f[0, -2] - f[0, -3]) < 1e-6  # the two TO modes
    ref = phonopy_reference(folder / "phonopy_params.yaml", file_nac=True, mesh=None,
                            band_npoints=11)
    np.testing.assert_allclose(q, np.concatenate(ref.band_qpoints), atol=1e-7)
    # phonopy_params.yaml keeps the model's forces to 1e-10 eV/Å: ~1e-8 THz
    _close(f, np.concatenate(ref.band_frequencies_THz), 2e-7)
