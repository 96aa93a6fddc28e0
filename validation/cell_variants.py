"""One force-set dataset, the same crystal in other cells: rotated, re-based, primitive-less.

Exact variants of a phonopy-style dataset, for testing whatever depends on the cell a user
happens to give (band paths above all): the physical supercell, displacements and forces stay
the same, only their description changes.

* ``rotated(ds, R)``: lattice, displacements and forces rotated by R (Cartesian).
* ``rebased(ds, T)``: the unit cell's basis changed by an integer unimodular T (new unit-cell
  rows = Tᵀ·old rows, e.g. a cyclic permutation of a, b, c: a non-standard setting); S and P
  follow (S' = T⁻¹·S, P' = T⁻¹·P), and the supercell atoms, in phonopy's order for the new
  cell, are matched to the old ones so that forces and displaced atoms are re-indexed.
* ``unitcell_as_primitive(ds)``: P = identity: the unit cell (e.g. the conventional cell) is
  used as the "primitive" cell, whose bands are the true ones folded.
"""

from __future__ import annotations

import numpy as np

from phonjax.structure.supercell import build_supercell
from phonjax.structure.crystal import Crystal
from phonjax.io import PhononDataset
from phonjax.structure.symmetry import PositionMatcher

CYCLIC = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]])  # a, b, c → b, c, a (right-handed)


def rotation(seed: int = 0) -> np.ndarray:
    """A proper rotation (3, 3), reproducible."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def _dataset(ds: PhononDataset, id: str, unitcell: Crystal, smat, pmat, atoms, disps,
             forces) -> PhononDataset:
    return PhononDataset(id=id, unitcell=unitcell, supercell_matrix=smat, primitive_matrix=pmat,
                         displaced_atoms=atoms, displacements=disps, forces=forces,
                         source=None)


def rotated(ds: PhononDataset, rot: np.ndarray) -> PhononDataset:
    uc = ds.unitcell
    cell = Crystal(uc.lattice @ rot.T, uc.frac_positions, uc.numbers, uc.masses)
    return _dataset(ds, f"{ds.id}-rotated", cell, ds.supercell_matrix, ds.primitive_matrix,
                    ds.displaced_atoms, ds.displacements @ rot.T, ds.forces @ rot.T)


def rebased(ds: PhononDataset, t: np.ndarray) -> PhononDataset:
    t = np.asarray(t, np.int64)
    if round(abs(np.linalg.det(t))) != 1:
        raise ValueError("T must be unimodular")
    uc = ds.unitcell
    lattice = t.T @ uc.lattice
    frac = uc.positions @ np.linalg.inv(lattice)
    cell = Crystal(lattice, frac - np.floor(frac), uc.numbers, uc.masses)
    t_inv = np.rint(np.linalg.inv(t)).astype(np.int64)
    smat = t_inv @ ds.supercell_matrix
    pmat = t_inv @ ds.primitive_matrix
    old, _ = build_supercell(uc, ds.supercell_matrix)
    new, _ = build_supercell(cell, smat)
    # new atom i sits where old atom perm[i] sits (mod the common supercell lattice)
    frac_in_old = new.positions @ np.linalg.inv(old.lattice)
    perm = PositionMatcher(old, 1e-5).match(frac_in_old[None], new.numbers[None])[0]
    if sorted(perm.tolist()) != list(range(old.n_atoms)):
        raise ValueError("supercell atoms do not match one to one")
    inverse = np.argsort(perm)
    return _dataset(ds, f"{ds.id}-rebased", cell, smat, pmat, inverse[ds.displaced_atoms],
                    ds.displacements, ds.forces[:, perm])


def unitcell_as_primitive(ds: PhononDataset) -> PhononDataset:
    return _dataset(ds, f"{ds.id}-unitcell", ds.unitcell, ds.supercell_matrix, np.eye(3),
                    ds.displaced_atoms, ds.displacements, ds.forces)
