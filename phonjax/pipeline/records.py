"""The records of one (crystal, model) pair, one per step, each frozen.

A pair's way through the pipeline is a chain of records, each made from the one before it
by one step and never changed afterwards:

``Pair`` (what is asked: the input crystal, the model, the settings, the execution plan)
→ ``Structure`` (the cell the phonons are computed for: the input's symmetry, the cell
snapped to it, the relaxation's ``RelaxSummary``) → ``Harmonic`` (the cells chosen, the
``HarmonicSystem``, the forces on its displaced supercells, the kernel's ``PhononResult``
with its force constants, and a ``ModeSolver`` for the modes at any q) → the spectra of
``phonjax.single.spectra`` (band structure, mesh, DOS, thermal table, imaginary modes).

``phonjax run`` (``phonjax.single.workflow``) makes them in batches over many pairs;
``Phonons`` is the user's handle on one pair's records. Units in names: eV/Å, Å, K, THz.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from phonjax.structure.crystal import Crystal

if TYPE_CHECKING:  # types only: importing them would pull in JAX at start-up
    from phonjax.execution.modes import ModeSolver
    from phonjax.execution.plan import Plan
    from phonjax.harmonic.properties import PhononResult
    from phonjax.harmonic.system import HarmonicSystem
    from phonjax.io import PhononDataset
    from phonjax.pipeline.cells import CellChoice
    from phonjax.single.settings import WorkflowSettings
    from phonjax.structure.symmetry import SymmetryInfo

REFERENCE_MODEL = "dft"  # the model name of a force-set file's own forces (run and bench alike)


@dataclass(frozen=True, eq=False)
class Pair:
    """One (crystal, model) pair as asked: nothing computed yet."""

    name: str
    input_crystal: Crystal
    model: str  # adapter spec ("family[:variant]") or REFERENCE_MODEL (a force-set file's forces)
    settings: WorkflowSettings
    plan: Plan  # how the kernels run; ``plan.memory_bytes`` bounds supercell, mesh, kernel
    dataset: PhononDataset | None = None  # a force-set input's data
    source: str | None = None  # the file it came from
    device: str = "cpu"
    max_atoms: int = 256  # atoms per model call (the bench's CPU default)
    lanes: int | None = None  # model calls side by side (None: the bench's default)


@dataclass(frozen=True)
class RelaxSummary:
    """How the relaxation went (``pipeline.relax``) and the symmetry it ended with."""

    converged: bool
    steps: int
    fmax_eV_A: float | None
    seconds: float
    energy_eV_per_atom: float | None
    reason: str
    symmetry_after: SymmetryInfo | None

    def to_dict(self) -> dict:
        return {"converged": self.converged, "steps": self.steps, "final_fmax_eV_A": self.fmax_eV_A,
                "seconds": round(self.seconds, 3), "energy_eV_per_atom": self.energy_eV_per_atom,
                "reason": self.reason or None,
                "symmetry_after": str(self.symmetry_after) if self.symmetry_after else None}


@dataclass(frozen=True, eq=False)
class Structure:
    """The unit cell the phonons are computed for, and how it came from the input: the
    input's symmetry, the symmetry a looser tolerance snapped it to (None: not snapped),
    the relaxation (None: not relaxed)."""

    unitcell: Crystal
    symmetry_input: SymmetryInfo
    symmetrized_to: SymmetryInfo | None = None
    relaxation: RelaxSummary | None = None


@dataclass(frozen=True, eq=False)
class Harmonic:
    """The harmonic phonons of one pair: cells, system, forces (n_disp, N, 3) eV/Å, the
    kernel's result (force constants kept), and the modes at any q-point from one
    ``ModeSolver`` (the force constants' D(q) blocks built once, on first use)."""

    cells: CellChoice
    system: HarmonicSystem
    forces: np.ndarray
    result: PhononResult
    plan: Plan
    # (n, N, 3) Å: the displacements of ``forces`` when they are not the system's one-atom
    # ones (random displacements, ``pipeline.fc_route``); None: ``system.displacements``
    displacement_fields: np.ndarray | None = None
    fc_rule: str = "finite differences"  # how the force constants were made (FCRoute.describe)

    @cached_property
    def solver(self) -> ModeSolver:
        from phonjax.execution.modes import ModeSolver

        return ModeSolver.build(self.system.tables, self.result.force_constants, self.plan)

    def modes_at(self, qpoints, eigenvectors: bool = False, q_direction=None):
        """(frequencies (n_q, 3n) THz, eigenvectors (n_q, 3n, 3n) or None) at q-points in the
        reciprocal basis of the primitive cell (``cells.primitive_matrix``). With NAC,
        ``q_direction`` (3,) reduced: the direction of q → 0 at Γ (phonopy's
        ``nac_q_direction``); without it Γ has no LO–TO splitting, as in phonopy."""
        return self.solver.at(qpoints, eigenvectors, q_direction)

    def path_modes(self, segments, eigenvectors: bool = False) -> list[tuple]:
        """``modes_at`` along band-path segments (a list of (n_i, 3) arrays), with phonopy's
        rule for q → 0 with NAC: a segment on a line through Γ takes its own direction."""
        return self.solver.along(segments, eigenvectors)
