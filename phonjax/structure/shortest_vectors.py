"""Shortest supercell vectors between atom pairs, as phonopy finds them.

For every supercell atom k and primitive atom i, all periodic images of the
vector r(k) − r(i) whose length is within ``symprec`` of the shortest one. The
search runs over the 65 lattice points {0, ±a, ±b, ±c, ±(a+b+c)} combinations
of the Niggli-reduced supercell, which is enough there (phonopy's
``ShortestPairs``). Vectors are returned in primitive fractional coordinates,
padded to the largest multiplicity with weight 0.
"""

from __future__ import annotations

import numpy as np
import spglib

from phonjax.structure.symmetry import SYMPREC
from phonjax.structure.crystal import CrystalError

_STEPS = np.array([(i, j, k, l) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
                   for l in (-1, 0, 1)])
_LATTICE_POINTS = np.unique(_STEPS @ np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, -1, -1]]),
                            axis=0)


def shortest_vectors(supercell_lattice: np.ndarray, supercell_frac: np.ndarray,
                     primitive_frac_in_supercell: np.ndarray, primitive_lattice: np.ndarray,
                     symprec: float = SYMPREC) -> tuple[np.ndarray, np.ndarray]:
    """Vectors (N, n_p, M_max, 3) in primitive fractional coordinates and multiplicities (N, n_p).

    ``primitive_frac_in_supercell``: positions of the primitive atoms (p2s) in
    supercell fractional coordinates.
    """
    reduced = spglib.niggli_reduce(supercell_lattice, eps=symprec)
    if reduced is None:
        raise CrystalError("Niggli reduction of the supercell failed")
    to_reduced_f = supercell_lattice @ np.linalg.inv(reduced)
    to_reduced = np.rint(to_reduced_f).astype(np.int64)
    if np.abs(to_reduced_f - to_reduced).max() > 1e-8:
        raise CrystalError("Niggli-reduced supercell is not an integer transform of the supercell")
    sc = supercell_frac @ to_reduced
    sc -= np.rint(sc)
    pr = primitive_frac_in_supercell @ to_reduced
    pr -= np.rint(pr)
    # (N, n_p, 65, 3) candidate images in reduced fractional coordinates
    images = sc[:, None, None, :] - pr[None, :, None, :] + _LATTICE_POINTS[None, None, :, :]
    lengths = np.linalg.norm(images @ reduced, axis=-1)
    keep = lengths - lengths.min(axis=-1, keepdims=True) < symprec
    multiplicity = keep.sum(axis=-1)
    m_max = int(multiplicity.max())
    order = np.argsort(~keep, axis=-1, kind="stable")[..., :m_max]
    chosen = np.take_along_axis(images, order[..., None], axis=2)
    valid = np.arange(m_max)[None, None, :] < multiplicity[..., None]
    to_primitive = np.rint(supercell_lattice @ np.linalg.inv(primitive_lattice))
    in_supercell = chosen @ np.rint(np.linalg.inv(to_reduced)).astype(np.int64)
    vectors = np.where(valid[..., None], in_supercell @ to_primitive, 0.0)
    return vectors, multiplicity
