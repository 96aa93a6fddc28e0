"""The q-point grid of phono3py: regular grid, Brillouin-zone grid, irreducible points, triplets.

Host-side NumPy, integers only apart from the BZ distance tests; the same numbers as
phonopy's ``BZGrid`` / ``get_ir_grid_points`` and phono3py's ``get_triplets_at_q`` for a mesh
of three integers (no generalized regular grid: D = diag(mesh), P = Q = I, Γ-centred).

Concepts
--------
GR grid
    The ``N = D0·D1·D2`` points ``q = a / D`` (reduced reciprocal coordinates) with integer
    *GR addresses* ``0 <= a_i < D_i``; GR index ``a0 + a1·D0 + a2·D0·D1`` (first fastest).
BZ grid
    Every GR point translated by reciprocal lattice vectors to its images closest to Γ.
    The search uses the Niggli-reduced reciprocal basis ``B`` (columns), the translations
    m ∈ {0, 1, 2, -2, -1}³ in that order (first component slowest) around the rounded point,
    and the squared-length tolerance ``tol = 0.01·max_i |B_i|² / D_i²``: the minimum moves
    only to a length shorter by more than ``tol``, and all images within ``tol`` above it
    are kept (several on the BZ surface), in search order. BZ addresses are GR addresses
    plus multiples of D (``a + D·n``), so ``q = a / D`` holds for them too.
    ``gp_map[g]:gp_map[g+1]`` are the BZ indices of GR point g (phono3py's dense map);
    ``grg2bzg[g] = gp_map[g]`` (first image), ``bzg2grg`` the reverse.
Grid rotations
    Reciprocal point group: transposes of the crystal's rotations, with −E products added
    for time reversal; acting on GR addresses as ``D·R·D⁻¹`` (must be integer: the mesh
    must keep the symmetry).
Irreducible points
    Orbits of GR points under the grid rotations; representative = smallest GR index;
    weight = orbit size (weights sum to N). phono3py uses ``grg2bzg`` of them.
Triplets at q
    For a BZ point q: little group of q (grid rotations with R·a_q ≡ a_q mod D), its orbit
    map ``map_q`` over q′ (smallest index), optionally (``swappable``) q′ merged with the
    earlier representative of q″ = −q−q′, ``map_triplets`` the result; triplet weights
    count ``map_triplets`` (sum N). Each irreducible q′ (ascending GR index) gets BZ images
    (q, q′, q″) by looping over the images of the three GR points in stored order: the
    first combination with q+q′+q″ = 0 exactly, else the smallest |G| (smaller by more than
    ``tol``), so the q image may differ from the requested BZ point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import spglib

from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import SYMPREC, point_group_rotations

GRID_TOLERANCE_FACTOR = 0.01  # phonopy's BZ-reduction tolerance, times max |B_i|²/D_i²
NIGGLI_EPS = 1e-5  # phonopy's niggli_reduce default

# Translations searched for BZ images, in phonopy's order: each component 0, 1, 2, -2, -1,
# first component slowest.
_STEPS = np.array([0, 1, 2, -2, -1])
BZ_SEARCH_SPACE = np.stack(np.meshgrid(_STEPS, _STEPS, _STEPS, indexing="ij"), -1).reshape(-1, 3)


class GridError(ValueError):
    """A mesh that cannot be used (non-positive numbers, or breaking the crystal's symmetry)."""


@dataclass(frozen=True, eq=False)
class BZGrid:
    """A Γ-centred mesh and its Brillouin-zone images (see the module docstring)."""

    mesh: np.ndarray  # (3,) int, D
    reciprocal_lattice: np.ndarray  # (3, 3) 1/Å without 2π, reciprocal vectors in columns
    reduced_basis: np.ndarray  # (3, 3) Niggli-reduced reciprocal vectors in columns
    reduced_tmat_inv: np.ndarray  # (3, 3) int, GR/D coordinates → reduced-basis coordinates
    tolerance: float  # squared-length tolerance of the BZ search, 1/Å²
    gr_addresses: np.ndarray  # (N, 3) int
    addresses: np.ndarray  # (N_bz, 3) int, BZ addresses
    gp_map: np.ndarray  # (N + 1,) int, images of GR g are gp_map[g]:gp_map[g+1]
    bzg2grg: np.ndarray  # (N_bz,) int
    rotations: np.ndarray  # (n_rot, 3, 3) int, grid rotations incl. time reversal

    @property
    def n_gr(self) -> int:
        return int(np.prod(self.mesh))

    @property
    def grg2bzg(self) -> np.ndarray:
        return self.gp_map[:-1]

    @property
    def qpoints(self) -> np.ndarray:
        """(N_bz, 3) q of every BZ point, reduced reciprocal coordinates."""
        return self.addresses / self.mesh


@dataclass(frozen=True, eq=False)
class IrGridPoints:
    """Irreducible GR points: representatives, weights, and the map of every GR point."""

    gr_points: np.ndarray  # (n_ir,) int, ascending GR indices
    weights: np.ndarray  # (n_ir,) int, sum N
    grid_map: np.ndarray  # (N,) int, representative of each GR point
    bz_points: np.ndarray  # (n_ir,) int, grg2bzg of gr_points


@dataclass(frozen=True, eq=False)
class Triplets:
    """Symmetry-reduced triplets (q, q′, q″) at one q, as BZ indices."""

    q_bz_index: int
    triplets: np.ndarray  # (n_triplets, 3) int, BZ indices with q+q′+q″ = G (smallest)
    weights: np.ndarray  # (n_triplets,) int, sum N
    map_triplets: np.ndarray  # (N,) int, GR q′ → its irreducible q′
    map_q: np.ndarray  # (N,) int, GR q′ → representative under the little group of q


def gr_addresses(mesh) -> np.ndarray:
    """(N, 3) GR addresses in GR-index order (first component fastest)."""
    d = np.asarray(mesh, dtype=np.int64)
    i = np.arange(int(np.prod(d)), dtype=np.int64)
    return np.stack([i % d[0], (i // d[0]) % d[1], i // (d[0] * d[1])], axis=-1)


def gr_index(addresses, mesh) -> np.ndarray:
    """GR index of (any) addresses, reduced modulo the mesh."""
    d = np.asarray(mesh, dtype=np.int64)
    a = np.asarray(addresses, dtype=np.int64) % d
    return a[..., 0] + a[..., 1] * d[0] + a[..., 2] * (d[0] * d[1])


def reciprocal_rotations(direct_rotations, time_reversal: bool = True) -> np.ndarray:
    """Distinct transposed rotations, with −R added for time reversal (first-seen order)."""
    out: list[np.ndarray] = []
    candidates = [np.asarray(r, dtype=np.int64).T for r in direct_rotations]
    if time_reversal:
        candidates += [-r for r in candidates]
    for r in candidates:
        if not any((r == s).all() for s in out):
            out.append(r)
    return np.array(out, dtype=np.int64).reshape(-1, 3, 3)


def grid_rotations(rec_rotations, mesh) -> np.ndarray:
    """Reciprocal rotations acting on GR addresses, ``D·R·D⁻¹``; GridError if not integer."""
    d = np.asarray(mesh, dtype=np.int64)
    r = np.asarray(rec_rotations, dtype=np.int64)
    num = r * d[None, :, None]
    if (num % d[None, None, :]).any():
        raise GridError(f"mesh {d.tolist()} breaks the crystal's point-group symmetry")
    return num // d[None, None, :]


def niggli_reduced_reciprocal(reciprocal_lattice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(reduced basis in columns, integer inverse of phonopy's tmat) for reciprocal columns."""
    rows = np.ascontiguousarray(reciprocal_lattice.T)
    reduced_rows = spglib.niggli_reduce(rows, eps=NIGGLI_EPS)
    if reduced_rows is None:
        raise GridError("Niggli reduction of the reciprocal lattice failed")
    # phonopy's convention: reduced rows = tmat.T @ rows
    tmat = np.rint(reduced_rows @ np.linalg.inv(rows)).astype(np.int64).T
    tmat_inv = np.rint(np.linalg.inv(tmat)).astype(np.int64)
    if not (tmat @ tmat_inv == np.eye(3, dtype=np.int64)).all():
        raise GridError("Niggli transformation is not unimodular")
    return reciprocal_lattice @ tmat, tmat_inv


def _nint(x: np.ndarray) -> np.ndarray:
    """C's lagmat_Nint: round half away from zero."""
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def _matvec(m: np.ndarray, v: np.ndarray) -> np.ndarray:
    """m @ v for rows of v, summed left to right as phonopy's C (bitwise-stable)."""
    return np.stack([m[i, 0] * v[..., 0] + m[i, 1] * v[..., 1] + m[i, 2] * v[..., 2]
                     for i in range(3)], axis=-1)


def _norm2(v: np.ndarray) -> np.ndarray:
    return v[..., 0] * v[..., 0] + v[..., 1] * v[..., 1] + v[..., 2] * v[..., 2]


def bz_tolerance(reduced_basis: np.ndarray, mesh) -> float:
    """Squared-length tolerance of the BZ search: 0.01·max_i |B_i|² / D_i²."""
    d = np.asarray(mesh, dtype=np.float64)
    lengths = (reduced_basis ** 2).sum(axis=0) / (d * d)
    return float(lengths.max() * GRID_TOLERANCE_FACTOR)


def bz_images(mesh, reduced_basis, tmat_inv, tolerance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(BZ addresses, gp_map, bzg2grg) of all GR points, phonopy's dense (type-II) layout."""
    d = np.asarray(mesh, dtype=np.int64)
    adrs = gr_addresses(d)
    q_red = _matvec(tmat_inv.astype(np.float64), (adrs * 2) / (2.0 * d))
    nint = _nint(q_red)
    q_red = q_red - nint
    vec = q_red[:, None, :] + BZ_SEARCH_SPACE[None, :, :]
    dist = _norm2(_matvec(reduced_basis, vec))  # (N, 125)
    min_d = dist[:, 0].copy()
    for j in range(1, len(BZ_SEARCH_SPACE)):  # sequential: the minimum moves only by > tol
        closer = dist[:, j] < min_d - tolerance
        min_d[closer] = dist[closer, j]
    keep = dist < (min_d + tolerance)[:, None]
    gr, s = np.nonzero(keep)  # row-major: GR index ascending, search order inside
    q_inv = np.rint(np.linalg.inv(tmat_inv)).astype(np.int64)
    delta_g = (BZ_SEARCH_SPACE[s] - nint[gr]) @ q_inv.T
    addresses = adrs[gr] + delta_g * d
    counts = keep.sum(axis=1)
    gp_map = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return addresses.astype(np.int64), gp_map, gr.astype(np.int64)


def bz_grid(crystal: Crystal, mesh, symprec: float = SYMPREC, *,
            time_reversal: bool = True) -> BZGrid:
    """The BZ grid of a primitive cell for a Γ-centred mesh of three integers."""
    d = np.asarray(mesh, dtype=np.int64).reshape(-1)
    if d.shape != (3,) or (d < 1).any():
        raise GridError(f"mesh must be three positive integers, got {mesh!r}")
    rec = np.linalg.inv(np.asarray(crystal.lattice, dtype=np.float64))
    reduced, tmat_inv = niggli_reduced_reciprocal(rec)
    tol = bz_tolerance(reduced, d)
    addresses, gp_map, bzg2grg = bz_images(d, reduced, tmat_inv, tol)
    rots = grid_rotations(reciprocal_rotations(point_group_rotations(crystal, symprec),
                                               time_reversal), d)
    return BZGrid(mesh=d, reciprocal_lattice=rec, reduced_basis=reduced,
                  reduced_tmat_inv=tmat_inv, tolerance=tol, gr_addresses=gr_addresses(d),
                  addresses=addresses, gp_map=gp_map, bzg2grg=bzg2grg, rotations=rots)


def orbit_map(gr_points_addresses: np.ndarray, rotations: np.ndarray, mesh) -> np.ndarray:
    """Smallest GR index over the orbit of every address under a rotation group."""
    rotated = np.einsum("rij,nj->rni", rotations, gr_points_addresses)
    return gr_index(rotated, mesh).min(axis=0)


def ir_grid_points(grid: BZGrid) -> IrGridPoints:
    """Irreducible GR points under the grid rotations (time reversal included)."""
    grid_map = orbit_map(grid.gr_addresses, grid.rotations, grid.mesh)
    points, weights = np.unique(grid_map, return_counts=True)
    return IrGridPoints(gr_points=points.astype(np.int64), weights=weights.astype(np.int64),
                        grid_map=grid_map, bz_points=grid.grg2bzg[points])


def little_group(rotations: np.ndarray, address: np.ndarray, mesh) -> np.ndarray:
    """Grid rotations that keep a GR address (mod D), in their order."""
    d = np.asarray(mesh, dtype=np.int64)
    fixed = ((rotations @ address - address) % d == 0).all(axis=1)
    return rotations[fixed]


def ir_triplets_map(q_gr_index: int, grid: BZGrid, swappable: bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(map_triplets, map_q) over GR q′ for a fixed GR q (phono3py's ``map_triplets``)."""
    d, n = grid.mesh, grid.n_gr
    a0 = grid.gr_addresses[q_gr_index]
    map_q = orbit_map(grid.gr_addresses, little_group(grid.rotations, a0, d), d)
    ir_q = np.flatnonzero(map_q == np.arange(n))
    third = gr_index(-a0[None, :] - grid.gr_addresses[ir_q], d)
    rep = np.full(n, n, dtype=np.int64)
    if swappable:
        for g, g2 in zip(ir_q.tolist(), third.tolist()):  # sequential: earlier merges count
            partner = rep[map_q[g2]]
            rep[g] = partner if partner < n else g
    else:
        rep[ir_q] = ir_q
    return rep[map_q], map_q


def bz_triplets(q_bz_index: int, grid: BZGrid, map_triplets: np.ndarray) -> np.ndarray:
    """(n, 3) BZ indices for each irreducible q′ of ``map_triplets`` (ascending GR index)."""
    d = grid.mesh
    ir_q1 = np.flatnonzero(map_triplets == np.arange(len(map_triplets)))
    a0 = grid.addresses[q_bz_index]
    gp0 = int(gr_index(a0, d))
    gp2 = gr_index(-a0[None, :] - grid.addresses[grid.gp_map[ir_q1]], d)
    lqd_inv = grid.reduced_basis @ grid.reduced_tmat_inv / d[None, :]
    gm = grid.gp_map
    out = np.empty((len(ir_q1), 3), dtype=np.int64)
    # one image of each point (no BZ-surface point): the only combination, no search
    single = ((gm[gp0 + 1] - gm[gp0] == 1) & (gm[ir_q1 + 1] - gm[ir_q1] == 1)
              & (gm[gp2 + 1] - gm[gp2] == 1))
    out[single] = np.stack([np.full(single.sum(), gm[gp0]), gm[ir_q1[single]],
                            gm[gp2[single]]], axis=-1)
    rest = np.flatnonzero(~single)
    for k, g1, g2 in zip(rest.tolist(), ir_q1[rest].tolist(), gp2[rest].tolist()):
        # all image combinations in C loop order (q slowest, q″ fastest)
        i0, i1, i2 = np.meshgrid(np.arange(gm[gp0], gm[gp0 + 1]), np.arange(gm[g1], gm[g1 + 1]),
                                 np.arange(gm[g2], gm[g2 + 1]), indexing="ij")
        combos = np.stack([i0.ravel(), i1.ravel(), i2.ravel()], axis=-1)
        if len(combos) == 1:
            out[k] = combos[0]
            continue
        g_vec = grid.addresses[combos].sum(axis=1)
        zero = np.flatnonzero((g_vec == 0).all(axis=1))
        if zero.size:
            out[k] = combos[zero[0]]
            continue
        d2 = _norm2(_matvec(lqd_inv, g_vec.astype(np.float64)))
        best, min_d2 = 0, d2[0]
        for j in range(1, len(d2)):
            if d2[j] < min_d2 - grid.tolerance:
                best, min_d2 = j, d2[j]
        out[k] = combos[best]
    return out


def triplets_at_q(grid: BZGrid, q_bz_index: int, swappable: bool = True) -> Triplets:
    """phono3py's ``get_triplets_at_q`` for a BZ point: triplets (BZ indices) and weights."""
    q_bz_index = int(q_bz_index)
    map_triplets, map_q = ir_triplets_map(int(grid.bzg2grg[q_bz_index]), grid, swappable)
    counts = np.bincount(map_triplets, minlength=grid.n_gr)
    weights = counts[counts > 0].astype(np.int64)
    triplets = bz_triplets(q_bz_index, grid, map_triplets)
    if weights.sum() != grid.n_gr or len(weights) != len(triplets):
        raise GridError(f"triplet weights sum to {weights.sum()}, not {grid.n_gr}")
    return Triplets(q_bz_index=q_bz_index, triplets=triplets, weights=weights,
                    map_triplets=map_triplets, map_q=map_q)
