"""Phonon modes of one material at arbitrary q-points: frequencies and eigenvectors.

The stage behind band structures, densities of states and mode analyses: given a
material's force constants (from ``phonon_properties(..., keep_force_constants=True)``
or any other source) and q-points, D(q) is built in chunks by the same compiled
stage as the mesh (``stages.chunk_matrices``), and solved by the plan's
eigensolver: on the host (phonors, LAPACK) or by XLA. Eigenvectors are phonopy's:
columns of the eigenvector matrix, ``eigenvectors[q, 3·atom + direction, band]``,
for D in phonopy's phase convention (atom positions).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.dynamical_matrix import eigenvalues_to_thz
from phonjax.execution import host_eigen, stages
from phonjax.execution.padding import own_sizes
from phonjax.execution.plan import Plan, default_plan
from phonjax.tables import MaterialTables, QSet, pad, sizes_of


@partial(jax.jit, static_argnames="vectors")
def _xla_chunk(qpoints, blocks, phases, vectors: bool):
    """Frequencies (and eigenvectors) by XLA; padded modes (zero rows and columns of D)
    shifted above the real ones, so the real modes come first, unmixed."""
    d = stages.chunk_matrices(qpoints, blocks, phases)
    mask = phases.mode_mask
    d = d + jnp.diag(jnp.where(mask, 0.0, 1e6 * (1.0 + jnp.abs(d).max())))[None]
    if vectors:
        values, vecs = jnp.linalg.eigh(d)
        return eigenvalues_to_thz(values), vecs
    return eigenvalues_to_thz(jnp.linalg.eigvalsh(d)), None


_to_thz = jax.jit(eigenvalues_to_thz)


def _host_blocks(force_constants: np.ndarray, phases) -> np.ndarray:
    """``mass_weighted_blocks`` on the host (padded tables index atom 0, whose phase weights
    are zero, so padded blocks never reach D)."""
    fc = np.asarray(force_constants, float)
    p2s, images = np.asarray(phases.p2s), np.asarray(phases.image_atoms)
    m = np.asarray(phases.masses, float)
    return fc[p2s][:, images] / np.sqrt(m[:, None] * m[None, :])[:, :, None, None, None]


def modes(tables: MaterialTables, force_constants: np.ndarray, qpoints, plan: Plan | None = None,
          eigenvectors: bool = False, q_chunk: int | None = None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """(frequencies (n_q, 3n_p) THz ascending, eigenvectors (n_q, 3n_p, 3n_p) or None).

    ``tables``: the material's unpadded ``HarmonicSystem.tables``; ``force_constants``
    (N, N, 3, 3) eV/Å²; ``qpoints`` (n_q, 3) in reduced coordinates of the primitive
    reciprocal lattice. Imaginary modes come out negative, as in phonopy. D(q) is built at
    the material's sizes padded to the plan's fine ladder (as the chunked runner does), so
    that materials of similar size share one compiled D(q); the solvers see the real modes.
    """
    plan = plan or default_plan()
    q = np.asarray(qpoints, float).reshape(-1, 3)
    n_modes = 3 * sizes_of(tables).np
    own = own_sizes(tables, plan)
    q_chunk = q_chunk or plan.q_chunk(3 * own.np)
    freqs = np.zeros((len(q), n_modes))
    vecs = np.zeros((len(q), n_modes, n_modes), complex) if eigenvectors else None
    with jax.enable_x64(True):
        padded_phases = pad(tables.phases, own)
        blocks = jax.device_put(_host_blocks(force_constants, padded_phases))
        phases = jax.device_put(padded_phases)
        for start in range(0, len(q), q_chunk):
            part = q[start:start + q_chunk]
            padded = np.zeros((q_chunk, 3))
            padded[:len(part)] = part
            sl = slice(start, start + len(part))
            if plan.host_solver:
                d = np.asarray(stages.chunk_matrices_jit(padded, blocks, phases))
                d = d[:len(part), :n_modes, :n_modes]
                if eigenvectors:
                    values, v = host_eigen.eigh(d, plan.eigensolver)
                    vecs[sl] = v
                else:
                    values = host_eigen.SOLVERS[plan.eigensolver](d)
                freqs[sl] = np.asarray(_to_thz(values))
            else:
                f, v = _xla_chunk(padded, blocks, phases, eigenvectors)
                freqs[sl] = np.asarray(f)[:len(part), :n_modes]
                if eigenvectors:
                    vecs[sl] = np.asarray(v)[:len(part), :n_modes, :n_modes]
    return freqs, vecs


def qset_modes(tables: MaterialTables, force_constants: np.ndarray, qset: QSet,
               plan: Plan | None = None, eigenvectors: bool = False):
    """``modes`` at the points of a ``QSet`` (e.g. ``tables.mesh``)."""
    return modes(tables, force_constants, qset.qpoints, plan, eigenvectors)
