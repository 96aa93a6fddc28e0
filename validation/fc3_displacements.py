"""FC3 displacement datasets, phonjax against phono3py 4.10, crystal by crystal.

    .venv/bin/python validation/fc3_displacements.py            # every case (~10 s)
    .venv/bin/python validation/fc3_displacements.py --quick    # without the three largest

For each crystal and option set, ``phonjax.anharmonic.displacements.
generate_phono3py_displacements`` against ``Phono3py(unitcell, S, P, phonon_supercell_matrix=S₂)
.generate_displacements(...)``. One row each: supercells listed by phonjax and phono3py
(FC3; FC2 for the separate-FC2 cases), whether atoms, ids, ``included`` and ``duplicates``
agree, the largest displacement-vector difference (Å, FC3 and FC2) and the largest
pair-distance difference (Å), and both times. Si-PBEsol is also checked against the two
``phono3py_disp*.yaml`` files of phono3py's example (printed to 16 and 8 decimals).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SI_EXAMPLE = ROOT.parent / "shared" / "data" / "phono3py-examples" / "Si-PBEsol"
SAMPLE = ROOT / "phonjax" / "data" / "sample"
FCC_P = ((0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0))


@dataclass(frozen=True)
class Comparison:
    n_phonjax: int
    n_phono3py: int
    same_layout: bool  # atoms, ids, included, duplicates, counts
    max_vector_diff_A: float
    max_pair_distance_diff_A: float
    n_fc2_phonjax: int | None = None
    n_fc2_phono3py: int | None = None
    max_fc2_diff_A: float | None = None

    @property
    def ok(self) -> bool:
        fc2 = self.max_fc2_diff_A is None or (self.n_fc2_phonjax == self.n_fc2_phono3py
                                              and self.max_fc2_diff_A <= 1e-12)
        return (self.same_layout and self.n_phonjax == self.n_phono3py
                and self.max_vector_diff_A <= 1e-12 and self.max_pair_distance_diff_A <= 1e-10
                and fc2)


def compare_fc3(ours: dict, ref: dict, pair_distance_atol: float = 1e-10) -> Comparison:
    """Two type-1 FC3 datasets (phono3py's dict layout) compared entry by entry."""
    fo, fr = ours["first_atoms"], ref["first_atoms"]
    n_o = len(fo) + sum(len(f["second_atoms"]) for f in fo)
    n_r = len(fr) + sum(len(f["second_atoms"]) for f in fr)
    same = (len(fo) == len(fr) and ours.get("cutoff_distance") == ref.get("cutoff_distance")
            and [list(map(int, d)) for d in ours.get("duplicates", [])]
            == [list(map(int, d)) for d in ref.get("duplicates", [])])
    dv = dd = 0.0
    for a, b in zip(fo, fr):
        same &= (int(a["number"]) == int(b["number"]) and a.get("id") == b.get("id")
                 and len(a["second_atoms"]) == len(b["second_atoms"]))
        dv = max(dv, float(np.abs(np.asarray(a["displacement"]) - b["displacement"]).max()))
        for s, t in zip(a["second_atoms"], b["second_atoms"]):
            same &= (int(s["number"]) == int(t["number"]) and s.get("id") == t.get("id")
                     and s.get("included") == t.get("included"))
            dv = max(dv, float(np.abs(np.asarray(s["displacement"]) - t["displacement"]).max()))
            dd = max(dd, abs(float(s["pair_distance"]) - float(t["pair_distance"])))
    same &= dd <= pair_distance_atol
    return Comparison(n_o, n_r, bool(same), dv, dd)


def compare_fc2(ours, ref: dict) -> tuple[int, int, float]:
    """(n phonjax, n phono3py, largest vector difference; inf when atoms differ)."""
    atoms = np.array([f["number"] for f in ref["first_atoms"]])
    disps = np.array([f["displacement"] for f in ref["first_atoms"]])
    if len(atoms) != len(ours.atoms) or not (atoms == ours.atoms).all():
        return len(ours.atoms), len(atoms), float("inf")
    return len(ours.atoms), len(atoms), float(np.abs(disps - ours.displacements_A).max())


def phono3py_generate(crystal, supercell_matrix, primitive_matrix, *, phonon_supercell_matrix=None,
                      distance_A=0.03, is_plusminus="auto", is_diagonal=True,
                      cutoff_pair_distance_A=None):
    """phono3py's ``Phono3py`` object after ``generate_displacements`` on the same cell."""
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    cell = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    ph = Phono3py(cell, supercell_matrix=np.asarray(supercell_matrix),
                  primitive_matrix=np.asarray(primitive_matrix, float),
                  phonon_supercell_matrix=phonon_supercell_matrix)
    ph.generate_displacements(distance=distance_A, is_plusminus=is_plusminus,
                              is_diagonal=is_diagonal, cutoff_pair_distance=cutoff_pair_distance_A)
    return ph


def run_case(crystal, supercell_matrix, primitive_matrix, **options
             ) -> tuple[Comparison, float, float]:
    """(comparison, phonjax s, phono3py s) of one crystal and option set."""
    from phonjax.anharmonic.displacements import generate_phono3py_displacements

    t0 = time.perf_counter()
    ours = generate_phono3py_displacements(crystal, supercell_matrix, primitive_matrix, **options)
    t1 = time.perf_counter()
    ph = phono3py_generate(crystal, supercell_matrix, primitive_matrix, **options)
    t2 = time.perf_counter()
    c = compare_fc3(ours.fc3.to_phono3py(), ph.dataset)
    if options.get("phonon_supercell_matrix") is not None:
        n2o, n2r, d2 = compare_fc2(ours.fc2, ph.phonon_dataset)
        c = Comparison(c.n_phonjax, c.n_phono3py, c.same_layout, c.max_vector_diff_A,
                       c.max_pair_distance_diff_A, n2o, n2r, d2)
    return c, t1 - t0, t2 - t1


def crystals() -> dict:
    """The crystals of the comparison: name -> (Crystal, primitive matrix)."""
    from ase.build import bulk
    from ase.io import read

    import phonjax
    from phonjax import Crystal

    out = {
        "Si (Fd-3m)": (Crystal.from_ase(read(SI_EXAMPLE / "POSCAR-unitcell", format="vasp")),
                       FCC_P),
        "NaCl (Fm-3m)": (Crystal.from_ase(bulk("NaCl", "rocksalt", a=5.64, cubic=True)), FCC_P),
        "AlN (P6_3mc)": (Crystal.from_ase(bulk("AlN", "wurtzite", a=3.11, c=4.98)), np.eye(3)),
        "GaN (P6_3mc)": (Crystal.from_ase(bulk("GaN", "wurtzite", a=3.19, c=5.19)), np.eye(3)),
    }
    mono = phonjax.read_dataset(SAMPLE / "mp-28163.yaml.xz")  # K2PdF4, C2/m
    out["K2PdF4 mp-28163 (C2/m)"] = (mono.unitcell, mono.primitive_matrix)
    tri = phonjax.read_dataset(SAMPLE / "mp-673245.yaml.xz")  # CuI, P1
    out["CuI mp-673245 (P1)"] = (tri.unitcell, tri.primitive_matrix)
    return out


def cases(quick: bool) -> list[tuple[str, tuple, dict]]:
    """(crystal name, supercell matrix, options) of each row."""
    d2, d1 = (2, 2, 2), (1, 1, 1)
    rows = [
        ("Si (Fd-3m)", d2, {}),
        ("Si (Fd-3m)", d2, {"is_plusminus": True}),
        ("Si (Fd-3m)", d2, {"is_plusminus": False, "is_diagonal": False}),
        ("Si (Fd-3m)", d2, {"cutoff_pair_distance_A": 4.0}),
        ("Si (Fd-3m)", d1, {"phonon_supercell_matrix": d2}),
        ("NaCl (Fm-3m)", d1, {}),
        ("NaCl (Fm-3m)", d1, {"is_plusminus": True, "distance_A": 0.01}),
        ("AlN (P6_3mc)", d2, {}),
        ("AlN (P6_3mc)", d2, {"is_diagonal": False, "cutoff_pair_distance_A": 3.5}),
        ("GaN (P6_3mc)", d2, {}),
        ("GaN (P6_3mc)", d2, {"is_plusminus": False, "phonon_supercell_matrix": (3, 3, 2)}),
        ("K2PdF4 mp-28163 (C2/m)", d1, {}),
        ("K2PdF4 mp-28163 (C2/m)", d1, {"is_diagonal": False, "is_plusminus": True}),
        ("CuI mp-673245 (P1)", d1, {"is_plusminus": False}),
    ]
    if not quick:
        rows += [
            ("NaCl (Fm-3m)", d2, {}),  # phono3py's NaCl example size, 64 atoms
            ("GaN (P6_3mc)", (3, 3, 2), {}),  # 72 atoms
            ("CuI mp-673245 (P1)", d1, {}),
        ]
    return rows


def example_rows() -> list[tuple[str, Comparison]]:
    """Si-PBEsol's phono3py_disp.yaml and phono3py_disp_dimfc2.yaml against phonjax."""
    import phono3py

    from phonjax.anharmonic.displacements import generate_phono3py_displacements

    out = []
    for name in ("phono3py_disp.yaml", "phono3py_disp_dimfc2.yaml"):
        ph = phono3py.load(SI_EXAMPLE / name, produce_fc=False, log_level=0)
        from phonjax import Crystal

        u = ph.unitcell
        crystal = Crystal(u.cell, u.scaled_positions, u.numbers, u.masses)
        ours = generate_phono3py_displacements(
            crystal, ph.supercell_matrix, ph.primitive_matrix,
            phonon_supercell_matrix=ph.phonon_supercell_matrix)
        # the yaml prints pair distances to 8 decimals
        c = compare_fc3(ours.fc3.to_phono3py(), ph.dataset, pair_distance_atol=1e-8)
        if ph.phonon_supercell_matrix is not None:
            n2o, n2r, d2 = compare_fc2(ours.fc2, ph.phonon_dataset)
            c = Comparison(c.n_phonjax, c.n_phono3py, c.same_layout, c.max_vector_diff_A,
                           c.max_pair_distance_diff_A, n2o, n2r, d2)
        out.append((f"Si-PBEsol {name}", c))
    return out


def _fmt_options(smat, options: dict) -> str:
    text = "×".join(map(str, smat))
    for k, v in options.items():
        k = {"phonon_supercell_matrix": "fc2", "cutoff_pair_distance_A": "cutoff",
             "distance_A": "d", "is_plusminus": "pm", "is_diagonal": "diag"}[k]
        text += f" {k}={'×'.join(map(str, v)) if isinstance(v, tuple) else v}"
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="only the test-sized cases")
    args = parser.parse_args(argv)
    table = crystals()
    head = (f"{'crystal':24s} {'supercell, options':30s} {'n phonjax':>9s} {'n phono3py':>10s} "
            f"{'same':>4s} {'max |Δu| Å':>10s} {'max |Δd| Å':>10s} {'FC2 n':>9s} "
            f"{'FC2 |Δu|':>9s} {'phonjax s':>9s} {'phono3py s':>10s}")
    print(head)
    print("-" * len(head))
    bad = 0
    for name, smat, options in cases(args.quick):
        crystal, pmat = table[name]
        c, t_ours, t_ref = run_case(crystal, np.diag(smat), pmat, **{
            k: (np.diag(v) if k == "phonon_supercell_matrix" else v) for k, v in options.items()})
        bad += not c.ok
        fc2 = ("" if c.n_fc2_phonjax is None else f"{c.n_fc2_phonjax}/{c.n_fc2_phono3py}")
        fc2d = "" if c.max_fc2_diff_A is None else f"{c.max_fc2_diff_A:.1e}"
        print(f"{name:24s} {_fmt_options(smat, options):30s} {c.n_phonjax:9d} {c.n_phono3py:10d} "
              f"{'yes' if c.same_layout else 'NO':>4s} {c.max_vector_diff_A:10.1e} "
              f"{c.max_pair_distance_diff_A:10.1e} {fc2:>9s} {fc2d:>9s} {t_ours:9.2f} "
              f"{t_ref:10.2f}")
    for name, c in example_rows():
        ok = c.same_layout and c.n_phonjax == c.n_phono3py and c.max_vector_diff_A <= 1e-12
        bad += not ok
        fc2 = ("" if c.n_fc2_phonjax is None else f"{c.n_fc2_phonjax}/{c.n_fc2_phono3py}")
        fc2d = "" if c.max_fc2_diff_A is None else f"{c.max_fc2_diff_A:.1e}"
        print(f"{name:55s} {c.n_phonjax:9d} {c.n_phono3py:10d} "
              f"{'yes' if c.same_layout else 'NO':>4s} {c.max_vector_diff_A:10.1e} "
              f"{c.max_pair_distance_diff_A:10.1e} {fc2:>9s} {fc2d:>9s}")
    print(f"\n{'all rows agree' if not bad else f'{bad} row(s) DIFFER'} "
          "(vectors ≤ 1e-12 Å, pair distances ≤ 1e-10 Å; 1e-8 against the yaml's 8 decimals)")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
