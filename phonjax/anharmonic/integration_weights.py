"""Integration weights of phonon triplets: the energy-conserving δ's of three-phonon scattering.

For a triplet t = (q, q′, q″) (BZ indices, q + q′ + q″ = G), a band i at q with frequency
f0 = ω_i(q) (THz) and the band pair (j, k) at (q′, q″) with f1 = ω_j(q′), f2 = ω_k(q″):

    g[0] = δ(f0 − f1 − f2)
    g[1] = δ(f0 + f1 − f2) − δ(f0 − f1 + f2)
    g[2] = δ(f0 + f1 − f2) + δ(f0 − f1 + f2) + δ(f0 − f1 − f2)   (collision matrix)

in 1/THz, shape (3, n_t, n_b0, n_b, n_b) (``IntegrationWeights.g``), and ``g_zero``
(n_t, n_b0, n_b, n_b) bool: True where all the δ's are exactly zero (phono3py then skips
the interaction strength). This is phono3py 4.10's ``get_triplets_integration_weights``
(default Rust backend), whose f0 are the frequencies of the grid point q whose triplets
these are (``q_points``; by default the first member of each triplet).

Tetrahedron method (``tetrahedron_weights``)
    Each δ(f0 − Ω) is integrated over q′ with the 24 tetrahedra around q′
    (``phonjax.anharmonic.tetrahedron``): vertex q′ + r paired with vertex q″ − r, the
    frequencies at the vertices clamped to ≥ 0, Ω at the vertices f1+f2, −f1+f2, f1−f2, and
    the central vertex's "I" weight (1/6)·Σ I·g. An element is ``g_zero`` when f0 lies
    outside [min, max] of the 96 vertex values of all three Ω's (a δ outside is set to 0).
Gaussian smearing (``gaussian_weights``)
    δ(x) → exp(−x²/2σ²)/(√(2π)·σ), σ in THz, frequencies not clamped. With ``sigma_cutoff``
    an element whose three arguments all have |x| > σ·sigma_cutoff gets g = 0 and g_zero;
    without, g_zero is all False.
Degenerate averaging (``average_degenerate``, phono3py's ``average_degenerate_weights``)
    Tetrahedron weights differ among degenerate bands at q′ (q″) because the degeneracy is
    lifted at the neighbouring vertices, so results would depend on the eigenvectors chosen
    inside a degenerate subspace. Averaging replaces each block (degenerate set at q′) ×
    (degenerate set at q″) of g by its mean (first over q′ then q″) and ANDs g_zero over the
    block. Degenerate sets: bands in ascending order, a new set where the gap to the band
    below is ≥ 1e-4 THz (``phonjax.anharmonic.degeneracy.degenerate_ids``, phonopy's
    ``get_degenerate_ids``), from the same ``frequencies``. phono3py applies it to the
    tetrahedron weights only (``get_triplets_integration_weights`` and the Rust RTA path
    alike), so ``gaussian_weights`` ignores the flag: degenerate bands have equal
    Gaussians anyway.

The δ arithmetic is pure ``jax.numpy`` (jit-compiled, float64), vectorized over triplets;
the vertex BZ indices are host NumPy. Triplet arrays are padded (``padded_length``: a
power of two ≥ 16 up to 1024, then multiples of 1024) so that calls of similar sizes share
a compilation; chunk the triplets to bound memory (the tetrahedron kernel holds about
3·n_t·n_b²·96 vertex values a few times over, and evaluates 3·n_t·n_b0·n_b²·24 tetrahedra
in one fused pass).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.degeneracy import DEGENERACY_TOLERANCE_THZ, degenerate_ids
from phonjax.anharmonic.grid import BZGrid, Triplets
from phonjax.anharmonic.tetrahedron import (delta_weights, relative_addresses, sort_vertices,
                                            vertex_bz_indices)

MIN_PADDED_TRIPLETS = 16
PAD_STEP = 1024


@dataclass(frozen=True, eq=False)
class IntegrationWeights:
    """Triplet δ weights (see the module docstring)."""

    g: jax.Array  # (3, n_t, n_b0, n_b, n_b) float64, 1/THz
    g_zero: jax.Array  # (n_t, n_b0, n_b, n_b) bool


# --------------------------------------------------------------------------- host side


def _triplet_array(triplets) -> np.ndarray:
    t = triplets.triplets if isinstance(triplets, Triplets) else triplets
    return np.asarray(t, dtype=np.int64).reshape(-1, 3)


def _q_points(triplets, q_points) -> np.ndarray:
    """(n_t,) BZ index whose frequencies are f0 for each triplet."""
    tp = _triplet_array(triplets)
    if q_points is None:
        if isinstance(triplets, Triplets):
            return np.full(len(tp), triplets.q_bz_index, dtype=np.int64)
        return tp[:, 0]
    return np.broadcast_to(np.asarray(q_points, dtype=np.int64), (len(tp),))


def triplet_vertices(grid: BZGrid, triplets, rel: np.ndarray | None = None) -> np.ndarray:
    """(n_t, 2, 24, 4) BZ indices of the tetrahedron vertices: q′ + r and q″ − r."""
    tp = _triplet_array(triplets)
    rel = relative_addresses(grid) if rel is None else rel
    return np.stack([vertex_bz_indices(grid, tp[:, 1], rel, +1),
                     vertex_bz_indices(grid, tp[:, 2], rel, -1)], axis=1)


def padded_length(n: int) -> int:
    """The padded number of triplets: the next power of two (at least 16) up to 1024, then
    the next multiple of 1024 (a caller's fixed chunk wastes < 1024 rows)."""
    n = int(n)
    if n > PAD_STEP:
        return -(-n // PAD_STEP) * PAD_STEP
    return max(MIN_PADDED_TRIPLETS, 1 << max(0, n - 1).bit_length())


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` padded along axis 0 to ``n`` rows by repeating its first row."""
    if len(a) == n:
        return a
    return np.concatenate([a, np.repeat(a[:1], n - len(a), axis=0)])


def _band_indices(band_indices, n_b: int) -> np.ndarray:
    return np.arange(n_b) if band_indices is None else np.asarray(band_indices, np.int64)


def _same_set(ids: np.ndarray) -> np.ndarray:
    """(..., n_b, n_b) float: 1 where two bands are in the same degenerate set."""
    return (ids[..., :, None] == ids[..., None, :]).astype(np.float64)


# --------------------------------------------------------------------------- kernels


def _vertex_indices(addresses, gp_map, mesh, bz_points, rel, sign: int, max_images: int):
    """``vertex_bz_indices`` in jax.numpy: (n, *rel.shape[:-1]) BZ indices of the vertices
    ``addresses[bz_points] + sign·rel`` (the image with that exact address, else the first)."""
    addr = addresses[bz_points][:, None, None, :] + sign * rel[None]
    a = addr % mesh
    gr = a[..., 0] + a[..., 1] * mesh[0] + a[..., 2] * (mesh[0] * mesh[1])
    first = gp_map[gr]
    count = gp_map[gr + 1] - first
    out = first
    for k in range(1, max_images):
        cand = jnp.minimum(first + k, addresses.shape[0] - 1)
        hit = (k < count) & jnp.all(addresses[cand] == addr, axis=-1)
        out = jnp.where(hit, cand, out)
    return out


def _same_set_jnp(f):
    """(n, n_b, n_b) float: 1 where two bands of ``f`` (n, n_b) are in the same degenerate
    set (``degenerate_ids`` in jax.numpy)."""
    n_b = f.shape[-1]
    first = jnp.concatenate([jnp.ones(f.shape[:-1] + (1,), bool),
                             f[..., 1:] - f[..., :-1] >= DEGENERACY_TOLERANCE_THZ], axis=-1)
    ids = jax.lax.cummax(jnp.where(first, jnp.arange(n_b), 0), axis=f.ndim - 1)
    return (ids[..., :, None] == ids[..., None, :]).astype(f.dtype)


@partial(jax.jit, static_argnames="max_images")
def _tetrahedron_columns(freqs, addresses, gp_map, mesh, rel, triplets, q_points, bands,
                         n_valid, max_images: int):
    """Vertex frequencies and the live elements of the triplet tetrahedron weights.

    Returns f0 (n, n_b0); f1, f2 (n, n_b, 96) clamped vertex frequencies at q′ + r and
    q″ − r (tetrahedron-major, 4 vertices each); live (3, n, n_b0, n_b, n_b) bool: f0 within
    [min, max] of the 96 vertex values of that δ type (False for rows ≥ n_valid); and the
    number of live elements."""
    n = triplets.shape[0]
    v1 = _vertex_indices(addresses, gp_map, mesh, triplets[:, 1], rel, 1, max_images)
    v2 = _vertex_indices(addresses, gp_map, mesh, triplets[:, 2], rel, -1, max_images)
    f1 = jnp.maximum(freqs[v1.reshape(n, 96)], 0.0)  # (n, 96, n_b)
    f2 = jnp.maximum(freqs[v2.reshape(n, 96)], 0.0)
    f0 = freqs[q_points][:, bands]
    s = f1[:, :, :, None] + f2[:, :, None, :]  # (n, 96, n_b, n_b): type 0
    d = -f1[:, :, :, None] + f2[:, :, None, :]  # type 1; type 2 is −d exactly
    lo_s, hi_s, lo_d, hi_d = s.min(1), s.max(1), d.min(1), d.max(1)
    lo = jnp.stack([lo_s, lo_d, -hi_d])[:, :, None]  # (3, n, 1, n_b, n_b)
    hi = jnp.stack([hi_s, hi_d, -lo_d])[:, :, None]
    omega = f0[None, :, :, None, None]
    live = (omega >= lo) & (omega <= hi)
    live = live & (jnp.arange(n) < n_valid)[None, :, None, None, None]
    return (f0, jnp.swapaxes(f1, 1, 2), jnp.swapaxes(f2, 1, 2), live,
            jnp.sum(live, dtype=jnp.int32))


@partial(jax.jit, static_argnames=("size", "average"))
def _tetrahedron_evaluate(freqs, triplets, f0, f1, f2, live, size: int, average: bool):
    """g and g_zero from ``_tetrahedron_columns``: the ``size`` first live elements (at least
    all of them) gathered, their 24 tetrahedra evaluated, scattered back into zeros."""
    shape = live.shape
    flat = live.reshape(-1)
    (idx,) = jnp.nonzero(flat, size=size, fill_value=flat.size)
    kind, t, b0, b1, b2 = jnp.unravel_index(jnp.minimum(idx, flat.size - 1), shape)
    a = f1[t, b1]  # (size, 96)
    b = f2[t, b2]
    kind = kind[:, None]
    values = jnp.where(kind == 0, a + b, jnp.where(kind == 1, -a + b, a - b))
    v, rank = sort_vertices(values.reshape(size, 24, 4))
    w = delta_weights(f0[t, b0], v, rank)
    w = jnp.zeros(flat.size, w.dtype).at[idx].set(w, mode="drop").reshape(shape)
    g = jnp.stack([w[0], w[1] - w[2], w[1] + w[2] + w[0]])
    g_zero = ~jnp.any(live, axis=0)
    if average:
        g, g_zero = average_degenerate_blocks(g, g_zero, _same_set_jnp(freqs[triplets[:, 1]]),
                                              _same_set_jnp(freqs[triplets[:, 2]]))
    return g, g_zero


def live_bucket(count: int) -> int:
    """Static number of gathered live elements for ``count`` of them: 1024, or the next of
    2^k, 1.25·2^k, 1.5·2^k, 1.75·2^k (at most 25 % waste, four compilations per octave)."""
    count = int(count)
    if count <= 1024:
        return 1024
    top = 1 << (count - 1).bit_length()  # 2^k ≥ count
    for size in (top // 2 + top // 8, top // 2 + top // 4, top // 2 + 3 * top // 8):
        if size >= count:
            return size
    return top


@jax.jit
def triplet_gaussian_kernel(f0, f1, f2, sigma, cutoff):
    """Gaussian weights: f0 (n_t, n_b0), f1 (n_t, n_b), f2 (n_t, n_b) THz; sigma THz;
    cutoff THz (σ·sigma_cutoff; ≤ 0 disables g_zero). Returns (g, g_zero) as above."""
    f0 = f0[:, :, None, None]
    f1 = f1[:, None, :, None]
    f2 = f2[:, None, None, :]
    x = jnp.stack([f0 - f1 - f2, f0 + f1 - f2, f0 - f1 + f2])
    gauss = 1.0 / math.sqrt(2 * math.pi) / sigma * jnp.exp(-(x * x) / 2 / sigma ** 2)
    zero = (cutoff > 0) & jnp.all(jnp.abs(x) > cutoff, axis=0)
    gauss = jnp.where(zero, 0.0, gauss)
    g = jnp.stack([gauss[0], gauss[1] - gauss[2], gauss[0] + gauss[1] + gauss[2]])
    return g, zero


@jax.jit
def average_degenerate_blocks(g, g_zero, same1, same2):
    """Mean of g over each degenerate block (q′ set × q″ set) and AND of g_zero over it.

    g (3, n_t, n_b0, n_b, n_b); g_zero (n_t, n_b0, n_b, n_b) bool; same1, same2
    (n_t, n_b, n_b) float 0/1 indicators of equal degenerate sets at q′ and q″."""
    n1 = jnp.sum(same1, axis=-1)  # (n_t, n_b) set sizes
    n2 = jnp.sum(same2, axis=-1)
    g = jnp.einsum("xtijk,tjl->xtilk", g, same1) / n1[None, :, None, :, None]
    g = jnp.einsum("xtijk,tkl->xtijl", g, same2) / n2[None, :, None, None, :]
    live = jnp.einsum("tijk,tjl,tkm->tilm", (~g_zero).astype(g.dtype), same1, same2)
    return g, live == 0


# --------------------------------------------------------------------------- public


def tetrahedron_weights(grid: BZGrid, triplets, frequencies, band_indices=None,
                        average_degenerate: bool = False, q_points=None) -> IntegrationWeights:
    """Triplet weights by the tetrahedron method (see the module docstring).

    grid: the ``BZGrid``; triplets: a ``Triplets`` record or (n_t, 3) BZ indices;
    frequencies (N_bz, n_b) THz on every BZ point; band_indices (n_b0,) bands at q (default
    all); q_points: BZ index (scalar or (n_t,)) whose frequencies are f0 (default the
    record's ``q_bz_index``, else ``triplets[:, 0]``).
    """
    tp = _triplet_array(triplets)
    n_t = len(tp)
    freqs = np.asarray(frequencies, dtype=np.float64)
    bands = _band_indices(band_indices, freqs.shape[1])
    n = padded_length(n_t)
    with jax.enable_x64(True):
        fj = jnp.asarray(freqs)
        tpj = jnp.asarray(_pad(tp, n))
        addresses, gp_map, mesh, rel, max_images = _grid_arrays(grid)
        f0, f1, f2, live, count = _tetrahedron_columns(
            fj, addresses, gp_map, mesh, rel, tpj, jnp.asarray(_pad(_q_points(triplets, q_points), n)),
            jnp.asarray(bands), n_t, max_images=max_images)
        g, g_zero = _tetrahedron_evaluate(fj, tpj, f0, f1, f2, live, size=live_bucket(count),
                                          average=bool(average_degenerate))
        return IntegrationWeights(g[:, :n_t], g_zero[:n_t])


_GRID_ARRAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _grid_arrays(grid: BZGrid):
    """Device copies of the grid's BZ addresses, ``gp_map``, mesh and tetrahedra (cached per
    grid object), and the largest number of BZ images of a GR point."""
    cached = _GRID_ARRAYS.get(grid)
    if cached is None:
        gp_map = np.asarray(grid.gp_map, np.int64)
        cached = (jnp.asarray(grid.addresses, jnp.int64), jnp.asarray(gp_map),
                  jnp.asarray(grid.mesh, jnp.int64), jnp.asarray(relative_addresses(grid)),
                  int((gp_map[1:] - gp_map[:-1]).max()))
        _GRID_ARRAYS[grid] = cached
    return cached


def gaussian_weights(grid: BZGrid | None, triplets, frequencies, sigma_THz: float,
                     sigma_cutoff: float | None = None, band_indices=None,
                     average_degenerate: bool = False, q_points=None) -> IntegrationWeights:
    """Triplet weights with Gaussian smearing of width ``sigma_THz`` (see the module
    docstring); the other arguments as in ``tetrahedron_weights``. ``grid`` is not needed
    and ``average_degenerate`` is ignored, as phono3py ignores ``average_degenerate_weights``
    with σ (both accepted so that the two functions are called alike)."""
    del grid, average_degenerate
    tp = _triplet_array(triplets)
    n_t = len(tp)
    freqs = np.asarray(frequencies, dtype=np.float64)
    bands = _band_indices(band_indices, freqs.shape[1])
    n = padded_length(n_t)
    tpp = _pad(tp, n)
    f0 = _pad(freqs[_q_points(triplets, q_points)][:, bands], n)
    cutoff = -1.0 if sigma_cutoff is None else float(sigma_THz) * float(sigma_cutoff)
    with jax.enable_x64(True):
        fj = jnp.asarray(freqs)
        g, g_zero = triplet_gaussian_kernel(jnp.asarray(f0), fj[tpp[:, 1]], fj[tpp[:, 2]],
                                            jnp.float64(sigma_THz), jnp.float64(cutoff))
        return IntegrationWeights(g[:, :n_t], g_zero[:n_t])


def _average(g, g_zero, tp: np.ndarray, freqs: np.ndarray):
    ids = degenerate_ids(freqs)
    return average_degenerate_blocks(g, g_zero, jnp.asarray(_same_set(ids[tp[:, 1]])),
                                     jnp.asarray(_same_set(ids[tp[:, 2]])))
