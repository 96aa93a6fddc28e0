#!/usr/bin/env python
"""Current phonjax against the phonopy values recorded by ``validation.compare_phonopy``.

``python -m validation.compare_phonopy`` stores phonopy's F, S, Cv (300 K) and ω_max for every
material in its CSV. After a change to the kernel, this script recomputes
phonjax's values for the same files (one batched ``phonon_properties`` call
per size bucket, the default settings) and compares them with those phonopy
numbers, without running phonopy again (phonjax alone: ~30 min for the 815 on 2 cores).

    python validation/recheck.py [--csv validation/results/per_material.csv] [--out FILE]
                                 [--stride K] [--plan RUNNER:EIGENSOLVER]
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "phonondb-pbesol").resolve()
KEYS = (("F", "free_energy_kJmol"), ("S", "entropy_JKmol"), ("Cv", "heat_capacity_JKmol"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=str(ROOT / "validation" / "results" / "per_material.csv"))
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=None, help="per-material deviations (CSV)")
    ap.add_argument("--stride", type=int, default=1, help="every K-th material of the CSV")
    ap.add_argument("--plan", default=None, metavar="RUNNER:EIGENSOLVER",
                    help="execution plan, e.g. chunked:xla or graph:xla (default: the backend's)")
    args = ap.parse_args(argv)
    rows = [r for r in csv.DictReader(open(args.csv)) if r.get("status") == "ok"][:: args.stride]
    import phonjax
    from phonjax.execution import Plan, default_plan

    plan = Plan(*args.plan.split(":")) if args.plan else default_plan()
    t0 = time.perf_counter()
    datasets = [phonjax.read_dataset(Path(args.data) / r["file"]) for r in rows]
    systems = [phonjax.prepare(d) for d in datasets]
    results = phonjax.phonon_properties(systems, [d.forces for d in datasets], plan=plan)
    seconds = time.perf_counter() - t0
    table = []
    for row, system, res in zip(rows, systems, results):
        dev = {k: abs(getattr(res, attr)[0] - float(row[f"{k}_phonopy"])) / abs(float(row[f"{k}_phonopy"]))
               for k, attr in KEYS}
        dev["omega_max_K"] = abs(res.omega_max_K - float(row["omega_max_K_phonopy"]))
        dev["stable_identical"] = str(res.stable) == row["stable_phonopy"]
        table.append({"id": row["id"], "n_supercell": row["n_supercell"], **dev})
    if args.out:
        with open(args.out, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(table[0]))
            w.writeheader()
            w.writerows(table)
    print(f"{len(table)} materials from {args.csv}, phonjax {phonjax.__version__}, plan "
          f"{plan.runner}:{plan.eigensolver}, in {seconds:.0f} s")
    print("| quantity | contract | max deviation from phonopy | worst | # over |")
    print("|---|---|---|---|---|")
    for key, tol in (("F", 1e-8), ("S", 1e-8), ("Cv", 1e-8), ("omega_max_K", 1e-4)):
        worst = max(table, key=lambda t: t[key])
        over = [t["id"] for t in table if not t[key] <= tol]
        label = "ω_max (K, absolute)" if key == "omega_max_K" else f"{key} (300 K, relative)"
        print(f"| {label} | ≤ {tol:g} | {worst[key]:.2e} | {worst['id']} | {len(over)} {', '.join(over[:8])} |")
    flips = [t["id"] for t in table if not t["stable_identical"]]
    print(f"| stability verdict | identical | – | – | {len(flips)} {', '.join(flips[:8])} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
