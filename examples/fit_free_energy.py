#!/usr/bin/env python
"""Phonon-aware fitting: gradient descent on a potential's parameters against DFT free energies.

A Morse pair potential in ``jnp`` (``validation/pair_potential.py``; depth and
stiffness per species pair) is fitted so that its harmonic free energy at 300 K
matches the DFT value of a few phonondb crystals. Every step is one graph:

    parameters → energy → Hessian-vector products along phonopy's displacements
      (phonjax.harmonic.hessian) → force constants → D(q) → eigenvalues → F(300 K)
      (phonjax.harmonic.differentiable) → loss,

and ``jax.value_and_grad`` differentiates all of it. The DFT side is phonjax's
kernel on the files' own forces (phonopy's numbers, see BENCHMARKS.md). Prints
the loss and |F_model − F_DFT| per crystal at each step; the loss falls.

    python examples/fit_free_energy.py [--steps 20] [--mesh 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import phonjax  # noqa: E402
from phonjax.harmonic import differentiable  # noqa: E402
from phonjax.data import sample_dir  # noqa: E402
from phonjax.harmonic.hessian import hessian_forces  # noqa: E402
from validation.pair_potential import morse_energy  # noqa: E402

CRYSTALS = ["mp-1000", "mp-1415", "mp-361"]  # BaTe, CaSe (rock salt), Cu2O: bundled sample


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--mesh", type=int, default=8, help="q-mesh per axis (kept small: CPU)")
    ap.add_argument("--learning-rate", type=float, default=0.12)
    args = ap.parse_args(argv)
    mesh = (args.mesh,) * 3
    crystals = []
    for mp_id in CRYSTALS:
        ds = phonjax.read_dataset(sample_dir() / f"{mp_id}.yaml.xz")
        system = phonjax.prepare(ds, mesh=mesh)
        [dft] = phonjax.phonon_properties([system], [ds.forces])
        sc = system.supercell
        crystals.append((mp_id, system, morse_energy(sc.numbers, sc.positions, sc.lattice),
                         dft.free_energy_kJmol[0], np.unique(sc.numbers)))
    elements = np.unique(np.concatenate([c[4] for c in crystals]))

    def free_energies(log_params):
        out = []
        for _, system, energy, _, species in crystals:
            own = np.searchsorted(elements, species)  # this crystal's elements, sorted
            params = {name: jnp.exp(v)[np.ix_(own, own)] for name, v in log_params.items()}
            forces = hessian_forces(lambda r, c: energy(r, c, params), system)
            free, _, _ = differentiable.thermal_properties_from_forces(forces, system.tables,
                                                                      [300.0])
            out.append(free[0])
        return jnp.stack(out)

    targets = jnp.array([c[3] for c in crystals])

    def loss(log_params):
        error = free_energies(log_params) - targets
        return jnp.mean(error ** 2), error

    step = jax.jit(jax.value_and_grad(loss, has_aux=True))
    # one depth and one stiffness per pair of elements, shared by the crystals
    n = len(elements)
    log_params = {"depth": jnp.full((n, n), np.log(0.2)),
                  "stiffness": jnp.full((n, n), np.log(1.3))}
    moment = {k: jnp.zeros_like(v) for k, v in log_params.items()}
    second = {k: jnp.zeros_like(v) for k, v in log_params.items()}
    print("step  loss (kJ/mol)²  |F_model − F_DFT| (kJ/mol): " + "  ".join(CRYSTALS))
    with phonjax.float64():
        for t in range(1, args.steps + 1):
            t0 = time.perf_counter()
            (value, error), grad = step(log_params)
            for name in log_params:  # Adam
                moment[name] = 0.9 * moment[name] + 0.1 * grad[name]
                second[name] = 0.999 * second[name] + 0.001 * grad[name] ** 2
                m_hat = moment[name] / (1 - 0.9 ** t)
                v_hat = second[name] / (1 - 0.999 ** t)
                rate = args.learning_rate * 0.9 ** t  # decaying: Adam's fixed step overshoots
                log_params[name] = log_params[name] - rate * m_hat / (jnp.sqrt(v_hat) + 1e-8)
            print(f"{t:4d}  {float(value):14.4f}  "
                  + "  ".join(f"{abs(float(e)):8.3f}" for e in error)
                  + f"   ({time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
