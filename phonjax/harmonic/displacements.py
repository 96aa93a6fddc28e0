"""Symmetry-reduced finite displacements, identical to phonopy's.

phonopy's ``generate_displacements(distance, is_plusminus, is_diagonal)``: for
each symmetry-independent supercell atom (lowest index of its orbit), take the
first candidate direction (fractional, supercell basis) whose images under the
site symmetry span 3D; failing that, two directions; failing that, the three
axes. A minus partner follows each direction unless ('auto') a site rotation
already maps it to its negative. Order, atoms and directions match phonopy.
"""

from __future__ import annotations

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import SpaceGroup, site_symmetry

DIAGONAL_DIRECTIONS = np.array(
    [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, -1, 0], [1, 0, -1],
     [0, 1, -1], [1, 1, 1], [1, 1, -1], [1, -1, 1], [-1, 1, 1]], dtype=np.int64)
AXIS_DIRECTIONS = DIAGONAL_DIRECTIONS[:3]


def _det_nonzero(a, b, c) -> np.ndarray:
    return np.rint(np.linalg.det(np.stack(np.broadcast_arrays(a, b, c), axis=-2))).astype(int) != 0


def site_directions(rotations: np.ndarray, candidates: np.ndarray) -> list[np.ndarray]:
    """phonopy's directions for one site: the first candidate whose images under the site
    rotations span 3D; else a candidate and a second one; else the three axes."""
    n = len(rotations)
    upper = np.triu(np.ones((n, n), bool), k=1)
    for d in candidates:  # one direction whose images span space
        images = rotations @ d
        if (_det_nonzero(d, images[:, None, :], images[None, :, :]) & upper).any():
            return [d]
    for d in candidates:  # two directions
        images = rotations @ d
        for img in images:
            ok = _det_nonzero(d, img, candidates)
            if ok.any():
                return [d, candidates[np.argmax(ok)]]
    return [candidates[0], candidates[1], candidates[2]]


def needs_minus(direction: np.ndarray, rotations: np.ndarray) -> bool:
    """True unless some rotation maps ``direction`` onto its negative."""
    return not ((rotations @ direction) == -direction).all(axis=1).any()


def displacement_directions(supercell: Crystal, group: SpaceGroup, is_plusminus="auto",
                            is_diagonal: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(atom index, integer fractional direction) pairs in phonopy's order."""
    if is_plusminus not in ("auto", True, False):
        raise ValueError("is_plusminus must be 'auto', True or False")
    candidates = DIAGONAL_DIRECTIONS if is_diagonal else AXIS_DIRECTIONS
    atoms, directions = [], []
    for atom in np.flatnonzero(group.equivalent_atoms == np.arange(supercell.n_atoms)):
        rotations = group.rotations[site_symmetry(supercell, group, atom)]
        for d in site_directions(rotations, candidates):
            atoms.append(atom)
            directions.append(d)
            if is_plusminus is True or (is_plusminus == "auto" and needs_minus(d, rotations)):
                atoms.append(atom)
                directions.append(-d)
    return np.asarray(atoms, np.int64), np.asarray(directions, np.int64).reshape(-1, 3)


def generate_displacements(supercell: Crystal, group: SpaceGroup, distance: float = 0.01,
                           is_plusminus="auto", is_diagonal: bool = True
                           ) -> tuple[np.ndarray, np.ndarray]:
    """Displaced atom indices (n_disp,) and Cartesian displacements (n_disp, 3) in Å."""
    if not distance > 0:
        raise ValueError(f"displacement distance must be positive, got {distance}")
    atoms, directions = displacement_directions(supercell, group, is_plusminus, is_diagonal)
    # row by row, as phonopy does: the batched product and norm round differently (other
    # BLAS kernels and reductions), and the contract is identical displacements
    cart = []
    for d in directions:
        u = np.dot(d, supercell.lattice)
        cart.append(u * (distance / np.linalg.norm(u)))
    return atoms, np.array(cart, float).reshape(-1, 3)
