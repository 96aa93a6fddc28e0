"""End to end with a real uMLIP: phonjax's bench pipeline vs the published loop.

For the same materials and model, in one process:

  published  the loop of the paper's benchmark code (hyllios/utils benchmark_ph):
             per material, relax with the model package's own ASE calculator
             (FIRE on FrechetCellFilter + FixSymmetry, the protocol's rounds),
             phonopy displacements of the relaxed cell with the reference S and P,
             one ``atoms.get_forces()`` per displaced supercell, then phonopy:
             produce + symmetrize force constants, 20³ mesh, 300 K, frequencies
             at the commensurate q-points;
  phonjax    ``phonjax.bench.compute.model_rows``: all unit cells relaxed
             together (one model call per lock-step and lane; on CPU one lane per
             core, each model call with one torch thread), all displaced supercells
             in batched model calls (lanes side by side), then the batched kernel.

Both use the same relaxation settings (loew2024 protocol unless --set), the
same model weights, and load the model before timing. Printed: wall and CPU
seconds per side, the ratio, and the largest differences in ω_max, F, S, Cv
between the sides (float32 models: batching changes forces at the 1e-6 eV/Å
level, so agreement is expected to ~1e-4 relative, not to phonopy's 1e-8).

    .venv/bin/python validation/e2e_speed.py --model chgnet --limit 6
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a file: make the repository's `validation` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from validation.reference import phonopy_reference  # noqa: E402


def native_calculator(family: str, adapter):
    if family == "chgnet":
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=adapter.model, use_device="cpu")
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator("7net-0", device="cpu")


def published(material, calculator, protocol, stages: dict) -> dict:
    import phonopy
    from ase import Atoms
    from phonopy.structure.atoms import PhonopyAtoms

    from phonjax.bench.inputs import load
    from phonjax.pipeline.relax import relax

    from ase.filters import FrechetCellFilter

    ds = load(material)
    t0 = time.perf_counter()
    # ASE's own filter, as the published code uses it (phonjax's default filter skips
    # ASE's repeated force symmetrizations; same steps, less work)
    r = relax(ds.unitcell.to_ase(), calculator, protocol.relax_settings,
              cell_filter=FrechetCellFilter)
    t1 = time.perf_counter()
    stages["relax"] += t1 - t0
    if not r.ok:
        return {"id": material.material_id, "failed": r.reason}
    a = r.atoms
    unit = PhonopyAtoms(symbols=a.get_chemical_symbols(), cell=a.cell.array,
                        scaled_positions=a.get_scaled_positions(), masses=ds.unitcell.masses)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.Phonopy(unit, supercell_matrix=ds.supercell_matrix,
                             primitive_matrix=ds.primitive_matrix)
        ph.generate_displacements(distance=protocol.distance_A, is_diagonal=protocol.is_diagonal)
        forces = []
        for sc in ph.supercells_with_displacements:
            atoms = Atoms(numbers=sc.numbers, positions=sc.positions, cell=sc.cell, pbc=True)
            atoms.calc = calculator
            forces.append(atoms.get_forces())
        t2 = time.perf_counter()
        stages["forces"] += t2 - t1
        ph.forces = np.array(forces)
    # the reference pipeline on phonopy's own cells and these forces
    ref = phonopy_reference(ph, mesh=protocol.mesh, temperatures_K=[protocol.temperature_K])
    from phonjax.units import THZ_TO_K

    return {"id": material.material_id, "free_energy_kJmol": ref.free_energy_kJmol[0],
            "entropy_JKmol": ref.entropy_JKmol[0], "heat_capacity_JKmol": ref.heat_capacity_JKmol[0],
            "omega_max_K": float(ref.commensurate_frequencies_THz.max() * THZ_TO_K),
            "relax_steps": r.steps}


def _time_phonjax_stages() -> dict:
    """Wall seconds of phonjax's relaxation and force stages (wraps the two calls)."""
    import phonjax.bench.compute as compute
    import phonjax.pipeline.relax as relax_module

    spent = {"relax": 0.0, "forces": 0.0}

    def timing(name, fn):
        def wrapped(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t0
        return wrapped

    def timing_each(name, fn):  # a generator: count the time spent waiting on it
        def wrapped(*args, **kwargs):
            items = fn(*args, **kwargs)
            while True:
                t0 = time.perf_counter()
                try:
                    item = next(items)
                except StopIteration:
                    return
                finally:
                    spent[name] += time.perf_counter() - t0
                yield item
        return wrapped

    # the bench relaxes through relax_each (each material finished as its relaxation ends);
    # "relax" is the time the main thread waits for the next relaxation
    relax_module.relax_each = timing_each("relax", relax_module.relax_each)
    compute.evaluate_forces = timing("forces", compute.evaluate_forces)  # the name _finish calls
    return spent


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=("chgnet", "sevennet"), default="chgnet")
    ap.add_argument("--limit", type=int, default=6, help="first N materials of the bundled sample")
    ap.add_argument("--dataset", nargs="*", default=None, help="files/folders (default: sample)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="protocol override, e.g. --set fmax_eV_A=0.01")
    ap.add_argument("--threads", type=int, default=2,
                    help="torch intra-op threads of the published loop")
    ap.add_argument("--lanes", type=int, default=None,
                    help="phonjax's concurrent model calls (default: one per core, ≤ 4)")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from phonjax.compile_cache import enable_compilation_cache

    # as `phonjax bench` does: kernel compilations persist across runs (PHONJAX_JAX_CACHE=0: off)
    enable_compilation_cache()
    from phonjax.bench import protocols
    from phonjax.pipeline import models
    from phonjax.bench.compute import model_rows
    from phonjax.bench.inputs import list_materials
    from phonjax.pipeline.forces import default_lanes

    overrides = dict(kv.split("=", 1) for kv in args.set)
    protocol = protocols.resolve("loew2024", overrides)
    _, materials, problems = list_materials(args.dataset)
    materials = sorted(materials, key=lambda m: m.material_id)[: args.limit]
    name = {"chgnet": "chgnet:0.3.0", "sevennet": "sevennet:7net-0"}[args.model]
    max_atoms = 256  # the bench's CPU default (CHGNet holds ~8 MB per atom of a call)
    adapter = models.adapter(name, "cpu", max_atoms)
    calculator = native_calculator(args.model, adapter)
    print(f"{len(materials)} materials: {' '.join(m.material_id for m in materials)}")
    lanes = args.lanes or default_lanes("cpu")
    print(f"model {name}, protocol {protocol.key} {overrides or ''}, torch {torch.__version__} "
          f"(published: {args.threads} threads; phonjax: {lanes} lane(s) of 1 thread), "
          f"{platform.machine()}, load {os.getloadavg()[0]:.1f}")
    stage_timer = _time_phonjax_stages()
    ours, w_ours, c_ours = timed(lambda: model_rows(materials, name, protocol, "cpu", max_atoms,
                                                      lanes=lanes))
    stages = {"relax": 0.0, "forces": 0.0}
    ref, w_ref, c_ref = timed(lambda: [published(m, calculator, protocol, stages)
                                       for m in materials])
    by_id = {r["material_id"]: r for r in ours}
    keys = ("omega_max_K", "free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol")
    dev = {k: 0.0 for k in keys}
    failed = 0
    for r in ref:
        o = by_id.get(r["id"], {})
        if "failed" in r or o.get("status") != "ok":
            failed += 1
            continue
        for k in keys:
            dev[k] = max(dev[k], abs(o[k] - r[k]) / max(abs(r[k]), 1e-12))
    print(f"| side | wall s | CPU s |\n|---|---|---|\n| published loop | {w_ref:.1f} | {c_ref:.1f} |\n"
          f"| phonjax | {w_ours:.1f} | {c_ours:.1f} |")
    relax_ours, forces_ours = stage_timer["relax"], stage_timer["forces"]
    print("| stage (wall s) | published loop | phonjax | ratio |\n|---|---|---|---|")
    rest_ref = w_ref - stages["relax"] - stages["forces"]
    for name, ours_s, theirs in (
            ("relax", relax_ours, stages["relax"]), ("forces", forces_ours, stages["forces"]),
            ("loading + phonons", w_ours - relax_ours - forces_ours, rest_ref)):
        print(f"| {name} | {theirs:.1f} | {ours_s:.1f} | {theirs / max(ours_s, 1e-9):.2f}x |")
    print(f"speed-up: wall {w_ref / w_ours:.2f}x, CPU {c_ref / c_ours:.2f}x; "
          f"{failed} material(s) failed on either side")
    print("largest relative difference between the sides: "
          + ", ".join(f"{k} {v:.1e}" for k, v in dev.items()))
    print(f"load after {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
