"""phono3py systems shared by the weights and isotope tests: Si-PBEsol from phono3py's example
and a wurtzite GaN with made-up force constants, each with phonons solved on a mesh and the
phonjax ``BZGrid`` of the same mesh (checked to hold phono3py's BZ addresses)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phonjax.anharmonic import grid as G
from phonjax.structure.crystal import Crystal

SI_PBESOL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phono3py-examples" / \
    "Si-PBEsol"


def spring_fc2(supercell, k_near=10.0, k_far=2.0, r_near=2.2, r_far=3.3):
    """Made-up central-spring force constants (N, N, 3, 3) eV/Å² of a supercell."""
    frac = supercell.scaled_positions
    lattice = supercell.cell
    n = len(frac)
    fc2 = np.zeros((n, n, 3, 3))
    for i in range(n):
        d = frac - frac[i]
        d -= np.rint(d)
        r = d @ lattice
        dist = np.linalg.norm(r, axis=1)
        for j in np.nonzero((dist > 0.1) & (dist < r_far))[0]:
            u = r[j] / dist[j]
            fc2[i, j] -= (k_near if dist[j] < r_near else k_far) * np.outer(u, u)
    for i in range(n):
        fc2[i, i] = -fc2[i].sum(axis=0)
    return fc2


def phono3py_system(ph, mesh):
    """(ph with its phonons solved on ``mesh``, phonjax's ``BZGrid`` of that mesh)."""
    ph.mesh_numbers = list(mesh)
    ph.init_phph_interaction()
    ph.run_phonon_solver()
    prim = ph.primitive
    grid = G.bz_grid(Crystal(prim.cell, prim.scaled_positions, prim.numbers, prim.masses), mesh)
    assert np.array_equal(grid.addresses, ph.grid.addresses)
    return ph, grid


def si_pbesol(mesh):
    """``phono3py_system`` of the Si-PBEsol example (FC from its FORCES_FC3)."""
    import phono3py

    ph = phono3py.load(str(SI_PBESOL / "phono3py_disp.yaml"),
                       forces_fc3_filename=str(SI_PBESOL / "FORCES_FC3"))
    return phono3py_system(ph, mesh)


def wurtzite_gan(mesh=(4, 4, 3)):
    """``phono3py_system`` of wurtzite GaN (3×3×2 supercell) with ``spring_fc2`` and zero FC3."""
    from ase.build import bulk
    from phono3py import Phono3py
    from phonopy.structure.atoms import PhonopyAtoms

    atoms = bulk("GaN", "wurtzite", a=3.19, c=5.19)
    unit = PhonopyAtoms(cell=atoms.cell[:], scaled_positions=atoms.get_scaled_positions(),
                        numbers=atoms.numbers)
    ph = Phono3py(unit, supercell_matrix=[3, 3, 2], primitive_matrix="P")
    ph.fc2 = spring_fc2(ph.supercell)
    ph.fc3 = np.zeros((len(ph.primitive), len(ph.supercell), len(ph.supercell), 3, 3, 3))
    return phono3py_system(ph, mesh)
