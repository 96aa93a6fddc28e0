"""Disordered sites are refused, not computed as one of their species: a rock-salt CIF with
Na 0.5 / K 0.5 on the cation site was read by ASE as KCl and computed at exit 0. The reader,
pymatgen structures and ``phonjax run`` (before any model is loaded) name the sites."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from phonjax.single.inputs import InputError, crystal_of, read_inputs

ROOT = Path(__file__).resolve().parents[2]

CIF = """data_rocksalt
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'F m -3 m'
_symmetry_Int_Tables_number 225
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
{sites}
Cl1 Cl 0.5 0.5 0.5 1.0
"""
MIXED = "Na1 Na 0 0 0 0.5\nK1 K 0 0 0 0.5"
VACANCY = "Na1 Na 0 0 0 0.9"
ORDERED = "Na1 Na 0 0 0 1.0"


def cif(tmp_path: Path, sites: str, name: str = "rocksalt.cif") -> Path:
    path = tmp_path / name
    path.write_text(CIF.format(sites=sites))
    return path


@pytest.mark.parametrize("sites, named", [(MIXED, "Na 0.5 + K 0.5 at (0, 0, 0), 4 atom(s)"),
                                          (VACANCY, "Na 0.9 at (0, 0, 0), 4 atom(s)")])
def test_reader_refuses_disordered_sites(tmp_path, sites, named):
    path = cif(tmp_path, sites)
    with pytest.raises(InputError) as exc:
        read_inputs(path)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and "disordered site" in message
    assert named in message


def test_ordered_cif_with_occupancies_is_read(tmp_path):
    (item,) = read_inputs(cif(tmp_path, ORDERED))
    assert sorted(item.crystal.numbers.tolist()) == [11] * 4 + [17] * 4  # Na4Cl4


def test_pymatgen_structure_with_partial_occupancy(tmp_path):
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(5.64), [{"Na": 0.5, "K": 0.5}, "Cl"],
                  [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match=r"site 0: Na 0\.5 \+ K 0\.5 at \(0, 0, 0\)"):
        crystal_of(s, "s")
    vacancy = Structure(Lattice.cubic(5.64), [{"Na": 0.9}, "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    with pytest.raises(InputError, match=r"site 0: Na 0\.9"):
        read_inputs(vacancy)


def test_run_refuses_before_loading_a_model(tmp_path):
    """``python -m phonjax run FILE --model chgnet``: status 2 and one line, quickly, with no
    model framework imported (run as ``-m phonjax`` is, then sys.modules looked at)."""
    path = cif(tmp_path, MIXED, "partial.cif")
    argv = ["phonjax", "run", str(path), "--model", "chgnet", "--min-length", "8", "--no-relax",
            "--no-plots", "--out", str(tmp_path / "out")]
    code = ("import os, runpy, sys\n"
            "os._exit = sys.exit  # the CLI ends short runs with os._exit\n"
            f"sys.argv = {argv!r}\n"
            "try:\n    runpy.run_module('phonjax', run_name='__main__')\n    rc = 0\n"
            "except SystemExit as exc:\n    rc = exc.code\n"
            "print('loaded:', [m for m in ('torch', 'chgnet') if m in sys.modules])\n"
            "sys.exit(rc)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    seconds = time.perf_counter() - t0
    assert done.returncode == 2, done.stderr
    lines = [x for x in done.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and "disordered site" in lines[0] and "Na 0.5 + K 0.5" in lines[0]
    assert "loaded: []" in done.stdout and seconds < 60
