"""Force constants as phonopy's options leave them: unsymmetrized, compact.

``phonopy.load(..., symmetrize_fc=False)`` (``phonopy --no-sym-fc``): the type-1
finite-difference solve and distribution of ``phonjax.harmonic.force_constants``
(Φ(d, :) = −pinv(U_d)·F_d over the site symmetry of each displaced atom d, then
Φ(i, j) = Rᵀ Φ(d, perm(j)) R over the space group) without the final
``symmetrize_force_constants()`` (drift removed along columns and rows,
Φ(i, j) = Φ(j, i)ᵀ, self terms from the acoustic sum rule). Space-group symmetry holds
as in the symmetrized case; translational invariance and index permutation symmetry
hold only as far as the forces allow.

``is_compact_fc=True`` (phonopy.load's default): the rows of the primitive atoms only,
Φ_c(p, j) = Φ(p2s[p], j), shape (n_p, N, 3, 3). For unsymmetrized or symfc force
constants this is exactly phonopy's compact array. (phonopy symmetrizes a compact array
by its own compact scheme, ``symmetrize_compact_force_constants``, which is not the rows
of the symmetrized full array; ``phonopy.load`` by default uses the symfc projector for
it instead. Neither is reproduced here.)
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from phonjax.harmonic.force_constants import distribute_rows, drift_free, solve_rows
from phonjax.harmonic.system import HarmonicSystem


def unsymmetrized_force_constants(system: HarmonicSystem, forces, *,
                                  subtract_drift: bool = False) -> jnp.ndarray:
    """Full force constants (N, N, 3, 3) eV/Å² of ``system`` from ``forces`` (n_disp, N, 3)
    eV/Å on its displaced supercells, not symmetrized: phonopy's
    ``phonopy.load(..., symmetrize_fc=False, is_compact_fc=False)``. Linear in the forces
    (jnp, differentiable); ``subtract_drift`` as in ``force_constants``."""
    tables = system.tables.fc
    f = jnp.asarray(forces)
    expected = (len(tables.displacements), system.n_supercell, 3)
    if f.shape != expected:
        raise ValueError(f"forces have shape {tuple(f.shape)}, expected {expected} "
                         "(displacements, supercell atoms, 3)")
    mask = tables.atom_mask
    if subtract_drift:
        f = drift_free(f, mask)
    fc = distribute_rows(solve_rows(f, tables), tables)
    return fc * (mask[:, None] * mask[None, :])[..., None, None]


def compact_force_constants(force_constants, p2s) -> np.ndarray:
    """phonopy's compact force constants (n_p, N, 3, 3): the rows ``p2s`` (the supercell
    index of each primitive atom, ``system.primitive.p2s``) of full ones (N, N, 3, 3)."""
    fc = np.asarray(force_constants)
    p2s = np.asarray(p2s, np.int64).ravel()
    if fc.ndim != 4 or fc.shape[0] != fc.shape[1] or fc.shape[2:] != (3, 3):
        raise ValueError(f"full force constants (N, N, 3, 3) needed, got shape {fc.shape}")
    if ((p2s < 0) | (p2s >= fc.shape[0])).any():
        raise ValueError(f"p2s must be supercell indices 0..{fc.shape[0] - 1}")
    return fc[p2s]


__all__ = ["unsymmetrized_force_constants", "compact_force_constants"]
