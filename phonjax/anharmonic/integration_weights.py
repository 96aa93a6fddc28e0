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
    the central vertex's "I" weight (1/6)·Σ I·g. A δ whose f0 lies outside [min, max] of
    the 96 vertex values of its Ω is 0; an element is ``g_zero`` when that holds for all
    three Ω's.
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
    below is ≥ 1e-4 THz (``phonjax.anharmonic.degeneracy.degenerate_labels``, phonopy's
    ``get_degenerate_ids``), from the same ``frequencies``. phono3py applies it to the
    tetrahedron weights only (``get_triplets_integration_weights`` and the Rust RTA path
    alike), so ``gaussian_weights`` ignores the flag: degenerate bands have equal
    Gaussians anyway.

Evaluation (tetrahedron): per call, with the triplets padded (``padded_length``: 2^k or
1.5·2^k ≥ 16 up to 1024, then multiples of 512, repeating the first triplet) so that calls of
similar sizes share a compilation,

1. ``tetrahedron_columns`` (jit): the vertex BZ indices from a per-grid lookup table
   (``vertex_lookup``, the same indices as ``vertex_bz_indices``), the clamped vertex
   frequencies, and for every (type, t, b1, b2) the min and max of its 96 vertex values;
   an element (type, t, b0, b1, b2) is live when f0 lies within them (the others are 0).
2. ``live_elements`` (host NumPy, the one device-to-host copy): the live elements' indices,
   padded to a bucketed static size (``live_bucket``); typically a small fraction.
3. ``tetrahedron_live_weights`` (jit): only those elements are gathered, their 24 tetrahedra
   sorted and evaluated with phono3py's formulas (``phonjax.anharmonic.tetrahedron``) and
   scattered back into zeros; then g's three combinations and g_zero.
4. with ``average_degenerate``, the block means (jit; degenerate sets computed on device).

All δ arithmetic is float64 ``jax.numpy`` with static shapes (no loops over elements). The
results equal the dense evaluation of every element and tetrahedron up to the ~1e-16
rounding differences of XLA's fusion choices. Memory: about 3·n_t·n_b²·96 vertex values
(step 1) and 96 values per gathered element; chunk the triplets to bound it.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.degeneracy import degenerate_labels, same_set
from phonjax.anharmonic.grid import BZGrid, Triplets, gr_index
from phonjax.anharmonic.tetrahedron import (relative_addresses, sort_four,
                                            sorted_tetrahedron_delta, vertex_bz_indices)

MIN_PADDED_TRIPLETS = 16
PAD_STEP = 512


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
    """The padded number of triplets: the next of 2^k and 1.5·2^k (at least 16) up to 1024,
    then the next multiple of 512 (a caller's fixed chunk wastes < 512 rows). ``kappa``
    pads its chunks to these sizes already, so they are not padded twice."""
    n = int(n)
    if n > 1024:
        return -(-n // PAD_STEP) * PAD_STEP
    size = max(MIN_PADDED_TRIPLETS, 1 << max(0, n - 1).bit_length())
    return 3 * size // 4 if size >= 32 and 3 * size // 4 >= n else size


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` padded along axis 0 to ``n`` rows by repeating its first row."""
    if len(a) == n:
        return a
    return np.concatenate([a, np.repeat(a[:1], n - len(a), axis=0)])


def _band_indices(band_indices, n_b: int) -> np.ndarray:
    return np.arange(n_b) if band_indices is None else np.asarray(band_indices, np.int64)


# --------------------------------------------------------------------------- tetrahedron


def vertex_lookup(grid: BZGrid, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Table of the vertex BZ index of every address in a box (host NumPy).

    The box holds the BZ addresses widened by the largest step of ``rel``; returns lookup
    (n_box,) int32 and box (2, 3) int (lower corner, extent). An entry is the BZ point with
    exactly that address, else the first image of its GR point, so that
    ``vertex_bz_indices(grid, p, rel, s)`` = ``lookup[ravel(addresses[p] + s·rel − lower)]``."""
    reach = int(np.abs(rel).max())
    lower = grid.addresses.min(axis=0) - reach
    extent = grid.addresses.max(axis=0) + reach - lower + 1
    box = np.stack(np.meshgrid(*(np.arange(e) for e in extent), indexing="ij"), axis=-1)
    lookup = np.asarray(grid.gp_map, np.int64)[gr_index(box.reshape(-1, 3) + lower, grid.mesh)]
    lookup[np.ravel_multi_index((grid.addresses - lower).T, extent)] = np.arange(
        len(grid.addresses))
    return lookup.astype(np.int32), np.stack([lower, extent])


_GRID_ARRAYS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _grid_arrays(grid: BZGrid):
    """Device copies (int64) of the grid's BZ addresses, its ``vertex_lookup`` table and box,
    and its 24 tetrahedra ``relative_addresses``; cached per grid object."""
    cached = _GRID_ARRAYS.get(grid)
    if cached is None:
        rel = relative_addresses(grid)
        lookup, box = vertex_lookup(grid, rel)
        cached = (jnp.asarray(grid.addresses, jnp.int64), jnp.asarray(lookup),
                  jnp.asarray(box, jnp.int64), jnp.asarray(rel, jnp.int64))
        _GRID_ARRAYS[grid] = cached
    return cached


def _vertex_indices(addresses, lookup, box, bz_points, rel, sign: int):
    """(n, 24, 4) BZ indices of the vertices ``addresses[bz_points] + sign·rel``."""
    a = addresses[bz_points][:, None, None, :] + sign * rel[None] - box[0]
    return lookup[(a[..., 0] * box[1, 1] + a[..., 1]) * box[1, 2] + a[..., 2]]


@jax.jit
def tetrahedron_columns(freqs, addresses, lookup, box, rel, triplets, q_points, bands,
                        n_valid):
    """Vertex frequencies of the triplets and which weights can be nonzero.

    freqs (N_bz, n_b) THz; addresses, lookup, box, rel from ``_grid_arrays``; triplets
    (n, 3), q_points (n,) BZ indices; bands (n_b0,); n_valid: rows ≥ n_valid are padding.
    Returns f0 (n, n_b0) THz; f1, f2 (n, n_b, 96) THz, the frequencies at q′ + r and q″ − r
    clamped to ≥ 0 (vertex-major: 4 vertices, central first, × 24 tetrahedra); and live
    (3, n, n_b0, n_b, n_b) bool: min ≤ f0 ≤ max over the 96 vertex values of that δ type
    (False on padding). Type 2's values are exactly the negated type 1 values, so its min
    and max are −max and −min of type 1.
    """
    n = triplets.shape[0]
    v1 = _vertex_indices(addresses, lookup, box, triplets[:, 1], rel, 1)  # (n, 24, 4)
    v2 = _vertex_indices(addresses, lookup, box, triplets[:, 2], rel, -1)
    f1 = jnp.maximum(freqs[jnp.swapaxes(v1, 1, 2).reshape(n, 96)], 0.0)  # (n, 96, n_b)
    f2 = jnp.maximum(freqs[jnp.swapaxes(v2, 1, 2).reshape(n, 96)], 0.0)
    f0 = freqs[q_points][:, bands]
    s = f1[:, :, :, None] + f2[:, :, None, :]  # (n, 96, n_b, n_b): type 0, f1 + f2
    d = -f1[:, :, :, None] + f2[:, :, None, :]  # type 1, −f1 + f2 (type 2 = −d)
    inf = jnp.asarray(jnp.inf, s.dtype)
    lo_s, hi_s, lo_d, hi_d = jax.lax.reduce(  # one pass for the four bounds
        (s, s, d, d), (inf, -inf, inf, -inf),
        lambda x, y: (jnp.minimum(x[0], y[0]), jnp.maximum(x[1], y[1]),
                      jnp.minimum(x[2], y[2]), jnp.maximum(x[3], y[3])), (1,))
    omega = f0[:, :, None, None]  # (n, n_b0, 1, 1)
    valid = (jnp.arange(n) < n_valid)[:, None, None, None]

    def within(lo, hi):
        return (omega >= lo[:, None]) & (omega <= hi[:, None]) & valid

    live = jnp.stack([within(lo_s, hi_s), within(lo_d, hi_d), within(-hi_d, -lo_d)])
    return f0, jnp.swapaxes(f1, 1, 2), jnp.swapaxes(f2, 1, 2), live


def live_elements(live) -> np.ndarray:
    """(6, size) int: flat index into ``live`` and the five indices (δ type, triplet, b0, b1,
    b2) of its True elements, in row-major order (host NumPy: one device-to-host copy of the
    mask); the ``size − count`` padding columns have flat index ``live.size`` and zeros."""
    mask = np.asarray(live)
    flat = np.flatnonzero(mask)
    count = len(flat)
    out = np.zeros((6, live_bucket(count)), np.int32 if mask.size < 2 ** 31 else np.int64)
    out[0] = mask.size
    out[0, :count] = flat
    out[1:, :count] = np.unravel_index(flat, mask.shape)
    return out


def live_bucket(count: int) -> int:
    """Static number of gathered elements for ``count`` live ones: 1024, else the next of
    2^k and 1.5·2^k (at most a third wasted, two compiled sizes per octave)."""
    count = int(count)
    if count <= 1024:
        return 1024
    top = 1 << (count - 1).bit_length()  # 2^k ≥ count
    return top // 2 + top // 4 if count <= top // 2 + top // 4 else top


@jax.jit
def tetrahedron_live_weights(f0, f1, f2, live, elements):
    """g and g_zero from ``tetrahedron_columns`` and ``live_elements``.

    Gathers the live elements' ω = f0 and their 96 vertex values (f1 + f2, −f1 + f2 or
    f1 − f2 by type), sorts each tetrahedron's four values (``sort_four``), sums the 24
    tetrahedra's δ weights (``sorted_tetrahedron_delta``)/6 as ``delta_weights`` does, and
    scatters them into zeros (padding columns are dropped): w (3, n, n_b0, n_b, n_b).
    Returns g = [w0, w1 − w2, w1 + w2 + w0] and g_zero = no type live."""
    flat, kind, t, b0, b1, b2 = elements
    a = f1[t, b1]  # (size, 96)
    b = f2[t, b2]
    kind = kind[:, None]
    values = jnp.where(kind == 0, a + b, jnp.where(kind == 1, -a + b, a - b))
    values = values.reshape(-1, 4, 24)  # (size, vertex, tetrahedron)
    v, rank = sort_four(*(values[:, i] for i in range(4)))
    w = jnp.sum(sorted_tetrahedron_delta(f0[t, b0][:, None], *v, rank), axis=-1) / 6.0
    w = jnp.zeros(live.size, w.dtype).at[flat].set(w, mode="drop").reshape(live.shape)
    g = jnp.stack([w[0], w[1] - w[2], w[1] + w[2] + w[0]])
    return g, ~jnp.any(live, axis=0)


# --------------------------------------------------------------------------- Gaussian, averaging


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
    (n_t, n_b, n_b) float 0/1 indicators of equal degenerate sets at q′ and q″. The sums over
    a set are written out band by band (n_b terms of elementwise products), which XLA fuses
    into one loop, where a batched matrix product of such small matrices is slow."""
    n_b = same1.shape[-1]
    n1 = jnp.sum(same1, axis=-1)  # (n_t, n_b) set sizes
    n2 = jnp.sum(same2, axis=-1)
    g = sum(g[:, :, :, j:j + 1, :] * same1[None, :, None, j, :, None]
            for j in range(n_b)) / n1[None, :, None, :, None]
    g = sum(g[:, :, :, :, k:k + 1] * same2[None, :, None, None, k, :]
            for k in range(n_b)) / n2[None, :, None, None, :]
    live = (~g_zero).astype(g.dtype)
    live = sum(live[:, :, j:j + 1, :] * same1[:, None, j, :, None] for j in range(n_b))
    live = sum(live[:, :, :, k:k + 1] * same2[:, None, None, k, :] for k in range(n_b))
    return g, live == 0


def _same_set(f):
    """(..., n_b, n_b) float: 1 where two bands of ``f`` (..., n_b) THz are in the same
    degenerate set (``degeneracy.degenerate_labels``, on the device)."""
    return same_set(degenerate_labels(f)).astype(f.dtype)


@jax.jit
def _average(g, g_zero, freqs, triplets):
    """``average_degenerate_blocks`` with the sets of ``freqs`` (N_bz, n_b) at the triplets'
    q′ and q″."""
    return average_degenerate_blocks(g, g_zero, _same_set(freqs[triplets[:, 1]]),
                                     _same_set(freqs[triplets[:, 2]]))


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
    with jax.enable_x64(True):
        if n_t == 0:
            shape = (0, len(bands), freqs.shape[1], freqs.shape[1])
            return IntegrationWeights(jnp.zeros((3,) + shape), jnp.ones(shape, bool))
        n = padded_length(n_t)
        fj = jnp.asarray(freqs)
        tpj = jnp.asarray(_pad(tp, n))
        f0, f1, f2, live = tetrahedron_columns(
            fj, *_grid_arrays(grid), tpj, jnp.asarray(_pad(_q_points(triplets, q_points), n)),
            jnp.asarray(bands), n_t)
        g, g_zero = tetrahedron_live_weights(f0, f1, f2, live,
                                             jnp.asarray(live_elements(live)))
        if average_degenerate:
            g, g_zero = _average(g, g_zero, fj, tpj)
        if n > n_t:
            g, g_zero = g[:, :n_t], g_zero[:n_t]
        return IntegrationWeights(g, g_zero)


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
