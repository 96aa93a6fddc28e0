"""Phonon modes of one material at arbitrary q-points: frequencies and eigenvectors.

The stage behind band structures, densities of states and mode analyses: given a
material's force constants (from ``phonon_properties(..., keep_force_constants=True)``
or any other source) and q-points, D(q) is built in chunks by the same compiled
stage as the mesh (``stages.chunk_matrices``), and solved by the plan's
eigensolver: on the host (phonors, LAPACK) or by XLA. Eigenvectors are phonopy's:
columns of the eigenvector matrix, ``eigenvectors[q, 3·atom + direction, band]``,
for D in phonopy's phase convention (atom positions).

For a polar material (``tables.nac``) D(q) carries the non-analytical correction;
``q_direction`` is phonopy's: the direction of q → 0 at Γ (the LO–TO splitting).
``path_modes`` follows phonopy's band structure: along a segment whose ends lie
on one line through Γ, that segment's direction is used at each of its points.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.dipole_dipole import Q2_ZERO
from phonjax.dynamical_matrix import eigenvalues_to_thz
from phonjax.execution import host_eigen, stages
from phonjax.execution.padding import own_sizes
from phonjax.execution.plan import Plan, default_plan
from phonjax.tables import MaterialTables, QSet, pad, sizes_of


@partial(jax.jit, static_argnames="vectors")
def _xla_chunk(qpoints, blocks, phases, nac, q_direction, vectors: bool):
    """Frequencies (and eigenvectors) by XLA; padded modes (zero rows and columns of D)
    shifted above the real ones, so the real modes come first, unmixed."""
    d = stages.chunk_matrices(qpoints, blocks, phases, nac, q_direction)
    mask = phases.mode_mask
    d = d + jnp.diag(jnp.where(mask, 0.0, 1e6 * (1.0 + jnp.abs(d).max())))[None]
    if vectors:
        values, vecs = jnp.linalg.eigh(d)
        return eigenvalues_to_thz(values), vecs
    return eigenvalues_to_thz(jnp.linalg.eigvalsh(d)), None


_to_thz = jax.jit(eigenvalues_to_thz)


def modes(tables: MaterialTables, force_constants: np.ndarray, qpoints, plan: Plan | None = None,
          eigenvectors: bool = False, q_chunk: int | None = None, q_direction=None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """(frequencies (n_q, 3n_p) THz ascending, eigenvectors (n_q, 3n_p, 3n_p) or None).

    ``tables``: the material's unpadded ``HarmonicSystem.tables``; ``force_constants``
    (N, N, 3, 3) eV/Å²; ``qpoints`` (n_q, 3) in reduced coordinates of the primitive
    reciprocal lattice. Imaginary modes come out negative, as in phonopy.
    ``q_direction`` (3,) reduced, non-zero: with NAC, the direction of q → 0 used at
    Γ (and by Wang's method at every q), as phonopy's ``run_qpoints(nac_q_direction=)``.
    D(q) is built at the material's sizes padded to the plan's fine ladder (as the chunked
    runner does), so that materials of similar size share one compiled D(q); the solvers
    see the real modes.
    """
    plan = plan or default_plan()
    q = np.asarray(qpoints, float).reshape(-1, 3)
    if q_direction is not None:
        q_direction = np.asarray(q_direction, float)
        if q_direction.shape != (3,) or not np.isfinite(q_direction).all():
            raise ValueError(f"q_direction must be 3 finite numbers, got {q_direction.tolist()}")
        if tables.nac is None:
            q_direction = None  # only the non-analytical term has a direction
        elif _cartesian_norm2(tables, q_direction) < Q2_ZERO:
            raise ValueError(f"q_direction {q_direction.tolist()} has (almost) zero length")
    if tables.nac is not None and q_direction is None:
        q_direction = np.zeros(3)  # no direction, as an array: one compiled function for both
    n_modes = 3 * sizes_of(tables).np
    own = own_sizes(tables, plan)
    q_chunk = q_chunk or plan.q_chunk(3 * own.np)
    freqs = np.zeros((len(q), n_modes))
    vecs = np.zeros((len(q), n_modes, n_modes), complex) if eigenvectors else None
    with jax.enable_x64(True):
        phases = jax.device_put(pad(tables.phases, own))
        nac = None if tables.nac is None else jax.device_put(pad(tables.nac, own))
        # padded image tables index atom 0, whose phase weights are zero: padded blocks
        # never reach D
        blocks = stages.material_blocks_jit(jax.device_put(np.asarray(force_constants, float)),
                                            phases, nac)
        for start in range(0, len(q), q_chunk):
            part = q[start:start + q_chunk]
            padded = np.zeros((q_chunk, 3))
            padded[:len(part)] = part
            sl = slice(start, start + len(part))
            if plan.host_solver:
                d = np.asarray(stages.chunk_matrices_jit(padded, blocks, phases, nac,
                                                         q_direction, n_modes))[:len(part)]
                if eigenvectors:
                    values, v = host_eigen.eigh(d, plan.eigensolver)
                    vecs[sl] = v
                else:
                    values = host_eigen.SOLVERS[plan.eigensolver](d)
                freqs[sl] = np.asarray(_to_thz(values))
            else:
                f, v = _xla_chunk(padded, blocks, phases, nac, q_direction, eigenvectors)
                freqs[sl] = np.asarray(f)[:len(part), :n_modes]
                if eigenvectors:
                    vecs[sl] = np.asarray(v)[:len(part), :n_modes, :n_modes]
    return freqs, vecs


def qset_modes(tables: MaterialTables, force_constants: np.ndarray, qset: QSet,
               plan: Plan | None = None, eigenvectors: bool = False):
    """``modes`` at the points of a ``QSet`` (e.g. ``tables.mesh``)."""
    return modes(tables, force_constants, qset.qpoints, plan, eigenvectors)


def _cartesian_norm2(tables: MaterialTables, q) -> float:
    b = np.asarray(tables.nac.reciprocal_lattice)
    return float(((b @ np.asarray(q, float)) ** 2).sum())


def segment_direction(tables: MaterialTables, segment) -> np.ndarray | None:
    """phonopy's q → 0 direction on a band-path segment (n, 3): first − last point when
    both ends lie on one line through Γ (|b(first) × b(last)| < 1e-5 Å⁻²) and that
    difference is not zero; else None."""
    if tables.nac is None:
        return None
    b = np.asarray(tables.nac.reciprocal_lattice)
    first, last = np.asarray(segment[0], float), np.asarray(segment[-1], float)
    if np.linalg.norm(np.cross(b @ first, b @ last)) >= 1e-5:
        return None
    direction = first - last
    return direction if _cartesian_norm2(tables, direction) >= Q2_ZERO else None


def path_modes(tables: MaterialTables, force_constants: np.ndarray, segments,
               plan: Plan | None = None, eigenvectors: bool = False
               ) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """``modes`` along band-path segments (a list of (n_i, 3) reduced q-point arrays), each
    with phonopy's ``segment_direction`` for the non-analytical term."""
    return [modes(tables, force_constants, seg, plan, eigenvectors,
                  q_direction=segment_direction(tables, seg)) for seg in segments]
