"""Toy numpy adapters for the bench tests (no torch): a smooth Morse pair potential and
broken variants. Importing this module registers the family ``toy`` with phonjax.bench.

Variants: ``morse`` (well behaved), ``nan`` (NaN forces everywhere: relaxation fails),
``raise`` (the model raises), ``stuck`` (a stress offset beyond any Morse attraction:
the cell grows forever, the relaxation never converges), ``nan-supercell`` (NaN forces only for the
displaced supercells: the phonon step fails), ``slow`` (morse, sleeping per call).

With ``PHONJAX_TOY_LOG`` set, every evaluated supercell (more than 16 atoms: the
phonon step, not a relaxation) appends a line "pid formula n_atoms" to that file,
so that a test can count how often each material's forces were computed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from phonjax.pipeline import models
from phonjax_adapters.base import Adapter, StructureResult

CUTOFF_A = 6.0
DEPTH_EV = 0.2
ALPHA_PER_A = 1.5


def morse(atoms):
    """Energy (eV), forces (eV/Å), stress (eV/Å³, ASE sign) of a cosine-cut Morse potential."""
    i, j, d, D = neighbor_list("ijdD", atoms, CUTOFF_A)
    z = atoms.numbers
    r0 = covalent_radii[z[i]] + covalent_radii[z[j]]
    x = np.exp(-ALPHA_PER_A * (d - r0))
    m = (1 - x) ** 2 - 1
    dm = 2 * (1 - x) * ALPHA_PER_A * x
    fc = 0.5 * (1 + np.cos(np.pi * d / CUTOFF_A))
    dfc = -0.5 * np.pi / CUTOFF_A * np.sin(np.pi * d / CUTOFF_A)
    phi = DEPTH_EV * m * fc
    dphi = DEPTH_EV * (dm * fc + m * dfc)
    energy = 0.5 * phi.sum()  # every pair appears twice
    forces = np.zeros((len(atoms), 3))
    np.add.at(forces, i, (dphi / d)[:, None] * D)
    stress = 0.5 * np.einsum("p,pa,pb->ab", dphi / d, D, D) / atoms.get_volume()
    return float(energy), forces, stress


class ToyAdapter(Adapter):
    family = "toy"
    title = "Toy Morse"
    distribution = "numpy"
    module = "numpy"
    extra = "test"
    variants = ("morse", "nan", "raise", "stuck", "nan-supercell", "slow")
    dtypes = ("float64",)
    batched = True
    calls = 0
    stress_calls = 0

    def weight_files(self) -> list[Path]:
        return [Path(__file__)]  # "weights" that always exist

    def _load(self, weights):
        return object()

    def _evaluate(self, atoms, compute_stress):
        ToyAdapter.calls += 1
        ToyAdapter.stress_calls += compute_stress
        if self.variant == "raise":
            raise RuntimeError("toy model failure")
        if self.variant == "slow":
            time.sleep(0.05)
        log = os.environ.get("PHONJAX_TOY_LOG")
        if log:
            with open(log, "a") as fh:
                fh.writelines(f"{os.getpid()} {a.get_chemical_formula('metal', empirical=True)} "
                              f"{len(a)}\n" for a in atoms if len(a) > 16)
        out = []
        for a in atoms:
            e, f, s = morse(a)
            if self.variant == "nan" or (self.variant == "nan-supercell" and len(a) > 30):
                f = f * np.nan
            if self.variant == "stuck":  # a tension no Morse attraction can balance
                s = s - 0.5 * np.eye(3)
            out.append(StructureResult(e, f, s if compute_stress else None))
        return out


class ToyJaxAdapter(ToyAdapter):
    """``toy`` with a JAX energy of the same potential: the Hessian route's input."""

    family = "toyjax"
    variants = ("morse",)

    def energy_function(self, lattice, positions, numbers):
        """``energy(positions_A, cell_A) -> eV`` on the neighbour list of the reference."""
        import jax.numpy as jnp
        from ase import Atoms

        atoms = Atoms(numbers=numbers, positions=positions, cell=lattice, pbc=True)
        i, j, shifts = neighbor_list("ijS", atoms, CUTOFF_A)
        z = np.asarray(numbers)
        r0 = covalent_radii[z[i]] + covalent_radii[z[j]]

        def energy(pos, cell):
            d = jnp.linalg.norm(pos[j] - pos[i] + shifts @ cell, axis=1)
            x = jnp.exp(-ALPHA_PER_A * (d - r0))
            cut = 0.5 * (1 + jnp.cos(jnp.pi * d / CUTOFF_A))
            return 0.5 * jnp.sum(DEPTH_EV * ((1 - x) ** 2 - 1) * cut)

        return energy


def register() -> None:
    models.register("toy", lambda variant, **kw: ToyAdapter(variant, **kw))
    models.register("toyjax", lambda variant, **kw: ToyJaxAdapter(variant, **kw))


register()
