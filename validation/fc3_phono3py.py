"""FC3 and FC2 of phonjax against phono3py 4.10 on the same forces.

Command:

    .venv/bin/python validation/fc3_phono3py.py [--data ../shared/data/phono3py-examples]

Cases (compact form, n_p × N × N × 3×3×3):

* Si-PBEsol (phono3py_disp.yaml + FORCES_FC3, 111 supercells of 64 atoms, type 1):
  - "none": the traditional solve alone (``phono3py.load(..., symmetrize_fc=False)``);
  - "traditional": then ``symmetrize_fc3()`` / ``symmetrize_fc2()`` (the CLI's scheme);
  - "symfc-projector": ``phono3py.load(...)``'s default;
  - "none, full form": the full (N, N, N, 3,3,3) solve (``is_compact_fc=False``).
* NaCl-rd (phono3py_params_NaCl.yaml.xz, 100 random-displacement supercells for FC3 and 2
  of 512 atoms for FC2): ``phono3py.load(..., fc_calculator="symfc")``.
* Pair cutoffs (``cutoff_pair_distance``): Si 2×2×2 conventional (64 atoms) at 4 and 5 Å,
  wurtzite GaN 2×2×2 (32 atoms, ``ase.build.bulk('GaN', 'wurtzite', a=3.19, c=5.19)``) at
  3.5 Å; forces of the included supercells from the toy Morse model
  (``tests/bench/fakes.py``, float64), zeros for the others. phono3py:
  ``generate_displacements(distance=0.03, cutoff_pair_distance=...)``, ``forces = ...``,
  ``produce_fc3(is_compact_fc=...)``, then ``symmetrize_fc3()``/``symmetrize_fc2()``
  (traditional, or ``use_symfc_projector=True`` as ``phono3py.load`` does). phonjax: the same
  displacements from ``pipeline.fc3.fc3_job`` and the same forces.

phono3py is run here, in this process, from the same files (or the same forces);
phonjax reads them with ``phonjax.io.phono3py_files`` and computes with
``phonjax.anharmonic.fc3.force_constants``.
Printed: max |ΔΦ3| / max |Φ3| and max |ΔΦ2| in eV/Å², against the contract (FC3 ≤ 1e-8
relative to the largest element, FC2 ≤ 1e-10 eV/Å²), and both wall times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.bench.fakes: the toy Morse model
DATA = ROOT.parent / "shared" / "data" / "phono3py-examples"
FC3_RELATIVE = 1e-8
FC2_ABSOLUTE_EV_A2 = 1e-10


def phono3py_si(folder: Path, symmetrization: str, compact: bool = True):
    import phono3py

    ph = phono3py.load(folder / "phono3py_disp.yaml", forces_fc3_filename=folder / "FORCES_FC3",
                       symmetrize_fc=symmetrization == "symfc-projector", is_compact_fc=compact)
    if symmetrization == "traditional":
        ph.symmetrize_fc3()
        ph.symmetrize_fc2()
    return ph.fc2, ph.fc3


def phono3py_random(path: Path):
    import phono3py

    ph = phono3py.load(path, fc_calculator="symfc")
    return ph.fc2, ph.fc3


FCC_P = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
CUTOFF_CASES = (("Si", 4.0), ("Si", 5.0), ("GaN", 3.5))


def cutoff_crystal(name: str):
    """(unit cell, primitive matrix) of a cutoff case (2×2×2 supercells)."""
    from ase.build import bulk

    from phonjax.structure.crystal import Crystal

    if name == "Si":
        return Crystal.from_ase(bulk("Si", "diamond", a=5.43, cubic=True)), FCC_P
    return Crystal.from_ase(bulk("GaN", "wurtzite", a=3.19, c=5.19)), np.eye(3)


def cutoff_phono3py(name: str, cutoff_A: float):
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    crystal, pmat = cutoff_crystal(name)
    unit = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    ph3 = Phono3py(unit, supercell_matrix=2 * np.eye(3, dtype=int), primitive_matrix=pmat)
    ph3.generate_displacements(distance=0.03, cutoff_pair_distance=cutoff_A)
    return ph3


def morse_forces(name: str, cutoff_A: float) -> np.ndarray:
    """Toy Morse forces of every included supercell, zeros for the others (FORCES_FC3's)."""
    from ase import Atoms

    import tests.bench.fakes as fakes

    cells = cutoff_phono3py(name, cutoff_A).supercells_with_displacements
    n = next(c for c in cells if c is not None).positions.shape[0]
    return np.array([np.zeros((n, 3)) if c is None else
                     fakes.morse(Atoms(cell=c.cell, positions=c.positions, numbers=c.numbers,
                                       pbc=True))[1] for c in cells])


def phono3py_cutoff(name: str, cutoff_A: float, forces, symmetrization: str, compact: bool):
    ph3 = cutoff_phono3py(name, cutoff_A)
    ph3.forces = forces
    ph3.produce_fc3(is_compact_fc=compact)
    if symmetrization != "none":
        ph3.symmetrize_fc3(use_symfc_projector=symmetrization == "symfc-projector")
        ph3.symmetrize_fc2(use_symfc_projector=symmetrization == "symfc-projector")
    return ph3.fc2, ph3.fc3


def phonjax_cutoff(name: str, cutoff_A: float, forces, symmetrization: str, compact: bool):
    from phonjax.anharmonic.fc3 import force_constants
    from phonjax.pipeline.fc3 import dataset_with_forces, fc3_job

    crystal, pmat = cutoff_crystal(name)
    job = fc3_job(name, crystal, 2 * np.eye(3, dtype=int), pmat, cutoff_pair_distance_A=cutoff_A)
    _, included = job.displacements.fc3.displacement_vectors()
    return _pair(force_constants(dataset_with_forces(job, forces[included]), symmetrization,
                                 compact))


def cutoff_rows():
    """(name, phono3py callable, phonjax callable) of the cutoff cases (forces computed
    once per case, outside the timed calls)."""
    for name, cutoff_A in CUTOFF_CASES:
        forces = morse_forces(name, cutoff_A)
        label = f"{name} 2x2x2 Morse, cut {cutoff_A:g} A"
        for how, compact in (("none", True), ("traditional", True), ("symfc-projector", True),
                             ("none", False)):
            args = (name, cutoff_A, forces, how, compact)
            yield (f"{label}, {how}{'' if compact else ', full'}",
                   lambda args=args: phono3py_cutoff(*args),
                   lambda args=args: phonjax_cutoff(*args))


def deviation(ours, ref) -> tuple[float, float]:
    """(max |Δ| / max |ref|, max |Δ|)."""
    diff = float(np.abs(np.asarray(ours) - np.asarray(ref)).max())
    return diff / float(np.abs(ref).max()), diff


def cases(data: Path):
    """(name, phono3py callable, phonjax callable) for every row of the table."""
    from phonjax.anharmonic.fc3 import force_constants
    from phonjax.io.phono3py_files import read_phono3py_folder, read_phono3py_yaml

    si = data / "Si-PBEsol"
    nacl = data / "NaCl-rd" / "phono3py_params_NaCl.yaml.xz"
    for how in ("none", "traditional", "symfc-projector"):
        yield (f"Si-PBEsol, {how}", lambda how=how: phono3py_si(si, how),
               lambda how=how: _pair(force_constants(read_phono3py_folder(si), how)))
    yield ("Si-PBEsol, none, full form", lambda: phono3py_si(si, "none", compact=False),
           lambda: _pair(force_constants(read_phono3py_folder(si), "none", compact=False)))
    yield ("NaCl-rd, symfc fit", lambda: phono3py_random(nacl),
           lambda: _pair(force_constants(read_phono3py_yaml(nacl))))
    yield from cutoff_rows()


def _pair(result):
    return result.fc2, result.fc3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    import phono3py
    import symfc

    print(f"phono3py {phono3py.__version__}, symfc {symfc.__version__}; contract: FC3 ≤ "
          f"{FC3_RELATIVE:g} relative, FC2 ≤ {FC2_ABSOLUTE_EV_A2:g} eV/Å²")
    header = (f"{'case':<52} {'max|ΔΦ3|/max|Φ3|':>18} {'max|ΔΦ3| eV/Å³':>15} "
              f"{'max|ΔΦ2| eV/Å²':>15} {'phono3py s':>10} {'phonjax s':>10}  verdict")
    print(header)
    print("-" * len(header))
    failed = 0
    for name, reference, ours in cases(args.data):
        t0 = time.perf_counter()
        ref_fc2, ref_fc3 = reference()
        t1 = time.perf_counter()
        fc2, fc3 = ours()
        t2 = time.perf_counter()
        rel3, abs3 = deviation(fc3, ref_fc3)
        _, abs2 = deviation(fc2, ref_fc2)
        ok = rel3 <= FC3_RELATIVE and abs2 <= FC2_ABSOLUTE_EV_A2
        failed += not ok
        print(f"{name:<52} {rel3:>18.2e} {abs3:>15.2e} {abs2:>15.2e} {t1 - t0:>10.2f} "
              f"{t2 - t1:>10.2f}  {'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
