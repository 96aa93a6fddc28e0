"""Third-order force constants of crystals from a model, many crystals per model call.

One ``FC3Job`` per crystal: phono3py 4.10's displacements (``anharmonic.displacements``,
phono3py's default 0.03 Å, the κ benchmark's), the FC3 supercell and, if asked, a separate
FC2 supercell. ``model_fc3`` evaluates every displaced supercell of every job (FC3 pairs
whose atoms lie beyond a pair cutoff are skipped: their forces are zeros, as in
FORCES_FC3) in one batched adapter call (``pipeline.forces.evaluate_forces``, ``lanes``
model calls side by side), then solves each job as phono3py does from the same forces
(``anharmonic.fc3.force_constants``: the traditional solve, then the symmetrization asked
for, by default ``phono3py.load``'s symfc projector). Before any model call the FC3 array of
every job is checked against the plan's memory bound (``resources.fc3_solve_bytes``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonjax.anharmonic.displacements import (DEFAULT_DISTANCE_A, Phono3pyDisplacements,
                                              generate_phono3py_displacements)
from phonjax.io.phono3py_files import FC3Dataset, PairDisplacements, SingleDisplacements
from phonjax.pipeline.forces import DisplacedCells, evaluate_forces
from phonjax.resources import fc3_solve_bytes, refuse_if_over
from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import SYMPREC


@dataclass(frozen=True, eq=False)
class FC3Job:
    """One crystal's FC3 work: its cells' displacements, as phono3py would make them."""

    name: str
    unitcell: Crystal
    supercell_matrix: np.ndarray  # (3, 3) int
    primitive_matrix: np.ndarray  # (3, 3)
    displacements: Phono3pyDisplacements
    phonon_supercell_matrix: np.ndarray | None = None

    @property
    def n_primitive(self) -> int:
        return int(round(self.unitcell.n_atoms * abs(np.linalg.det(self.primitive_matrix))))

    def solve_bytes(self, compact: bool = True) -> float:
        """``resources.fc3_solve_bytes`` of this job (a pair cutoff solves in full form)."""
        full = not compact or self.displacements.fc3.cutoff_pair_distance_A is not None
        return fc3_solve_bytes(self.displacements.supercell.n_atoms, self.n_primitive, full)


def fc3_job(name: str, unitcell: Crystal, supercell_matrix, primitive_matrix, *,
            phonon_supercell_matrix=None, distance_A: float = DEFAULT_DISTANCE_A,
            is_plusminus="auto", is_diagonal: bool = True,
            cutoff_pair_distance_A: float | None = None, symprec: float = SYMPREC) -> FC3Job:
    """The job of one crystal (``generate_phono3py_displacements`` with these options)."""
    d = generate_phono3py_displacements(
        unitcell, supercell_matrix, primitive_matrix,
        phonon_supercell_matrix=phonon_supercell_matrix, distance_A=distance_A,
        is_plusminus=is_plusminus, is_diagonal=is_diagonal,
        cutoff_pair_distance_A=cutoff_pair_distance_A, symprec=symprec)
    return FC3Job(name, unitcell, np.asarray(supercell_matrix), np.asarray(primitive_matrix, float),
                  d, None if phonon_supercell_matrix is None else np.asarray(phonon_supercell_matrix))


def pair_dataset(job: FC3Job) -> PairDisplacements:
    """The job's FC3 displacements as the dataset record phono3py's files give."""
    fc3 = job.displacements.fc3
    pairs = [(n, s) for n, f in enumerate(fc3.first) for s in f.second]
    return PairDisplacements(
        first_atoms=np.array([f.atom for f in fc3.first], np.int64),
        first_displacements=np.array([f.displacement_A for f in fc3.first], float).reshape(-1, 3),
        first_of_pair=np.array([n for n, _ in pairs], np.int64),
        second_atoms=np.array([s.atom for _, s in pairs], np.int64),
        second_displacements=np.array([s.displacement_A for _, s in pairs], float).reshape(-1, 3),
        pair_distances=np.array([s.pair_distance_A for _, s in pairs], float),
        included=np.array([s.included for _, s in pairs], bool),
        cutoff_distance=fc3.cutoff_pair_distance_A)


def _cells(job: FC3Job) -> list[DisplacedCells]:
    """The displaced copies to evaluate: FC3's (included ones only), then FC2's."""
    fields, mask = job.displacements.fc3.displacement_vectors()
    out = [DisplacedCells(job.displacements.supercell, fields[mask])]
    fc2 = job.displacements.fc2
    if fc2 is not None:
        sc2 = job.displacements.phonon_supercell
        u = np.zeros((len(fc2.atoms), sc2.n_atoms, 3))
        u[np.arange(len(u)), fc2.atoms] = fc2.displacements_A
        out.append(DisplacedCells(sc2, u))
    return out


def dataset_with_forces(job: FC3Job, fc3_forces: np.ndarray,
                        fc2_forces: np.ndarray | None = None) -> FC3Dataset:
    """The job as an ``FC3Dataset`` with forces (FC3 forces of the included supercells only,
    in order; the skipped pairs get zeros)."""
    _, mask = job.displacements.fc3.displacement_vectors()
    full = np.zeros((len(mask), job.displacements.supercell.n_atoms, 3))
    full[mask] = fc3_forces
    fc2 = job.displacements.fc2
    return FC3Dataset(
        id=job.name, unitcell=job.unitcell, supercell_matrix=job.supercell_matrix,
        primitive_matrix=job.primitive_matrix, fc3_displacements=pair_dataset(job),
        fc3_forces=full, phonon_supercell_matrix=job.phonon_supercell_matrix,
        fc2_displacements=None if fc2 is None else SingleDisplacements(fc2.atoms,
                                                                       fc2.displacements_A),
        fc2_forces=fc2_forces, source="model")


def model_fc3(jobs: list[FC3Job], adapter, *, lanes: int = 1, plan=None,
              symmetrization: str = "symfc-projector", compact: bool = True,
              with_datasets: bool = False) -> list:
    """``anharmonic.fc3.ForceConstants3`` per job (or the exception that job raised), the
    forces of every job from one batched model call. ``plan``: its ``memory_bytes`` bounds
    each job's FC3 (``ResourceError`` before any model call). ``with_datasets``: each
    success as (ForceConstants3, the ``FC3Dataset`` with the model's forces it was solved
    from), e.g. to give another code the same forces."""
    from phonjax.anharmonic.fc3 import force_constants
    from phonjax.execution.plan import resolved_plan

    plan = resolved_plan(plan)
    for job in jobs:
        refuse_if_over(job.name, f"FC3 of a {job.displacements.supercell.n_atoms}-atom supercell",
                       job.solve_bytes(compact), plan.memory_bytes,
                       "use a smaller supercell or raise the memory bound (--memory-gb)")
    cells = [_cells(job) for job in jobs]
    flat = [c for group in cells for c in group]
    forces = evaluate_forces(adapter, flat, lanes)
    out, start = [], 0
    for job, group in zip(jobs, cells):
        mine = forces[start:start + len(group)]
        start += len(group)
        bad = next((f for f in mine if isinstance(f, Exception)), None)
        if bad is not None:
            out.append(bad)
            continue
        try:
            ds = dataset_with_forces(job, mine[0], mine[1] if len(mine) > 1 else None)
            fc = force_constants(ds, symmetrization, compact)
            out.append((fc, ds) if with_datasets else fc)
        except Exception as exc:
            out.append(exc)
    return out
