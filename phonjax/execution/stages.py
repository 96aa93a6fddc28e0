"""The stages that every runner is made of, written once.

* ``fc_and_blocks``: forces → symmetrized force constants → mass-weighted blocks
  (``material_blocks``: the short-range ones for a Gonze–Lee NAC);
* ``chunk_matrices``: q-points → D(q), for a host eigensolver;
* ``chunk_real_matrices``: q-points → the real symmetric form of D(q) of a
  centrosymmetric crystal (``phonjax.harmonic.real_form``), for a host eigensolver;
* ``modes_spectrum``: a host solver's eigenvalues, as a flat list of modes with
  their q-point weights → frequencies and weighted thermal sums;
* ``chunk_from_qpoints``: q-points → D(q) → XLA eigenvalues → frequencies and
  weighted thermal sums.

The chunked runner jits them one by one (``*_jit``); the graph runner calls them
inside one vmapped jit. They hold no physics of their own: each is a
composition of the kernels in ``force_constants``, ``dynamical_matrix`` and
``thermal``. ``MaterialOutput`` is what every runner returns per material.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.harmonic.dynamical_matrix import (dynamical_matrices, eigenvalues_to_thz, frequencies,
                                      mass_weighted_blocks, short_range_blocks)
from phonjax.harmonic.force_constants import force_constants
from phonjax.harmonic.real_form import real_form
from phonjax.harmonic.tables import MaterialTables, NACTables, PhaseTables, QSet
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import per_mole, thermal_sums, zero_gamma_acoustic


@dataclass(frozen=True, eq=False)
class MaterialOutput:
    """One material's results from a runner (host arrays, real sizes)."""

    free_energy_kJmol: np.ndarray  # (n_T,) per mole of primitive cells
    entropy_JKmol: np.ndarray  # (n_T,)
    heat_capacity_JKmol: np.ndarray  # (n_T,)
    commensurate_frequencies_THz: np.ndarray  # (n_c, 3·n_p), ascending per q-point
    force_constants: np.ndarray | None  # (N, N, 3, 3) eV/Å², if asked for

    @classmethod
    def from_sums(cls, sums, mesh: QSet, commensurate_frequencies_THz, force_constants=None):
        """From a whole mesh's ``thermal_sums`` (3, n_T) and its (unpadded) q-set."""
        f, s, cv = (np.asarray(x) for x in per_mole(np.asarray(sums), float(np.sum(mesh.weights))))
        return cls(f, s, cv, np.asarray(commensurate_frequencies_THz),
                   None if force_constants is None else np.asarray(force_constants))

    @classmethod
    def without_thermal(cls, commensurate_frequencies_THz, force_constants=None):
        """A material whose mesh was not solved (``run(..., thermal=False)``): F, S, Cv empty."""
        empty = np.zeros(0)
        return cls(empty, empty, empty, np.asarray(commensurate_frequencies_THz),
                   None if force_constants is None else np.asarray(force_constants))


def material_blocks(fc, phases: PhaseTables, nac: NACTables | None):
    """The blocks D(q) is built from (np, np, nt, 3, 3): mass-weighted force constants,
    short-ranged for a Gonze–Lee non-analytical correction."""
    blocks = mass_weighted_blocks(fc, phases)
    if nac is not None and nac.method == "gonze":
        blocks = short_range_blocks(blocks, phases, nac)
    return blocks


def fc_and_blocks(forces, tables: MaterialTables, subtract_drift: bool):
    """(force constants (N, N, 3, 3) eV/Å², ``material_blocks`` (np, np, nt, 3, 3))."""
    fc = force_constants(forces, tables.fc, subtract_drift=subtract_drift)
    return fc, material_blocks(fc, tables.phases, tables.nac)


def chunk_matrices(qpoints, blocks, phases: PhaseTables, nac: NACTables | None = None,
                   q_direction=None, n_modes: int | None = None):
    """D(q) (n_q, n_modes, n_modes) of one chunk of q-points (``q_direction``: of q → 0, for
    NAC): the real modes' block of the padded (n_q, 3np, 3np), cut inside the compiled call,
    so that the host reads it as it is (no copy; all 3np modes when ``n_modes`` is None)."""
    d = dynamical_matrices(qpoints, blocks, phases, nac=nac, q_direction=q_direction)
    return d if n_modes is None else d[:, :n_modes, :n_modes]


def chunk_real_matrices(qpoints, blocks, phases: PhaseTables, nac: NACTables | None = None,
                        n_modes: int | None = None):
    """``real_form`` (n_q, n_modes, n_modes) of a chunk's D(q) (real modes only, as
    ``chunk_matrices``: inversion maps real modes onto real ones)."""
    a = real_form(dynamical_matrices(qpoints, blocks, phases, nac=nac), phases.inversion_partner)
    return a if n_modes is None else a[:, :n_modes, :n_modes]


def modes_spectrum(eigenvalues, weights, temperatures):
    """(frequencies (n,) THz, thermal sums (3, n_T)) of a flat list of n modes: their
    eigenvalues (n,) eV/Å²/AMU and each one's q-point weight (n,) (padding: weight 0).
    The caller has zeroed the Γ acoustic eigenvalues (``thermal.zero_gamma_acoustic``)."""
    freqs = eigenvalues_to_thz(eigenvalues)
    return freqs, thermal_sums(freqs[:, None], weights, temperatures)


def frequency_spectrum(frequencies_thz, weights, temperatures):
    """``modes_spectrum`` of a flat list of modes already in THz (n,) (solved elsewhere, e.g.
    with eigenvectors): (the frequencies, thermal sums (3, n_T)); the Γ acoustic ones zeroed
    by the caller."""
    return frequencies_thz, thermal_sums(frequencies_thz[:, None], weights, temperatures)


def chunk_from_qpoints(qpoints, weights, temperatures, blocks, phases: PhaseTables,
                       nac: NACTables | None = None):
    """(frequencies (n_q, 3np) THz, thermal sums (3, n_T)) of a chunk of q-points,
    eigenvalues by XLA (padded modes and q-points: masked, weight 0). The sums skip the Γ
    acoustic modes (``thermal.GAMMA_ACOUSTIC_RULE``); the frequencies returned keep them."""
    freqs = frequencies(dynamical_matrices(qpoints, blocks, phases, nac=nac), phases.mode_mask)
    summed = zero_gamma_acoustic(freqs, is_gamma(qpoints), phases.mode_mask)
    return freqs, thermal_sums(summed, weights, temperatures, phases.mode_mask)


def qset_spectrum(qset: QSet, q_chunk: int, temperatures, blocks, phases: PhaseTables,
                  nac: NACTables | None = None):
    """(frequencies (n_q, 3np) THz, summed thermal sums (3, n_T)) of a q-set whose length is
    a multiple of ``q_chunk``, chunk by chunk (``jax.lax.map``: memory bounded by the chunk)
    with XLA's eigensolver, all in JAX (the graph runner and the differentiable surface)."""
    n = qset.qpoints.shape[0]
    q = jnp.reshape(qset.qpoints, (n // q_chunk, q_chunk, 3))
    w = jnp.reshape(qset.weights, (n // q_chunk, q_chunk))
    freqs, sums = jax.lax.map(
        lambda qw: chunk_from_qpoints(qw[0], qw[1], temperatures, blocks, phases, nac), (q, w))
    return freqs.reshape(n, -1), sums.sum(axis=0)


# one compiled function per stage and shape, shared by every call of the chunked runner
fc_and_blocks_jit = jax.jit(jax.vmap(fc_and_blocks, in_axes=(0, 0, None)), static_argnums=2)
chunk_matrices_jit = jax.jit(chunk_matrices, static_argnames="n_modes")
chunk_real_matrices_jit = jax.jit(chunk_real_matrices, static_argnames="n_modes")
material_blocks_jit = jax.jit(material_blocks)
modes_spectrum_jit = jax.jit(modes_spectrum)
frequency_spectrum_jit = jax.jit(frequency_spectrum)
chunk_from_qpoints_jit = jax.jit(chunk_from_qpoints)
