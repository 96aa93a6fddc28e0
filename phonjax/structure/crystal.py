"""A periodic crystal: lattice, fractional positions, species and masses.

The one structure type of the host side. Lattice vectors are rows (Å), as in
phonopy and ASE. Masses are in AMU and travel with the atoms, because phonopy
takes them from its input files; ``from_ase``/``from_pymatgen`` use those
packages' standard masses unless ``masses`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from phonjax.structure.elements import NUMBERS, SYMBOLS, standard_masses


class CrystalError(ValueError):
    """A crystal, supercell or primitive description that cannot be used."""


@dataclass(frozen=True, eq=False)
class Crystal:
    lattice: np.ndarray  # (3, 3) Å, rows are lattice vectors
    frac_positions: np.ndarray  # (n, 3) fractional coordinates
    numbers: np.ndarray  # (n,) atomic numbers
    masses: np.ndarray = field(default=None)  # (n,) AMU

    def __post_init__(self):
        lattice = np.array(self.lattice, dtype=float)
        frac = np.array(self.frac_positions, dtype=float)
        numbers = np.array(self.numbers).astype(np.int64)
        if lattice.shape != (3, 3):
            raise CrystalError(f"lattice must have shape (3, 3), got {lattice.shape}")
        if frac.ndim != 2 or frac.shape[1] != 3:
            raise CrystalError(f"positions must have shape (n, 3), got {frac.shape}")
        if numbers.shape != (len(frac),):
            raise CrystalError(f"{len(frac)} positions but {numbers.size} species")
        if len(frac) == 0:
            raise CrystalError("a crystal needs at least one atom")
        if not (np.isfinite(lattice).all() and np.isfinite(frac).all()):
            raise CrystalError("lattice and positions must be finite numbers")
        volume = abs(np.linalg.det(lattice))
        if volume < 1e-6 * max(1.0, np.abs(lattice).max()) ** 3:
            raise CrystalError(
                f"lattice is singular (volume {volume:.3g} Å^3): not a periodic 3D cell"
            )
        bad = numbers[(numbers < 1) | (numbers >= len(SYMBOLS))]
        if bad.size:
            raise CrystalError(f"unknown atomic number(s) {sorted(set(bad.tolist()))}")
        masses = standard_masses(numbers) if self.masses is None else np.array(self.masses, float)
        if masses.shape != numbers.shape or not (np.isfinite(masses).all() and (masses > 0).all()):
            raise CrystalError("masses must be positive, one per atom")
        for name, value in (("lattice", lattice), ("frac_positions", frac),
                            ("numbers", numbers), ("masses", masses)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def symbols(self) -> list[str]:
        return [SYMBOLS[z] for z in self.numbers]

    @property
    def positions(self) -> np.ndarray:
        """Cartesian positions (Å)."""
        return self.frac_positions @ self.lattice

    @property
    def volume(self) -> float:
        """Cell volume (Å^3)."""
        return float(abs(np.linalg.det(self.lattice)))

    def spglib_cell(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (self.lattice, self.frac_positions, self.numbers)

    @classmethod
    def from_symbols(cls, lattice, frac_positions, symbols, masses=None) -> "Crystal":
        numbers = []
        for s in symbols:
            if s not in NUMBERS or s == "X":
                raise CrystalError(f"unknown element symbol {s!r}")
            numbers.append(NUMBERS[s])
        return cls(lattice, frac_positions, numbers, masses)

    @classmethod
    def from_ase(cls, atoms, masses=None) -> "Crystal":
        if not np.all(atoms.pbc):
            raise CrystalError(f"ASE Atoms must be periodic in all directions, pbc={atoms.pbc}")
        m = atoms.get_masses() if masses is None else masses
        return cls(atoms.cell.array, atoms.get_scaled_positions(wrap=False), atoms.numbers, m)

    @classmethod
    def from_pymatgen(cls, structure, masses=None) -> "Crystal":
        if not structure.is_ordered:
            raise CrystalError("disordered pymatgen structures are not supported")
        numbers = [site.specie.Z for site in structure]
        return cls(structure.lattice.matrix, structure.frac_coords, numbers, masses)

    def to_ase(self):
        from ase import Atoms

        return Atoms(numbers=self.numbers, cell=self.lattice, scaled_positions=self.frac_positions,
                     masses=self.masses, pbc=True)
