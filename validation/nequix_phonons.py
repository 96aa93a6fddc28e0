#!/usr/bin/env python
"""Nequix-MP-1 and Nequix-MP-1-PFT on phonondb: Hessian and finite-displacement force constants.

For a sample of phonondb-pbesol materials (every K-th by supercell size, or the
``--limit`` smallest), each Nequix variant relaxes the unit cell once (the
bench's relaxation, loew2024 protocol) and then gives force constants by both
routes from the same relaxed cell: finite displacements (the protocol's forces
on phonopy's displaced supercells) and Hessian-vector products of the same
energy (``phonjax.harmonic.hessian``, ``--set force_constants=hessian`` in the bench).
Prints, per variant and route, the time per material of that step and
Table II's errors at 300 K against the PBEsol DFT reference (the bench's own
scoring), and the Hessian-vs-displacement differences. The PFT paper (Koker et
al. 2026, Table 1) reports PFT halving Nequix-MP's errors on the PBE MDR set
(ω_max 24 → 12 K, S 32 → 14 J/K/mol, F 12 → 5 kJ/mol, Cv 6 → 3 J/K/mol): the last
line says whether this PBEsol sample shows the same ordering.

    python validation/nequix_phonons.py [--limit 8] [--stride K] [--out results.csv]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "phonondb-pbesol"
VARIANTS = ("nequix-mp-1", "nequix-mp-1-pft")
KEYS = ("MAE ω_max (K)", "MAE S (J/K/mol)", "MAE F (kJ/mol)", "MAE C_V (J/K/mol)")


def sample(limit: int, stride: int | None) -> list[str]:
    import csv

    rows = sorted(csv.DictReader(open(DATA / "manifest.csv")),
                  key=lambda r: (int(r["n_supercell"]), r["mp_id"]))
    picked = rows[::stride] if stride else rows
    return [r["mp_id"] for r in picked[:limit]]


def model_rows(variant: str, materials, protocol) -> list[dict]:
    """Rows of both routes for ``variant`` (one relaxation per material)."""
    from phonjax.pipeline import models
    from phonjax.bench.compute import (crystal_info, material_row, prepare_for_protocol,
                                       protocol_properties, result_row)
    from phonjax.bench.inputs import load
    from phonjax.pipeline.relax import relax_each
    from phonjax.structure.crystal import Crystal
    from phonjax.pipeline.forces import evaluate_forces, hessian_forces

    adapter = models.adapter(variant)
    adapter.load()
    datasets = [load(m) for m in materials]
    rows = []
    relaxed = dict(relax_each([ds.unitcell.to_ase() for ds in datasets], adapter,
                              protocol.relax_settings, lanes=1))
    for i, (m, ds) in enumerate(zip(materials, datasets)):
        r = relaxed[i]
        fields = {**crystal_info(ds.unitcell), "relax_steps": r.steps,
                  "relax_seconds": r.seconds}
        for route, evaluate in (("finite_displacement", lambda s: evaluate_forces(adapter, [s], 1)),
                                ("hessian", lambda s: hessian_forces(adapter, [s]))):
            label = f"{variant} ({route})"
            if not r.ok:
                rows.append(material_row(m, label, protocol, **fields, status="failed",
                                         stage="relax", error=r.reason))
                continue
            crystal = Crystal.from_ase(r.atoms, masses=ds.unitcell.masses)
            system = prepare_for_protocol(protocol, crystal, ds.supercell_matrix,
                                          ds.primitive_matrix, unitcell=crystal,
                                          pmat=ds.primitive_matrix,
                                          use_dataset_displacements=False, id=m.material_id)
            t0 = time.perf_counter()
            [f] = evaluate(system)
            forces_s = time.perf_counter() - t0
            if isinstance(f, Exception):
                rows.append(material_row(m, label, protocol, **fields, status="failed",
                                         stage="forces", error=str(f)))
                continue
            [result] = protocol_properties(protocol, [system], [f])
            row = result_row(m, label, protocol, {**fields, "forces_seconds": forces_s,
                                                  "volume_A3_per_atom": r.volume_A3_per_atom,
                                                  "energy_eV_per_atom": r.energy_eV_per_atom},
                             system, result, wall_seconds=forces_s)
            row["fc_route_seconds"] = forces_s
            rows.append(row)
            print(f"  {variant:16s} {route:19s} {m.material_id:10s} {forces_s:7.1f} s "
                  f"F {row.get('free_energy_kJmol', float('nan')):9.3f}", flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=8)
    ap.add_argument("--stride", type=int, default=None, help="every K-th by supercell size")
    ap.add_argument("--out", default=None, help="rows as CSV")
    args = ap.parse_args(argv)
    import pandas as pd

    from phonjax.bench import protocols
    from phonjax.bench.compute import reference_rows
    from phonjax.bench.inputs import Material
    from phonjax.bench.scoring import compare, summary
    from phonjax.compile_cache import enable_compilation_cache

    enable_compilation_cache()
    ids = sample(args.limit, args.stride)
    materials = [Material("phonondb-pbesol", i, str(DATA / f"{i}.yaml.xz")) for i in ids]
    protocol = protocols.resolve("loew2024")
    t_start = time.perf_counter()
    print(f"{len(ids)} materials: {' '.join(ids)}; load average {os.getloadavg()[0]:.1f}")
    reference = pd.DataFrame(reference_rows(materials, protocol))
    rows = []
    for variant in VARIANTS:
        rows += model_rows(variant, materials, protocol)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    print("\n| model (route) | n | failed | fc route s/material | MAE ω_max K | MAE S J/K/mol | "
          "MAE F kJ/mol | MAE Cv J/K/mol |")
    print("|---|---|---|---|---|---|---|---|")
    mae = {}
    for label, part in df.groupby("model", sort=False):
        s = summary(compare(part, reference), label)
        ok = part[part["status"] == "ok"]
        mae[label] = s
        print(f"| {label} | {s['n']} | {s['failed_pct']:.0f} % | {ok['fc_route_seconds'].mean():.1f} | "
              + " | ".join(f"{s.get(k, float('nan')):.2f}" for k in KEYS) + " |")
    for variant in VARIANTS:  # the same relaxed cells: what the route alone changes
        a = df[(df.model == f"{variant} (finite_displacement)") & (df.status == "ok")]
        b = df[(df.model == f"{variant} (hessian)") & (df.status == "ok")]
        both = a.merge(b, on="material_id", suffixes=("_fd", "_h"))
        for name in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol", "omega_max_K"):
            d = (both[f"{name}_h"] - both[f"{name}_fd"]).abs()
            print(f"{variant}: Hessian vs displacements, {name}: max |Δ| {d.max():.3g}, "
                  f"mean {d.mean():.3g}")
    keys = KEYS
    for route in ("finite_displacement", "hessian"):
        base, pft = mae[f"{VARIANTS[0]} ({route})"], mae[f"{VARIANTS[1]} ({route})"]
        lower = [k for k in keys if pft.get(k, np.nan) < base.get(k, np.nan)]
        print(f"{route}: PFT lower than MP-1 in {len(lower)}/4 of ω_max, S, F, Cv "
              f"({', '.join(k[4:] for k in lower) or 'none'}); paper (PBE MDR): all four, "
              "about halved")
    print(f"total {time.perf_counter() - t_start:.0f} s, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
