"""Force constants cut off at a radius: Φ(i, j) = 0 for atoms farther apart than r.

phonopy's ``Phonopy.set_force_constants_zero_with_radius(r)`` (``phonopy
--cutoff-radius r``; ``phonopy.harmonic.force_constants.cutoff_force_constants``) on
finished force constants: with d(i, j) the length of the shortest periodic image of
x_j − x_i in the supercell (the first of phonopy's shortest vectors, Å),

    Φ(i, j) ← 0   where d(i, j) > r      (strictly greater: pairs at exactly r are kept).

Full force constants (N, N, 3, 3) use every atom as i; phonopy's compact ones
(n_p, N, 3, 3) use the primitive atoms p2s as i (the same distances: phonopy's
primitive shortest vectors are those of the supercell). Nothing is re-symmetrized: the
acoustic sum rule is generally broken afterwards, as in phonopy. (The other cutoff
phonopy offers, ``fc_calculator_options="cutoff = r"`` for symfc, restricts the fit's
basis instead: ``phonjax.harmonic.symfc_fit``.)
"""

from __future__ import annotations

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.structure.shortest_vectors import shortest_vectors
from phonjax.structure.symmetry import SYMPREC

_CHUNK_BYTES = 64 * 2**20  # the candidate images of one batch of rows (65 per pair)


def pair_distances(supercell: Crystal, rows=None, symprec: float = SYMPREC) -> np.ndarray:
    """Minimum-image distances (n_rows, N) Å from the supercell atoms ``rows`` (default:
    all) to every supercell atom, from phonjax's shortest vectors (phonopy's search)."""
    n = supercell.n_atoms
    rows = np.arange(n) if rows is None else np.asarray(rows, np.int64).ravel()
    if ((rows < 0) | (rows >= n)).any():
        raise ValueError(f"row atoms must be supercell indices 0..{n - 1}")
    per_batch = max(1, _CHUNK_BYTES // (n * 65 * 3 * 8 * 3))
    frac = supercell.frac_positions
    out = np.empty((len(rows), n))
    for start in range(0, len(rows), per_batch):
        batch = rows[start:start + per_batch]
        # the supercell as its own "primitive" cell: vectors in supercell fractional coordinates
        vectors, _ = shortest_vectors(supercell.lattice, frac, frac[batch], supercell.lattice,
                                      symprec)
        out[start:start + len(batch)] = np.linalg.norm(vectors[:, :, 0] @ supercell.lattice,
                                                       axis=-1).T
    return out


def zero_beyond_radius(force_constants, supercell: Crystal, cutoff_radius_A: float, *,
                       p2s=None, symprec: float = SYMPREC) -> np.ndarray:
    """A copy of ``force_constants`` with Φ(i, j) = 0 where d(i, j) > ``cutoff_radius_A``,
    equal to phonopy's ``set_force_constants_zero_with_radius``. Full (N, N, 3, 3) or
    compact (n_p, N, 3, 3) force constants; compact ones need ``p2s``, the supercell index of
    each row (``system.primitive.p2s``)."""
    fc = np.array(force_constants, dtype=float)
    n = supercell.n_atoms
    if fc.ndim != 4 or fc.shape[1:] != (n, 3, 3):
        raise ValueError(f"force constants must have shape (rows, {n}, 3, 3), got {fc.shape}")
    if not (np.isfinite(cutoff_radius_A) and cutoff_radius_A > 0):
        raise ValueError("cutoff_radius_A must be a positive number of Å, "
                         f"got {cutoff_radius_A!r}")
    if fc.shape[0] == n and p2s is None:
        rows = np.arange(n)
    elif p2s is None:
        raise ValueError(f"compact force constants ({fc.shape[0]} rows) need p2s, the supercell "
                         "atom of each row")
    else:
        rows = np.asarray(p2s, np.int64).ravel()
        if rows.shape != (fc.shape[0],):
            raise ValueError(f"p2s has {rows.size} atoms, the force constants {fc.shape[0]} rows")
    fc[pair_distances(supercell, rows, symprec) > cutoff_radius_A] = 0.0
    return fc


__all__ = ["pair_distances", "zero_beyond_radius"]
