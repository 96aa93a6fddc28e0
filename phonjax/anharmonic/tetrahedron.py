"""Linear tetrahedron method on a regular q-point grid: δ-function integration weights.

The same numbers as phonopy/phono3py 4.10 (the ``phonors`` backend) for a Γ-centred mesh of
three integers (P = I).

Tetrahedra
    The parallelepiped spanned by the microzone vectors ``b_i / D_i`` (``b_i`` the reciprocal
    vectors, columns of ``BZGrid.reciprocal_lattice``) is cut into six tetrahedra along its
    shortest main diagonal among (1,1,1), (−1,1,1), (1,−1,1), (1,1,−1) (the first on ties):
    each tetrahedron is the diagonal plus one of the six edge paths between its two ends.
    Around a grid point, the 24 tetrahedra of the 8 parallelepipeds having it as a corner
    are used; ``relative_addresses`` (24, 4, 3) int gives their vertices as GR-address steps,
    the central vertex (0, 0, 0) first in each tetrahedron.
Vertices on the BZ grid
    The vertex ``a + s·r`` of BZ point a (s = ±1) is the GR point ``(a + s·r) mod D``; among
    its BZ images the one whose BZ address equals ``a + s·r`` exactly is used, else the first
    image (``vertex_bz_indices``).
δ weight ("I" function)
    For values ω_v at the vertices (a linear interpolation inside each tetrahedron), the
    weight of the central grid point in ∫δ(ω − ω(k)) dk / V_BZ·N (N the number of grid
    points) is

        w(ω) = (1/6) Σ_{24 tetrahedra} I_c(ω)·g(ω)        [1/(unit of ω), e.g. 1/THz]

    with, for the sorted vertex values v0 ≤ v1 ≤ v2 ≤ v3 and f_nm = (ω − v_m)/(v_n − v_m)
    (0 when |v_n − v_m| < THM_EPSILON), the density of states of the tetrahedron

        v0 ≤ ω < v1:  g = 3 f10 f20 / (v3 − v0)
        v1 ≤ ω < v2:  g = 3 (f12 f20 + f21 f13) / (v3 − v0)
        v2 ≤ ω < v3:  g = 3 f13 f23 / (v3 − v0)
        otherwise 0 (ω equal to a vertex value goes to the branch above it: phono3py 4.10),

    and I_c the share of the central vertex c (its rank among the sorted values):

        branch 1:  c=0: (f01 + f02 + f03)/3,  c=1,2,3: f_c0/3
        branch 2:  with G = f12 f20 + f21 f13 (I = 0 when G < THM_EPSILON)
                   c=0: (f03 + f02 f20 f12 / G)/3     c=1: (f12 + f13² f21 / G)/3
                   c=2: (f21 + f20² f12 / G)/3        c=3: (f30 + f31 f13 f21 / G)/3
        branch 3:  c=0,1,2: f_c3/3,  c=3: (f30 + f31 + f32)/3.

    ∫ w(ω) dω = 1 over each band. The weights of the ordinary (one-phonon) δ at grid point
    q use the values of a band at the vertices around q (``grid_point_weights``).

All δ-weight functions are pure ``jax.numpy``, elementwise over any leading axes, and meant
for float64 (call them under ``jax.enable_x64(True)``); the vertex bookkeeping is host
NumPy on integers. ``sort_four`` and ``sorted_tetrahedron_delta`` take the four vertex
values as separate arrays (``sort_vertices`` and ``tetrahedron_delta`` are the same on a
last axis of 4): kernels built on them fuse into one elementwise loop.
"""

from __future__ import annotations

from itertools import permutations

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.grid import BZGrid, gr_index

THM_EPSILON = 1e-10  # guard of the vanishing denominators, as phonors

# Main diagonals of the microzone parallelepiped, in phonopy's order.
MAIN_DIAGONALS = np.array([[1, 1, 1], [-1, 1, 1], [1, -1, 1], [1, 1, -1]], dtype=np.int64)

# Corners of the unit parallelepiped: corner index bits (x, y, z) = (bit0, bit1, bit2).
_CORNERS = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=np.int64)


# --------------------------------------------------------------------------- tetrahedra


def microzone_lattice(grid: BZGrid) -> np.ndarray:
    """(3, 3) microzone vectors ``b_i / D_i`` in columns (1/Å, phonopy's arithmetic)."""
    return np.asarray(grid.reciprocal_lattice, float) * (1.0 / np.asarray(grid.mesh, float))


def shortest_main_diagonal(microzone: np.ndarray) -> int:
    """Index into ``MAIN_DIAGONALS`` of the shortest main diagonal (first on ties) of the
    microzone vectors in columns."""
    a, b, c = (np.asarray(microzone, float)[:, i] for i in range(3))
    best, best_len = 0, None
    for i, (s0, s1, s2) in enumerate(MAIN_DIAGONALS.tolist()):
        d = (s0 * a + s1 * b) + s2 * c
        length = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
        if best_len is None or best_len > length:
            best, best_len = i, length
    return best


def six_tetrahedra(main_diagonal: int) -> np.ndarray:
    """(6, 4) corner indices of the tetrahedra cutting the unit parallelepiped along a main
    diagonal: the diagonal's two ends plus the two inner corners of an edge path."""
    if main_diagonal not in range(4):
        raise ValueError(f"main diagonal must be 0..3, got {main_diagonal!r}")
    start = int(main_diagonal)  # diagonal k joins corners k and 7 − k (0-7, 1-6, 2-5, 3-4)
    end = 7 - start
    tetras = []
    for bits in permutations((1, 2, 4)):  # the order in which an edge path flips x, y, z
        p1 = start ^ bits[0]
        p2 = p1 ^ bits[1]
        tetras.append([start, p1, p2, end])
    return np.array(tetras, dtype=np.int64)


def relative_addresses_for_diagonal(main_diagonal: int) -> np.ndarray:
    """(24, 4, 3) int: vertices (GR-address steps) of the 24 tetrahedra around a grid point,
    the central vertex first."""
    out = []
    for corner in range(8):
        for tetra in six_tetrahedra(main_diagonal):
            if corner not in tetra:
                continue
            order = [corner] + [v for v in tetra if v != corner]
            out.append(_CORNERS[order] - _CORNERS[corner])
    return np.array(out, dtype=np.int64)


def relative_addresses(grid: BZGrid) -> np.ndarray:
    """(24, 4, 3) int: the 24 tetrahedra of ``grid`` (shortest main diagonal), central first."""
    return relative_addresses_for_diagonal(shortest_main_diagonal(microzone_lattice(grid)))


def vertex_bz_indices(grid: BZGrid, bz_points, rel: np.ndarray, sign: int = 1) -> np.ndarray:
    """(..., *rel.shape[:-1]) BZ indices of the vertices ``addresses[bz_points] + sign·rel``:
    the image with exactly that BZ address if one exists, else the GR point's first image."""
    bz_points = np.asarray(bz_points, dtype=np.int64)
    rel = np.asarray(rel, dtype=np.int64)
    base = grid.addresses[bz_points].reshape(bz_points.shape + (1,) * (rel.ndim - 1) + (3,))
    addr = base + sign * rel
    gr = gr_index(addr, grid.mesh)
    first = grid.gp_map[gr]
    count = grid.gp_map[gr + 1] - first
    out = first.copy()
    for k in range(1, int((grid.gp_map[1:] - grid.gp_map[:-1]).max())):
        cand = np.minimum(first + k, len(grid.addresses) - 1)
        hit = (k < count) & (grid.addresses[cand] == addr).all(axis=-1)
        out = np.where(hit, cand, out)
    return out


# --------------------------------------------------------------------------- δ weights


def sort_four(a, b, c, d):
    """Sorting network for four arrays of values (min/max only: fuses into elementwise
    kernels). a, b, c, d broadcast together, ``a`` the central vertex → ((v0, v1, v2, v3)
    ascending, rank: ``a``'s position, first among equal values)."""
    rank = (b < a).astype(jnp.int32) + (c < a) + (d < a)
    a, b = jnp.minimum(a, b), jnp.maximum(a, b)
    c, d = jnp.minimum(c, d), jnp.maximum(c, d)
    a, c = jnp.minimum(a, c), jnp.maximum(a, c)
    b, d = jnp.minimum(b, d), jnp.maximum(b, d)
    b, c = jnp.minimum(b, c), jnp.maximum(b, c)
    return (a, b, c, d), rank


def sort_vertices(values):
    """Sorted vertex values and the rank of the central vertex.

    values (..., 4), central vertex first → (v (..., 4) ascending, c (...) int in 0..3: the
    central vertex's position, first among equal values)."""
    v, rank = sort_four(*(values[..., i] for i in range(4)))
    return jnp.stack(v, axis=-1), rank


def sorted_tetrahedron_delta(omega, v0, v1, v2, v3, rank):
    """I_c(ω)·g(ω) of single tetrahedra (see the module docstring) from the sorted vertex
    values as four arrays (``sort_four``); omega, v0..v3, rank broadcast together.
    Returns (...) in 1/(unit of ω) (before the 1/6)."""
    vs = (v0, v1, v2, v3)

    def f(n, m):
        delta = vs[n] - vs[m]
        small = jnp.abs(delta) < THM_EPSILON
        return jnp.where(small, 0.0, (omega - vs[m]) / jnp.where(small, 1.0, delta))

    f01, f02, f03 = f(0, 1), f(0, 2), f(0, 3)
    f10, f20, f30 = f(1, 0), f(2, 0), f(3, 0)
    f12, f13, f21, f31, f23, f32 = f(1, 2), f(1, 3), f(2, 1), f(3, 1), f(2, 3), f(3, 2)

    branch = (omega >= v0).astype(jnp.int32) + (omega >= v1) + (omega >= v2) + (omega >= v3)
    span = jnp.where(v3 > v0, v3 - v0, 1.0)

    def by_rank(i0, i1, i2, i3):
        return jnp.where(rank == 0, i0, jnp.where(rank == 1, i1, jnp.where(rank == 2, i2, i3)))

    # branch 1: v0 <= ω < v1
    g1 = 3 * f10 * f20 / span
    i1 = by_rank((f01 + f02 + f03) / 3, f10 / 3, f20 / 3, f30 / 3)
    # branch 2: v1 <= ω < v2
    big_g = f12 * f20 + f21 * f13
    ok = big_g >= THM_EPSILON
    gs = jnp.where(ok, big_g, 1.0)
    g2 = 3 / span * big_g
    i2 = by_rank((f03 + f02 * f20 * f12 / gs) / 3, (f12 + f13 * f13 * f21 / gs) / 3,
                 (f21 + f20 * f20 * f12 / gs) / 3, (f30 + f31 * f13 * f21 / gs) / 3)
    i2 = jnp.where(ok, i2, 0.0)
    # branch 3: v2 <= ω < v3
    g3 = 3 * f13 * f23 / span
    i3 = by_rank(f03 / 3, f13 / 3, f23 / 3, (f30 + f31 + f32) / 3)

    return jnp.where(branch == 1, i1 * g1,
                     jnp.where(branch == 2, i2 * g2, jnp.where(branch == 3, i3 * g3, 0.0)))


def tetrahedron_delta(omega, v, rank):
    """I_c(ω)·g(ω) of single tetrahedra (see the module docstring).

    omega (...), v (..., 4) sorted vertex values, rank (...) the central vertex's position;
    all broadcast together. Returns (...) in 1/(unit of ω) (before the 1/6)."""
    return sorted_tetrahedron_delta(omega, *(v[..., i] for i in range(4)), rank)


def delta_weights(omega, v, rank):
    """w(ω) of a grid point: (1/6)·Σ over the tetrahedron axis.

    omega (...), v (..., 24, 4) sorted vertex values, rank (..., 24); leading axes
    broadcast. Returns (...) in 1/(unit of ω)."""
    return jnp.sum(tetrahedron_delta(omega[..., None], v, rank), axis=-1) / 6.0


def in_range(omega, values):
    """(...) bool: min ≤ ω ≤ max over the vertex values (..., 24, 4) (outside, w = 0)."""
    lo = jnp.min(values, axis=(-2, -1))
    hi = jnp.max(values, axis=(-2, -1))
    return (omega >= lo) & (omega <= hi)


# --------------------------------------------------------------------------- one-phonon δ


@jax.jit
def grid_point_delta_kernel(frequency_points, vertex_frequencies):
    """Ordinary δ weights from vertex values: frequency_points (n_p, n_b0) ω;
    vertex_frequencies (n_q, 24, 4, n_b) band values at the vertices around each q′.
    Returns (n_p, n_q, n_b0, n_b); works on n_p·n_b0·n_q·n_b·24 values at once (the same
    numbers as ``delta_weights`` of ``sort_vertices``; the sorted values are kept as four
    arrays, which XLA fuses better than slices of a stacked axis)."""
    values = jnp.moveaxis(vertex_frequencies, -1, 1)[None, :, None]  # (1, n_q, 1, n_b, 24, 4)
    v, rank = sort_four(*(values[..., i] for i in range(4)))
    omega = frequency_points[:, None, :, None, None]
    return jnp.sum(sorted_tetrahedron_delta(omega, *v, rank), axis=-1) / 6.0


def grid_point_weights(grid: BZGrid, frequency_points, frequencies, bz_points=None,
                       rel: np.ndarray | None = None):
    """Tetrahedron δ weights of the ordinary (one-phonon) δ(ω − ω_b(q′)), phonopy's
    ``get_integration_weights`` (function "I", no clamping of negative values).

    frequency_points (n_p, n_b0) ω in THz; frequencies (N_bz, n_b) THz on every BZ point;
    bz_points (n_q,) the q′ (default: the first images ``grid.grg2bzg``).
    Returns (n_p, n_q, n_b0, n_b) in 1/THz: w[p, q′, i, b] for ω = frequency_points[p, i].
    """
    rel = relative_addresses(grid) if rel is None else rel
    bz_points = grid.grg2bzg if bz_points is None else np.asarray(bz_points)
    vertices = vertex_bz_indices(grid, bz_points, rel)  # (n_q, 24, 4)
    points = np.asarray(frequency_points, dtype=np.float64)
    with jax.enable_x64(True):
        freqs = jnp.asarray(frequencies, jnp.float64)
        return grid_point_delta_kernel(jnp.asarray(points.reshape(-1, points.shape[-1])),
                                       freqs[jnp.asarray(vertices)])
