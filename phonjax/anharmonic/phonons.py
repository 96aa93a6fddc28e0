"""Harmonic phonons on every point of a BZ grid: what the three-phonon sums read.

phono3py solves D(q) once at every BZ-grid point (``BZGrid.addresses / mesh``, surface
images included) and indexes frequencies and eigenvectors by BZ index; so does this
module, with the harmonic kernel's D(q) and solver (``execution.modes.ModeSolver``:
phonopy's phase convention, atomic-position gauge, Hermitized; with Born charges the
Gonze–Lee correction, analytic-only at Γ as phono3py; the plan's eigensolver).

``GridPhonons``
    frequencies (N_bz, n_b) THz (imaginary modes negative), eigenvectors (N_bz, n_b, n_b)
    complex with modes in columns (phonopy's layout: ``e[:, ν]``, row 3·atom + α).

Γ acoustic rule (phono3py's ``_init_dynamical_matrix``): at Γ, if fewer than three
frequencies are below the cutoff (1e-4 THz), those of the three lowest bands that are not
are set to 0 (phono3py warns; ``GridPhonons.gamma_forced`` counts them).

Eigenvectors inside a degenerate subspace are whatever the eigensolver returns; the κ code
never depends on them (degenerate averaging of the weights and of Γ, see
``phonjax.anharmonic.integration_weights`` and ``self_energy``).

Symmetrized frequencies (``symmetrized_frequencies``, on by default): frequencies that
symmetry makes equal (star members, BZ images, degenerate bands) but an eigensolver returns
~1e-14 THz apart are made bitwise equal. The tetrahedron method is discontinuous where ω
equals several equal vertex values, which happens exactly there (isotope scattering's
δ(ω′ − ω) at q′ in the star of q): phono3py's tetrahedron Γ_iso moves by percents under
1e-14 THz of noise on its own frequencies (BENCHMARKS §15). With exact equalities phonjax's result is the one exact arithmetic gives (under
phono3py 4.10's tie rule), on every machine. Differences larger than rounding (a slightly
asymmetric FC2) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.degeneracy import CUTOFF_FREQUENCY_THZ
from phonjax.anharmonic.fc3 import FC3Cells, fc2_compact_to_full
from phonjax.anharmonic.grid import BZGrid, orbit_map
from phonjax.execution.modes import ModeSolver
from phonjax.execution.plan import Plan
from phonjax.execution.stages import material_blocks
from phonjax.harmonic.mesh import commensurate_qpoints
from phonjax.harmonic.nac import NACParams, nac_tables
from phonjax.harmonic.system import phase_tables
from phonjax.harmonic.tables import ModeTables, NACTables, PhaseTables
from phonjax.structure.crystal import Crystal
from phonjax.structure.supercell import build_supercell

EXACT_DEGENERACY_THZ = 1e-11  # closer than this: equal up to rounding (~1e-14 THz); real
# symmetry breaking is larger (NaCl-rd's symfc FC2 with Born charges: 6e-9 splittings, 3e-7
# star spreads)


@dataclass(frozen=True, eq=False)
class HarmonicModel:
    """FC2 ready for D(q): mass-weighted blocks (short-ranged with Gonze–Lee NAC) and the
    phase and NAC tables of its supercell, unpadded (what velocities differentiate), and
    the force constants in full form (what ``execution.modes.ModeSolver`` solves)."""

    blocks: jnp.ndarray  # (n_p, n_p, n_t, 3, 3) eV/Å²/AMU
    phases: PhaseTables
    lattice: np.ndarray  # (3, 3) primitive lattice, rows, Å
    nac: NACTables | None
    force_constants: np.ndarray  # (N, N, 3, 3) eV/Å²

    @property
    def n_bands(self) -> int:
        return 3 * self.blocks.shape[0]

    @property
    def tables(self) -> ModeTables:
        return ModeTables(phases=self.phases, nac=self.nac)


@dataclass(frozen=True, eq=False)
class GridPhonons:
    """Phonons at every BZ-grid point (see the module docstring)."""

    frequencies: np.ndarray  # (N_bz, n_b) THz
    eigenvectors: np.ndarray  # (N_bz, n_b, n_b) complex, modes in columns
    gamma_forced: int = 0  # Γ frequencies set to 0 by phono3py's acoustic rule


def harmonic_model(fc2: np.ndarray, cells: FC3Cells, nac: NACParams | None = None,
                   unitcell: Crystal | None = None, supercell_matrix=None) -> HarmonicModel:
    """FC2 (N or n_p, N, 3, 3) eV/Å² on the supercell of ``cells`` → ``HarmonicModel``.

    ``nac``: Born charges and ε∞ (phonopy's Gonze–Lee or Wang correction, as the harmonic
    kernel); Born charges given per unit-cell atom need the ``unitcell`` and the FC2
    ``supercell_matrix`` (to map supercell atoms onto unit-cell atoms)."""
    fc2 = np.asarray(fc2, float)
    if fc2.shape[0] != cells.n_atoms:
        if fc2.shape[0] != len(cells.primitive.p2s) or fc2.shape[1] != cells.n_atoms:
            raise ValueError(f"fc2 of shape {fc2.shape} does not fit the {cells.n_atoms}-atom "
                             "supercell")
        fc2 = fc2_compact_to_full(fc2, cells)
    tables = phase_tables(cells.supercell, cells.primitive, cells.symprec)
    nac_table = None if nac is None else _nac_tables(nac, cells, unitcell, supercell_matrix)
    with jax.enable_x64(True):
        blocks = material_blocks(jnp.asarray(fc2, jnp.float64), tables, nac_table)
    return HarmonicModel(blocks, tables, np.asarray(cells.primitive.crystal.lattice), nac_table,
                         fc2)


def _nac_tables(nac: NACParams, cells: FC3Cells, unitcell: Crystal | None,
                supercell_matrix) -> NACTables:
    primitive = cells.primitive
    n_p = len(primitive.p2s)
    if len(nac.born) == n_p:
        s2u, n_unit = np.zeros(cells.n_atoms, np.int64), n_p  # not read: charges per p-atom
    elif unitcell is None or supercell_matrix is None:
        raise ValueError("Born charges per unit-cell atom need the unit cell and the FC2 "
                         "supercell matrix")
    else:
        _, s2u = build_supercell(unitcell, np.asarray(supercell_matrix), cells.symprec)
        n_unit = unitcell.n_atoms
    return nac_tables(nac, primitive, s2u, n_unit,
                      commensurate_qpoints(primitive.supercell_in_primitive), cells.symprec,
                      supercell=cells.supercell)


def phonons_at(model: HarmonicModel, qpoints: np.ndarray, plan: Plan | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (n_q, n_b) THz and eigenvectors (n_q, n_b, n_b) at reduced ``qpoints``, by
    the harmonic kernel's ``ModeSolver`` under ``plan`` (its eigensolver: phonors, LAPACK or
    XLA). At Γ with Born charges D is analytic-only, as phono3py's grid phonons."""
    f, v = ModeSolver.build(model.tables, model.force_constants, plan).at(qpoints, True)
    return f, v


def gamma_acoustic_rule(frequencies: np.ndarray, grid: BZGrid,
                        cutoff: float = CUTOFF_FREQUENCY_THZ) -> int:
    """phono3py's Γ rule, in place on ``frequencies`` (N_bz, n_b): returns how many of the
    three lowest Γ bands were set to 0 because fewer than three were below ``cutoff``."""
    gamma = int(grid.grg2bzg[0])
    low = frequencies[gamma, :3]
    if (frequencies[gamma] < cutoff).sum() >= 3:
        return 0
    forced = low >= cutoff
    frequencies[gamma, :3] = np.where(forced, 0.0, low)
    return int(forced.sum())


def symmetrized_frequencies(frequencies: np.ndarray, grid: BZGrid,
                            tol: float = EXACT_DEGENERACY_THZ) -> np.ndarray:
    """Frequencies (N_bz, n_b) made exactly what symmetry says they are where they differ
    only by rounding (``tol``): a BZ point takes the values of its irreducible representative
    (star members and BZ images), and bands within ``tol`` of each other take their mean."""
    rep = grid.grg2bzg[orbit_map(grid.gr_addresses, grid.rotations, grid.mesh)]
    f_rep = frequencies[rep[grid.bzg2grg]]
    same = np.abs(f_rep - frequencies).max(axis=1, keepdims=True) <= tol
    f = np.where(same, f_rep, frequencies)  # a star whose spread is more than rounding: kept
    first = np.ones(f.shape, bool)
    first[:, 1:] = np.diff(f, axis=1) > tol
    sets = np.cumsum(first, axis=1) - 1  # set number of each band, per point
    n = np.zeros(f.shape)
    total = np.zeros(f.shape)
    rows = np.arange(len(f))[:, None]
    np.add.at(n, (rows, sets), 1.0)
    np.add.at(total, (rows, sets), f)
    return np.take_along_axis(total / np.where(n > 0, n, 1.0), sets, axis=1)


def grid_phonons(model: HarmonicModel, grid: BZGrid, cutoff: float = CUTOFF_FREQUENCY_THZ,
                 symmetrize: bool = True, plan: Plan | None = None) -> GridPhonons:
    """Phonons at every BZ point of ``grid`` (phono3py's ``run_phonon_solver``); with
    ``symmetrize``, frequencies as ``symmetrized_frequencies`` (see the module docstring)."""
    freqs, vecs = phonons_at(model, grid.qpoints, plan)
    if symmetrize:
        freqs = symmetrized_frequencies(freqs, grid)
    forced = gamma_acoustic_rule(freqs, grid, cutoff)
    return GridPhonons(freqs, vecs, forced)
