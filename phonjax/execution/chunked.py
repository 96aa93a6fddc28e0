"""The chunked runner (the CPU default): force constants per bucket, q-points per material.

The force constants of ``batch`` materials of a bucket are one vmapped jit.
Then, material by material at its own finely padded size (``own_sizes``), its
q-points run in chunks of ``plan.q_chunk`` points: D(q) compiled, eigenvalues
by the plan's solver (on the host between compiled pieces, or by XLA inside
them), frequencies and thermal sums compiled. What this buys on CPU:

* every compiled piece has one shape per (fine) material size and no host
  callback, so it lands in JAX's persistent compilation cache;
* a host solver sees only the real modes of the real q-points of a chunk
  (padding would cost (m_pad/m)³ in eigen work);
* chunks of a few MB keep XLA's passes over D(q) in cache.

Chunks run one after the other: XLA's D(q) and the host solver each use every
core, and overlapping them makes their thread pools compete (BENCH_NOTES.md).
"""

from __future__ import annotations

from typing import Iterator, Sequence

import jax
import numpy as np

from phonjax.execution import host_eigen, stages
from phonjax.execution.padding import (batch_size, force_constant_bytes, group_sizes, own_sizes,
                                       padded_stack)
from phonjax.execution.plan import Plan
from phonjax.tables import MaterialTables, QSet, pad, sizes_of


def _chunks(qset: QSet, q_chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(q (q_chunk, 3), weights (q_chunk,), number of real points) per chunk, the last
    padded with Γ at weight 0."""
    q, w = np.asarray(qset.qpoints, float), np.asarray(qset.weights, float)
    for start in range(0, len(q), q_chunk):
        n = min(q_chunk, len(q) - start)
        part_q, part_w = np.zeros((q_chunk, 3)), np.zeros(q_chunk)
        part_q[:n], part_w[:n] = q[start:start + n], w[start:start + n]
        yield part_q, part_w, n


def _spectrum(qset: QSet, blocks, phases, nac, n_modes: int, q_chunk: int, temps,
              plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies (n_q, n_modes) THz, thermal sums (3, n_T)) of a q-set."""
    width = blocks.shape[0] * 3
    freqs, sums = [], np.zeros((3, len(temps)))
    for q, w, n in _chunks(qset, q_chunk):
        if plan.host_solver:
            d = np.asarray(stages.chunk_matrices_jit(q, blocks, phases, nac))
            eigenvalues = np.zeros((q_chunk, width))
            eigenvalues[:n, :n_modes] = host_eigen.SOLVERS[plan.eigensolver](
                d[:n, :n_modes, :n_modes])
            f, s = stages.chunk_from_eigenvalues_jit(eigenvalues, w, temps, phases)
        else:
            f, s = stages.chunk_from_qpoints_jit(q, w, temps, blocks, phases, nac)
        freqs.append(np.asarray(f)[:n, :n_modes])
        sums += np.asarray(s)
    return (np.concatenate(freqs) if freqs else np.zeros((0, n_modes))), sums


def run(forces: Sequence[np.ndarray], tables: Sequence[MaterialTables], temperatures,
        subtract_drift: bool, plan: Plan, keep_force_constants: bool
        ) -> list[stages.MaterialOutput]:
    """Outputs of the materials of one bucket, in order."""
    s = group_sizes(tables, plan)
    batch = batch_size(len(tables), force_constant_bytes(s), plan)
    temps = jax.device_put(np.atleast_1d(np.asarray(temperatures, float)))
    out = []
    for start in range(0, len(tables), batch):
        group = list(range(start, min(start + batch, len(tables))))
        stacked_forces, stacked_tables = padded_stack([forces[i] for i in group],
                                                      [tables[i] for i in group], s, batch)
        fc, blocks = stages.fc_and_blocks_jit(stacked_forces, stacked_tables, subtract_drift)
        blocks = np.asarray(blocks)
        for b, i in enumerate(group):
            t = tables[i]
            own, real = own_sizes(t, plan), sizes_of(t)
            phases = jax.device_put(pad(t.phases, own))
            nac = jax.device_put(pad(t.nac, own))
            own_blocks = jax.device_put(np.ascontiguousarray(blocks[b, :own.np, :own.np, :own.nt]))
            n_modes, q_chunk = 3 * real.np, plan.q_chunk(3 * own.np)
            _, sums = _spectrum(t.mesh, own_blocks, phases, nac, n_modes, q_chunk, temps, plan)
            # the mesh's chunk size: one compiled D(q) serves both q-sets
            comm, _ = _spectrum(t.commensurate, own_blocks, phases, nac, n_modes, q_chunk, temps,
                                plan)
            out.append(stages.MaterialOutput.from_sums(
                sums, t.mesh, comm, fc[b, :real.N, :real.N] if keep_force_constants else None))
    return out
