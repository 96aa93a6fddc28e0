"""phonjax vs phonopy speed, side by side in one run, with the agreement check.

For each material (phonondb phonopy_params files): the reference pipeline
(phonopy 4.10: load, full FCs by finite differences, symmetrize_force_constants(),
run_mesh([20,20,20]), thermal properties at 300 K, frequencies at the
commensurate points) against phonjax (read, prepare, batched kernel), and the
"floor": phonors' batched eigensolver alone on phonjax's irreducible q-set,
i.e. the eigenvalue work no implementation of this mesh can avoid.
phonjax runs twice in the same process: "cold" compiles every kernel shape
(what a first run with an empty compilation cache pays), "compiled" is the
second pass (what later runs pay with phonjax's persistent cache).
Prints per-stage times, ratios per size class (supercell atoms), and the
largest F/S/Cv deviation. Usage:

    python validation/speed.py [--limit N] [--stride K] [--files ...] [--cold-only]
                               [--plan RUNNER:EIGENSOLVER] [--out results.csv]
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository's `validation` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phonjax  # noqa: E402
from phonjax.harmonic.dynamical_matrix import dynamical_matrices, mass_weighted_blocks  # noqa: E402
from phonjax.execution import Plan, default_plan  # noqa: E402
from phonjax.execution.host_eigen import phonors_eigvalsh  # noqa: E402
from phonjax.execution.padding import bucket  # noqa: E402
from validation.reference import phonopy_reference  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phonondb-pbesol"
CLASSES = [(0, 64), (65, 128), (129, 200), (201, 10_000)]


def phonopy_side(ds):
    """phonopy's stage times (s) and (F, S, Cv) at 300 K on a 20³ mesh for a dataset read from a file."""
    ref = phonopy_reference(ds)
    t = ref.times_s
    times = {"load": t["load"], "fc": t["force_constants"], "mesh": t["mesh"],
             "thermal+comm": t["thermal"] + t["commensurate"]}
    return times, (ref.free_energy_kJmol[0], ref.entropy_JKmol[0], ref.heat_capacity_JKmol[0])


def _cell(x: float, fmt: str, unit: str = "") -> str:
    return "—" if np.isnan(x) else f"{x:{fmt}}{unit}"


def eigen_floor(system, force_constants) -> float:
    """Seconds of phonors' batched eigensolver alone on the system's irreducible q-set."""
    phases = system.tables.phases
    floor = 0.0
    with phonjax.float64():
        blocks = mass_weighted_blocks(force_constants, phases)
        for start in range(0, len(system.mesh.qpoints), 256):  # chunks: D of 2,000 q take GBs
            d = np.asarray(dynamical_matrices(system.mesh.qpoints[start:start + 256], blocks,
                                              phases))
            t0 = time.perf_counter()
            phonors_eigvalsh(d)
            floor += time.perf_counter() - t0
    return floor


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", nargs="*")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--stride", type=int, default=1, help="take every K-th file (by size)")
    ap.add_argument("--out", default="validation/results/speed.csv")
    ap.add_argument("--jax-cache", default=None,
                    help="persistent XLA cache folder (default: none, every shape compiled cold)")
    ap.add_argument("--cold-only", action="store_true",
                    help="time only the cold pass against phonopy (no compiled pass, no floor): "
                         "what a run over all 815 affords")
    ap.add_argument("--plan", default=None, metavar="RUNNER:EIGENSOLVER",
                    help="execution plan, e.g. chunked:phonors (default: the backend's)")
    args = ap.parse_args(argv)
    plan = Plan(*args.plan.split(":")) if args.plan else default_plan()
    if args.jax_cache:
        from phonjax.compile_cache import enable_compilation_cache

        enable_compilation_cache(args.jax_cache)
    files = args.files or sorted(glob.glob(str(DATA / "*.yaml.xz")))
    files = files[:: args.stride][: args.limit]
    rows = []
    # phonjax: read + prepare every file, then one batched kernel call (bucketed inside)
    t0 = time.perf_counter()
    datasets = [phonjax.read_dataset(f) for f in files]
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    systems = [phonjax.prepare(d) for d in datasets]
    t_prep = time.perf_counter() - t0
    # start JAX's runtime outside the timing (phonopy's imports are not timed either);
    # every kernel shape is compiled inside it
    import jax.numpy as jnp

    jnp.zeros(8).sum().block_until_ready()
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    kernel_time = {}
    results = [None] * len(systems)
    groups = bucket([s.tables for s in systems], plan)
    for group in groups:
        tg = time.perf_counter()
        out = phonjax.phonon_properties([systems[i] for i in group], [datasets[i].forces for i in group],
                                        plan=plan)
        dt = time.perf_counter() - tg
        for i, r in zip(group, out):
            results[i] = r
            kernel_time[i] = dt / len(group)  # amortized over the batch, compilation included
    t_kernel = time.perf_counter() - t0
    # second pass in the same process: every shape compiled, i.e. what a warm persistent
    # cache (phonjax.compile_cache) gives a later run
    force_constants = {}

    def compiled_pass(**kwargs):
        per_material = {}
        for group in groups:
            tg = time.perf_counter()
            out = phonjax.phonon_properties([systems[i] for i in group],
                                            [datasets[i].forces for i in group], plan=plan,
                                            **kwargs)
            for i, r in zip(group, out):
                per_material[i] = (time.perf_counter() - tg) / len(group)
                if r.force_constants is not None:
                    force_constants[i] = r.force_constants
        return per_material

    nan = {i: float("nan") for i in range(len(systems))}
    if args.cold_only:
        warm_time = nan
    else:
        # (keeping the force constants for the floor below costs a copy, inside the timing)
        warm_time = compiled_pass(keep_force_constants=True)
    for i, (f, ds, s, r) in enumerate(zip(files, datasets, systems, results)):
        tp, ref = phonopy_side(ds)
        # floor: eigenvalues only, phonors, phonjax's irreducible q-set
        floor = float("nan") if args.cold_only else eigen_floor(s, force_constants[i])
        ours = (r.free_energy_kJmol[0], r.entropy_JKmol[0], r.heat_capacity_JKmol[0])
        dev = max(abs(a - b) / max(abs(b), 1e-300) for a, b in zip(ours, ref))
        phonjax_time = (t_read + t_prep) / len(files) + kernel_time[i]
        phonjax_warm = (t_read + t_prep) / len(files) + warm_time[i]
        rows.append({"id": ds.id, "n_supercell": s.n_supercell, "n_primitive": s.n_primitive,
                     "n_irreducible_q": len(s.mesh.qpoints), "phonopy_s": sum(tp.values()),
                     **{f"phonopy_{k}_s": v for k, v in tp.items()}, "phonjax_s": phonjax_time,
                     "phonjax_compiled_s": phonjax_warm, "eigen_floor_s": floor,
                     "max_rel_dev_FSCv": dev})
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"phonjax vs phonopy 4.10, {len(rows)} materials, 20³ mesh, 300 K (CPU)")
    for col in ("supercell atoms", "n", "phonopy (s)", "phonjax cold (s)", "speed-up cold",
                "phonjax compiled (s)", "speed-up compiled", "eigen floor (s)",
                "phonjax compiled / floor", "max rel dev F,S,Cv"):
        table.add_column(col, justify="right")
    for lo, hi in CLASSES + [(0, 10_000)]:
        sel = [r for r in rows if lo <= r["n_supercell"] <= hi]
        if not sel:
            continue
        p = sum(r["phonopy_s"] for r in sel)
        j = sum(r["phonjax_s"] for r in sel)
        w = sum(r["phonjax_compiled_s"] for r in sel)
        fl = sum(r["eigen_floor_s"] for r in sel)
        label = "all" if (lo, hi) == (0, 10_000) else f"{lo}–{hi}"
        table.add_row(label, str(len(sel)), f"{p:.1f}", f"{j:.1f}", f"{p / j:.2f}×", _cell(w, ".1f"),
                      _cell(p / w, ".2f", "×"), _cell(fl, ".1f"), _cell(w / fl, ".1f", "×"),
                      f"{max(r['max_rel_dev_FSCv'] for r in sel):.1e}")
    Console(width=200).print(table)
    print(f"phonjax stages: read {t_read:.1f} s, prepare {t_prep:.1f} s, kernel {t_kernel:.1f} s "
          f"(compilation included); plan {plan.runner}:{plan.eigensolver}; "
          f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
