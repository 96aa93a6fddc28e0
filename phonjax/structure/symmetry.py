"""Space-group symmetry of a cell (spglib) and the atom maps phonopy derives from it.

Every symmetry search of phonjax goes through ``spglib_dataset``, at the one tolerance
``SYMPREC`` (phonopy's 1e-5 Å) unless a caller's settings pass their own ``symprec``.
``crystal_system`` names the system of a space-group number (``CRYSTAL_SYSTEMS`` in order).
``symmetrized`` snaps a cell to the symmetry spglib finds at a looser tolerance (ASE's
``refine_symmetry``) when that symmetry is higher than at ``symprec``: files with rounded
coordinates otherwise come out P1, with 3N displacements and no mesh reduction.

Operations act on fractional coordinates, ``x' = W·x + t``, in spglib's order,
which matters: phonopy picks "the first operation that …" in several places.
A permutation ``perm[i] = j`` means operation maps atom i onto atom j.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib

from phonjax.structure.crystal import Crystal, CrystalError

SYMPREC = 1e-5  # Å, phonopy's default tolerance everywhere

CRYSTAL_SYSTEMS = ("triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal",
                   "hexagonal", "cubic")
_LAST_NUMBERS = (2, 15, 74, 142, 167, 194, 230)  # the last space group of each system


def crystal_system(number: int) -> str:
    """The crystal system of space group ``number`` (1–230)."""
    return next(name for top, name in zip(_LAST_NUMBERS, CRYSTAL_SYSTEMS) if number <= top)


def spglib_dataset(crystal, symprec: float = SYMPREC, *, required: bool = True):
    """spglib's symmetry dataset of ``crystal`` (a ``Crystal``, or spglib's
    ``(lattice, positions, numbers)``) at ``symprec`` Å. When spglib finds none: a
    one-line ``CrystalError`` or, with ``required=False``, None."""
    cell = crystal.spglib_cell() if isinstance(crystal, Crystal) else crystal
    ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
    if ds is None and required:
        raise CrystalError(f"spglib found no symmetry at {symprec:g} Å: "
                           f"{spglib.get_error_message()}")
    return ds


@dataclass(frozen=True)
class SymmetryInfo:
    """The space group of a cell at a tolerance, as reported before and after relaxation."""

    number: int
    international: str
    tolerance_A: float
    n_operations: int

    @property
    def crystal_system(self) -> str:
        return crystal_system(self.number)

    def __str__(self) -> str:
        return f"{self.international} (#{self.number}, {self.n_operations} operations)"


def symmetry_of(crystal: Crystal, tolerance_A: float = SYMPREC) -> SymmetryInfo:
    ds = spglib_dataset(crystal, tolerance_A)
    return SymmetryInfo(int(ds.number), str(ds.international), float(tolerance_A),
                        len(ds.rotations))


@dataclass(frozen=True, eq=False)
class SpaceGroup:
    rotations: np.ndarray  # (n_ops, 3, 3) int, fractional
    translations: np.ndarray  # (n_ops, 3) fractional
    equivalent_atoms: np.ndarray  # (n,) lowest-index representative of each orbit
    number: int
    international: str


def space_group(crystal: Crystal, symprec: float = SYMPREC) -> SpaceGroup:
    ds = spglib_dataset(crystal, symprec)
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
    _OWN = np.zeros((1, 3), dtype=np.int64)

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
        """Index of the atom at each position; raises if a position has no atom.

        The position's own cell is searched first, its 26 neighbours only for positions
        with no atom there (near a cell's face): a 27th of the work for most positions.
        Atoms are farther apart than twice the tolerance, so the atom found is the same."""
        frac = np.asarray(frac, float)
        shape = frac.shape[:-1]
        q = frac.reshape(-1, 3)
        wanted = None if numbers is None else np.asarray(numbers).reshape(-1)
        found = self._search(q, wanted, self._OWN)
        rest = np.flatnonzero(found < 0)
        if len(rest):
            found[rest] = self._search(q[rest], None if wanted is None else wanted[rest],
                                       self._NEIGHBOURS)
        if (found < 0).any():
            raise CrystalError("a symmetry operation maps an atom onto no atom of the same species; "
                               "the structure and its symmetry are inconsistent")
        return found.reshape(shape)

    def _search(self, q: np.ndarray, numbers: np.ndarray | None, offsets: np.ndarray
                ) -> np.ndarray:
        """(Q,) index of the atom within the tolerance of each position q (Q, 3) among the
        cells at ``offsets`` (k, 3) from its own, −1 where there is none."""
        neighbour_keys = self._keys(self._cells(q)[:, None, :] + offsets[None])  # (Q, k)
        start = np.searchsorted(self._sorted_keys, neighbour_keys, "left")
        end = np.searchsorted(self._sorted_keys, neighbour_keys, "right")
        slot = start[..., None] + np.arange(self._occupancy)  # (Q, k, occupancy)
        valid = slot < end[..., None]
        candidates = self._order[np.minimum(slot, len(self._order) - 1)].reshape(len(q), -1)
        diff = self.crystal.frac_positions[candidates] - q[:, None, :]
        diff -= np.rint(diff)
        dist = np.sqrt(((diff @ self.crystal.lattice) ** 2).sum(-1))
        ok = valid.reshape(len(q), -1) & (dist < self.symprec)
        if numbers is not None:
            ok &= self.crystal.numbers[candidates] == numbers.reshape(-1, 1)
        return np.where(ok.any(axis=1), candidates[np.arange(len(q)), ok.argmax(axis=1)], -1)


def permutations(matcher: PositionMatcher, rotations: np.ndarray, translations: np.ndarray
                 ) -> np.ndarray:
    """``perm[s, i]``: the atom that operation s sends atom i to. Shape (n_ops, n)."""
    frac = matcher.crystal.frac_positions
    images = np.einsum("sab,nb->sna", rotations, frac) + translations[:, None, :]
    numbers = np.broadcast_to(matcher.crystal.numbers, images.shape[:-1])
    return matcher.match(images, numbers)


def group_permutations(matcher: PositionMatcher, rotations: np.ndarray,
                       translations: np.ndarray, chunk_positions: int | None = None) -> np.ndarray:
    """``permutations`` of a whole space group (n_ops, n), by its cosets: operations
    that share a rotation differ by a pure translation d = τ_s − τ_r, so that
    perm_s = perm_d ∘ perm_r. The matcher then places (n_rotations + n_translations)·n
    positions instead of n_ops·n: for a 512-atom rocksalt supercell (12,288 operations,
    48 rotations, 256 translations) 40× fewer. The same atoms as ``permutations``.
    Any list of operations serves (a subset of a group too). ``chunk_positions``: at most
    that many positions per matcher call (its work arrays take ~2.7 kB per position)."""
    if chunk_positions is not None:
        per_call = max(1, chunk_positions // max(1, len(matcher.crystal.frac_positions)))

        def place(r, t):
            return np.concatenate([permutations(matcher, r[i:i + per_call], t[i:i + per_call])
                                   for i in range(0, len(r), per_call)])
    else:
        def place(r, t):
            return permutations(matcher, r, t)
    rotations = np.asarray(rotations)
    translations = np.asarray(translations, float)
    _, first, rot_of = np.unique(rotations.reshape(len(rotations), 9), axis=0,
                                 return_index=True, return_inverse=True)
    rot_of = rot_of.reshape(-1)
    if len(first) == len(rotations):
        return place(rotations, translations)
    base = place(rotations[first], translations[first])  # (n_r, n)
    shifts = translations - translations[first][rot_of]
    shifts -= np.floor(shifts + 1e-9)  # in [0, 1): equal translations, equal keys
    keys = np.rint(shifts * 1e6).astype(np.int64) % 1_000_000
    _, d_first, d_of = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    d_of = d_of.reshape(-1)
    unit = np.broadcast_to(np.eye(3, dtype=rotations.dtype), (len(d_first), 3, 3))
    moved = place(unit, shifts[d_first])  # (n_d, n)
    return np.take_along_axis(moved[d_of], base[rot_of], axis=1)


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


def symmetrized(crystal: Crystal, tolerance_A: float, symprec: float = SYMPREC
                ) -> tuple[Crystal, SymmetryInfo, SymmetryInfo | None]:
    """(cell, symmetry at ``symprec`` before, symmetry at ``symprec`` after or None when the
    cell was left as it was): snapped only when the looser tolerance finds more operations."""
    strict = symmetry_of(crystal, symprec)
    loose = symmetry_of(crystal, tolerance_A)
    if loose.n_operations <= strict.n_operations:
        return crystal, strict, None
    from ase.spacegroup.symmetrize import refine_symmetry

    atoms = crystal.to_ase()
    refine_symmetry(atoms, symprec=tolerance_A)
    out = Crystal(atoms.cell.array, atoms.get_scaled_positions(wrap=False), crystal.numbers,
                  crystal.masses)
    return out, strict, symmetry_of(out, symprec)


def auto_primitive_matrix(crystal: Crystal, symprec: float = SYMPREC) -> tuple[np.ndarray, str]:
    """phonopy's ``primitive_matrix="auto"`` (``guess_primitive_matrix``) and what it found."""
    from phonopy.structure.atoms import PhonopyAtoms
    from phonopy.structure.cells import guess_primitive_matrix

    cell = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    pmat = np.asarray(guess_primitive_matrix(cell, symprec=symprec), float)
    ds = spglib_dataset(crystal, symprec)
    ratio = int(round(1 / abs(np.linalg.det(pmat))))
    centring = str(ds.international)[0]
    what = ("the unit cell is primitive" if ratio == 1 else
            f"{centring}-centred lattice: the primitive cell is 1/{ratio} of the unit cell")
    return pmat, f"found by spglib ({ds.international}, #{ds.number}): {what}"
