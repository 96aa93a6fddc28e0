"""Bands connected by eigenvector overlap, as phonopy's ``is_band_connection``.

(phonopy's per-segment sampling, n points on every segment, is ``single.bandpath.sample(...,
per_segment=True)``.)

Band connection (``connect_bands``) is phonopy's ``BandStructure(..., is_band_connection=True)``
(``estimate_band_connection``): along each segment, from its first point (where the order is
the eigensolver's ascending one: every segment starts afresh, whatever ``path_connections``
says) to the next point, the overlap matrix O_rc = |⟨e_r(prev)|e_c(cur)⟩| of the ascending
eigenvectors is matched greedily: for r = 0, 1, … in turn, the not yet matched c with the
largest O_rc (columns scanned from the last to the first, a strictly larger value wins, so a tie
goes to the higher c; 0 when no unmatched overlap is positive), and the connected band k at
the current point is the match of the ascending index band k had at the previous point.
``order[s][j, k]``: the ascending index, at point j of segment s, of connected band k;
frequencies and eigenvector columns are permuted by it.

Inside a degenerate set the eigenvectors are the eigensolver's choice (phonopy's are LAPACK's),
and so is the connection through a point where bands are degenerate (a segment's first point at
Γ, most often): the connected order there is only as unique as the eigenvectors.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np



class ConnectedBands(NamedTuple):
    frequencies_THz: list[np.ndarray]  # per segment (n_i, n_modes), connected order
    eigenvectors: list[np.ndarray]  # per segment (n_i, n_modes, n_modes), columns connected
    order: list[np.ndarray]  # per segment (n_i, n_modes) int: ascending index of band k


def overlap_matches(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """(n,) int: for each ascending mode r at the previous point, its greedy match c at the
    current one (module docstring); ``previous``, ``current``: (n, n) eigenvectors, columns."""
    overlaps = np.abs(np.asarray(previous).conj().T @ np.asarray(current))
    n = len(overlaps)
    taken = np.zeros(n, bool)
    matches = np.zeros(n, np.int64)
    for r in range(n):
        best, value = 0, 0.0
        for c in range(n - 1, -1, -1):
            if not taken[c] and overlaps[r, c] > value:
                best, value = c, overlaps[r, c]
        matches[r] = best
        taken[best] = True
    return matches


def connect_bands(frequencies_THz: Sequence[np.ndarray], eigenvectors: Sequence[np.ndarray]
                  ) -> ConnectedBands:
    """Bands of each segment reordered by eigenvector overlap, as phonopy's
    ``is_band_connection=True`` (module docstring). ``frequencies_THz``: per segment
    (n_i, n_modes) ascending; ``eigenvectors``: per segment (n_i, n_modes, n_modes), columns
    (``spectra.band_structure(..., with_eigenvectors=True)``'s)."""
    if eigenvectors is None or len(frequencies_THz) != len(eigenvectors):
        raise ValueError("connect_bands needs one eigenvector array per segment of frequencies")
    out_f, out_v, out_order = [], [], []
    for f, v in zip(frequencies_THz, eigenvectors):
        f, v = np.asarray(f, float), np.asarray(v)
        if f.ndim != 2 or v.shape != f.shape + (f.shape[1],):
            raise ValueError(f"a segment's eigenvectors must have shape (n_q, n_modes, n_modes) "
                             f"for frequencies (n_q, n_modes); got {v.shape} for {f.shape}")
        order = np.empty(f.shape, np.int64)
        if len(f):
            order[0] = np.arange(f.shape[1])
        for j in range(1, len(f)):
            order[j] = overlap_matches(v[j - 1], v[j])[order[j - 1]]
        out_order.append(order)
        out_f.append(np.take_along_axis(f, order, axis=1))
        out_v.append(np.take_along_axis(v, order[:, None, :], axis=2))
    return ConnectedBands(out_f, out_v, out_order)


def connected_band_structure(band):
    """A ``spectra.BandStructure`` (with eigenvectors) with its bands connected."""
    from phonjax.single.spectra import BandStructure

    if band.eigenvectors is None:
        raise ValueError("band connection needs the band structure's eigenvectors "
                         "(with_eigenvectors=True)")
    connected = connect_bands(band.frequencies_THz, band.eigenvectors)
    return BandStructure(band.sampling, connected.frequencies_THz, connected.eigenvectors)
