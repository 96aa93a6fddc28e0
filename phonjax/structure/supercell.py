"""Supercell and primitive cell, with phonopy's atom order.

phonopy's order is part of the contract: displacements name supercell atoms by
index, and the primitive cell's atoms are the first supercell atom of each
translation class. Both cells are built the way phonopy's default
("old-style", non-SNF) ``Supercell`` and ``Primitive`` build them:

* supercell: a box of ``frame`` lattice points that surrounds the supercell
  lattice (a-index fastest, then b, then c), every unit-cell atom repeated over
  it (atom-major), wrapped into the supercell and de-duplicated keeping the
  first copy;
* primitive: the supercell wrapped into the primitive lattice
  (``inv(S)·P`` relative to the supercell), the first copy of each site kept.

Conventions: lattices are rows (Å); ``supercell_matrix`` S gives supercell rows
``Sᵀ·unit``; ``primitive_matrix`` P gives primitive rows ``Pᵀ·unit``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.structure.symmetry import SYMPREC


def _surrounding_frame(smat: np.ndarray) -> np.ndarray:
    corners = np.array([np.zeros(3, int), smat[:, 0], smat[:, 1], smat[:, 2],
                        smat[:, 1] + smat[:, 2], smat[:, 2] + smat[:, 0],
                        smat[:, 0] + smat[:, 1], smat.sum(axis=1)])
    return corners.max(axis=0) - corners.min(axis=0)


def _first_copies(frac: np.ndarray, lattice: np.ndarray, numbers: np.ndarray,
                  symprec: float, block: int = 128) -> np.ndarray:
    """Indices of atoms that do not coincide (mod lattice, same species) with an earlier kept
    one. A block of atoms at a time: first against the atoms kept before the block, then the
    block's survivors one by one among themselves."""

    def close_to(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:  # (len(rows), len(cols))
        diff = frac[cols][None, :, :] - frac[rows][:, None, :]
        diff -= np.rint(diff)
        close = np.sqrt(((diff @ lattice) ** 2).sum(axis=-1)) < symprec
        return close & (numbers[cols][None, :] == numbers[rows][:, None])

    kept = np.empty(0, dtype=np.int64)
    for a in range(0, len(frac), block):
        rows = np.arange(a, min(len(frac), a + block))
        if len(kept):
            rows = rows[~close_to(rows, kept).any(axis=1)]
        among = close_to(rows, rows)
        new = np.zeros(len(rows), bool)
        for i in range(len(rows)):
            new[i] = not (among[i, :i] & new[:i]).any()
        kept = np.concatenate([kept, rows[new]])
    return kept


def _trim(relative_axes: np.ndarray, lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray,
          symprec: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wrap a cell into the smaller lattice ``relative_axesᵀ·lattice``; keep first copies."""
    new_lattice = relative_axes.T @ lattice
    new_frac = frac @ np.linalg.inv(relative_axes).T
    new_frac -= np.floor(new_frac)
    kept = _first_copies(new_frac, new_lattice, numbers, symprec)
    expected = int(np.rint(len(frac) * np.linalg.det(relative_axes)))
    if len(kept) != expected:
        raise CrystalError(
            f"cell trimming left {len(kept)} atoms where the volume ratio needs {expected}: "
            "overlapping atoms, or a primitive matrix that does not fit this crystal")
    return new_lattice, new_frac[kept], kept


def build_supercell(unitcell: Crystal, supercell_matrix: np.ndarray,
                    symprec: float = SYMPREC) -> tuple[Crystal, np.ndarray]:
    """Supercell in phonopy's atom order and ``s2u`` (unit-cell atom of each supercell atom)."""
    smat = np.asarray(supercell_matrix, dtype=np.int64)
    frame = _surrounding_frame(smat)
    a, b, c = np.meshgrid(np.arange(frame[0]), np.arange(frame[1]), np.arange(frame[2]),
                          indexing="ij")
    # phonopy runs the a index fastest, then b, then c
    points = np.stack([a.transpose(2, 1, 0).ravel(), b.transpose(2, 1, 0).ravel(),
                       c.transpose(2, 1, 0).ravel()], axis=1)
    n_unit, n_points = unitcell.n_atoms, len(points)
    box = np.diag(frame).astype(float)
    frac = (np.tile(points, (n_unit, 1)) + np.repeat(unitcell.frac_positions, n_points, axis=0)
            ) @ np.linalg.inv(box).T
    numbers = np.repeat(unitcell.numbers, n_points)
    masses = np.repeat(unitcell.masses, n_points)
    s2u_box = np.repeat(np.arange(n_unit), n_points)
    trim_frame = smat / frame[:, None]
    lattice, frac, kept = _trim(trim_frame, box @ unitcell.lattice, frac, numbers, symprec)
    supercell = Crystal(lattice, frac, numbers[kept], masses[kept])
    return supercell, s2u_box[kept]


@dataclass(frozen=True, eq=False)
class Primitive:
    """The primitive cell and its maps into the supercell (phonopy's p2s/s2p)."""

    crystal: Crystal
    p2s: np.ndarray  # (n_p,) supercell index of each primitive atom
    s2p: np.ndarray  # (N,) supercell index of the primitive atom each supercell atom images
    s2pp: np.ndarray  # (N,) primitive index (0..n_p-1) of each supercell atom
    supercell_in_primitive: np.ndarray  # (3, 3) int M = inv(P)·S: supercell rows = Mᵀ·primitive


def build_primitive(supercell: Crystal, supercell_matrix: np.ndarray, primitive_matrix: np.ndarray,
                    symprec: float = SYMPREC) -> Primitive:
    trans = np.linalg.inv(np.asarray(supercell_matrix, float)) @ np.asarray(primitive_matrix, float)
    lattice, frac, p2s = _trim(trans, supercell.lattice, supercell.frac_positions,
                               supercell.numbers, symprec)
    crystal = Crystal(lattice, frac, supercell.numbers[p2s], supercell.masses[p2s])
    # map every supercell atom to the primitive atom at the same site (mod primitive lattice)
    sc_in_p = supercell.frac_positions @ np.linalg.inv(trans).T
    diff = sc_in_p[:, None, :] - sc_in_p[p2s][None, :, :]
    diff -= np.rint(diff)
    dist = np.sqrt(((diff @ lattice) ** 2).sum(axis=-1))
    match = (dist < symprec) & (supercell.numbers[:, None] == supercell.numbers[p2s][None, :])
    if not (match.sum(axis=1) == 1).all():
        raise CrystalError("supercell atoms do not map one-to-one onto the primitive cell")
    s2pp = match.argmax(axis=1)
    m_float = np.linalg.inv(np.asarray(primitive_matrix, float)) @ np.asarray(supercell_matrix, float)
    m_int = np.rint(m_float).astype(np.int64)
    if np.abs(m_float - m_int).max() > 1e-6:
        raise CrystalError("inv(primitive_matrix)·supercell_matrix is not an integer matrix: "
                           "the supercell is not a supercell of the primitive cell")
    return Primitive(crystal, p2s, p2s[s2pp], s2pp, m_int)


def lattice_points_of(matrix: np.ndarray) -> np.ndarray:
    """Fractional positions (in the big cell) of the lattice points of a cell inside
    the cell ``matrixᵀ·cell``: phonopy's ``get_commensurate_points`` applied to ``matrixᵀ``."""
    one = Crystal(np.eye(3), np.zeros((1, 3)), [1])
    big, _ = build_supercell(one, np.asarray(matrix, np.int64))
    frac = big.frac_positions
    return np.where(frac > 1 - 1e-15, frac - 1, frac)
