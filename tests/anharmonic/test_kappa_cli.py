"""``phonjax kappa``: a phono3py folder → κ(T) equal to phono3py's on the same folder (one
JSON line), the files (kappa-mXYZ.hdf5 read back by phono3py's kaccum, kappa.csv, kappa.json,
kappa.png, phono3py_disp.yaml); bad options → one line, exit status 2, nothing written."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phonjax.anharmonic.kappa_cli import main

SI_FOLDER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / \
    "phono3py-examples" / "Si-PBEsol"


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(not SI_FOLDER.is_dir(), reason="phono3py examples not in shared/data")
def test_folder_kappa_equals_phono3py_and_files(tmp_path, capsys, si_phono3py):
    code, out, err = run([SI_FOLDER, "--mesh", "5", "--temperatures", "100:300:100",
                          "--method", "wigner", "--json", "--out", tmp_path], capsys)
    assert code == 0, err
    rec = json.loads(out.strip().splitlines()[-1])
    assert rec["name"] == "Si-PBEsol" and rec["mesh"] == [5, 5, 5]
    assert rec["temperatures_K"] == [100.0, 200.0, 300.0]
    assert "tetrahedron" in rec["integration"]
    ph = si_phono3py((5, 5, 5), None, True)
    ph.run_thermal_conductivity(temperatures=[100, 200, 300], transport_type="SMM19",
                                write_kappa=False)
    ref = ph.thermal_conductivity.kappa[0]
    # phonjax's own FC2/FC3 from the folder's forces (≤1e-8 from phono3py's) and its phonons
    assert np.abs(np.array(rec["kappa_WmK"]) - ref).max() <= 1e-6 * np.abs(ref).max()
    inter = ph.thermal_conductivity.kappa_inter[0]
    assert np.abs(np.array(rec["kappa_coherence_WmK"]) - inter).max() <= 1e-6 * np.abs(
        inter).max()
    folder = tmp_path / "Si-PBEsol"
    assert sorted(p.name for p in folder.iterdir()) == [
        "kappa-m555.hdf5", "kappa.csv", "kappa.json", "kappa.png", "phono3py_disp.yaml"]
    rows = list(csv.DictReader((folder / "kappa.csv").open()))
    assert [float(r["T_K"]) for r in rows] == [100.0, 200.0, 300.0]
    assert float(rows[2]["kappa_xx_WmK"]) == pytest.approx(rec["kappa_WmK"][2][0], rel=1e-15)
    summary = json.loads((folder / "kappa.json").read_text())
    assert summary["n_triplets"] == rec["n_triplets"] > 0
    # phono3py's kaccum reads the hdf5 (next to the phono3py_disp.yaml) and accumulates the
    # RTA part of κ to its total at the highest frequency
    done = subprocess.run([sys.executable, "-c", "from phono3py.cui.kaccum_script import main;"
                           "main()", "kappa-m555.hdf5"], cwd=folder, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    last = [line for line in done.stdout.splitlines() if line and not line.startswith("#")]
    kaccum_xx = float(last[-1].split()[1])  # 300 K, last sampling point, κ_xx
    assert kaccum_xx == pytest.approx(rec["kappa_particle_WmK"][2][0], rel=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--mesh", "0"], "mesh"),
    (["--mesh", "2.5"], "mesh"),
    (["--method", "lbte"], "lbte"),
    (["--temperatures", "-5"], "temperatures"),
    (["--temperatures", "300:100:10"], "STOP"),
    (["--sigma", "0"], "sigma"),
])
def test_bad_options_one_line(tmp_path, capsys, args, message):
    code, out, err = run([SI_FOLDER, "--out", tmp_path / "o", *args], capsys)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(not SI_FOLDER.is_dir(), reason="phono3py examples not in shared/data")
def test_memory_bound_refuses_in_one_line(tmp_path, capsys):
    code, out, err = run([SI_FOLDER, "--mesh", "5", "--memory-gb", "0.00001", "--json",
                          "--out", tmp_path], capsys)
    assert code == 1
    line = [x for x in err.splitlines() if "error" in x]
    assert len(line) == 1 and "GB" in line[0] and "--memory-gb" in line[0]
    assert not (tmp_path / "Si-PBEsol").exists()


@pytest.mark.skipif(not SI_FOLDER.is_dir(), reason="phono3py examples not in shared/data")
def test_folder_with_fc3_hdf5(tmp_path, capsys, si_phono3py):
    """A folder with fc3.hdf5 + fc2.hdf5 (here `phonjax fc3`'s output) is read as it is."""
    from phonjax.anharmonic.cli import main as fc3_main

    assert fc3_main([str(SI_FOLDER), "--out", str(tmp_path / "fc")]) == 0
    capsys.readouterr()
    code, out, err = run([tmp_path / "fc" / "Si-PBEsol", "--mesh", "5", "--json", "--no-plot",
                          "--out", tmp_path / "k"], capsys)
    assert code == 0, err
    rec = json.loads(out.strip().splitlines()[-1])
    assert rec["forces"] == "fc3.hdf5 + fc2.hdf5"
    ph = si_phono3py((5, 5, 5), None, True)
    ph.run_thermal_conductivity(temperatures=[300], write_kappa=False)
    ref = ph.thermal_conductivity.kappa[0]
    assert np.abs(np.array(rec["kappa_WmK"]) - ref).max() <= 1e-6 * np.abs(ref).max()
