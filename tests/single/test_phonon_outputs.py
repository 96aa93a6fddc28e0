"""phonopy's other outputs through ``phonjax run`` (``phonjax.phonon``; each module has its own
test against phonopy): the options reach the computation, and the files are phonopy's — read
back with phonopy's readers or a safe YAML loader and compared with phonopy run here."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import EXAMPLES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mgb2_run(tmp_path_factory):
    folder = EXAMPLES / "MgB2"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    out = tmp_path_factory.mktemp("run")
    cmd = [sys.executable, "-m", "phonjax", "run", str(folder), "--mesh", "5", "--gamma-center",
           "--group-velocities", "--band-points-per-segment", "11", "--classical", "--tdisp",
           "--tdispmat-cif", "300", "--irreps", "0", "0", "0", "--temperatures", "0", "600",
           "100", "--modulation", "2 2 1, 0.5 0 0 1 2.0 0", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return folder, out / "MgB2" / "dft", done.stdout


def _phonopy(folder):
    import phonopy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return phonopy.load(folder / "phonopy_disp.yaml", is_nac=False, symmetrize_fc=False,
                            force_sets_filename=folder / "FORCE_SETS", produce_fc=False)


def test_run_writes_phonopys_files(mgb2_run):
    folder, out, stdout = mgb2_run
    ph = _phonopy(folder)
    ph.produce_force_constants()
    ph.symmetrize_force_constants()  # phonjax's finite route
    # mesh.yaml with group velocities: phonopy's run_mesh(5, Γ-centred, velocities)
    mesh = yaml.safe_load((out / "mesh.yaml").read_text())
    ph.run_mesh([5, 5, 5], is_gamma_center=True, with_group_velocities=True)
    q = np.array([p["q-position"] for p in mesh["phonon"]])
    np.testing.assert_allclose(q, ph.mesh.qpoints, atol=1e-7)
    gv = np.array([[b["group_velocity"] for b in p["band"]] for p in mesh["phonon"]])
    keep = np.abs(ph.mesh.frequencies).min(axis=1) > 1e-3  # Γ: acoustic order by round-off
    np.testing.assert_allclose(gv[keep], ph.mesh.group_velocities[keep], atol=2e-7)  # printed
    # band.yaml: 11 points a segment, with velocities
    band = yaml.safe_load((out / "band.yaml").read_text())
    assert set(band["segment_nqpoint"]) == {11}
    assert all("group_velocity" in b for b in band["phonon"][3]["band"])
    # classical F, S, Cv as phonopy's classical=True
    tp = yaml.safe_load((out / "thermal_properties.yaml").read_text())["thermal_properties"]
    ph.run_mesh([5, 5, 5], is_gamma_center=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_thermal_properties(t_min=0, t_max=600, t_step=100, classical=True,
                                  exclude_gamma_acoustic=True)
    ref = ph.thermal_properties
    ours = np.array([[r["free_energy"], r["entropy"], r["heat_capacity"]] for r in tp])
    np.testing.assert_allclose(ours[1:, 0], ref.free_energy[1:], atol=1e-6)  # printed 1e-7
    np.testing.assert_allclose(ours[1:, 2], ref.heat_capacity[1:], atol=1e-6)
    # thermal displacements as phonopy's on the same full Γ-centred mesh
    td = yaml.safe_load((out / "thermal_displacements.yaml").read_text())
    ph.run_mesh([5, 5, 5], is_gamma_center=True, with_eigenvectors=True, is_mesh_symmetry=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ph.run_thermal_displacements(temperatures=[0, 300, 600],
                                           exclude_gamma_acoustic=True)
    rows = {r["temperature"]: np.array(r["displacements"]) for r in td["thermal_displacements"]}
    for t, u in zip(ref.temperatures, ref.thermal_displacements):
        np.testing.assert_allclose(rows[t].ravel(), np.ravel(u), atol=1e-6)  # printed 1e-6
    # the ADP CIF, irreps.yaml, modulations
    from ase.io import read

    assert len(read(out / "tdispmat.cif", format="cif")) == 3
    irreps = yaml.safe_load((out / "irreps.yaml").read_text())
    assert irreps["point_group"] == "6/mmm"
    assert "E2g (Raman)" in stdout and "classical statistics" in stdout
    from phonopy.interface.vasp import read_vasp

    assert len(read_vasp(out / "modulation" / "MPOSCAR")) == 12
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["irreps_q"] == [0.0, 0.0, 0.0]
    for name in ("group_velocity.png", "thermal_displacements.png"):
        assert (out / name).stat().st_size > 10_000


def test_bad_modulation_tag_is_one_line(tmp_path):
    cmd = [sys.executable, "-m", "phonjax", "run", str(EXAMPLES / "MgB2"), "--modulation",
           "2 2, 0.5 0 0 x 1", "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "MODULATION tag" in done.stderr and "Traceback" not in done.stderr
