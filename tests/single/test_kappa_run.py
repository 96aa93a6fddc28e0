"""``phonjax run --kappa`` and ``Phonons.run_kappa``: κ(T) of one crystal after its harmonic
phonons, against phono3py 4.10 given the same relaxed cell, cells and the same (toy Morse,
float64) forces one supercell at a time (``validation.kappa_srme_phono3py.phono3py_kappa``)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

import tests.bench.fakes as fakes
from phonjax.single.phonons import Phonons, PhononsError

pytest.importorskip("phono3py")
published = pytest.importorskip("validation.kappa_srme_phono3py")
from tests.bench.test_kappa_pipeline import MorseCalculator  # noqa: E402

MESH = (4, 4, 3)


def magnesium():
    return bulk("Mg", "hcp", a=3.3, c=5.3)


def test_run_kappa_equals_phono3py_on_the_same_cells():
    fakes.register()
    p = Phonons.from_structure(magnesium(), model="toy:morse", min_length_A=12.0)
    r = p.run_kappa(mesh=MESH, fc3_supercell=(2, 2, 1), isotope=False,
                    temperatures_K=(200.0, 300.0))
    ds = p.kappa.dataset
    assert np.array_equal(ds.phonon_supercell_matrix, p.cells.supercell_matrix)  # the harmonic S
    ref = published.phono3py_kappa(p.structure.unitcell.to_ase(), np.diag([2, 2, 1]),
                                   p.cells.supercell_matrix, MESH, calculator=MorseCalculator(),
                                   isotope=False)
    scale = np.abs(ref["kappa"]).max()
    assert scale > 1
    i = 1  # 300 K
    assert np.abs(r.kappa[i] - ref["kappa"]).max() <= 1e-6 * scale
    assert r.settings.method == "wigner" and r.kappa_coherence is not None


def test_run_kappa_censored_raises_with_its_reason():
    fakes.register()
    si = bulk("Si", "diamond", a=5.43, cubic=True)  # a pair potential: diamond is unstable
    p = Phonons.from_structure(si, model="toy:morse", relax=False, min_length_A=8.0)
    with pytest.raises(PhononsError, match="imaginary"):
        p.run_kappa(mesh=(3, 3, 3), fc3_supercell=(1, 1, 1))
    assert p.kappa.status == "censored"


def test_cli_run_kappa_writes_phono3py_files(tmp_path):
    from phonjax.single.cli import main

    fakes.register()
    cif = tmp_path / "Mg.cif"
    write(cif, magnesium())
    out = tmp_path / "out"
    code = main([str(cif), "--model", "toy:morse", "--kappa", "--kappa-mesh", "4", "4", "3",
                 "--fc3-supercell", "2", "2", "1", "--kappa-temperatures", "300",
                 "--min-length", "12", "--out", str(out), "--no-plots"])
    assert code == 0
    folder = out / "Mg" / "toy_morse"
    rec = json.loads((folder / "kappa.json").read_text())
    assert rec["mesh"] == [4, 4, 3] and rec["method"] == "wigner"
    with h5py.File(folder / "kappa-m443.hdf5") as f:  # phono3py's layout
        kappa = f["kappa"][()]
        assert kappa.shape == (1, 6) and np.allclose(kappa, rec["kappa_WmK"])
        assert f["mode_kappa"].shape[:2] == (1, len(f["qpoint"]))
    assert (folder / "kappa.csv").read_text().startswith("T_K") or \
        "T" in (folder / "kappa.csv").read_text().splitlines()[0]


def test_cli_kappa_options_refused_in_one_line(capsys):
    from phonjax.single.cli import main

    with pytest.raises(SystemExit):  # argparse: not an integer
        main(["x.cif", "--kappa", "--kappa-mesh", "2.5"])
    capsys.readouterr()
    for bad in (["--kappa-mesh", "4", "4"], ["--fc3-supercell", "1", "2"],
                ["--kappa-temperatures", "-5"], ["--fc3-supercell", "0", "0", "0"],
                ["--kappa-mesh", "0"]):
        assert main(["x.cif", "--kappa", *bad]) == 2, bad
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, err
