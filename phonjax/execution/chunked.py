"""The chunked runner (the CPU default): force constants per bucket, q-points per material.

The force constants of ``batch`` materials of a bucket are one vmapped jit.
Then, material by material at its own finely padded size (``own_sizes``), its
q-points run in chunks of ``plan.q_chunk`` points: D(q) compiled, eigenvalues
by the plan's solver (on the host between compiled pieces, or by XLA inside
them). With a host solver, the mesh of a crystal with inversion symmetry is
solved in real symmetric form (``phonjax.harmonic.real_form``, checked first at a chunk
of generic q-points against ``Plan.real_form_tolerance``; commensurate points,
whose single frequencies are reported, stay complex), and the frequencies
and thermal sums of all the material's modes (mesh and commensurate q-points)
are one compiled call over a flat list padded to a power of two. What this
buys on CPU:

* every compiled piece has one shape per (fine) material size, or per power of
  two, and no host callback, so it lands in JAX's persistent compilation cache
  (a warm cache still traces and lowers each shape once per process: few shapes
  matter for a batch);
* a host solver sees only the real modes of the real q-points of a chunk
  (padding would cost (m_pad/m)³ in eigen work);
* chunks of a few MB keep XLA's passes over D(q) in cache.

The D(q) of the next chunk is dispatched before the host solves the current
one, so XLA computes it meanwhile (a small gain on 2 cores, BENCH_NOTES.md).
"""

from __future__ import annotations

from functools import partial
from typing import Iterator, Sequence

import jax
import numpy as np

from phonjax.execution import host_eigen, stages
from phonjax.execution.padding import (batch_size, force_constant_bytes, group_sizes, own_sizes,
                                       padded_stack)
from phonjax.execution.plan import Plan
from phonjax.harmonic.real_form import symmetry_residual
from phonjax.harmonic.tables import MaterialTables, QSet, pad, sizes_of
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import zero_gamma_acoustic


def _chunks(qset: QSet, q_chunk: int) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """(q (q_chunk, 3), weights (q_chunk,), number of real points) per chunk, the last
    padded with Γ at weight 0."""
    q, w = np.asarray(qset.qpoints, float), np.asarray(qset.weights, float)
    for start in range(0, len(q), q_chunk):
        n = min(q_chunk, len(q) - start)
        part_q, part_w = np.zeros((q_chunk, 3)), np.zeros(q_chunk)
        part_q[:n], part_w[:n] = q[start:start + n], w[start:start + n]
        yield part_q, part_w, n


def _xla_spectrum(qset: QSet, blocks, phases, nac, n_modes: int, q_chunk: int, temps
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(frequencies (n_q, n_modes) THz, thermal sums (3, n_T)) of a q-set, chunk by chunk,
    eigenvalues by XLA inside the compiled call."""
    freqs, sums = [], np.zeros((3, len(temps)))
    for q, w, n in _chunks(qset, q_chunk):
        f, s = stages.chunk_from_qpoints_jit(q, w, temps, blocks, phases, nac)
        freqs.append(np.asarray(f)[:n, :n_modes])
        sums += np.asarray(s)
    return (np.concatenate(freqs) if freqs else np.zeros((0, n_modes))), sums


def _host_eigenvalues(qset: QSet, blocks, phases, nac, n_modes: int, q_chunk: int,
                      solver: str, real: bool = False) -> np.ndarray:
    """Eigenvalues (n_q, n_modes) of a q-set's D(q) (eV/Å²/AMU): D(q) compiled chunk by
    chunk, solved on the host for the real modes of the real q-points only; ``real``:
    D's real symmetric form (``phonjax.harmonic.real_form``) by LAPACK."""
    matrices = stages.chunk_real_matrices_jit if real else stages.chunk_matrices_jit
    solve = host_eigen.real_eigvalsh if real else host_eigen.SOLVERS[solver]
    eigenvalues = np.zeros((len(qset.weights), n_modes))
    pending, start = None, 0
    for q, _, n in _chunks(qset, q_chunk):
        d = matrices(q, blocks, phases, nac, n_modes=n_modes)  # dispatched, runs meanwhile
        if pending is not None:
            _solve(*pending, eigenvalues, solve)
        pending, start = (d, start, n), start + n
    if pending is not None:
        _solve(*pending, eigenvalues, solve)
    return eigenvalues


def real_form_holds(tables: MaterialTables, blocks, phases, nac, n_modes: int, q_chunk: int,
                    tolerance: float) -> bool:
    """Whether D(q) has the inversion symmetry of ``phonjax.harmonic.real_form`` to ``tolerance``,
    checked at 4 generic q-points (one more chunk of D(q), of the same compiled shape)."""
    partner = np.asarray(tables.phases.inversion_partner)
    if tolerance <= 0 or (partner < 0).any():
        return False
    probe = (np.arange(1, q_chunk + 1)[:, None] * np.array([0.1234, 0.3711, 0.5773])) % 1 - 0.5
    d = np.asarray(stages.chunk_matrices_jit(probe, blocks, phases, nac, n_modes=n_modes))
    return symmetry_residual(d[:4], partner) <= tolerance


def mesh_eigenvalues(tables: MaterialTables, blocks, phases, nac, n_modes: int, q_chunk: int,
                      plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """(eigenvalues (n_q, n_modes), their q-points' weights (n_q,)) of the mesh, in an order
    of their own: in real symmetric form where ``real_form_holds``, except at mesh points
    that are also commensurate points, solved as those are (complex): a q-point of both
    sets has one set of eigenvalues. The Γ acoustic eigenvalues are zeroed
    (``thermal.zero_gamma_acoustic``), so the thermal sums skip them."""
    mesh = tables.mesh
    solve = partial(_host_eigenvalues, blocks=blocks, phases=phases, nac=nac, n_modes=n_modes,
                    q_chunk=q_chunk, solver=plan.eigensolver)
    q, w = np.asarray(mesh.qpoints), np.asarray(mesh.weights)
    if not real_form_holds(tables, blocks, phases, nac, n_modes, q_chunk,
                           plan.real_form_tolerance):
        return zero_gamma_acoustic(solve(mesh), is_gamma(q)), w
    shared = np.isin(_keys(q), _keys(np.asarray(tables.commensurate.qpoints)))
    values = [solve(QSet(q[~shared], w[~shared]), real=True), solve(QSet(q[shared], w[shared]))]
    order = np.concatenate([q[~shared], q[shared]])
    return (zero_gamma_acoustic(np.concatenate(values), is_gamma(order)),
            np.concatenate([w[~shared], w[shared]]))


def _keys(q: np.ndarray) -> np.ndarray:
    """One integer per q-point (n, 3) modulo reciprocal lattice vectors (1e-6 grid)."""
    k = (np.rint(np.mod(q, 1.0) * 1e6).astype(np.int64) % 1_000_000)
    return (k[:, 0] * 1_000_000 + k[:, 1]) * 1_000_000 + k[:, 2]


def _solve(d, start: int, n: int, eigenvalues: np.ndarray, solve) -> None:
    """Eigenvalues of the first n matrices of a chunk's D(q) (real modes only) into
    ``eigenvalues[start:start + n]``."""
    eigenvalues[start:start + n] = solve(np.asarray(d)[:n])


def _modes_spectrum(mesh_eigenvalues: np.ndarray, mesh_weights, comm_eigenvalues: np.ndarray,
                    temps, plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """(commensurate frequencies THz, the mesh's thermal sums (3, n_T)) by one compiled call
    over the flat list of both q-sets' modes (commensurate ones at weight 0), padded to a
    power of two (``flat_length``): a handful of compiled shapes for any number of
    materials, instead of one per chunk size."""
    n_mesh, n_all = mesh_eigenvalues.size, mesh_eigenvalues.size + comm_eigenvalues.size
    values, weights = np.zeros(flat_length(n_all)), np.zeros(flat_length(n_all))
    values[:n_mesh], values[n_mesh:n_all] = mesh_eigenvalues.ravel(), comm_eigenvalues.ravel()
    weights[:n_mesh] = np.repeat(np.asarray(mesh_weights, float), mesh_eigenvalues.shape[1])
    freqs, sums = spectrum_by_temperatures(stages.modes_spectrum_jit, values, weights, temps,
                                           plan)
    return np.asarray(freqs)[n_mesh:n_all].reshape(comm_eigenvalues.shape), np.asarray(sums)


def spectrum_by_temperatures(stage, values: np.ndarray, weights: np.ndarray, temps, plan: Plan
                             ) -> tuple[np.ndarray, np.ndarray]:
    """``stage(values, weights, temps)`` → (frequencies, thermal sums (3, n_T)) of a flat list
    of modes, in one call, or, where the (n_T, n) work arrays exceed the plan's bound
    (``plan.temperature_chunk``), with the temperatures split into calls of that many (the
    last one padded with its last temperature: one compiled shape). Each temperature's sums
    are its own, so the split changes nothing."""
    per_call = plan.temperature_chunk(len(values))
    if len(temps) <= per_call:
        return stage(values, weights, temps)
    temps, sums = np.asarray(temps), []
    for start in range(0, len(temps), per_call):
        part = temps[start:start + per_call]
        freqs, s = stage(values, weights, np.pad(part, (0, per_call - len(part)), "edge"))
        sums.append(np.asarray(s)[:, :len(part)])
    return freqs, np.concatenate(sums, axis=1)


def flat_length(n: int, smallest: int = 4096) -> int:
    """The padded length of a flat list of n modes: a power of two, at least ``smallest``."""
    return max(smallest, 1 << max(0, n - 1).bit_length())


def run(forces: Sequence[np.ndarray], tables: Sequence[MaterialTables], temperatures,
        subtract_drift: bool, plan: Plan, keep_force_constants: bool, thermal: bool = True
        ) -> list[stages.MaterialOutput]:
    """Outputs of the materials of one bucket, in order (``thermal=False``: the mesh is not
    solved and F, S, Cv are empty)."""
    with host_eigen.blas_single_threaded():  # LAPACK one thread per core (real_eigvalsh)
        return _run(forces, tables, temperatures, subtract_drift, plan, keep_force_constants,
                    thermal)


def _run(forces, tables, temperatures, subtract_drift, plan, keep_force_constants, thermal):
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
            # the mesh's chunk size for both q-sets: one compiled D(q) serves both
            if plan.host_solver:
                comm = _host_eigenvalues(t.commensurate, own_blocks, phases, nac, n_modes,
                                         q_chunk, plan.eigensolver)
                if thermal:
                    mesh, weights = mesh_eigenvalues(t, own_blocks, phases, nac, n_modes,
                                                      q_chunk, plan)
                else:
                    mesh, weights = np.zeros((0, comm.shape[1])), np.zeros(0)
                comm, sums = _modes_spectrum(mesh, weights, comm, temps, plan)
            else:
                _, sums = _xla_spectrum(t.mesh, own_blocks, phases, nac, n_modes, q_chunk, temps)
                comm, _ = _xla_spectrum(t.commensurate, own_blocks, phases, nac, n_modes,
                                        q_chunk, temps)
            fc_b = fc[b, :real.N, :real.N] if keep_force_constants else None
            out.append(stages.MaterialOutput.from_sums(sums, t.mesh, comm, fc_b) if thermal
                       else stages.MaterialOutput.without_thermal(comm, fc_b))
    return out
