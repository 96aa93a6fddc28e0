"""The cells of a phonon calculation, chosen and explained: symmetry, primitive cell, supercell.

* ``symmetry_of``: space group (spglib) of a cell at a tolerance, as reported before and after
  relaxation.
* ``symmetrized``: the cell snapped to the symmetry spglib finds at a looser tolerance (ASE's
  ``refine_symmetry``), when that symmetry is higher than at phonopy's 1e-5 Å: files with
  rounded coordinates otherwise come out P1, with 3N displacements and no mesh reduction.
* ``choose_primitive``: the primitive matrix P (primitive rows = Pᵀ·unit-cell rows, phonopy's
  convention), found as phonopy's ``primitive_matrix="auto"`` finds it (spglib's centring and
  transformation), or given. Never guessed silently: the choice says what was found.
* ``choose_supercell``: S (supercell rows = Sᵀ·unit-cell rows) from a minimum length: diagonal
  multiples n_i = ⌈L/|a_i|⌉ of the *conventional* cell (spglib), so that centred lattices get
  near-cubic supercells (matcalc and quacc use the same rule on the input cell), or given.
  The choice reports the atom count and the shortest distance between periodic images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from phonjax.crystal import Crystal, CrystalError
from phonjax.prepare import refuse_large_supercell
from phonjax.resources import DEFAULT_MEMORY_BYTES, ResourceError

_CRYSTAL_SYSTEMS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"),
                    (142, "tetragonal"), (167, "trigonal"), (194, "hexagonal"), (230, "cubic"))


# what to change when a supercell is refused, by how S was chosen (``CellChoice.supercell_how``)
SUPERCELL_ADVICE = {
    "given": "give a smaller --supercell (supercell_matrix) or raise the bound (--memory-gb)",
    "from the force-set file": "raise the bound (--memory-gb), or give a --model and a "
                               "smaller --supercell (the file's forces fix its own)",
    "length": "use a smaller --min-length (min_length_A) or --supercell, or raise the bound "
              "(--memory-gb)",
}


@dataclass(frozen=True)
class SymmetryInfo:
    number: int
    international: str
    tolerance_A: float
    n_operations: int

    @property
    def crystal_system(self) -> str:
        return next(name for top, name in _CRYSTAL_SYSTEMS if self.number <= top)

    def __str__(self) -> str:
        return f"{self.international} (#{self.number}, {self.n_operations} operations)"


def symmetry_of(crystal: Crystal, tolerance_A: float = 1e-5) -> SymmetryInfo:
    import spglib

    ds = spglib.get_symmetry_dataset(crystal.spglib_cell(), symprec=tolerance_A)
    if ds is None:
        raise CrystalError(f"spglib found no symmetry at {tolerance_A:g} Å: "
                           f"{spglib.get_error_message()}")
    return SymmetryInfo(int(ds.number), str(ds.international), float(tolerance_A),
                        len(ds.rotations))


def symmetrized(crystal: Crystal, tolerance_A: float, symprec: float = 1e-5
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


@dataclass(frozen=True)
class CellChoice:
    """P and S relative to the unit cell, and how they were chosen (for the report)."""

    primitive_matrix: np.ndarray  # (3, 3) float
    supercell_matrix: np.ndarray  # (3, 3) int
    primitive_how: str
    supercell_how: str
    n_primitive: int
    n_supercell: int
    min_image_distance_A: float  # shortest nonzero supercell lattice vector

    def to_dict(self) -> dict:
        return {"primitive_matrix": np.round(self.primitive_matrix, 12).tolist(),
                "supercell_matrix": self.supercell_matrix.tolist(),
                "primitive": self.primitive_how, "supercell": self.supercell_how,
                "n_primitive": self.n_primitive, "n_supercell": self.n_supercell,
                "min_image_distance_A": self.min_image_distance_A}


def _dataset(crystal: Crystal, symprec: float):
    import spglib

    ds = spglib.get_symmetry_dataset(crystal.spglib_cell(), symprec=symprec)
    if ds is None:
        raise CrystalError(f"spglib found no symmetry: {spglib.get_error_message()}")
    return ds


def auto_primitive_matrix(crystal: Crystal, symprec: float = 1e-5) -> tuple[np.ndarray, str]:
    """phonopy's ``primitive_matrix="auto"`` (``guess_primitive_matrix``) and what it found."""
    from phonopy.structure.atoms import PhonopyAtoms
    from phonopy.structure.cells import guess_primitive_matrix

    cell = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    pmat = np.asarray(guess_primitive_matrix(cell, symprec=symprec), float)
    ds = _dataset(crystal, symprec)
    ratio = int(round(1 / abs(np.linalg.det(pmat))))
    centring = str(ds.international)[0]
    what = ("the unit cell is primitive" if ratio == 1 else
            f"{centring}-centred lattice: the primitive cell is 1/{ratio} of the unit cell")
    return pmat, f"found by spglib ({ds.international}, #{ds.number}): {what}"


def _conventional_multiples(crystal: Crystal, symprec: float) -> np.ndarray | None:
    """M with conventional rows = Mᵀ·unit-cell rows (integer), or None when the unit cell is
    not a sublattice-compatible cell of the conventional one (e.g. a supercell of it)."""
    ds = _dataset(crystal, symprec)
    m = np.linalg.inv(np.asarray(ds.transformation_matrix, float))
    m_int = np.rint(m)
    if np.abs(m - m_int).max() > 1e-6 or round(np.linalg.det(m_int)) <= 0:
        return None
    return m_int.astype(np.int64)


def min_image_distance(lattice: np.ndarray) -> float:
    """Shortest nonzero lattice vector (Å), over a Niggli-reduced basis."""
    import spglib

    reduced = spglib.niggli_reduce(np.asarray(lattice, float))
    basis = np.asarray(reduced if reduced is not None else lattice, float)
    n = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    n = n[np.abs(n).sum(axis=1) > 0]
    return float(np.linalg.norm(n @ basis, axis=1).min())


def supercell_for_length(crystal: Crystal, min_length_A: float, symprec: float = 1e-5
                         ) -> tuple[np.ndarray, str]:
    """S whose conventional-cell multiples have every lattice vector ≥ ``min_length_A``."""
    conv = _conventional_multiples(crystal, symprec)
    base, label = (conv, "conventional cell") if conv is not None else (
        np.eye(3, dtype=np.int64), "unit cell")
    lengths = np.linalg.norm(base.T @ crystal.lattice, axis=1)
    n = np.array([max(1, math.ceil(min_length_A / length - 1e-9)) for length in lengths])
    smat = base @ np.diag(n)
    return smat.astype(np.int64), (f"{'×'.join(map(str, n))} {label} for lattice vectors ≥ "
                                   f"{min_length_A:g} Å")


def choose_cells(crystal: Crystal, settings, file_matrices: tuple | None = None, *,
                 memory_bytes: float = DEFAULT_MEMORY_BYTES, name: str = "crystal"
                 ) -> CellChoice:
    """P and S for ``crystal`` under ``settings`` (``WorkflowSettings``); a supercell that
    would need more than ``memory_bytes`` (``resources.supercell_bytes``) raises
    ``ResourceError`` naming ``name``, before anything is built. ``file_matrices``
    (P, S) of a force-set file are the defaults ("auto" P, no S given) when present;
    (P, S, rule): ``rule`` says how the file's reader chose P (``PhononDataset.
    primitive_matrix_rule``: from the file, or phonopy.load's "auto")."""
    symprec = settings.symprec
    p = settings.primitive_matrix
    if isinstance(p, str) and p == "auto" and file_matrices is not None:
        rule = file_matrices[2] if len(file_matrices) > 2 else None
        pmat = np.asarray(file_matrices[0], float)
        p_how = "from the force-set file" + (f": {rule}" if rule else "")
    elif isinstance(p, str) and p in ("auto", "spglib"):
        pmat, p_how = auto_primitive_matrix(crystal, symprec)
    elif isinstance(p, str):  # "unitcell"
        pmat, p_how = np.eye(3), "the unit cell as given (primitive_matrix='unitcell')"
    else:
        pmat, p_how = np.asarray(p, float), "given"
    if settings.supercell_matrix is not None:
        smat, s_how = np.asarray(settings.supercell_matrix, np.int64), "given"
    elif file_matrices is not None:
        smat, s_how = np.asarray(file_matrices[1], np.int64), "from the force-set file"
    else:
        try:
            smat, s_how = supercell_for_length(crystal, settings.min_length_A, symprec)
        except OverflowError:  # a multiple beyond int64: no bound could hold it
            raise ResourceError(f"{name}: lattice vectors ≥ {settings.min_length_A:g} Å need "
                                "more than 2⁶³ cells along an axis; use a smaller --min-length "
                                "(min_length_A)") from None
    refuse_large_supercell(name, crystal.n_atoms, smat, pmat, memory_bytes,
                           SUPERCELL_ADVICE.get(s_how, SUPERCELL_ADVICE["length"]))
    return cell_choice(crystal, pmat, smat, p_how, s_how)


def cell_choice(crystal: Crystal, pmat, smat, p_how: str, s_how: str) -> CellChoice:
    """A ``CellChoice`` for explicit P and S (checked: inv(P)·S integer)."""
    pmat, smat = np.asarray(pmat, float), np.asarray(smat, np.int64)
    m = np.linalg.inv(pmat) @ smat
    if np.abs(m - np.rint(m)).max() > 1e-6:
        raise CrystalError(f"supercell matrix {smat.tolist()} is not a supercell of the primitive "
                           f"cell (inv(P)·S = {np.round(m, 4).tolist()} is not integer)")
    det_s = int(round(np.linalg.det(smat)))
    n_p = int(round(crystal.n_atoms * abs(np.linalg.det(pmat))))
    return CellChoice(pmat, smat, p_how, s_how, n_p, crystal.n_atoms * det_s,
                      min_image_distance(smat.T @ crystal.lattice))
