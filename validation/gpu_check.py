#!/usr/bin/env python
"""The kernel on a GPU: agreement with phonopy, eigenvalue checks, throughput, eigh variants.

One script for a short GPU lease (H100/H200, a CUDA build of JAX already
installed, no internet); everything it needs besides JAX is small and pure:
numpy, pyyaml, spglib, phonors (see ``--help`` for the wheel list). It prints:

1. agreement: the graph plan (XLA eigensolver, everything in one vmapped jit)
   on a spread of real phonondb materials, float64, against the phonopy values
   stored by the validation run (``validation/results/per_material.csv``): F, S,
   Cv at 300 K (relative), ω_max (K), stability verdicts;
2. eigenvalue consistency on the device: Σλ = Re tr D and Σλ² = ‖D‖²_F for every
   D(q) of the mesh of a few materials (cuSOLVER can return unconverged output);
3. throughput (materials/s, compilation excluded and shown apart) per size class
   and batch size, real forces, copies of real materials;
4. cuSOLVER's Jacobi vs QR ``eigh`` for complex128 batches at 24–96 modes (jax
   picks Jacobi up to 32 and a batched syevd above).
``--scale N`` adds the 10,000-material run of the GPU issue: the phonondb size
distribution resampled to N materials with their real forces, host preparation
and kernel timed apart.
6. κ of phono3py's Si-PBEsol example (11³ and 19³; needs phono3py and symfc, carried as
   wheels) on the device against phono3py on the machine's CPUs: agreement, wall times,
   ratio, triplets per second (``--no-kappa`` skips it).

``--cpu`` runs the same on the CPU (small sizes) so that the script is tested
where no GPU is: ``tests/test_gpu_check.py`` runs ``--cpu --quick``.

On the device machine (from the repository root, wheels carried in .whl)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \\
        && PYTHONPATH=/tmp/site:. python3 validation/gpu_check.py --json $OUT/gpu_check.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA_CANDIDATES = [ROOT.parent / "shared" / "data" / "phonondb-pbesol",
                   ROOT / "shared" / "data" / "phonondb-pbesol"]
CSV = ROOT / "validation" / "results" / "per_material.csv"
CLASSES = [(0, 64), (65, 128), (129, 200), (201, 10_000)]
CONTRACT = {"F": 1e-8, "S": 1e-8, "Cv": 1e-8, "omega_max_K": 1e-4}


def data_dir() -> Path:
    for d in DATA_CANDIDATES:
        if d.is_dir():
            return d
    raise SystemExit(f"phonondb data not found in {[str(d) for d in DATA_CANDIDATES]}")


def reference_rows() -> list[dict]:
    return [r for r in csv.DictReader(open(CSV)) if r.get("status") == "ok"]


def spread(rows: list[dict], n: int) -> list[dict]:
    """``n`` materials spread over the size range (by supercell atoms, then id)."""
    rows = sorted(rows, key=lambda r: (int(r["n_supercell"]), r["id"]))
    idx = np.unique(np.linspace(0, len(rows) - 1, n).round().astype(int))
    return [rows[i] for i in idx]


def load(rows: list[dict]):
    import phonjax

    datasets = [phonjax.read_dataset(data_dir() / r["file"]) for r in rows]
    return datasets, [phonjax.prepare(d) for d in datasets]


def agreement(rows, plan) -> dict:
    import phonjax

    datasets, systems = load(rows)
    t0 = time.perf_counter()
    results = phonjax.phonon_properties(systems, [d.forces for d in datasets], plan=plan)
    seconds = time.perf_counter() - t0
    worst = {k: (0.0, "") for k in CONTRACT}
    flips = []
    for row, r in zip(rows, results):
        for key, ours in (("F", r.free_energy_kJmol[0]), ("S", r.entropy_JKmol[0]),
                          ("Cv", r.heat_capacity_JKmol[0])):
            theirs = float(row[f"{key}_phonopy"])
            dev = abs(ours - theirs) / abs(theirs)
            if not dev <= worst[key][0]:
                worst[key] = (dev, row["id"])
        dev = abs(r.omega_max_K - float(row["omega_max_K_phonopy"]))
        if not dev <= worst["omega_max_K"][0]:
            worst["omega_max_K"] = (dev, row["id"])
        if str(r.stable) != row["stable_phonopy"]:
            flips.append(row["id"])
    print(f"\n## 1. Agreement with phonopy ({len(rows)} materials, plan {plan.runner}:"
          f"{plan.eigensolver}, {seconds:.1f} s incl. compilation)")
    print("| quantity | contract | max deviation | worst |")
    print("|---|---|---|---|")
    for key, (dev, who) in worst.items():
        print(f"| {key} | ≤ {CONTRACT[key]:g} | {dev:.2e} | {who} |")
    print(f"| stability | identical | {len(flips)} differ | {' '.join(flips[:6])} |")
    return {"n": len(rows), "seconds": seconds, "max_deviation": {k: v[0] for k, v in worst.items()},
            "worst": {k: v[1] for k, v in worst.items()}, "stability_flips": flips}


def eigen_consistency(rows) -> dict:
    """Σλ = Re tr D, Σλ² = ‖D‖² for D(q) on the device's eigensolver, max relative violation."""
    import jax
    import jax.numpy as jnp

    import phonjax
    from phonjax.harmonic.dynamical_matrix import dynamical_matrices, mass_weighted_blocks
    from phonjax.harmonic.force_constants import force_constants

    @jax.jit
    def check(fc, phases, q):
        d = dynamical_matrices(q, mass_weighted_blocks(fc, phases), phases)
        lam = jnp.linalg.eigvalsh(d)
        trace = jnp.real(jnp.trace(d, axis1=1, axis2=2))
        frob2 = jnp.sum(jnp.abs(d) ** 2, axis=(1, 2))
        scale = jnp.sqrt(frob2) * d.shape[-1]
        e1 = jnp.abs(lam.sum(1) - trace) / scale
        e2 = jnp.abs((lam ** 2).sum(1) - frob2) / (scale * jnp.sqrt(frob2))
        return jnp.maximum(e1, e2), jnp.isnan(lam).any(axis=1)

    datasets, systems = load(rows)
    worst, n_matrices, n_nan = 0.0, 0, 0
    with phonjax.float64():
        for ds, s in zip(datasets, systems):
            fc = jax.jit(force_constants)(ds.forces, s.tables.fc)
            viol, nan = check(fc, s.tables.phases, s.mesh.qpoints)
            worst = max(worst, float(jnp.nanmax(viol)))
            n_matrices += len(s.mesh.qpoints)
            n_nan += int(nan.sum())
    print(f"\n## 2. Eigenvalue consistency on {jax.devices()[0].platform} ({n_matrices} D(q) of "
          f"{len(rows)} materials)\nmax relative violation {worst:.2e} (≤ 1e-10 expected), "
          f"{n_nan} matrices with NaN eigenvalues")
    return {"matrices": n_matrices, "max_violation": worst, "nan_matrices": n_nan}


def throughput(rows, batches, plan) -> list[dict]:
    import phonjax

    out = []
    print("\n## 3. Throughput (graph plan; copies of real materials with their real forces)")
    print("| supercell atoms | material | batch | compile + first run (s) | run (s) | "
          "materials/s |")
    print("|---|---|---|---|---|---|")
    by_class = {c: [r for r in rows if c[0] <= int(r["n_supercell"]) <= c[1]] for c in CLASSES}
    for (lo, hi), members in by_class.items():
        if not members:
            continue
        row = members[len(members) // 2]
        [ds], [s] = load([row])
        for b in batches:
            big = plan.replace(memory_bytes=max(plan.memory_bytes, 1e12))
            t0 = time.perf_counter()
            phonjax.phonon_properties([s] * b, [ds.forces] * b, plan=big)
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            phonjax.phonon_properties([s] * b, [ds.forces] * b, plan=big)
            run = time.perf_counter() - t0
            print(f"| {lo}–{hi} | {row['id']} ({s.n_supercell} atoms, {3 * s.n_primitive} modes, "
                  f"{len(s.mesh.qpoints)} q) | {b} | {first:.2f} | {run:.3f} | {b / run:.1f} |",
                  flush=True)
            out.append({"class": f"{lo}-{hi}", "id": row["id"], "batch": b, "first_s": first,
                        "run_s": run, "materials_per_s": b / run})
    return out


def eigh_variants(sizes, batches) -> list[dict]:
    import jax
    import jax.numpy as jnp
    from jax.lax.linalg import EighImplementation, eigh

    out = []
    print("\n## 4. eigh: Jacobi vs QR, complex128 (s per batch, compiled; max |Δλ| between them)")
    print("| modes | batch | default | jacobi | qr | max abs Δλ |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        for n in sizes:
            for b in batches:
                a = rng.normal(size=(b, n, n)) + 1j * rng.normal(size=(b, n, n))
                h = jax.device_put(a + np.conj(np.swapaxes(a, 1, 2)))
                times, values = {}, {}
                for name, impl in (("default", None), ("jacobi", EighImplementation.JACOBI),
                                   ("qr", EighImplementation.QR)):
                    try:
                        f = jax.jit(lambda x, impl=impl: eigh(x, implementation=impl)[1])
                        f(h).block_until_ready()
                        t0 = time.perf_counter()
                        values[name] = f(h).block_until_ready()
                        times[name] = time.perf_counter() - t0
                    except Exception as exc:  # an implementation this backend lacks
                        times[name] = float("nan")
                        values[name] = None
                        print(f"<!-- {name} at n={n}: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:100]} -->")
                both = [v for v in (values["jacobi"], values["qr"]) if v is not None]
                diff = float(jnp.abs(both[0] - both[1]).max()) if len(both) == 2 else float("nan")
                print(f"| {n} | {b} | {times['default']:.4f} | {times['jacobi']:.4f} | "
                      f"{times['qr']:.4f} | {diff:.1e} |", flush=True)
                out.append({"modes": n, "batch": b, **{f"{k}_s": v for k, v in times.items()},
                            "max_abs_diff": diff})
    return out


def scale_run(rows, n_materials: int, plan) -> dict:
    """The phonondb size distribution resampled to ``n_materials`` (real forces), timed."""
    import phonjax

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    datasets, systems = load(rows)
    prepare_s = time.perf_counter() - t0
    pick = rng.integers(0, len(rows), n_materials)
    t0 = time.perf_counter()
    results = phonjax.phonon_properties([systems[i] for i in pick], [datasets[i].forces for i in pick],
                                        plan=plan)
    kernel_s = time.perf_counter() - t0
    ok = sum(abs(r.free_energy_kJmol[0] - float(rows[i]["F_phonopy"]))
             <= 1e-8 * abs(float(rows[i]["F_phonopy"])) for i, r in zip(pick, results))
    print(f"\n## 5. {n_materials} materials (resampled from {len(rows)} real ones)\nhost read + "
          f"prepare of the {len(rows)} distinct ones {prepare_s:.1f} s; kernel {kernel_s:.1f} s "
          f"({n_materials / kernel_s:.1f} materials/s, compilation included); F within 1e-8 of "
          f"phonopy: {ok}/{n_materials}")
    return {"n": n_materials, "prepare_s": prepare_s, "kernel_s": kernel_s, "F_ok": ok}


def kappa_part(meshes, temperatures=(300.0,)) -> list[dict]:
    """κ of phono3py's Si-PBEsol example on the device against phono3py 4.10 on this machine's
    CPUs (same FC2/FC3, tetrahedron with degenerate weights averaged): κ agreement, wall
    times, their ratio and triplets per second (``validation/kappa_phono3py.py``'s code)."""
    try:
        import kappa_phono3py as K  # validation/, next to this script
    except ImportError:
        sys.path.insert(0, str(ROOT / "validation"))
        import kappa_phono3py as K
    try:
        ph = K.load_example("Si-PBEsol")
    except Exception as exc:  # phono3py, symfc or the example missing on this machine
        print(f"\n## 6. κ skipped: {exc}")
        return []
    out = []
    print("\n## 6. κ (Si-PBEsol, RTA, tetrahedron)\nmesh | triplets | κ_xx phono3py | κ rel | "
          "phono3py s (CPU) | phonjax s (first, warm) | ratio | triplets/s")
    for mesh in meshes:
        m = [mesh] * 3
        ref = K.phono3py_kappa(ph, m, temperatures, {})
        ours = K.phonjax_kappa(ph, m, temperatures, {}, 2)
        diff = K.compare(ref, ours)
        warm = min(ours["seconds"])
        row = {"mesh": m, "n_triplets": ours["n_triplets"], **diff,
               "kappa_xx_phono3py": float(ref["kappa"][0, 0]),
               "phono3py_s": ref["seconds"], "phonjax_s": ours["seconds"],
               "ratio": ref["seconds"] / warm, "triplets_per_s": ours["n_triplets"] / warm,
               "stages_s": ours["timings"]}
        out.append(row)
        print(f"{mesh}³ | {row['n_triplets']} | {row['kappa_xx_phono3py']:.6f} | "
              f"{diff['kappa_rel']:.1e} | {ref['seconds']:.2f} | "
              f"{ours['seconds'][0]:.2f}, {warm:.2f} | {row['ratio']:.2f} | "
              f"{row['triplets_per_s']:.0f}", flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 epilog="wheels to bring when the machine lacks them: pyyaml, "
                                        "spglib, phonors (and numpy if absent)")
    ap.add_argument("--cpu", action="store_true", help="run on the CPU (small sizes)")
    ap.add_argument("--quick", action="store_true", help="fewest materials and sizes (a test)")
    ap.add_argument("--agreement", type=int, default=None, help="materials for part 1")
    ap.add_argument("--scale", type=int, default=0, help="part 5 with N materials (e.g. 10000)")
    ap.add_argument("--no-kappa", action="store_true", help="skip part 6 (κ against phono3py)")
    ap.add_argument("--json", default=None, help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
    import jax

    from phonjax.execution import Plan

    plan = Plan(runner="graph", eigensolver="xla")
    quick = args.quick
    rows = reference_rows()
    t_start = time.perf_counter()
    print(f"# gpu_check: jax {jax.__version__}, devices {jax.devices()}, "
          f"{'quick' if quick else 'full'}")
    report = {"jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    small = [r for r in rows if int(r["n_supercell"]) <= 64]
    tiny = sorted(small, key=lambda r: (int(r["n_primitive"]), r["id"]))[:3]  # 2-atom cells
    n_agree = args.agreement or (2 if quick else (12 if args.cpu else 60))
    report["agreement"] = agreement(tiny[:n_agree] if quick else spread(rows, n_agree), plan)
    report["eigen_consistency"] = eigen_consistency(tiny[:1] if quick else spread(small, 6))
    batches = [1, 2] if quick else ([1, 8] if args.cpu else [1, 8, 64, 256])
    report["throughput"] = throughput(tiny[:1] if quick else rows, batches, plan)
    sizes = [24] if quick else ([24, 36, 48] if args.cpu else [24, 30, 32, 36, 48, 64, 96])
    eig_batches = [8] if quick else ([256] if args.cpu else [256, 8192])
    report["eigh"] = eigh_variants(sizes, eig_batches)
    if args.scale:
        report["scale"] = scale_run(rows, args.scale, plan)
    if not args.no_kappa:
        report["kappa"] = kappa_part([5] if quick else ([9] if args.cpu else [11, 19]))
    report["total_s"] = time.perf_counter() - t_start
    print(f"\ntotal {report['total_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
