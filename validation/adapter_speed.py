"""Adapter speed: batched model calls vs one ASE get_forces() per displaced supercell.

For CHGNet and SevenNet (the two families whose weights ship with their
wheels) this evaluates every displaced supercell of 20 small-to-medium
phonondb materials twice in the same process:

  ase      one ``atoms.get_forces()`` per supercell through the package's own
           ASE calculator, the way published phonon benchmark code does it;
  adapter  ``adapter.evaluate(batch)``, the supercells grouped into model calls
           of at most ``--max-atoms`` atoms.

Both paths load their model before timing and get one warm-up call. Each pass
is repeated ``--repeats`` times and the fastest kept (the machine is shared).
Printed: wall and CPU seconds of each path, their ratios (ASE / adapter, so
> 1 means the adapter is faster), and max |ΔF| between the two in eV/Å. On a
shared machine the CPU-time ratio is the steadier number.

    .venv/bin/python validation/adapter_speed.py --threads 2
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository's `validation` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validation.reference import phonopy_reference  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PHONONDB = ROOT.parent / "shared" / "data" / "phonondb-pbesol"


def pick_materials(n: int = 20) -> list[str]:
    """``n`` phonondb materials spread evenly over the small-to-medium ones.

    Small-to-medium: 32-128 atoms in the supercell and at most 8 displacements;
    spread evenly after sorting by atoms to evaluate (supercell atoms x displacements).
    """
    with open(PHONONDB / "manifest.csv") as f:
        rows = [
            r for r in csv.DictReader(f)
            if 32 <= int(r["n_supercell"]) <= 128 and int(r["n_displacements"]) <= 8
        ]
    rows.sort(key=lambda r: (int(r["n_supercell"]) * int(r["n_displacements"]), r["mp_id"]))
    return [rows[int(i * len(rows) / n)]["mp_id"] for i in range(n)]


def displaced_supercells(mp_id: str):
    from ase import Atoms

    ph = phonopy_reference(PHONONDB / f"{mp_id}.yaml.xz", load_only=True).phonopy
    return [
        Atoms(numbers=s.numbers, positions=s.positions, cell=s.cell, pbc=True)
        for s in ph.supercells_with_displacements
    ]


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def ase_forces(calculator, supercells) -> list[np.ndarray]:
    forces = []
    for atoms in supercells:
        atoms = atoms.copy()
        atoms.calc = calculator
        forces.append(atoms.get_forces())
    return forces


def family_setup(family: str, max_atoms: int):
    """(adapter, ASE calculator), each holding its own loaded model."""
    from phonjax_adapters import get_adapter

    if family == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        adapter = get_adapter("chgnet", "0.3.0", max_atoms=max_atoms).load()
        return adapter, CHGNetCalculator(model=adapter.model, use_device="cpu")
    from sevenn.calculator import SevenNetCalculator

    adapter = get_adapter("sevennet", "7net-0", max_atoms=max_atoms).load()
    return adapter, SevenNetCalculator("7net-0", device="cpu")


def measure(family: str, supercells, max_atoms: int, repeats: int) -> dict:
    from phonjax.structure.batch import pad_structures

    adapter, calculator = family_setup(family, max_atoms)
    batch = pad_structures((a.cell.array, a.positions, a.numbers) for a in supercells)
    ase_forces(calculator, supercells[:1])  # warm-up both paths
    adapter.evaluate(batch.take([0]), compute_stress=False)
    best_ase, best_adapter = (np.inf, np.inf), (np.inf, np.inf)
    for _ in range(repeats):
        reference, wall, cpu = timed(lambda: ase_forces(calculator, supercells))
        best_ase = min(best_ase, (wall, cpu))
        out, wall, cpu = timed(lambda: adapter.evaluate(batch, compute_stress=False))
        best_adapter = min(best_adapter, (wall, cpu))
    max_df = max(
        float(np.abs(out.forces[b, : len(f)] - f).max()) for b, f in enumerate(reference)
    )
    return {"ase": best_ase, "adapter": best_adapter, "max_df": max_df, "calls": len(batch.split(max_atoms))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--max-atoms", type=int, default=1024, help="atoms per adapter model call")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes; the fastest is kept")
    parser.add_argument(
        "--families", nargs="+", default=["chgnet", "sevennet"], choices=["chgnet", "sevennet"]
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    materials = pick_materials()
    supercells = [a for mp_id in materials for a in displaced_supercells(mp_id)]
    n_atoms = sum(len(a) for a in supercells)
    print(f"materials ({len(materials)}): {' '.join(materials)}")
    print(
        f"{len(supercells)} displaced supercells, {n_atoms} atoms; torch {torch.__version__}, "
        f"{args.threads} threads, max_atoms {args.max_atoms}, best of {args.repeats}; "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs)")
    print()
    columns = [
        "model", "ASE get_forces, wall s (CPU s)", "adapter batched, wall s (CPU s)",
        "model calls (adapter vs ASE)", "speed-up wall (CPU)", "max abs ΔF eV/Å",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for family in args.families:
        r = measure(family, supercells, args.max_atoms, args.repeats)
        (aw, ac), (bw, bc) = r["ase"], r["adapter"]
        name = {"chgnet": "CHGNet 0.3.0", "sevennet": "SevenNet 7net-0"}[family]
        print(
            f"| {name} | {aw:.2f} ({ac:.2f}) | {bw:.2f} ({bc:.2f}) | {r['calls']} vs {len(supercells)} "
            f"| {aw / bw:.2f}x ({ac / bc:.2f}x) | {r['max_df']:.1e} |",
            flush=True,
        )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
