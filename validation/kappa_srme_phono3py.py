"""The κ benchmark's published pipeline (phono3py 4.10 + ASE) beside phonjax's, same crystals.

For each benchmark crystal (``--material`` mp ids, default the two cheapest), with one model:

1. phonjax: ``pipeline.kappa.kappa_of_crystals`` under the ``kappa-srme`` protocol (two-stage
   relaxation, every displaced supercell in one batched model call, FC2/FC3, gate, Wigner κ);
2. phono3py 4.10 **on phonjax's relaxed structure and the same model forces**: ``Phono3py``
   with the dataset's FC3/FC2 supercells and ``primitive_matrix="auto"``, 0.03 Å
   displacements, ``produce_fc2(symmetrize_fc2=True)``, ``produce_fc3(symmetrize_fc3r=True)``,
   ``init_phph_interaction(symmetrize_fc3q=False, average_degenerate_weights=True)``,
   ``run_thermal_conductivity(transport_type="SMM19", is_isotope=True, boundary_mfp=1e6)``
   at 300 K: κ, κ̄ and the per-mode total κ compared (relative to max |κ|), and κ_SRME / SRE
   against the DFT reference from both;
3. with ``--published``, the published pipeline end to end as k_SRME's scripts run it (ASE
   two-stage relaxation with the model as an ASE calculator, one supercell at a time, then
   phono3py as above): its κ̄ and wall time beside phonjax's (the κ differ by the model's
   float32 noise along two relaxation paths, so this row is a timing, not an equality).

    python validation/kappa_srme_phono3py.py --model chgnet --material mp-1550 --published
    python validation/kappa_srme_phono3py.py --model chgnet --limit 10 --json out.json

The protocol steps written here from the benchmark's description (``published_relax``,
``phono3py_kappa``) are also what ``tests/bench/test_kappa_pipeline.py`` compares phonjax
with, on a toy potential.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

NO_TILT = [True, True, True, False, False, False]


def published_relax(atoms, calculator, fmax: float = 1e-4, steps: int = 300,
                    symprec: float = 1e-5):
    """The benchmark's relaxation with ASE alone: FIRE on a FrechetCellFilter without shear,
    stage 1 under FixSymmetry, stage 2 without (same filter); the stage-1 structure when stage
    2 changed the space group. Returns (atoms, space group before, after)."""
    import spglib
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    def group(a):
        return spglib.get_symmetry_dataset(
            (np.asarray(a.cell), a.get_scaled_positions(), a.numbers), symprec=symprec).number

    atoms = atoms.copy()
    atoms.calc = calculator
    initial = group(atoms)
    atoms.set_constraint(FixSymmetry(atoms))
    filtered = FrechetCellFilter(atoms, mask=NO_TILT)
    FIRE(filtered, logfile=None).run(fmax=fmax, steps=steps)
    g1, first = group(atoms), atoms.copy()
    atoms.set_constraint()
    FIRE(filtered, logfile=None).run(fmax=fmax, steps=steps)
    final = first if group(atoms) != g1 else atoms
    final = final.copy()
    final.set_constraint()
    return final, initial, group(final)


def phono3py_kappa(atoms, fc3_supercell, fc2_supercell, mesh, forces=None, calculator=None,
                   temperature_K: float = 300.0, isotope: bool = True) -> dict:
    """κ of the published pipeline's phono3py part on ``atoms`` (see the module docstring),
    with the model's ``forces`` ((fc3_forces (n, N, 3), fc2_forces (m, N2, 3))) or a
    ``calculator`` evaluated one supercell at a time. Returns κ (6,), κ̄, the per-mode total
    κ̄ (n_q, n_b) as the benchmark builds it, frequencies, weights, q-points, mesh
    frequencies (for the gate) and the seconds of each part. ``isotope=False`` leaves out
    isotope scattering (phono3py's tetrahedron isotope Γ is decided by rounding where
    symmetry-equal frequencies meet: BENCHMARKS §15; a crystal of monoisotopic elements,
    e.g. AlP, has none anyway)."""
    from ase import Atoms
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    from phonjax.bench.kappa_metrics import mode_kappa_total, split_band_pairs

    t0 = time.perf_counter()
    unit = PhonopyAtoms(cell=np.asarray(atoms.cell), scaled_positions=atoms.get_scaled_positions(),
                        numbers=atoms.numbers)
    ph3 = Phono3py(unit, supercell_matrix=fc3_supercell, primitive_matrix="auto",
                   phonon_supercell_matrix=fc2_supercell, symprec=1e-5, log_level=0)
    ph3.generate_displacements(distance=0.03)

    def evaluate(cells, n_atoms):
        out = []
        for c in cells:
            if c is None:
                out.append(np.zeros((n_atoms, 3)))
                continue
            a = Atoms(c.symbols, cell=c.cell, positions=c.positions, pbc=True)
            a.calc = calculator
            out.append(a.get_forces())
        return np.array(out)

    if forces is None:
        fc3_forces = evaluate(ph3.supercells_with_displacements, len(ph3.supercell))
        fc2_forces = evaluate(ph3.phonon_supercells_with_displacements,
                              len(ph3.phonon_supercell))
    else:
        fc3_forces, fc2_forces = forces
    t_forces = time.perf_counter() - t0
    ph3.forces = fc3_forces
    ph3.phonon_forces = fc2_forces
    ph3.produce_fc2(symmetrize_fc2=True)
    ph3.produce_fc3(symmetrize_fc3r=True)
    ph3.mesh_numbers = list(mesh)
    ph3.init_phph_interaction(symmetrize_fc3q=False, average_degenerate_weights=True)
    ph3.run_phonon_solver()
    mesh_freqs = np.array(ph3.get_phonon_data()[0])
    ph3.run_thermal_conductivity(temperatures=[temperature_K], transport_type="SMM19",
                                 is_isotope=isotope, boundary_mfp=1e6, write_kappa=False)
    tc = ph3.thermal_conductivity
    matrix = tc._kappa_solver.mode_kappa_matrix[0]  # (n_T, n_q, n_b, n_b, 6)
    freqs = np.asarray(tc.frequencies)  # (n_q, n_b) at the irreducible points
    p, c = split_band_pairs(matrix, freqs)
    modes = mode_kappa_total(p, c, np.asarray(tc.mode_heat_capacities))
    kappa = np.asarray(tc.kappa[0, 0])
    return {"kappa": kappa, "kappa_avg": float(kappa[:3].mean()), "mode_kappa_tot_avg": modes[0],
            "frequencies": freqs, "weights": np.asarray(tc.grid_weights),
            "qpoints": np.asarray(tc.qpoints), "mesh_frequencies": mesh_freqs,
            "fc2": np.asarray(ph3.fc2), "fc3": np.asarray(ph3.fc3),
            "seconds_forces": t_forces, "seconds": time.perf_counter() - t0}


def main(argv=None) -> int:
    from phonjax.bench.kappa_metrics import score_material
    from phonjax.bench.kappa_reference import load_benchmark
    from phonjax.bench.kappa_task import (KAPPA_PRESETS, cost, crystal_of, kappa_materials,
                                          resolve_kappa)
    from phonjax.pipeline import models
    from phonjax.pipeline.kappa import kappa_of_crystals

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--material", action="append", default=[])
    ap.add_argument("--limit", type=int, default=2, help="the N cheapest (without --material)")
    ap.add_argument("--published", action="store_true",
                    help="also run the published pipeline end to end (ASE relaxation, one "
                         "supercell at a time) for the timing")
    ap.add_argument("--mesh", default=None, help="one mesh (N or AxBxC) instead of the "
                    "dataset's, for a quick look (no SRME then)")
    ap.add_argument("--memory-gb", type=float, default=None,
                    help="phonjax's memory bound (default 2; ≥ 4 admits the half-transform "
                         "table of a 64-atom FC3 supercell at 19³, about twice as fast)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    bench = load_benchmark()
    items = kappa_materials([m for m, _ in bench.values()])
    if args.material:
        items = [m for m in items if m.material_id in args.material]
    else:
        items = sorted(items, key=cost)[: args.limit]
    protocol = (resolve_kappa("kappa-srme", {"mesh": args.mesh}) if args.mesh
                else KAPPA_PRESETS["kappa-srme"])
    from phonjax.pipeline.forces import default_lanes, lane_threads

    # as `phonjax bench` runs it on CPU: 256 atoms per model call, one lane per core
    adapter = models.adapter(args.model, "cpu", 256)
    if hasattr(adapter, "load"):
        adapter.load()
    lanes = default_lanes("cpu")
    crystals = [crystal_of(m.entry, protocol) for m in items]
    t0 = time.perf_counter()
    with lane_threads(lanes):
        from phonjax.execution.plan import resolved_plan

        plan = resolved_plan(None, None if args.memory_gb is None else args.memory_gb * 1e9)
        outcomes = list(kappa_of_crystals(crystals, adapter, protocol.recipe, lanes=lanes,
                                          plan=plan))
    phonjax_s = time.perf_counter() - t0
    print(f"phonjax {args.model}: {len(items)} crystals in {phonjax_s:.1f} s "
          f"({phonjax_s / len(items):.1f} s per crystal)")
    records = []
    for m, c, o in zip(items, crystals, outcomes):
        mat, ref = bench[m.material_id]
        rec = {"material_id": m.material_id, "name": mat.name, "status": o.status,
               "reason": o.reason, "phonjax_s_share": phonjax_s / len(items)}
        print(f"\n{mat.name} ({m.material_id}, {mat.spacegroup_number}): phonjax {o.status} "
              f"{o.reason}")
        if o.dataset is not None:
            ds = o.dataset
            ours = phono3py_kappa(o.relaxation.atoms, c.fc3_supercell, c.fc2_supercell, c.mesh,
                                  forces=(ds.fc3_forces, ds.fc2_forces))
            from phonjax.pipeline.kappa import imaginary_gate

            gamma_row = 0  # phono3py's grid point 0 is Γ
            imag = imaginary_gate(ours["mesh_frequencies"], gamma_row, -0.01)[0]
            rec["phono3py_imaginary"] = imag
            rec["phonjax_imaginary"] = None if o.gate is None else o.gate.imaginary
            print(f"  gate: phonjax imaginary={rec['phonjax_imaginary']} phono3py "
                  f"imaginary={imag}")
            if o.result is not None:
                from phonjax.bench.kappa_metrics import mode_kappa_total, split_band_pairs

                r = o.result
                mp, mc = split_band_pairs(r.mode_kappa_matrix, r.frequency)
                modes = mode_kappa_total(mp, mc, r.heat_capacity)[0]
                scale = np.abs(ours["kappa"]).max()
                rec.update({
                    "kappa_phonjax": r.kappa[0].tolist(), "kappa_phono3py": ours["kappa"].tolist(),
                    "kappa_rel": float(np.abs(r.kappa[0] - ours["kappa"]).max() / scale),
                    "mode_rel": float(np.abs(modes - ours["mode_kappa_tot_avg"]).max()
                                      / np.abs(ours["mode_kappa_tot_avg"]).max()),
                    "phono3py_kappa_s": ours["seconds"]})
                for who, avg, mk, w in () if args.mesh else (("phonjax", float(r.kappa[0, :3].mean()), modes,
                                         r.weight),
                                        ("phono3py", ours["kappa_avg"],
                                         ours["mode_kappa_tot_avg"], ours["weights"])):
                    s = score_material(avg, mk, w, float(ref.kappa_tot_avg_WmK[0]),
                                       ref.mode_kappa_tot_avg[0], material_id=m.material_id)
                    rec[f"srme_{who}"], rec[f"sre_{who}"] = s.srme, s.sre
                srme = ("" if args.mesh else f"; SRME {rec['srme_phonjax']:.6f} / "
                        f"{rec['srme_phono3py']:.6f}")
                print(f"  κ̄ phonjax {r.kappa[0, :3].mean():.10f} phono3py {ours['kappa_avg']:.10f} "
                      f"(DFT {ref.kappa_tot_avg_WmK[0]:.4f}); κ rel {rec['kappa_rel']:.2e}, "
                      f"mode κ rel {rec['mode_rel']:.2e}{srme}; phono3py κ part "
                      f"{ours['seconds']:.1f} s")
        if args.published:
            from phonjax_adapters.ase_calculator import AdapterCalculator

            t1 = time.perf_counter()
            calc = AdapterCalculator(adapter)
            relaxed, g0, g1 = published_relax(mat.atoms, calc)
            pub = phono3py_kappa(relaxed, c.fc3_supercell, c.fc2_supercell, c.mesh,
                                 calculator=calc)
            rec.update({"published_s": time.perf_counter() - t1,
                        "published_kappa_avg": pub["kappa_avg"],
                        "published_forces_s": pub["seconds_forces"]})
            print(f"  published pipeline (ASE + phono3py, one supercell at a time): "
                  f"κ̄ {pub['kappa_avg']:.6f}, {rec['published_s']:.1f} s "
                  f"(forces {pub['seconds_forces']:.1f} s) vs phonjax's share "
                  f"{rec['phonjax_s_share']:.1f} s")
        records.append(rec)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
