"""The quasi-harmonic approximation from a model, phonjax against ASE + phonopy 4.10 volume by
volume, side by side in one run.

phonjax: ``Phonons.from_structure(crystal, model).run_qha(volumes=N, strain=X)`` — the
crystal relaxed, then N volumes V₀(1 + x), x in [−X, X], relaxed at fixed volume in one batched
relaxation, their phonons in batched model calls and one kernel call, phonopy's QHA
(``phonjax.single.qha_step``). Reference: the same relaxed cell scaled to the same volumes, each
relaxed by ASE's FIRE on FrechetCellFilter(constant_volume=True) with FixSymmetry, phonopy's
displacements, the model's forces one supercell at a time (the adapter's ASE calculator: same
weights), ``produce_force_constants`` + ``symmetrize_force_constants``, thermal properties on
the same mesh, and ``phonopy.PhonopyQHA``. Printed: V(300 K), α(300 K), B_T(300 K) of both,
their relative differences, and the wall time of each side (the relaxation of the input cell is
shared and not timed).

    python validation/qha_phonopy.py --model chgnet Si NaCl MgO [--volumes 11] [--strain 0.05]
        [--mesh 20] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

CRYSTALS = {"Si": ("Si", "diamond", 5.43), "NaCl": ("NaCl", "rocksalt", 5.64),
            "MgO": ("MgO", "rocksalt", 4.21), "Cu": ("Cu", "fcc", 3.61)}


def reference(p, fractions, calc, temperatures):
    """(volumes Å³, energies eV, ``phonopy.PhonopyQHA``): ASE + phonopy volume by volume
    (module docstring), per primitive cell."""
    import phonopy
    from ase import Atoms
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from phonopy.structure.atoms import PhonopyAtoms

    volumes, energies, free, entropy, cv = [], [], [], [], []
    base = p.unitcell.to_ase()
    for f in fractions:
        atoms = base.copy()
        atoms.set_cell(atoms.cell.array * f ** (1 / 3), scale_atoms=True)
        atoms.calc = calc
        atoms.set_constraint(FixSymmetry(atoms))
        s = p.settings
        for _ in range(s.relax_rounds):  # phonjax's rounds of FIRE aiming at fmax/2
            filtered = FrechetCellFilter(atoms, constant_volume=True)
            FIRE(filtered, logfile=None).run(fmax=s.fmax_eV_A / 2, steps=s.relax_steps)
            if np.sqrt((filtered.get_forces() ** 2).sum(axis=1).max()) < s.fmax_eV_A / 2:
                break
        energies.append(atoms.get_potential_energy())
        volumes.append(atoms.get_volume())
        ph = phonopy.Phonopy(PhonopyAtoms(cell=atoms.cell.array, numbers=atoms.numbers,
                                          scaled_positions=atoms.get_scaled_positions(),
                                          masses=atoms.get_masses()),
                             supercell_matrix=p.cells.supercell_matrix,
                             primitive_matrix=p.cells.primitive_matrix)
        ph.generate_displacements(distance=s.distance_A)
        forces = []
        for sc in ph.supercells_with_displacements:
            a = Atoms(sc.symbols, cell=sc.cell, scaled_positions=sc.scaled_positions, pbc=True)
            a.calc = calc
            forces.append(a.get_forces())
        ph.forces = np.array(forces)
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
        ph.run_mesh(s.mesh)
        ph.run_thermal_properties(temperatures=temperatures, exclude_gamma_acoustic=True)
        tp = ph.thermal_properties
        free.append(tp.free_energy)
        entropy.append(tp.entropy)
        cv.append(tp.heat_capacity)
    share = p.system.n_primitive / p.unitcell.n_atoms
    volumes, energies = np.array(volumes) * share, np.array(energies) * share
    qha = phonopy.PhonopyQHA(volumes, energies, temperatures=np.array(temperatures),
                             free_energy=np.array(free).T, cv=np.array(cv).T,
                             entropy=np.array(entropy).T, eos="vinet")
    return volumes, energies, qha


def one(name: str, model: str, volumes: int, strain: float, mesh: int) -> dict:
    from ase.build import bulk

    from phonjax import Phonons
    from phonjax.pipeline import models
    from phonjax.single.qha_step import QHARunSettings

    formula, structure, a = CRYSTALS[name]
    temperatures = tuple(float(t) for t in range(0, 1001, 10))
    p = Phonons.from_structure(bulk(formula, structure, a=a), model=model, name=name,
                               mesh=(mesh,) * 3, temperatures_K=temperatures)
    p.produce_force_constants()  # the shared relaxed cell and cells, not timed
    settings = QHARunSettings(volumes=volumes, strain=strain)
    t0 = time.perf_counter()
    r = p.run_qha(settings)
    ours_s = time.perf_counter() - t0
    calc = models.adapter(model).load().calculator()
    t0 = time.perf_counter()
    _, _, ref = reference(p, settings.fractions, calc, temperatures)
    ref_s = time.perf_counter() - t0
    i = int(np.argmin(np.abs(r.temperatures_K - 300.0)))
    row = {"crystal": name, "model": model, "volumes": volumes, "strain": strain,
           "supercell": np.asarray(p.cells.supercell_matrix).tolist(), "mesh": mesh,
           "excluded": [v.fraction for v in p.qha.excluded], "T_K": float(r.temperatures_K[i]),
           "V_phonjax": float(r.equilibrium_volumes_A3[i]),
           "V_phonopy": float(ref.volume_temperature[i]),
           "alpha_phonjax": float(r.thermal_expansion_per_K[i]),
           "alpha_phonopy": float(ref.thermal_expansion[i]),
           "B_phonjax": float(r.bulk_modulus_GPa[i]),
           "B_phonopy": float(ref.bulk_modulus_temperature[i]),
           "phonjax_s": ours_s, "phonopy_ase_s": ref_s}
    # over the temperatures where V(T) stays inside the fitted volumes (beyond, both codes
    # extrapolate their EOS fits, and phonopy's leastsq stops wherever it stops)
    n = int(np.searchsorted(r.temperatures_K, p.qha.inside_until_K, side="right"))
    row["inside_until_K"] = p.qha.inside_until_K
    row["V_T_max_rel"] = float(np.max(np.abs(r.equilibrium_volumes_A3[:n]
                                             - ref.volume_temperature[:n])
                                      / ref.volume_temperature[:n]))
    row["alpha_300_rel"] = abs(row["alpha_phonjax"] / row["alpha_phonopy"] - 1)
    return row


def main(argv=None) -> int:
    import importlib.util

    if importlib.util.find_spec("tests.bench.fakes") is not None:  # the toy model, for a dry run
        import tests.bench.fakes  # noqa: F401
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("crystals", nargs="+", choices=sorted(CRYSTALS))
    ap.add_argument("--model", default="chgnet")
    ap.add_argument("--volumes", type=int, default=11)
    ap.add_argument("--strain", type=float, default=0.05)
    ap.add_argument("--mesh", type=int, default=20)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    rows = []
    for name in args.crystals:
        row = one(name, args.model, args.volumes, args.strain, args.mesh)
        rows.append(row)
        print(f"{name} · {args.model}: V(300 K) {row['V_phonjax']:.6f} vs {row['V_phonopy']:.6f} Å³ "
              f"(V(T) max rel {row['V_T_max_rel']:.1e} up to {row['inside_until_K']:g} K); α(300 K) {row['alpha_phonjax']:.6e} vs "
              f"{row['alpha_phonopy']:.6e} /K (rel {row['alpha_300_rel']:.1e}); B_T "
              f"{row['B_phonjax']:.3f} vs {row['B_phonopy']:.3f} GPa; excluded "
              f"{row['excluded']}; phonjax {row['phonjax_s']:.1f} s, ASE + phonopy "
              f"{row['phonopy_ase_s']:.1f} s ({row['phonopy_ase_s'] / row['phonjax_s']:.2f}×)",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
