"""``phonjax run``: end to end on conventional CIFs of Si and NaCl with CHGNet (CPU, small
supercells), on a force-set file, and one clear line for each kind of bad input.

The CHGNet runs are checked against phonopy on the files they write (phonopy_params.yaml →
phonopy's own frequencies at the labelled points), and a primitive-cell input of the same Si
with the same physical supercell must give the same bands as the conventional input (with a
float64 toy model, whose round-off is far below any mapping error): the band path and its
labels do not depend on the cell given.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from phonjax.single.cli import main
from tests.conftest import sample_path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def chgnet_available() -> bool:
    if importlib.util.find_spec("chgnet") is None:
        return False
    from phonjax_adapters.registry import get_adapter

    return bool(get_adapter("chgnet").availability())


needs_chgnet = pytest.mark.skipif(not chgnet_available(), reason="CHGNet not installed")


def run(args, capsys):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@needs_chgnet
def test_si_and_nacl_conventional_cifs_with_chgnet(tmp_path, capsys):
    import phonopy
    import torch

    torch.set_num_threads(1)
    code, out, err = run([EXAMPLES / "Si.cif", EXAMPLES / "NaCl.cif",
                          "--model", "chgnet", "--supercell", "2", "2", "2", "--mesh", "6",
                          "--band-points", "21", "--temperatures", "0", "600", "100",
                          "--out", tmp_path], capsys)
    assert code == 0, err
    for name, n_disp in (("Si", 1), ("NaCl", 2)):
        folder = tmp_path / name / "chgnet"
        for f in ("phonopy_params.yaml", "band.yaml", "total_dos.dat", "projected_dos.dat",
                  "projected_dos_elements.dat", "thermal_properties.yaml",
                  "thermal_properties.csv", "summary.json", "imaginary_modes.json",
                  "relaxed.cif", "bands_dos.png", "pdos.png", "thermal.png"):
            assert (folder / f).is_file(), f
        s = json.loads((folder / "summary.json").read_text())
        assert s["relaxation"]["converged"] and s["relaxation"]["final_fmax_eV_A"] <= 0.005
        group = s["input"]["symmetry"].split()[0]
        assert group in ("Fd-3m", "Fm-3m") and s["relaxation"]["symmetry_after"].split()[0] == group
        assert s["cells"]["n_primitive"] == 2 and s["cells"]["n_supercell"] == 64
        assert s["n_displacements"] == n_disp
        assert s["band_path"]["verified"] and s["stability"]["stable"]
        assert s["model"]["weights"][0]["sha256"] and s["versions"]["phonopy"] == "4.10.0"
        # phonopy, from the file we wrote, at the labelled points of our path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ph = phonopy.load(folder / "phonopy_params.yaml", is_nac=False, produce_fc=False)
            ph.produce_force_constants()
            ph.symmetrize_force_constants()
        band = yaml.safe_load(open(folder / "band.yaml"))
        q = np.array([b["q-position"] for b in band["phonon"]])
        ours = np.array([[x["frequency"] for x in b["band"]] for b in band["phonon"]])
        ph.run_qpoints(q)
        theirs = ph.get_qpoints_dict()["frequencies"]
        mask = np.abs(theirs) >= 0.1
        assert np.abs(ours - theirs)[mask].max() <= 2e-6  # band.yaml keeps 1e-10 THz
    assert "all labelled points checked" in out


def test_primitive_and_conventional_inputs_give_the_same_bands():
    """Same Si, same physical 64-atom supercell, given as the conventional cell (S = 2·I) or
    as the fcc primitive cell (S = inv(P)·2·I): the same bands along the same labelled path.

    The forces come from the float64 toy Morse potential (tests/bench/fakes.py), so the two
    cell choices can differ only by float64 round-off. Measured on AMD EPYC with these two
    inputs plus ``conv[np.random.default_rng(0).permutation(8)]`` (3 orders) through the same
    ``Phonons.run_all``: ν·|ν| (the eigenvalue in THz², free of the square root's blow-up
    at the Γ acoustic zeros) differs by 1.8e-12 of its largest value between the two cells and
    by ≤ 6e-13 between atom orders; a primitive lattice 1.8e-5 larger gives 2.5e-4. Hence the
    bound 1e-9 (500× the round-off). A float32 model cannot check the mapping: CHGNet's
    bands of this supercell move by up to 8.1e-3 THz between 4 atom orders of the same
    conventional cell (``validation/float32_noise.py``), so the old CHGNet version of this test
    with 2e-3 THz passed on one CPU and failed on another."""
    import tests.bench.fakes  # noqa: F401  registers the "toy" family
    from ase.build import bulk

    from phonjax.single import Phonons

    conv = bulk("Si", "diamond", 5.47, cubic=True)
    prim = bulk("Si", "diamond", 5.47)
    pmat = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])  # ASE's fcc primitive
    s_prim = np.rint(np.linalg.inv(pmat) @ (2 * np.eye(3))).astype(int)
    common = dict(relax=False, mesh=(4, 4, 4), band_points=15)
    a, b = Phonons.run_all([Phonons.from_structure(conv, "toy:morse", name="conv",
                                                   supercell_matrix=(2, 2, 2), **common),
                            Phonons.from_structure(prim, "toy:morse", name="prim",
                                                   supercell_matrix=tuple(s_prim.ravel()), **common)])
    assert a.error is None and b.error is None
    assert a.band.path.labels == b.band.path.labels and a.band.path.verified and b.band.path.verified
    eig_a, eig_b = (f * np.abs(f) for f in (a.band.all_frequencies_THz, b.band.all_frequencies_THz))
    assert np.abs(eig_a - eig_b).max() <= 1e-9 * np.abs(eig_a).max()


def test_force_set_file_without_model(tmp_path, capsys):
    path = tmp_path / "path.yaml"  # a user path in the conventional cell's reciprocal basis
    path.write_text("basis: unitcell\npath:\n- [[G, [0, 0, 0]], [X, [0, 1, 0]], [L, [0.5, 0.5, 0.5]]]\n")
    code, out, err = run([sample_path("mp-1000"), "--mesh", "6", "--band-points", "11",
                          "--band-path", path, "--no-plots", "--out", tmp_path], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "mp-1000" / "dft" / "summary.json").read_text())
    assert s["model"]["model"] == "dft" and s["relaxation"] is None
    assert s["cells"]["primitive"] == "from the force-set file: primitive_matrix from the file"
    assert s["band_path"]["labels"] == ["G", "X", "L"] and s["band_path"]["verified"] is None
    band = yaml.safe_load(open(tmp_path / "mp-1000" / "dft" / "band.yaml"))
    np.testing.assert_allclose(band["phonon"][10]["q-position"], [0.5, 0, 0.5], atol=1e-7)


@pytest.mark.parametrize("args, message", [
    (["--mesh", "0"], "mesh must be one or three positive integers"),
    (["--fmax", "-1"], "fmax_eV_A must be > 0"),
    (["--temperatures", "0", "-10", "5"], "--temperatures needs T0 ≤ T1"),
    (["--supercell", "2", "2"], "--supercell takes 3 or 9 integers"),
    (["--sigma", "nan"], "dos_sigma_THz must be a positive number"),
    (["--model", "nosuchmodel"], "no phonjax adapter named 'nosuchmodel'"),
])
def test_bad_options_one_line_status_2(args, message, capsys, tmp_path):
    code, _, err = run([EXAMPLES / "Si.cif", *args, "--out", tmp_path], capsys)
    assert code == 2
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and message in lines[0], err


def test_model_not_installed(capsys, tmp_path):
    """A registered family whose package is missing here: one line naming it, status 2."""
    from phonjax_adapters.registry import adapter_classes, get_adapter

    found = {n: get_adapter(n).availability() for n in adapter_classes()}
    missing = sorted((not found[n].reason.endswith("not installed"), n) for n in found
                     if not found[n])  # a missing package first, else missing weights
    missing = [n for _, n in missing]
    if not missing:
        pytest.skip("every registered model is installed here")
    code, _, err = run([EXAMPLES / "Si.cif", "--model", missing[0], "--out", tmp_path],
                       capsys)
    lines = [x for x in err.strip().splitlines() if x.strip()]
    assert code == 2 and len(lines) == 1 and "cannot run here" in lines[0], err


def test_unreadable_and_non_periodic_inputs(tmp_path, capsys):
    garbage = tmp_path / "garbage.cif"
    garbage.write_text("this is not a CIF\n")
    molecule = tmp_path / "water.xyz"
    molecule.write_text("3\nwater\nO 0 0 0\nH 0.76 0.59 0\nH -0.76 0.59 0\n")
    for path, message in ((garbage, "not a structure file ASE can read"),
                          (molecule, "not periodic in all three directions"),
                          (tmp_path / "missing.cif", "file not found")):
        code, _, err = run([path, "--out", tmp_path / "out"], capsys)
        lines = [x for x in err.strip().splitlines() if x.strip()]
        assert code == 2 and len(lines) == 1, err
        assert str(path) in lines[0] and message in lines[0], err


def test_two_models_and_a_failed_relaxation(tmp_path, capsys):
    """Toy numpy models (tests/bench/fakes.py): one relaxes, one returns NaN forces. The
    failure is one line and a summary with its stage; the other model's results, the
    comparison table and the overlay plot are still written; exit status 1."""
    import csv

    import tests.bench.fakes  # noqa: F401  registers the "toy" family

    code, out, err = run([EXAMPLES / "Si.cif", "--model", "toy:morse", "--model", "toy:nan",
                          "--supercell", "1", "1", "1", "--mesh", "4", "--band-points", "11",
                          "--temperatures", "0", "300", "100", "--out", tmp_path], capsys)
    assert code == 1
    assert "Si · toy:nan: relax failed: NaN" in out
    failed = json.loads((tmp_path / "Si" / "toy_nan" / "summary.json").read_text())
    assert failed["error"]["stage"] == "relax" and "NaN" in failed["error"]["message"]
    ok = json.loads((tmp_path / "Si" / "toy_morse" / "summary.json").read_text())
    assert ok["error"] is None and ok["relaxation"]["converged"]
    rows = list(csv.DictReader(open(tmp_path / "Si" / "comparison.csv")))
    assert [r["model"] for r in rows] == ["toy:morse", "toy:nan"]
    assert rows[0]["status"] == "ok" and rows[1]["status"].startswith("failed (relax)")
    assert (tmp_path / "Si" / "comparison.png").is_file()
    assert "1 done, 1 failed" in err
