"""Regular q-point meshes, their irreducible parts, and commensurate q-points.

q-points are in reduced coordinates of the primitive reciprocal lattice
(no 2π), like phonopy. A mesh D = (D₀, D₁, D₂) has points q = (n + s/2)/D with
s = 1 on even axes and 0 on odd ones (Monkhorst–Pack, phonopy's default: a
20×20×20 mesh contains no Γ) unless ``gamma_centered``.

Irreducible reduction uses every rotation of the crystal's point group that
maps the (possibly shifted) grid onto itself, plus time reversal. phonopy 4
keeps time reversal only when any rotation breaks the shift; sums over the grid
are equal either way because frequencies are invariant under those rotations.

Given the primitive lattice, each representative is moved to its image q+G
closest to Γ, as phonopy's ``BZGrid`` does (same search, through phonors, the
code phonopy 4 itself calls). Eigenvalues are periodic in G only up to the
~1e-8 Å noise of the atom positions, and with many near-zero modes that noise
reaches F at ~1e-7 relative: the q-points must be phonopy's, not just
equivalent to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.structure.supercell import lattice_points_of


@dataclass(frozen=True, eq=False)
class QMesh:
    qpoints: np.ndarray  # (n_ir, 3) reduced coordinates
    weights: np.ndarray  # (n_ir,) int, summing to prod(mesh)
    mesh: tuple[int, int, int]
    shift: tuple[int, int, int]  # in half grid steps
    n_rotations: int  # size of the group used (time reversal included)


def mesh_shift(mesh, gamma_centered: bool = False) -> np.ndarray:
    mesh = np.asarray(mesh, np.int64)
    if gamma_centered:
        return np.zeros(3, np.int64)
    return (mesh % 2 == 0).astype(np.int64)


def brillouin_zone_addresses(mesh, shift, lattice: np.ndarray) -> np.ndarray:
    """(prod(mesh), 3) integer addresses a + D·m whose q = (2a + s)/(2D) is closest to Γ.

    ``lattice``: primitive lattice vectors as rows (Å). Grid point order is
    a₀ + D₀(a₁ + D₁a₂). On the zone surface the first image of phonopy's search
    in the Niggli-reduced reciprocal basis is taken, as phonopy's mesh does.
    """
    import phonors
    import spglib

    mesh = np.asarray(mesh, np.int64)
    reciprocal_rows = np.linalg.inv(np.asarray(lattice, float)).T
    reduced = spglib.niggli_reduce(reciprocal_rows, eps=1e-5)
    if reduced is None:
        raise ValueError("Niggli reduction of the reciprocal lattice failed")
    # reduced columns = columns · M with M = (reduced rows · rows⁻¹)ᵀ; a q-point's
    # coordinates go to the reduced basis by M⁻¹, which is what phonors wants, with columns
    to_reduced = np.rint(np.linalg.inv((reduced @ np.linalg.inv(reciprocal_rows)).T)).astype(np.int64)
    if abs(round(np.linalg.det(to_reduced))) != 1:
        raise ValueError("Niggli reduction gave a non-unimodular transformation")
    addresses, first_image, _ = phonors.bz_grid_addresses(
        mesh, np.ascontiguousarray(to_reduced), np.asarray(shift, np.int64),
        np.ascontiguousarray(np.asarray(reduced, float).T), 2)
    return np.asarray(addresses, np.int64)[np.asarray(first_image, np.int64)[:-1]]


def irreducible_mesh(mesh, reciprocal_rotations: np.ndarray | None = None,
                     gamma_centered: bool = False, lattice: np.ndarray | None = None,
                     time_reversal_fallback: bool = False) -> QMesh:
    """Irreducible q-points and integer weights of a regular mesh.

    ``reciprocal_rotations``: integer matrices R acting as q' = R q (the transposes
    of the real-space point-group rotations in the primitive basis). ``None``:
    no symmetry at all (every grid point, weight 1, no time reversal).
    ``lattice``: primitive lattice rows (Å); given, each q-point is its image
    closest to Γ (``brillouin_zone_addresses``), otherwise it lies in [0, 1).
    ``time_reversal_fallback``: where any rotation breaks the shifted grid, reduce
    by time reversal alone, as phonopy 4 does (its exact q-set; up to 2× the points).
    """
    mesh = np.asarray(mesh, np.int64).reshape(-1)
    if mesh.shape != (3,) or (mesh < 1).any():
        raise ValueError(f"mesh must be three positive integers, got {mesh.tolist()}")
    shift = mesh_shift(mesh, gamma_centered)
    grid = np.stack(np.meshgrid(*[np.arange(m) for m in mesh], indexing="ij"), -1).reshape(-1, 3)
    doubled = 2 * grid + shift  # 2·D·q, integer
    n_grid = len(grid)
    index = grid[:, 0] + mesh[0] * (grid[:, 1] + mesh[1] * grid[:, 2])
    if reciprocal_rotations is None:
        images = index[None, :]
        n_ops = 1
    else:
        rots = np.asarray(reciprocal_rotations, np.int64)
        rots = np.unique(np.concatenate([rots, -rots]).reshape(-1, 9), axis=0).reshape(-1, 3, 3)
        # 2D·q' = D R D⁻¹ (2D·q) must be integers with the grid's parity (the shift);
        # scaling by lcm(D) keeps the arithmetic in integers
        lcm = int(np.lcm.reduce(mesh))
        scaled = doubled * (lcm // mesh)[None, :]
        maps, broken = [], False
        eye = np.eye(3, dtype=np.int64)
        for r in rots:
            num = (mesh[:, None] * r) @ scaled.T
            new = num // lcm
            if (num % lcm).any() or ((new - shift[:, None]) % 2).any():
                broken = True
                continue
            if time_reversal_fallback and not ((r == eye).all() or (r == -eye).all()):
                continue  # kept aside until we know whether the grid breaks the group
            addr = ((new - shift[:, None]) // 2) % mesh[:, None]
            maps.append(addr[0] + mesh[0] * (addr[1] + mesh[1] * addr[2]))
        if time_reversal_fallback and not broken:
            return irreducible_mesh(mesh, reciprocal_rotations, gamma_centered, lattice)
        images = np.asarray(maps)
        n_ops = len(maps)
    rep = images.min(axis=0)
    reps, weights = np.unique(rep, return_counts=True)
    if lattice is not None:
        doubled = 2 * brillouin_zone_addresses(mesh, shift, lattice) + shift
        pos = np.arange(n_grid)  # rows of brillouin_zone_addresses are in grid-index order
    else:
        pos = np.empty(n_grid, np.int64)
        pos[index] = np.arange(n_grid)
    q = doubled[pos[reps]] / (2.0 * mesh)
    return QMesh(q, weights.astype(np.int64), tuple(int(m) for m in mesh),
                 tuple(int(s) for s in shift), n_ops)


def commensurate_qpoints(supercell_in_primitive: np.ndarray) -> np.ndarray:
    """The |det M| q-points (primitive reduced coordinates) commensurate with the supercell.

    ``supercell_in_primitive`` M: supercell lattice rows = Mᵀ·primitive rows. Γ comes first.
    """
    return lattice_points_of(np.asarray(supercell_in_primitive).T)


def is_gamma(q, atol: float = 1e-10):
    """(n,) bool: reduced q-points (n, 3) equal to Γ modulo a reciprocal lattice vector.
    NumPy arrays (or lists) give NumPy; JAX arrays, traced ones included, give JAX."""
    q = q if hasattr(q, "round") else np.asarray(q)
    return (abs(q - q.round()) < atol).all(axis=-1)


def _lattice_vector_equivalence(rotations: np.ndarray) -> list[bool]:
    """[b≡c, c≡a, a≡b]: basis vectors that a point operation maps onto each other
    (the test phonopy's length2mesh applies to the transposed rotations)."""
    eq = [False, False, False]
    for r in rotations:
        r = np.abs(np.asarray(r).T)
        c0, c1, c2 = r[:, 0], r[:, 1], r[:, 2]
        eq[2] |= (c0 == [0, 1, 0]).all() or (c1 == [1, 0, 0]).all()
        eq[1] |= (c0 == [0, 0, 1]).all() or (c2 == [1, 0, 0]).all()
        eq[0] |= (c1 == [0, 0, 1]).all() or (c2 == [0, 1, 0]).all()
    return eq


def mesh_from_length(length_A: float, primitive_lattice: np.ndarray,
                     rotations: np.ndarray | None = None) -> tuple[int, int, int]:
    """phonopy's length2mesh ("nearest" rounding): N_i = max(1, rint(l·|b_i|)),
    |b_i| the reciprocal lengths (no 2π) of the primitive cell, then equal
    numbers along symmetry-equivalent axes (the larger one). phonopy ≥ 2.x may
    switch to a generalized regular grid when this breaks the point group; the
    kernel samples regular meshes only."""
    rec = np.linalg.inv(np.asarray(primitive_lattice, float))  # columns: reciprocal vectors
    m = np.rint(np.linalg.norm(rec, axis=0) * length_A).astype(int)
    if rotations is not None:
        eq = _lattice_vector_equivalence(rotations)
        for i, pair in enumerate(([1, 2], [2, 0], [0, 1])):
            if eq[i] and m[pair[0]] != m[pair[1]]:
                m[pair] = max(m[pair])
    m = np.maximum(m, 1)
    return (int(m[0]), int(m[1]), int(m[2]))


def crystal_mesh_from_length(length_A: float, unitcell, primitive_matrix
                             ) -> tuple[int, int, int]:
    """``mesh_from_length`` of a crystal's primitive cell (``unitcell`` a ``Crystal``,
    ``primitive_matrix`` P relative to it), its axes made equal where the crystal's point
    group maps them onto each other (spglib's rotations in the primitive basis, P⁻¹ R P)."""
    from phonjax.structure.symmetry import spglib_dataset

    P = np.asarray(primitive_matrix, float)
    lattice = P.T @ np.asarray(unitcell.lattice)  # primitive lattice rows
    ds = spglib_dataset(unitcell, required=False)
    rotations = None
    if ds is not None:
        Pinv = np.linalg.inv(P)
        rotations = np.rint([Pinv @ r @ P for r in np.unique(ds.rotations, axis=0)]).astype(int)
    return mesh_from_length(length_A, lattice, rotations)
