"""The graph runner (the accelerator default): a bucket's whole computation in one jit.

Forces → force constants → D(q) → XLA eigenvalues → thermal sums, and the
commensurate frequencies, for ``batch`` materials at once: one ``jax.vmap`` over
the stacked, padded tables inside one ``jax.jit``; the q-points of each
material run as ``jax.lax.map`` over chunks, so memory is bounded by the chunk,
not the mesh. Nothing returns to the host between stages. Padded modes,
q-points and atoms are masked out exactly (``phonjax.harmonic.tables``).
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

import jax
import numpy as np

from phonjax.execution import stages
from phonjax.execution.padding import (batch_size, force_constant_bytes, group_sizes,
                                       padded_stack, q_bytes)
from phonjax.execution.plan import Plan
from phonjax.harmonic.tables import MaterialTables, sizes_of


def _one_material(forces, tables: MaterialTables, temperatures, subtract_drift: bool,
                  q_chunk: int, comm_chunk: int):
    fc, blocks = stages.fc_and_blocks(forces, tables, subtract_drift)
    _, sums = stages.qset_spectrum(tables.mesh, q_chunk, temperatures, blocks, tables.phases,
                                   tables.nac)
    comm, _ = stages.qset_spectrum(tables.commensurate, comm_chunk, temperatures, blocks,
                                   tables.phases, tables.nac)
    return fc, sums, comm


@partial(jax.jit, static_argnums=(3, 4, 5))
def _batched(forces, tables, temperatures, subtract_drift, q_chunk, comm_chunk):
    return jax.vmap(_one_material, in_axes=(0, 0, None, None, None, None))(
        forces, tables, temperatures, subtract_drift, q_chunk, comm_chunk)


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


def run(forces: Sequence[np.ndarray], tables: Sequence[MaterialTables], temperatures,
        subtract_drift: bool, plan: Plan, keep_force_constants: bool, thermal: bool = True
        ) -> list[stages.MaterialOutput]:
    """Outputs of the materials of one bucket, in order. ``thermal=False`` is accepted and
    changes nothing: the mesh is part of the one compiled graph (F, S, Cv come with it)."""
    s = group_sizes(tables, plan)
    q_chunk = min(plan.q_chunk(s.modes), s.nq)
    comm_chunk = min(q_chunk, s.nc)
    s = s.replace(nq=_round_up(s.nq, q_chunk), nc=_round_up(s.nc, comm_chunk))
    per_material = q_bytes(s, q_chunk) + force_constant_bytes(s)
    batch = batch_size(len(tables), per_material, plan)
    temps = jax.device_put(np.atleast_1d(np.asarray(temperatures, float)))
    out = []
    for start in range(0, len(tables), batch):
        group = list(range(start, min(start + batch, len(tables))))
        stacked = padded_stack([forces[i] for i in group], [tables[i] for i in group], s, batch)
        fc, sums, comm = jax.device_get(_batched(*stacked, temps, subtract_drift, q_chunk,
                                                 comm_chunk))
        for b, i in enumerate(group):
            real = sizes_of(tables[i])
            out.append(stages.MaterialOutput.from_sums(
                sums[b], tables[i].mesh, comm[b, :real.nc, :3 * real.np],
                fc[b, :real.N, :real.N] if keep_force_constants else None))
    return out
