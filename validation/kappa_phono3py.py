"""phonjax κ against phono3py 4.10 side by side, same FC2/FC3, same machine, same threads.

For each case, phono3py (``phono3py.load`` of the example, symfc-symmetrized FC2/FC3, Rust
backend) and phonjax (``anharmonic.kappa.thermal_conductivity`` on phono3py's own fc2/fc3
arrays) compute κ on the same mesh; printed: κ_xx at each temperature from both, the largest
relative difference over the tensor (relative to max |κ|) and over Γ (relative to max Γ at
that temperature), and the wall times with their ratio (phono3py / phonjax; phonjax's time
includes compilation: run it once more with ``--repeat 2`` to see the warm time).

phono3py is run with ``average_degenerate_weights=True`` for the tetrahedron method: its
default tetrahedron result depends on the eigensolver's basis inside degenerate subspaces
(~5e-4 in κ, docs/phono3py-internals.md trap A); phonjax's never does.

    python validation/kappa_phono3py.py                       # Si-PBEsol 9³: every case
    python validation/kappa_phono3py.py --mesh 11 --cases rta # the README's 11³ number
    python validation/kappa_phono3py.py --mesh 19 --cases rta --temperatures 300 --memory-gb 4
    python validation/kappa_phono3py.py --crystal NaCl-rd  # Born charges (Gonze–Lee NAC)
    python validation/kappa_phono3py.py --mesh 9 --isotope-noise  # phono3py's rounding-decided Γ_iso
    python validation/kappa_phono3py.py --crystal OUT/GaN --mesh 8 8 5  # a `phonjax fc3` folder
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "phono3py-examples"

CASES = {  # name: (phono3py run_thermal_conductivity options, phonjax KappaSettings fields)
    "rta": ({}, {}),
    "sigma": ({"sigma": 0.1}, {"sigma_THz": 0.1}),
    "isotope": ({"is_isotope": True}, {"isotope": True}),
    "boundary": ({"boundary_mfp": 1.0}, {"boundary_mfp_um": 1.0}),
    "wigner": ({"transport_type": "SMM19"}, {"method": "wigner"}),
}


CRYSTALS = ("Si-PBEsol", "NaCl-rd")


def load_example(name: str):
    """phono3py's example: Si-PBEsol (pairs, FORCES_FC3) or NaCl-rd (random displacements,
    symfc fit, Born charges); or a folder written by ``phonjax fc3`` (fc3.hdf5, fc2.hdf5,
    phono3py_disp.yaml: e.g. a wurtzite with a uMLIP's forces)."""
    import phono3py

    folder = Path(name)
    if (folder / "fc3.hdf5").is_file():
        return phono3py.load(str(folder / "phono3py_disp.yaml"),
                             fc3_filename=str(folder / "fc3.hdf5"),
                             fc2_filename=str(folder / "fc2.hdf5"), log_level=0)
    d = DATA / name
    if name == "NaCl-rd":
        return phono3py.load(str(d / "phono3py_params_NaCl.yaml.xz"), fc_calculator="symfc",
                             log_level=0)
    return phono3py.load(str(d / "phono3py_disp.yaml"), forces_fc3_filename=str(d / "FORCES_FC3"),
                         log_level=0)


def phonjax_phonons(ph, mesh):
    """phonjax's grid phonons (frequencies, eigenvectors) for phono3py's FC2 on ``mesh``."""
    from phonjax.anharmonic import grid as G
    from phonjax.anharmonic.phonons import grid_phonons, harmonic_model

    inputs = kappa_inputs(ph)
    grid = G.bz_grid(inputs.cells.primitive.crystal, mesh)
    model = harmonic_model(inputs.fc2, inputs.fc2_cells, inputs.nac, inputs.unitcell,
                           inputs.fc2_supercell_matrix)
    p = grid_phonons(model, grid)
    return p.frequencies, p.eigenvectors, grid.addresses


def phono3py_kappa(ph, mesh, temperatures, options: dict, phonons=None):
    """phono3py's κ; ``phonons`` (frequencies, eigenvectors, BZ addresses): use these instead
    of phono3py's own (the same inputs on both sides)."""
    sigma = options.get("sigma")
    ph.mesh_numbers = list(mesh)
    ph.sigmas = [sigma]
    ph.init_phph_interaction(average_degenerate_weights=sigma is None)
    if phonons is not None:
        ph.run_phonon_solver()
        ph.set_phonon_data(*phonons)
    kw = {k: v for k, v in options.items() if k != "sigma"}
    start = time.perf_counter()
    ph.run_thermal_conductivity(temperatures=list(temperatures), write_kappa=False, **kw)
    seconds = time.perf_counter() - start
    tc = ph.thermal_conductivity
    inter = getattr(tc, "kappa_inter", None)
    return {"kappa": np.asarray(tc.kappa[0]), "gamma": np.asarray(tc.gamma[0]),
            "kappa_inter": None if inter is None else np.asarray(inter[0]),
            "seconds": seconds}


def kappa_inputs(ph):
    """phono3py's FC2, FC3 and Born charges as phonjax ``KappaInputs``."""
    from phonjax.anharmonic.fc3 import fc3_cells
    from phonjax.anharmonic.kappa import KappaInputs
    from phonjax.structure.crystal import Crystal

    u = ph.unitcell
    unit = Crystal(np.array(u.cell), np.array(u.scaled_positions), np.array(u.numbers),
                   np.array(u.masses))
    cells = fc3_cells(unit, ph.supercell_matrix, ph.primitive_matrix)
    fc2_cells = (cells if ph.phonon_supercell_matrix is None
                 or np.array_equal(ph.phonon_supercell_matrix, ph.supercell_matrix)
                 else fc3_cells(unit, ph.phonon_supercell_matrix, ph.primitive_matrix))
    nac = None
    if ph.nac_params is not None:  # phono3py's own charges, used as they are
        from phonjax.harmonic.nac import NACParams

        p = ph.nac_params
        nac = NACParams(born=p["born"], dielectric=p["dielectric"], factor=p["factor"],
                        symmetrize=False)
    smat = ph.supercell_matrix if ph.phonon_supercell_matrix is None else \
        ph.phonon_supercell_matrix
    return KappaInputs(np.asarray(ph.fc2), np.asarray(ph.fc3), cells, fc2_cells, nac, unit,
                       np.asarray(smat))


def phonjax_kappa(ph, mesh, temperatures, fields: dict, repeat: int, memory_gb: float = 2.0,
                  q_workers: int | None = None):
    from phonjax.anharmonic.kappa import KappaSettings, thermal_conductivity
    from phonjax.execution.plan import Plan

    inputs = kappa_inputs(ph)
    settings = KappaSettings(mesh=tuple(mesh), temperatures_K=tuple(temperatures), **fields)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = thermal_conductivity(inputs, settings, plan=Plan(memory_bytes=memory_gb * 1e9,
                                                             q_workers=q_workers))
        times.append(time.perf_counter() - start)
    return {"kappa": r.kappa, "gamma": r.gamma, "kappa_inter": r.kappa_coherence,
            "seconds": times, "n_triplets": r.n_triplets, "timings": r.timings_s}


def isotope_noise(ph, mesh, noise_THz: float = 1e-14, repeats: int = 3) -> list[float]:
    """How much the tetrahedron isotope Γ moves (max |ΔΓ| / max Γ over the irreducible q)
    when phono3py's own frequencies get random noise of ``noise_THz``: Γ by
    ``anharmonic.isotope.isotope_gamma`` (phono3py's ``Isotope`` to ≤1e-15 on the same
    phonons, tests/anharmonic/test_isotope.py), with degenerate weights averaged."""
    from phonjax.anharmonic import grid as G
    from phonjax.anharmonic.isotope import isotope_gamma, mass_variances

    ph.mesh_numbers = list(mesh)
    ph.init_phph_interaction(average_degenerate_weights=True)
    ph.run_phonon_solver()
    f, e, _ = ph.get_phonon_data()
    grid = G.bz_grid(kappa_inputs(ph).cells.primitive.crystal, mesh)
    points = G.ir_grid_points(grid).bz_points
    variances = mass_variances(ph.primitive.numbers)
    ref = isotope_gamma(grid, points, f, e, variances, average_degenerate=True)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(repeats):
        noisy = f + noise_THz * rng.normal(size=f.shape)
        g = isotope_gamma(grid, points, noisy, e, variances, average_degenerate=True)
        out.append(float(np.abs(g - ref).max() / np.abs(ref).max()))
    return out


def compare(a: dict, b: dict) -> dict:
    kk = np.abs(a["kappa"] - b["kappa"]).max() / np.abs(a["kappa"]).max()
    gmax = np.abs(a["gamma"]).max(axis=(1, 2), keepdims=True)
    gg = float((np.abs(a["gamma"] - b["gamma"]) / gmax).max())
    out = {"kappa_rel": float(kk), "gamma_rel": gg}
    if a["kappa_inter"] is not None and b["kappa_inter"] is not None:
        out["kappa_inter_rel"] = float(np.abs(a["kappa_inter"] - b["kappa_inter"]).max()
                                       / np.abs(a["kappa_inter"]).max())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--crystal", default="Si-PBEsol",
                   help=f"{' or '.join(CRYSTALS)}, or a `phonjax fc3` output folder")
    p.add_argument("--mesh", type=int, nargs="+", default=[9])
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--temperatures", type=float, nargs="+", default=[100, 300, 1000])
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--memory-gb", type=float, default=2.0,
                   help="phonjax's memory bound (the half transforms of every BZ point are kept "
                        "when twice their size fits in it)")
    p.add_argument("--same-phonons", action="store_true",
                   help="phono3py runs on phonjax's grid phonons (symmetrized frequencies): "
                        "identical inputs, for the tetrahedron isotope case")
    p.add_argument("--isotope-noise", action="store_true",
                   help="only: how much 1e-14 THz of noise on phono3py's frequencies moves its "
                        "tetrahedron isotope Γ")
    p.add_argument("--q-workers", type=int, nargs="+", default=[None],
                   help="phonjax's Plan.q_workers (irreducible q solved at once in host "
                        "threads; default: the plan's, 2 on a ≥2-core CPU); several values: "
                        "the first is compared, the others timed and their Γ compared with "
                        "the first's (0: bitwise equal)")
    p.add_argument("--json", default=None, help="write the numbers here")
    args = p.parse_args(argv)
    mesh = args.mesh * 3 if len(args.mesh) == 1 else args.mesh
    ph = load_example(args.crystal)
    if args.isotope_noise:
        changes = isotope_noise(ph, mesh)
        print(f"{args.crystal} mesh {mesh}: tetrahedron isotope Γ under 1e-14 THz noise on "
              f"phono3py's frequencies moves by {', '.join(f'{c:.2e}' for c in changes)} "
              "of max Γ")
        return 0
    print(f"{args.crystal} mesh {mesh}, T = {args.temperatures} K, threads: "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"cpus {os.cpu_count()}")
    rows = []
    for case in args.cases:
        opts, fields = CASES[case]
        ref = phono3py_kappa(ph, mesh, args.temperatures, opts,
                             phonjax_phonons(ph, mesh) if args.same_phonons else None)
        ours = phonjax_kappa(ph, mesh, args.temperatures, fields, args.repeat, args.memory_gb,
                             args.q_workers[0])
        for workers in args.q_workers[1:]:  # the same case with other thread counts
            other = phonjax_kappa(ph, mesh, args.temperatures, fields, args.repeat,
                                  args.memory_gb, workers)
            print(f"{case:9s} phonjax q_workers={workers}: "
                  f"{' '.join(f'{s:.2f}' for s in other['seconds'])} s, ratio "
                  f"{ref['seconds'] / min(other['seconds']):.2f}, Γ against "
                  f"q_workers={args.q_workers[0]}: "
                  f"{compare(ours, other)['gamma_rel']:.1e} (0: bitwise equal)", flush=True)
        diff = compare(ref, ours)
        t_ours = min(ours["seconds"])
        row = {"case": case, "mesh": mesh, **diff,
               "kappa_xx_phono3py": ref["kappa"][:, 0].tolist(),
               "kappa_xx_phonjax": ours["kappa"][:, 0].tolist(),
               "seconds_phono3py": ref["seconds"], "seconds_phonjax": ours["seconds"],
               "ratio": ref["seconds"] / t_ours, "n_triplets": ours["n_triplets"],
               "phonjax_stages_s": ours["timings"]}
        rows.append(row)
        xx = " ".join(f"{a:.10f}/{b:.10f}" for a, b in zip(row["kappa_xx_phono3py"],
                                                            row["kappa_xx_phonjax"]))
        inter = (f" inter {diff['kappa_inter_rel']:.2e}" if "kappa_inter_rel" in diff else "")
        print(f"{case:9s} κ_xx phono3py/phonjax {xx} | κ rel {diff['kappa_rel']:.2e} Γ rel "
              f"{diff['gamma_rel']:.2e}{inter} | phono3py {ref['seconds']:.2f} s, phonjax "
              f"{' '.join(f'{s:.2f}' for s in ours['seconds'])} s, ratio {row['ratio']:.2f}",
              flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    worst = max(r["kappa_rel"] for r in rows)
    print(f"worst κ rel {worst:.2e}: {'PASS' if worst <= 1e-6 else 'FAIL'} (≤1e-6)")
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
