"""Space-group symmetry of a cell (spglib) and the atom maps phonopy derives from it.

Operations act on fractional coordinates, ``x' = W·x + t``, in spglib's order,
which matters: phonopy picks "the first operation that …" in several places.
A permutation ``perm[i] = j`` means operation maps atom i onto atom j.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib

from phonjax.cells import SYMPREC
from phonjax.crystal import Crystal, CrystalError


@dataclass(frozen=True, eq=False)
class SpaceGroup:
    rotations: np.ndarray  # (n_ops, 3, 3) int, fractional
    translations: np.ndarray  # (n_ops, 3) fractional
    equivalent_atoms: np.ndarray  # (n,) lowest-index representative of each orbit
    number: int
    international: str


def space_group(crystal: Crystal, symprec: float = SYMPREC) -> SpaceGroup:
    ds = spglib.get_symmetry_dataset(crystal.spglib_cell(), symprec=symprec)
    if ds is None:
        raise CrystalError(f"spglib could not determine the symmetry: {spglib.get_error_message()}")
    return SpaceGroup(np.asarray(ds.rotations, np.int64), np.asarray(ds.translations, float),
                      np.asarray(ds.equivalent_atoms, np.int64), int(ds.number), ds.international)


def cartesian_rotations(lattice: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """Fractional rotations W -> Cartesian ``L W L⁻¹`` with L the lattice as columns."""
    lt = lattice.T
    return lt @ rotations @ np.linalg.inv(lt)


class PositionMatcher:
    """Finds, for fractional positions, the atom of a crystal sitting there (mod lattice).

    A cell list in fractional coordinates: the unit box is cut into g³ cells of edge
    ≥ twice the search radius, so an atom within the radius of a position sits in
    that position's cell or one of its 26 neighbours (periodically). NumPy only.
    """

    _NEIGHBOURS = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)

    def __init__(self, crystal: Crystal, symprec: float = SYMPREC):
        self.crystal = crystal
        self.symprec = symprec
        n = crystal.n_atoms
        # a fractional search radius that surely contains symprec in Å
        radius = symprec * np.linalg.norm(np.linalg.inv(crystal.lattice), axis=0).max() * 4
        self._g = int(max(1, min(np.floor(0.5 / radius), 2 * np.ceil(n ** (1 / 3)))))
        keys = self._keys(self._cells(crystal.frac_positions))
        self._order = np.argsort(keys, kind="stable")
        self._sorted_keys = keys[self._order]
        self._occupancy = int(np.bincount(keys).max())

    def _cells(self, frac: np.ndarray) -> np.ndarray:
        wrapped = (frac - np.floor(frac)) % 1.0
        return np.floor(wrapped * self._g).astype(np.int64) % self._g

    def _keys(self, cells: np.ndarray) -> np.ndarray:
        g = self._g
        cells = cells % g
        return (cells[..., 0] * g + cells[..., 1]) * g + cells[..., 2]

    def match(self, frac: np.ndarray, numbers: np.ndarray | None = None) -> np.ndarray:
        """Index of the atom at each position; raises if a position has no atom."""
        frac = np.asarray(frac, float)
        shape = frac.shape[:-1]
        q = frac.reshape(-1, 3)
        neighbour_keys = self._keys(self._cells(q)[:, None, :] + self._NEIGHBOURS[None])  # (Q, 27)
        start = np.searchsorted(self._sorted_keys, neighbour_keys, "left")
        end = np.searchsorted(self._sorted_keys, neighbour_keys, "right")
        slot = start[..., None] + np.arange(self._occupancy)  # (Q, 27, occupancy)
        valid = slot < end[..., None]
        candidates = self._order[np.minimum(slot, len(self._order) - 1)].reshape(len(q), -1)
        diff = self.crystal.frac_positions[candidates] - q[:, None, :]
        diff -= np.rint(diff)
        dist = np.sqrt(((diff @ self.crystal.lattice) ** 2).sum(-1))
        ok = valid.reshape(len(q), -1) & (dist < self.symprec)
        if numbers is not None:
            ok &= self.crystal.numbers[candidates] == np.asarray(numbers).reshape(-1, 1)
        if not ok.any(axis=1).all():
            raise CrystalError("a symmetry operation maps an atom onto no atom of the same species; "
                               "the structure and its symmetry are inconsistent")
        return candidates[np.arange(len(q)), ok.argmax(axis=1)].reshape(shape)


def permutations(matcher: PositionMatcher, rotations: np.ndarray, translations: np.ndarray
                 ) -> np.ndarray:
    """``perm[s, i]``: the atom that operation s sends atom i to. Shape (n_ops, n)."""
    frac = matcher.crystal.frac_positions
    images = np.einsum("sab,nb->sna", rotations, frac) + translations[:, None, :]
    numbers = np.broadcast_to(matcher.crystal.numbers, images.shape[:-1])
    return matcher.match(images, numbers)


def inversion_permutation(group: SpaceGroup, matcher: PositionMatcher) -> np.ndarray | None:
    """``perm[i]``: the atom that the first inversion (W = −1) of the group sends atom i
    to, or None for a group without inversion."""
    inversions = np.flatnonzero((group.rotations == -np.eye(3, dtype=np.int64)).all(axis=(1, 2)))
    if len(inversions) == 0:
        return None
    k = inversions[:1]
    return permutations(matcher, group.rotations[k], group.translations[k])[0]


def site_symmetry(crystal: Crystal, group: SpaceGroup, atom: int, symprec: float = SYMPREC
                  ) -> np.ndarray:
    """Indices of the operations that leave ``atom`` in place (mod lattice), in spglib order."""
    x = crystal.frac_positions[atom]
    diff = x - (group.rotations @ x + group.translations)
    diff -= np.rint(diff)
    return np.flatnonzero(np.linalg.norm(diff @ crystal.lattice, axis=1) < symprec)


def point_group_rotations(crystal: Crystal, symprec: float = SYMPREC) -> np.ndarray:
    """Distinct rotations of the crystal's space group (fractional, in its own basis)."""
    rots = space_group(crystal, symprec).rotations
    return np.unique(rots.reshape(len(rots), 9), axis=0).reshape(-1, 3, 3)
