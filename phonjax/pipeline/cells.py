"""The cells of a phonon calculation, chosen and explained: symmetry, primitive cell, supercell.

The space group itself (``symmetry_of``, spglib's dataset, the tolerance ``SYMPREC``, the
input snapped to a looser tolerance by ``symmetrized``) is ``phonjax.structure.symmetry``'s.

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

from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.structure.symmetry import (SYMPREC, SymmetryInfo, auto_primitive_matrix, spglib_dataset,
                                       symmetry_of)
from phonjax.harmonic.system import refuse_large_supercell
from phonjax.resources import DEFAULT_MEMORY_BYTES, ResourceError


# what to change when a supercell is refused, by how S was chosen (``CellChoice.supercell_how``)
SUPERCELL_ADVICE = {
    "given": "give a smaller --supercell (supercell_matrix) or raise the bound (--memory-gb)",
    "from the force-set file": "raise the bound (--memory-gb), or give a --model and a "
                               "smaller --supercell (the file's forces fix its own)",
    "length": "use a smaller --min-length (min_length_A) or --supercell, or raise the bound "
              "(--memory-gb)",
}


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


def _conventional_multiples(crystal: Crystal, symprec: float) -> np.ndarray | None:
    """M with conventional rows = Mᵀ·unit-cell rows (integer), or None when the unit cell is
    not a sublattice-compatible cell of the conventional one (e.g. a supercell of it)."""
    ds = spglib_dataset(crystal, symprec)
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


def supercell_for_length(crystal: Crystal, min_length_A: float, symprec: float = SYMPREC
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
