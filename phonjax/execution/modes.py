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

from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.harmonic.dipole_dipole import Q2_ZERO
from phonjax.harmonic.dynamical_matrix import eigenvalues_to_thz
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import per_mole, zero_gamma_acoustic
from phonjax.execution import host_eigen, stages
from phonjax.execution.padding import own_sizes
from phonjax.execution.plan import Plan, default_plan
from phonjax.harmonic.tables import MaterialTables, ModeTables, QSet, pad, sizes_of


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


@dataclass(frozen=True, eq=False)
class ModeSolver:
    """What D(q) of one material is built from, made once: its force constants as the
    mass-weighted blocks of ``stages.material_blocks`` (short-ranged for Gonze–Lee NAC), the
    phase and NAC tables padded to the plan's fine ladder, the chunk size. ``at(q)`` and
    ``along(segments)`` then solve any number of q-points without redoing any of it (a band
    structure, a mesh with eigenvectors and a mode analysis share one solver)."""

    tables: MaterialTables | ModeTables
    plan: Plan
    blocks: object  # (np, np, nt, 3, 3) on the device
    phases: object
    nac: object | None
    n_modes: int
    q_chunk: int

    @classmethod
    def build(cls, tables: MaterialTables | ModeTables, force_constants: np.ndarray,
              plan: Plan | None = None, q_chunk: int | None = None) -> ModeSolver:
        """``tables``: the material's unpadded ``HarmonicSystem.tables`` (or just its
        ``ModeTables``); ``force_constants`` (N, N, 3, 3) eV/Å²."""
        plan = plan or default_plan()
        own = own_sizes(tables, plan)
        with jax.enable_x64(True):
            phases = jax.device_put(pad(tables.phases, own))
            nac = None if tables.nac is None else jax.device_put(pad(tables.nac, own))
            # padded image tables index atom 0, whose phase weights are zero: padded blocks
            # never reach D
            blocks = stages.material_blocks_jit(
                jax.device_put(np.asarray(force_constants, float)), phases, nac)
        return cls(tables, plan, blocks, phases, nac, 3 * sizes_of(tables).np,
                   q_chunk or plan.q_chunk(3 * own.np))

    def at(self, qpoints, eigenvectors: bool = False, q_direction=None
           ) -> tuple[np.ndarray, np.ndarray | None]:
        """(frequencies (n_q, 3n_p) THz ascending, eigenvectors (n_q, 3n_p, 3n_p) or None) at
        ``qpoints`` (n_q, 3) in reduced coordinates of the primitive reciprocal lattice.
        Imaginary modes come out negative, as in phonopy. ``q_direction`` (3,) reduced,
        non-zero: with NAC, the direction of q → 0 used at Γ (and by Wang's method at every
        q), as phonopy's ``run_qpoints(nac_q_direction=)``."""
        tables, plan, n_modes, q_chunk = self.tables, self.plan, self.n_modes, self.q_chunk
        q = np.asarray(qpoints, float).reshape(-1, 3)
        if q_direction is not None:
            q_direction = np.asarray(q_direction, float)
            if q_direction.shape != (3,) or not np.isfinite(q_direction).all():
                raise ValueError(f"q_direction must be 3 finite numbers, "
                                 f"got {q_direction.tolist()}")
            if tables.nac is None:
                q_direction = None  # only the non-analytical term has a direction
            elif _cartesian_norm2(tables, q_direction) < Q2_ZERO:
                raise ValueError(f"q_direction {q_direction.tolist()} has (almost) zero length")
        if tables.nac is not None and q_direction is None:
            q_direction = np.zeros(3)  # no direction, as an array: one compiled function for both
        freqs = np.zeros((len(q), n_modes))
        vecs = np.zeros((len(q), n_modes, n_modes), complex) if eigenvectors else None
        with jax.enable_x64(True):
            for start in range(0, len(q), q_chunk):
                part = q[start:start + q_chunk]
                padded = np.zeros((q_chunk, 3))
                padded[:len(part)] = part
                sl = slice(start, start + len(part))
                if plan.host_solver:
                    d = np.asarray(stages.chunk_matrices_jit(padded, self.blocks, self.phases,
                                                             self.nac, q_direction,
                                                             n_modes))[:len(part)]
                    if eigenvectors:
                        values, v = host_eigen.eigh(d, plan.eigensolver)
                        vecs[sl] = v
                    else:
                        values = host_eigen.SOLVERS[plan.eigensolver](d)
                    freqs[sl] = np.asarray(_to_thz(values))
                else:
                    f, v = _xla_chunk(padded, self.blocks, self.phases, self.nac, q_direction,
                                      eigenvectors)
                    freqs[sl] = np.asarray(f)[:len(part), :n_modes]
                    if eigenvectors:
                        vecs[sl] = np.asarray(v)[:len(part), :n_modes, :n_modes]
        return freqs, vecs

    def along(self, segments, eigenvectors: bool = False
              ) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """``at`` along band-path segments (a list of (n_i, 3) reduced q-point arrays), each
        with phonopy's ``segment_direction`` for the non-analytical term; without NAC all
        points in one call."""
        if self.tables.nac is None:
            f, v = self.at(np.concatenate(segments), eigenvectors)
            cuts = np.cumsum([len(q) for q in segments])[:-1]
            return list(zip(np.split(f, cuts), [None] * len(segments) if v is None
                            else np.split(v, cuts)))
        return [self.at(seg, eigenvectors, segment_direction(self.tables, seg))
                for seg in segments]


def modes(tables: MaterialTables, force_constants: np.ndarray, qpoints, plan: Plan | None = None,
          eigenvectors: bool = False, q_chunk: int | None = None, q_direction=None
          ) -> tuple[np.ndarray, np.ndarray | None]:
    """(frequencies (n_q, 3n_p) THz ascending, eigenvectors (n_q, 3n_p, 3n_p) or None):
    ``ModeSolver.build(tables, force_constants, plan, q_chunk).at(qpoints, eigenvectors,
    q_direction)``, for one set of q-points. D(q) is built at the material's sizes padded
    to the plan's fine ladder (as the chunked runner does), so that materials of similar
    size share one compiled D(q); the solvers see the real modes."""
    return ModeSolver.build(tables, force_constants, plan, q_chunk).at(qpoints, eigenvectors,
                                                                       q_direction)


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
    with phonopy's ``segment_direction`` for the non-analytical term (``ModeSolver.along``)."""
    return ModeSolver.build(tables, force_constants, plan).along(segments, eigenvectors)


def mesh_thermal(frequencies_THz: np.ndarray, weights, qpoints, temperatures,
                 plan: Plan | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F kJ/mol, S J/K/mol, Cv J/K/mol), each (n_T,), of a whole mesh whose modes are
    already solved (``frequencies_THz`` (n_q, n_modes) at ``qpoints`` (n_q, 3) with
    ``weights`` (n_q,)): the kernel's sums (``thermal.thermal_sums``, ``per_mole``) under its
    Γ acoustic rule (``thermal.zero_gamma_acoustic``), over the flat list of modes padded to
    the kernel's lengths (``chunked.flat_length``) and the temperatures split as the chunked
    runner splits them (``chunked.spectrum_by_temperatures``). For a caller that solved the
    mesh with eigenvectors anyway (``phonjax run``'s DOS), so it is solved once."""
    from phonjax.execution.chunked import flat_length, spectrum_by_temperatures

    plan = plan or default_plan()
    f = zero_gamma_acoustic(np.asarray(frequencies_THz, float), is_gamma(np.asarray(qpoints)))
    n = f.size
    values, flat_weights = np.zeros(flat_length(n)), np.zeros(flat_length(n))
    values[:n] = f.ravel()
    flat_weights[:n] = np.repeat(np.asarray(weights, float), f.shape[1])
    temps = np.atleast_1d(np.asarray(temperatures, float))
    with jax.enable_x64(True):
        _, sums = spectrum_by_temperatures(stages.frequency_spectrum_jit, values, flat_weights,
                                           temps, plan)
    return per_mole(np.asarray(sums), float(np.sum(weights)))
