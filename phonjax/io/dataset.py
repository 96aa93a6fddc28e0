"""A finite-displacement phonon dataset: what one input file holds.

Everything phonjax needs to reproduce a phonopy calculation: the unit cell, the
supercell matrix S (integer; supercell lattice rows = Sᵀ·unit-cell rows, as in
phonopy), the primitive matrix P (relative to the unit cell), and a type-1
displacement dataset (one displaced atom per supercell) with forces when they
are known. Alexandria benchmark files also carry reference results, kept in
``reference``. A polar crystal's Born charges and ε∞ (a BORN file, or the
``nac`` section of a phonopy yaml) are kept in ``nac`` (``phonjax.harmonic.nac.NACParams``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.harmonic.nac import NACParams


MIN_DISPLACEMENT_A = 1e-6  # shorter displacements carry no usable force differences


class DatasetError(ValueError):
    """An input dataset that cannot be used, with the reason."""


@dataclass(eq=False)
class PhononDataset:
    id: str
    unitcell: Crystal
    supercell_matrix: np.ndarray  # (3, 3) int
    primitive_matrix: np.ndarray  # (3, 3) float, relative to the unit cell
    displaced_atoms: np.ndarray | None = None  # (n_disp,) supercell atom index, 0-based
    displacements: np.ndarray | None = None  # (n_disp, 3) Å, Cartesian
    forces: np.ndarray | None = None  # (n_disp, n_supercell, 3) eV/Å
    energy_eV: float | None = None  # total energy of the unit cell, if the file has one
    reference: dict[str, Any] = field(default_factory=dict)
    source: str | None = None
    nac: NACParams | None = None  # non-analytical correction parameters, if the files have them
    # how primitive_matrix was chosen, for a dataset read from a file: readers.PRIMITIVE_FROM_FILE
    # or readers.PRIMITIVE_AUTO (phonopy.load's rule); None for one built otherwise
    primitive_matrix_rule: str | None = None
    # a type-2 dataset (every atom displaced, e.g. random displacements): (n, N, 3) Å, with
    # forces (n, N, 3); then displaced_atoms and displacements are None
    displacement_fields: np.ndarray | None = None

    def __post_init__(self):
        self.supercell_matrix = checked_supercell_matrix(self.supercell_matrix)
        self.primitive_matrix = checked_primitive_matrix(self.primitive_matrix)
        n_super = self.unitcell.n_atoms * int(round(abs(np.linalg.det(self.supercell_matrix))))
        if self.displacements is not None:
            self.displaced_atoms = np.asarray(self.displaced_atoms, np.int64)
            self.displacements = np.asarray(self.displacements, float).reshape(-1, 3)
            if self.displaced_atoms.shape != (len(self.displacements),):
                raise DatasetError("one displaced atom index is needed per displacement")
            if ((self.displaced_atoms < 0) | (self.displaced_atoms >= n_super)).any():
                raise DatasetError(f"displaced atom index outside the {n_super}-atom supercell")
            if not np.isfinite(self.displacements).all():
                raise DatasetError("displacements contain NaN or infinite values")
            lengths = np.linalg.norm(self.displacements, axis=1)
            short = np.flatnonzero(lengths < MIN_DISPLACEMENT_A)
            if len(short):  # the solve would silently drop it and give wrong force constants
                k = int(short[0])
                raise DatasetError(f"displacement {k + 1} (atom {self.displaced_atoms[k] + 1}) is "
                                   f"{lengths[k]:.3g} Å long; at least {MIN_DISPLACEMENT_A:g} Å "
                                   "is needed")
        if self.displacement_fields is not None:
            if self.displacements is not None:
                raise DatasetError("a dataset has one-atom (type-1) or whole-supercell (type-2) "
                                   "displacements, not both")
            fields = np.asarray(self.displacement_fields, float)
            if fields.ndim != 3 or fields.shape[1:] != (n_super, 3) or len(fields) == 0:
                raise DatasetError(f"type-2 displacements of shape {fields.shape}, expected "
                                   f"(snapshots, {n_super}, 3)")
            if not np.isfinite(fields).all():
                raise DatasetError("displacements contain NaN or infinite values")
            self.displacement_fields = fields
        if self.nac is not None:
            n_unit = self.unitcell.n_atoms
            n_p = int(round(n_unit * abs(np.linalg.det(self.primitive_matrix))))
            if len(self.nac.born) not in (n_p, n_unit):
                raise DatasetError(f"{len(self.nac.born)} Born charges, but the primitive cell has "
                                   f"{n_p} atoms (and the unit cell {n_unit})")
        if self.forces is not None:
            forces = np.asarray(self.forces, float)
            n = (len(self.displacement_fields) if self.displacement_fields is not None
                 else 0 if self.displacements is None else len(self.displacements))
            expected = (n, n_super, 3)
            if forces.shape != expected:
                raise DatasetError(f"forces have shape {forces.shape}, expected {expected} "
                                   "(displacements, supercell atoms, 3)")
            if not np.isfinite(forces).all():
                raise DatasetError("forces contain NaN or infinite values")
            self.forces = forces

    @property
    def n_supercell(self) -> int:
        return self.unitcell.n_atoms * int(round(abs(np.linalg.det(self.supercell_matrix))))

    @property
    def has_forces(self) -> bool:
        return self.forces is not None


def checked_supercell_matrix(matrix) -> np.ndarray:
    m = np.asarray(matrix, dtype=float)
    if m.shape == (3,):
        m = np.diag(m)
    if m.shape != (3, 3):
        raise DatasetError(f"supercell matrix must be 3x3 (or 3 diagonal values), got shape {m.shape}")
    if not np.allclose(m, np.rint(m), atol=1e-8):
        raise DatasetError(f"supercell matrix must be integer, got {m.tolist()}")
    if not (np.abs(m) < 2.0**31).all():  # far beyond any memory bound; int64 products stay exact
        raise DatasetError(f"supercell matrix entries must be below 2³¹ in size, got {m.tolist()}")
    m = np.rint(m).astype(np.int64)
    if round(np.linalg.det(m)) == 0:
        raise DatasetError(f"supercell matrix {m.tolist()} is not invertible (determinant 0)")
    if np.linalg.det(m) < 0:
        raise DatasetError(f"supercell matrix {m.tolist()} has a negative determinant (left-handed)")
    return m


def checked_primitive_matrix(matrix) -> np.ndarray:
    if matrix is None or isinstance(matrix, str):
        raise DatasetError(
            "an explicit 3x3 primitive matrix is required (phonjax never guesses one; "
            "use the identity for the unit cell)")
    m = np.asarray(matrix, dtype=float)
    if m.shape != (3, 3) or not np.isfinite(m).all():
        raise DatasetError(f"primitive matrix must be a finite 3x3 matrix, got shape {m.shape}")
    det = np.linalg.det(m)
    if abs(det) < 1e-8:
        raise DatasetError(f"primitive matrix {m.tolist()} is not invertible")
    if det < 0:
        raise DatasetError(f"primitive matrix {m.tolist()} has a negative determinant "
                           "(left-handed); give the right-handed one (e.g. its negative)")
    if abs(1 / det - round(1 / det)) > 1e-6:
        raise DatasetError(f"primitive matrix {m.tolist()} has determinant {det:.6g}; "
                           "1/det must be an integer")
    return m


def dataset_from_crystal(crystal: Crystal, supercell_matrix, primitive_matrix, id: str = "crystal"
                         ) -> PhononDataset:
    """A dataset with no displacements yet, e.g. for a uMLIP calculation."""
    if not isinstance(crystal, Crystal):
        try:
            crystal = Crystal.from_ase(crystal)
        except AttributeError:
            crystal = Crystal.from_pymatgen(crystal)
    return PhononDataset(id=id, unitcell=crystal, supercell_matrix=supercell_matrix,
                         primitive_matrix=primitive_matrix)


__all__ = ["PhononDataset", "DatasetError", "CrystalError", "dataset_from_crystal"]
