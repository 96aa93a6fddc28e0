#!/usr/bin/env python
"""The numbers behind "JAX models in, gradients out" (BENCHMARKS §9), printed side by side.

1. Force constants from a JAX energy (a ``jnp`` Morse pair potential,
   ``validation/pair_potential.py``, on phonondb supercells): the Hessian-vector route
   against ``jax.hessian`` of the same energy (symmetrized as phonopy does), and the
   finite-displacement route at h = 0.01 and 0.005 Å against it (O(h²): the ratio ~4).
2. Derivatives of F, S, Cv (300 K) with respect to the force constants and the masses
   (``phonjax.harmonic.differentiable``, forward mode) against central differences (h = 1e-5 of a
   random direction), on three stable phonondb materials.

    python validation/gradients.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import phonjax  # noqa: E402
from phonjax.harmonic import differentiable as dx  # noqa: E402
from phonjax.data import sample_dir  # noqa: E402
from phonjax.harmonic.hessian import force_constants_from_energy  # noqa: E402
from phonjax.harmonic.force_constants import symmetrize  # noqa: E402
from validation.pair_potential import morse_energy  # noqa: E402


def routes(mp_id: str) -> str:
    ds = phonjax.read_dataset(sample_dir() / f"{mp_id}.yaml.xz")
    system = phonjax.prepare(ds)
    half = phonjax.prepare(ds.unitcell, ds.supercell_matrix, ds.primitive_matrix, distance=0.005)
    sc = system.supercell
    energy = morse_energy(sc.numbers, sc.positions, sc.lattice)
    with phonjax.float64():
        hvp = np.asarray(force_constants_from_energy(energy, system))
        hessian = jax.hessian(lambda r: energy(r, jnp.asarray(sc.lattice)))(jnp.asarray(sc.positions))
        exact = np.asarray(symmetrize(jnp.transpose(hessian, (0, 2, 1, 3)),
                                      jnp.ones(sc.n_atoms, bool)))
        fd = [np.asarray(force_constants_from_energy(energy, s, method="finite_displacement"))
              for s in (system, half)]
    scale = np.abs(exact).max()
    e1, e2 = (np.abs(f - hvp).max() / scale for f in fd)
    return (f"| {mp_id} | {sc.n_atoms} | {len(system.displacements)} | "
            f"{np.abs(hvp - exact).max() / scale:.1e} | {e1:.2e} | {e2:.2e} | {e1 / e2:.2f} |")


def derivatives(mp_id: str) -> str:
    ds = phonjax.read_dataset(sample_dir() / f"{mp_id}.yaml.xz")
    [res] = phonjax.phonon_properties([phonjax.prepare(ds)], [ds.forces], keep_force_constants=True)
    system = phonjax.prepare(ds, mesh=(6, 6, 6))
    fc, masses = res.force_constants, np.asarray(system.tables.phases.masses)

    def f(x, m):
        tables = dataclasses.replace(system.tables,
                                     phases=dataclasses.replace(system.tables.phases, masses=m))
        return jnp.stack(dx.thermal_properties(x, tables, [300.0]))[:, 0]

    rng = np.random.default_rng(0)
    d_fc = rng.normal(size=fc.shape) * np.abs(fc).max() * 1e-2
    d_fc = 0.5 * (d_fc + np.transpose(d_fc, (1, 0, 3, 2)))
    d_m = rng.normal(size=masses.shape) * masses * 1e-2
    h = 1e-5
    with phonjax.float64():
        f = jax.jit(f)
        _, jvp = jax.jvp(f, (jnp.asarray(fc), jnp.asarray(masses)),
                         (jnp.asarray(d_fc), jnp.asarray(d_m)))
        fd = (np.asarray(f(fc + h * d_fc, masses + h * d_m))
              - np.asarray(f(fc - h * d_fc, masses - h * d_m))) / (2 * h)
    rel = np.abs(np.asarray(jvp) - fd) / np.abs(fd)
    return f"| {mp_id} | " + " | ".join(f"{x:.1e}" for x in rel) + " |"


def main() -> int:
    print("| material | supercell atoms | displacements | HVP vs jax.hessian | FD 0.01 Å vs HVP "
          "| FD 0.005 Å vs HVP | ratio |")
    print("|---|---|---|---|---|---|---|")
    for mp_id in ("mp-1000", "mp-361"):
        print(routes(mp_id), flush=True)
    print("\n| material | dF rel. dev. | dS rel. dev. | dCv rel. dev. |")
    print("|---|---|---|---|")
    for mp_id in ("mp-1000", "mp-361", "mp-11583"):
        print(derivatives(mp_id), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
