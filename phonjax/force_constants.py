"""Harmonic force constants from a type-1 finite-displacement dataset (JAX).

Pure functions on (padded) arrays; ``prepare`` builds the index arrays on the
host. The algorithm is phonopy's "traditional" finite-difference solver:

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


def subtract_drift(forces: jnp.ndarray, atom_mask: jnp.ndarray) -> jnp.ndarray:
    """Remove the mean force of each supercell (n_disp, N, 3) over its real atoms."""
    n = atom_mask.sum()
    mean = (forces * atom_mask[None, :, None]).sum(axis=1, keepdims=True) / n
    return (forces - mean) * atom_mask[None, :, None]


def displacement_pinv(displacements, rotations, disp_index, op_mask):
    """pinv of the stacked, site-rotated displacements of each displaced atom: (n_d, 3, K)."""
    u = jnp.einsum("dkab,dkb->dka", rotations, displacements[disp_index]) * op_mask[..., None]
    return jnp.linalg.pinv(u)  # zero rows of u (padding) give zero columns


def solve_rows(forces, displacements, rotations, disp_index, atom_map, op_mask, u_pinv=None):
    """Rows Φ(d, :) of the displaced atoms: (n_d, N, 3, 3).

    forces (n_disp, N, 3); displacements (n_disp, 3) Å; for each displaced atom d
    and each (displacement, site operation) pair k: ``rotations`` (n_d, K, 3, 3)
    Cartesian, ``disp_index`` (n_d, K), ``atom_map`` (n_d, K, N) with
    ``atom_map[d, k, j]`` the atom whose force lands on j, ``op_mask`` (n_d, K).
    ``u_pinv``: ``displacement_pinv`` precomputed (it does not depend on forces;
    ``prepare`` computes it on the host, which also keeps SVD out of the compiled graph).
    """
    if u_pinv is None:
        u_pinv = displacement_pinv(displacements, rotations, disp_index, op_mask)
    f = forces[disp_index[..., None], atom_map]  # (n_d, K, N, 3)
    f = jnp.einsum("dkab,dkjb->dkja", rotations, f) * op_mask[..., None, None]
    return -jnp.einsum("dak,dkjb->djab", u_pinv, f)


def distribute_rows(rows, source, rotations, perm):
    """Full force constants (N, N, 3, 3) from solved rows.

    ``source`` (N,) the solved row each atom's row comes from, ``rotations``
    (N, 3, 3) Cartesian R, ``perm`` (N, N): Φ(i, j) = Rᵢᵀ Φ(source_i, perm[i, j]) Rᵢ.
    """
    gathered = rows[source[:, None], perm]  # (N, N, 3, 3)
    return jnp.einsum("iba,ijbc,icd->ijad", rotations, gathered, rotations)


def symmetrize(fc, atom_mask, level: int = 1):
    """phonopy's translational + permutation symmetrization of full force constants."""
    m = atom_mask.astype(fc.dtype)
    n = m.sum()
    pair = m[:, None, None, None] * m[None, :, None, None]
    for _ in range(level):
        fc = fc - (fc.sum(axis=0, keepdims=True) / n) * pair  # column drift
        fc = fc - (fc.sum(axis=1, keepdims=True) / n) * pair  # row drift
        fc = 0.5 * (fc + jnp.transpose(fc, (1, 0, 3, 2)))
    eye = jnp.eye(fc.shape[0], dtype=bool)[:, :, None, None]
    off = jnp.where(eye, 0.0, fc).sum(axis=1)  # (N, 3, 3)
    self_terms = -0.5 * (off + jnp.transpose(off, (0, 2, 1)))
    return jnp.where(eye, self_terms[:, None] * m[:, None, None, None], fc)


def force_constants(forces, displacements, solve, distribute, atom_mask, *,
                    drift: bool = False, symmetrize_fc: bool = True):
    """Full force constants (N, N, 3, 3) eV/Å² of one material from its forces.

    ``solve`` = (rotations, disp_index, atom_map, op_mask[, u_pinv]); ``distribute`` =
    (source, rotations, perm); see ``solve_rows`` and ``distribute_rows``.
    """
    if drift:
        forces = subtract_drift(forces, atom_mask)
    rows = solve_rows(forces, displacements, *solve)
    fc = distribute_rows(rows, *distribute) * (atom_mask[:, None] * atom_mask[None, :])[..., None, None]
    return symmetrize(fc, atom_mask) if symmetrize_fc else fc


def acoustic_sum_rule_error(fc) -> jnp.ndarray:
    """Largest |Σ_j Φ(i, j)| (eV/Å²): zero for translationally invariant force constants."""
    return jnp.abs(fc.sum(axis=1)).max()


