#!/usr/bin/env python
"""FC3 of Si and NaCl with CHGNet: phonjax's one batched run against phono3py + CHGNet's ASE
calculator one supercell at a time, side by side in one process.

Both sides: the same unit cells (ASE ``bulk``, conventional, not relaxed), 2×2×2 conventional
supercells (64 atoms), the FCC primitive matrix, phono3py's 0.03 Å displacements (Si 111 and
NaCl 146 supercells), FC3 and FC2 by phono3py's traditional solve without symmetrization.
phonjax: ``pipeline.fc3.model_fc3`` over both crystals (every displaced supercell in one
batched adapter call, ``lanes`` model calls side by side). phono3py: ``Phono3py``,
``generate_displacements``, ``CHGNetCalculator.get_forces`` per supercell, ``produce_fc3``.
Printed: wall and CPU seconds per side, their ratio, and the largest FC3 difference
(relative to the largest element; CHGNet runs in float32, and FC3 divides force differences
by u₁·u₂ = 9e-4 Å², so the batched and the one-at-a-time forces differ at the model's
rounding level).

    python validation/fc3_speed.py [--threads 2] [--lanes N]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FCC_P = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def crystals():
    from ase.build import bulk

    from phonjax.structure.crystal import Crystal

    return {"Si": Crystal.from_ase(bulk("Si", "diamond", a=5.43, cubic=True)),
            "NaCl": Crystal.from_ase(bulk("NaCl", "rocksalt", a=5.64, cubic=True))}


def phono3py_side(crystal, calculator) -> tuple[np.ndarray, int]:
    from ase import Atoms
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    unit = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    ph3 = Phono3py(unit, supercell_matrix=2 * np.eye(3, dtype=int), primitive_matrix=FCC_P)
    ph3.generate_displacements(distance=0.03)
    forces = []
    for cell in ph3.supercells_with_displacements:
        atoms = Atoms(cell=cell.cell, positions=cell.positions, numbers=cell.numbers, pbc=True)
        atoms.calc = calculator
        forces.append(atoms.get_forces())
    ph3.forces = np.array(forces)
    ph3.produce_fc3(symmetrize_fc3r=False)
    return ph3.fc3, len(forces)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="torch threads of phono3py's side")
    ap.add_argument("--lanes", type=int, default=None, help="phonjax's model calls side by side")
    args = ap.parse_args(argv)

    import torch
    from chgnet.model.dynamics import CHGNetCalculator

    from phonjax.pipeline import models
    from phonjax.pipeline.fc3 import fc3_job, model_fc3
    from phonjax.pipeline.forces import default_lanes, lane_threads

    torch.set_num_threads(args.threads)
    adapter = models.adapter("chgnet:0.3.0", "cpu", 256)
    adapter.load()
    calculator = CHGNetCalculator(model=adapter.model, use_device="cpu")
    lanes = args.lanes or default_lanes("cpu")
    print(f"CHGNet 0.3.0, torch {torch.__version__}, {platform.machine()}, "
          f"load {os.getloadavg()[0]:.1f}; phono3py: {args.threads} threads; phonjax: "
          f"{lanes} lane(s)")
    cs = crystals()
    jobs = [fc3_job(name, c, 2 * np.eye(3, dtype=int), FCC_P) for name, c in cs.items()]

    def ours():
        with lane_threads(lanes):
            return model_fc3(jobs, adapter, lanes=lanes, symmetrization="none")

    results, w_ours, c_ours = timed(ours)
    theirs, w_ref, c_ref = {}, 0.0, 0.0
    for name, c in cs.items():
        (fc3, n), w, cpu = timed(lambda: phono3py_side(c, calculator))
        theirs[name], w_ref, c_ref = (fc3, n), w_ref + w, c_ref + cpu
    print("| crystal | supercells | max|ΔΦ3|/max|Φ3| | max|Φ3| eV/Å³ |\n|---|---|---|---|")
    for job, r in zip(jobs, results):
        if isinstance(r, Exception):
            print(f"| {job.name} | failed: {r} | | |")
            continue
        fc3, n = theirs[job.name]
        print(f"| {job.name} | {n} | {np.abs(r.fc3 - fc3).max() / np.abs(fc3).max():.1e} | "
              f"{np.abs(fc3).max():.3f} |")
    print(f"\n| side | wall s | CPU s |\n|---|---|---|\n| phono3py + ASE, one supercell at a "
          f"time | {w_ref:.1f} | {c_ref:.1f} |\n| phonjax, one batched run | {w_ours:.1f} | "
          f"{c_ours:.1f} |\n\nphono3py / phonjax wall: {w_ref / w_ours:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
