"""Harmonic force constants from a type-1 finite-displacement dataset (JAX).

Pure ``jnp`` functions of the forces and the material's ``FCTables``
(``phonjax.harmonic.tables``; ``prepare`` builds them on the host). The algorithm is phonopy's "traditional" finite-difference solver:

1. solve: for each displaced atom d, stack its displacements u and the forces
   F rotated by every site-symmetry operation R of d (the atoms permuted
   accordingly), and take Φ(d, j) = −pinv(U)·F(j);
2. distribute: every other row follows from a solved one by a space-group
   operation, Φ(i, j) = Rᵀ Φ(d, perm(j)) R;
3. symmetrize like ``Phonopy.symmetrize_force_constants()``: translational
   drift removed along columns then rows, index-permutation symmetry imposed,
   and the self terms reset by the acoustic sum rule.

Index convention (phonopy's): ``fc[i, j, a, b]`` in eV/Å², a the direction of
the displacement of atom i, b the direction of the force on atom j.
Padding atoms (``atom_mask`` False) carry zero rows and columns.
"""

from __future__ import annotations

import jax.numpy as jnp

from phonjax.harmonic.tables import FCTables


def drift_free(forces: jnp.ndarray, atom_mask: jnp.ndarray) -> jnp.ndarray:
    """Remove the mean force of each supercell (n_disp, N, 3) over its real atoms."""
    n = atom_mask.sum()
    mean = (forces * atom_mask[None, :, None]).sum(axis=1, keepdims=True) / n
    return (forces - mean) * atom_mask[None, :, None]


def solve_rows(forces, tables: FCTables):
    """Rows Φ(d, :) of the displaced atoms: (nd, N, 3, 3) eV/Å².

    forces (n_disp, N, 3) eV/Å. For each displaced atom d the forces of its
    (displacement, site operation) pairs k are gathered (``solve_disp_index``,
    ``solve_atom_map``), rotated (``solve_rotations``) and contracted with
    pinv(U_d) (``solve_u_pinv``, computed by ``prepare`` on the host: it does not
    depend on forces, which also keeps an SVD out of the compiled graph).
    """
    f = forces[tables.solve_disp_index[..., None], tables.solve_atom_map]  # (nd, K, N, 3)
    f = jnp.einsum("dkab,dkjb->dkja", tables.solve_rotations, f)
    f = f * tables.solve_op_mask[..., None, None]
    return -jnp.einsum("dak,dkjb->djab", tables.solve_u_pinv, f)


def distribute_rows(rows, tables: FCTables):
    """Full force constants (N, N, 3, 3) from the solved rows (nd, N, 3, 3):
    Φ(i, j) = Rᵢᵀ Φ(source_i, perm[i, j]) Rᵢ (``dist_source``, ``dist_perm``,
    ``dist_rotations``)."""
    gathered = rows[tables.dist_source[:, None], tables.dist_perm]  # (N, N, 3, 3)
    r = tables.dist_rotations
    return jnp.einsum("iba,ijbc,icd->ijad", r, gathered, r)


def symmetrize(fc, atom_mask):
    """phonopy's translational + permutation symmetrization of full force constants
    (``symmetrize_force_constants()``, one pass): column and row drift removed over
    the real atoms, Φ(i, j) = Φ(j, i)ᵀ imposed, self terms reset by the acoustic sum rule."""
    m = atom_mask.astype(fc.dtype)
    n = m.sum()
    pair = m[:, None, None, None] * m[None, :, None, None]
    fc = fc - (fc.sum(axis=0, keepdims=True) / n) * pair  # column drift
    fc = fc - (fc.sum(axis=1, keepdims=True) / n) * pair  # row drift
    fc = 0.5 * (fc + jnp.transpose(fc, (1, 0, 3, 2)))
    eye = jnp.eye(fc.shape[0], dtype=bool)[:, :, None, None]
    off = jnp.where(eye, 0.0, fc).sum(axis=1)  # (N, 3, 3)
    self_terms = -0.5 * (off + jnp.transpose(off, (0, 2, 1)))
    return jnp.where(eye, self_terms[:, None] * m[:, None, None, None], fc)


def force_constants(forces, tables: FCTables, *, subtract_drift: bool = False):
    """Full, symmetrized force constants (N, N, 3, 3) eV/Å² of one material.

    forces (n_disp, N, 3) eV/Å on the displaced supercells of ``tables`` (padded
    atoms and displacements allowed: their rows are masked out). Linear in the
    forces, so differentiable in them (and through them in anything they depend on).
    """
    mask = tables.atom_mask
    if subtract_drift:
        forces = drift_free(forces, mask)
    fc = distribute_rows(solve_rows(forces, tables), tables)
    return symmetrize(fc * (mask[:, None] * mask[None, :])[..., None, None], mask)


def acoustic_sum_rule_error(fc) -> jnp.ndarray:
    """Largest |Σ_j Φ(i, j)| (eV/Å²): zero for translationally invariant force constants."""
    return jnp.abs(fc.sum(axis=1)).max()


