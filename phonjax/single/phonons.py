"""``Phonons``: the harmonic phonons of one crystal with one model, step by step.

A ``Phonons`` holds one (crystal, model) pair and everything computed for it. Construct it with
``Phonons.from_structure(atoms_or_file, model="chgnet")`` or ``Phonons.from_dataset(path)``
(the file's DFT forces), or many at once with ``Phonons.from_structures(structures,
models)``. The steps are methods, each running what it needs first: ``relax()``,
``prepare()``, ``compute_forces()``, ``produce_force_constants()``, ``run_band_structure()``,
``run_mesh()``, ``run_dos()``, ``run_thermal_properties()``, ``find_imaginary_modes()``;
``run()`` does all. ``Phonons.run_all(items)`` runs many pairs with batched model calls and
one kernel call (what ``phonjax run`` does). Results are arrays: ``band.frequencies_THz``,
``mesh.frequencies_THz``, ``dos.total``, ``dos.elements``, ``thermal.columns("atoms")``, …;
``write(folder)`` and ``plot(folder)`` make the files.

``Phonons`` is a thin front: what it holds are the frozen records of
``phonjax.pipeline.records`` (``pair``: what was asked; ``structure``; ``harmonic``: system,
forces, result and the one ``ModeSolver`` of its force constants), made by the steps of
``single.workflow`` (``STEPS``), and the spectra of ``single.spectra``, which take the
``Harmonic`` record and the settings, never the ``Phonons``. ``plan=`` (a ``phonjax.Plan``)
says how the kernels run; ``memory_bytes=`` is its memory bound.

A step that fails sets ``error = (stage, one-line reason)``; methods then raise
``PhononsError`` with that line.

Polar crystals: a force-set input's own Born charges (a BORN next to phonopy_disp.yaml) are
used by default; ``born=`` (a BORN file or ``phonjax.NACParams``) adds DFT Born charges and
ε∞ to a model's force constants; ``nac=False`` turns the correction off. With it, band
segments through Γ show phonopy's LO–TO splitting (``path_modes``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np

from phonjax.pipeline.records import REFERENCE_MODEL, Harmonic, Pair, RelaxSummary, Structure

if TYPE_CHECKING:  # types only (the modules import phonopy, seekpath, matplotlib on use)
    from phonjax.harmonic.system import HarmonicSystem
    from phonjax.pipeline.cells import CellChoice
    from phonjax.single.dos import DensityOfStates
    from phonjax.single.instability import InstabilityReport
    from phonjax.single.spectra import BandStructure, MeshSpectrum
    from phonjax.single.thermal_table import ThermalTable
from phonjax.single.settings import WorkflowSettings


class PhononsError(RuntimeError):
    """A step of one (crystal, model) pair failed; the message names the stage and reason."""


__all__ = ["REFERENCE_MODEL", "Phonons", "PhononsError", "RelaxSummary"]


@dataclass(eq=False)
class Phonons:
    """One pair's records (``phonjax.pipeline.records``), filled step by step: ``pair`` (what
    was asked), ``structure`` (after symmetry and relaxation), ``cells`` and ``system``
    (after ``prepare``), ``forces``, ``harmonic`` (after the kernel), and the spectra the
    user asked for (``band``, ``mesh``, ``dos``, ``thermal``, ``instability``)."""

    pair: Pair
    error: tuple[str, str] | None = None  # (stage, one-line reason) of the step that failed
    structure: Structure | None = None
    cells: CellChoice | None = None
    system: HarmonicSystem | None = None
    forces: np.ndarray | None = None  # (n_disp, N, 3) eV/Å
    harmonic: Harmonic | None = None
    band: BandStructure | None = None
    mesh: MeshSpectrum | None = None
    dos: DensityOfStates | None = None
    thermal: ThermalTable | None = None
    instability: InstabilityReport | None = None
    kappa: object | None = None  # pipeline.kappa.KappaOutcome (``run_kappa``, run --kappa)
    timings: dict = field(default_factory=dict)

    # --- the pair and its records, by name ------------------------------------------------
    name = property(lambda self: self.pair.name)
    model = property(lambda self: self.pair.model)
    settings = property(lambda self: self.pair.settings)
    plan = property(lambda self: self.pair.plan)
    memory_bytes = property(lambda self: self.pair.plan.memory_bytes)
    input_crystal = property(lambda self: self.pair.input_crystal)
    dataset = property(lambda self: self.pair.dataset)
    source = property(lambda self: self.pair.source)
    device = property(lambda self: self.pair.device)
    max_atoms = property(lambda self: self.pair.max_atoms)
    lanes = property(lambda self: self.pair.lanes)
    unitcell = property(lambda self: None if self.structure is None else self.structure.unitcell)
    symmetry_input = property(lambda self: None if self.structure is None
                              else self.structure.symmetry_input)
    symmetrized_to = property(lambda self: None if self.structure is None
                              else self.structure.symmetrized_to)
    relaxation = property(lambda self: None if self.structure is None
                          else self.structure.relaxation)
    result = property(lambda self: None if self.harmonic is None else self.harmonic.result)

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_structure(cls, structure, model: str = "chgnet", *, name: str | None = None,
                       settings: WorkflowSettings | None = None, device: str = "cpu",
                       max_atoms: int | None = None, born=None, memory_bytes: float | None = None,
                       plan=None, **setting_changes) -> Phonons:
        """One crystal (a file name, ASE ``Atoms``, pymatgen ``Structure`` or ``Crystal``) with
        one model; ``setting_changes`` override ``settings`` (e.g. ``relax=False``,
        ``supercell_matrix=(2, 2, 2)``, ``mesh=(12, 12, 12)``). ``born``: a BORN file or
        ``NACParams``, Born charges and ε∞ (from DFT) for the non-analytical correction.
        ``plan``: a ``phonjax.Plan`` (how the kernels run; default ``default_plan()``);
        ``memory_bytes``: its memory bound (default ``resources.DEFAULT_MEMORY_BYTES``)."""
        items = cls.from_structures([structure], [model], settings=settings, device=device,
                                    max_atoms=max_atoms, names=[name] if name else None,
                                    born=born, memory_bytes=memory_bytes, plan=plan,
                                    **setting_changes)
        if len(items) != 1:
            raise ValueError(f"{structure}: holds {len(items)} structures; use from_structures")
        return items[0]

    @classmethod
    def from_dataset(cls, dataset, *, model: str = REFERENCE_MODEL, name: str | None = None,
                     settings: WorkflowSettings | None = None, born=None,
                     memory_bytes: float | None = None, plan=None,
                     **setting_changes) -> Phonons:
        """Force-set data (a phonopy folder, a phonopy_disp.yaml / phonopy.yaml with FORCE_SETS
        next to it, a phonopy_params or Alexandria file, or a ``PhononDataset``): by default
        its own DFT forces, with its supercell and primitive matrices and its Born charges
        (``nac=False``: none; ``born``: a BORN file or ``NACParams`` instead); relaxation off."""
        from phonjax.io import PhononDataset
        from phonjax.pipeline.born import check_input
        from phonjax.single.inputs import CrystalInput, InputError, read_inputs

        changes = {"relax": False, **setting_changes}
        if born is not None:
            changes["nac"] = born
        settings = (settings or WorkflowSettings()).replace(**changes)
        if isinstance(dataset, PhononDataset):
            item = CrystalInput(name or dataset.id, dataset.unitcell, dataset.source, dataset)
        else:
            item = read_inputs(dataset, name, nac=settings.nac is not False,
                               require_forces=model == REFERENCE_MODEL)[0]
            if item.dataset is None:
                raise ValueError(f"{dataset}: not a force-set file")
        try:
            check_input(item, settings)
        except ValueError as exc:
            raise InputError(f"{item.name}: {exc}") from None
        return cls._make(item, model, settings, "cpu", None, memory_bytes=memory_bytes,
                         plan=plan)

    @classmethod
    def from_structures(cls, structures: Sequence, models: Sequence[str] = ("chgnet",), *,
                        settings: WorkflowSettings | None = None, device: str = "cpu",
                        max_atoms: int | None = None, names: Sequence[str] | None = None,
                        lanes: int | None = None, born=None, memory_bytes: float | None = None,
                        plan=None, **setting_changes) -> list[Phonons]:
        """Every structure (files may hold several) × every model, not yet computed.
        Force-set files with no model other than "dft" use their own forces. ``born``: a
        BORN file or ``NACParams`` for every crystal (checked against each before any
        model work: a file that does not fit raises ``InputError`` with one line).
        ``plan``: the ``phonjax.Plan`` of every pair (default ``default_plan()``);
        ``memory_bytes``: its memory bound (``Phonons.memory_bytes``)."""
        from phonjax.pipeline import models as registry
        from phonjax.pipeline.born import check_input
        from phonjax.single.inputs import InputError, read_inputs, unique_names

        if born is not None:
            setting_changes = {**setting_changes, "nac": born}
        settings = (settings or WorkflowSettings()).replace(**setting_changes) if setting_changes \
            else (settings or WorkflowSettings())
        for m in models:
            if m != REFERENCE_MODEL:
                registry.check_spec(m)  # a model that cannot run here: one line, before any work
        inputs = []
        for i, s in enumerate(structures):
            inputs += read_inputs(s, names[i] if names and i < len(names) else None,
                                  nac=settings.nac is not False, require_forces=REFERENCE_MODEL in models)
        out = []
        for item in unique_names(inputs):
            try:
                check_input(item, settings)
            except ValueError as exc:
                raise InputError(f"{item.name}: {exc}") from None
            for m in models:
                if m == REFERENCE_MODEL and item.dataset is None:
                    raise ValueError(f"{item.name}: model 'dft' needs a force-set file")
                own = settings.replace(relax=False) if m == REFERENCE_MODEL and settings.relax else settings
                out.append(cls._make(item, m, own, device, max_atoms, lanes, memory_bytes,
                                     plan))
        return out

    @classmethod
    def _make(cls, item, model, settings, device, max_atoms, lanes=None,
              memory_bytes=None, plan=None) -> Phonons:
        from phonjax.execution.plan import resolved_plan

        return cls(Pair(name=item.name, input_crystal=item.crystal, model=model,
                        settings=settings, plan=resolved_plan(plan, memory_bytes),
                        dataset=item.dataset, source=item.source, device=device,
                        max_atoms=max_atoms or (256 if device == "cpu" else 2048),
                        lanes=lanes))

    # --- steps ----------------------------------------------------------------------------
    def _check(self) -> None:
        if self.error is not None:
            raise PhononsError(f"{self.name} ({self.model}): {self.error[0]} failed: "
                               f"{self.error[1]}")

    def _through(self, step) -> Phonons:
        """Every step of ``workflow.STEPS`` up to and including ``step``, for this pair."""
        from phonjax.single import workflow

        for each in workflow.STEPS[: workflow.STEPS.index(step) + 1]:
            each([self])
            self._check()
        return self

    def relax(self) -> Phonons:
        """Symmetry of the input, then (if the settings ask) the relaxation; a failure raises."""
        from phonjax.single import workflow

        return self._through(workflow.relax)

    def prepare(self) -> Phonons:
        """Primitive cell and supercell (reported in ``cells``), displacements, kernel tables."""
        from phonjax.single import workflow

        return self._through(workflow.build_systems)

    def compute_forces(self) -> Phonons:
        from phonjax.single import workflow

        return self._through(workflow.model_forces)

    def produce_force_constants(self) -> np.ndarray:
        """Force constants (N, N, 3, 3) eV/Å² of the supercell (and F/S/Cv on the mesh)."""
        from phonjax.single import workflow

        self._through(workflow.kernel)
        return self.result.force_constants

    def modes_at(self, qpoints, eigenvectors: bool = False, q_direction=None):
        """``Harmonic.modes_at`` of this pair (running the steps up to the kernel first)."""
        self.produce_force_constants()
        return self.harmonic.modes_at(qpoints, eigenvectors, q_direction)

    def path_modes(self, segments, eigenvectors: bool = False) -> list[tuple]:
        """``Harmonic.path_modes`` of this pair (running the steps up to the kernel first)."""
        self.produce_force_constants()
        return self.harmonic.path_modes(segments, eigenvectors)

    def run_band_structure(self, path=None, n_points: int | None = None,
                           with_eigenvectors: bool = False):
        """Bands along ``path`` ("auto": seekpath's, mapped and checked; a file; segments)."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.band = spectra.band_structure(self.harmonic, self.settings, path, n_points,
                                           with_eigenvectors)
        return self.band

    def run_mesh(self, mesh=None, with_projections: bool = True):
        from phonjax.single import spectra

        self.produce_force_constants()
        self.mesh = spectra.mesh_spectrum(self.harmonic, self.settings, mesh, with_projections)
        return self.mesh

    def run_dos(self, method: str | None = None, sigma_THz: float | None = None):
        """Total DOS and PDOS per element and atom ("tetrahedron" or "gaussian")."""
        from phonjax.single import spectra

        if self.mesh is None:
            self.run_mesh()
        self.dos = spectra.density_of_states(self.harmonic, self.settings, self.mesh, method,
                                             sigma_THz)
        return self.dos

    def run_thermal_properties(self):
        from phonjax.single import spectra

        if self.mesh is None:
            self.run_mesh()
        self.thermal = spectra.thermal_table(self.harmonic, self.settings, self.mesh)
        return self.thermal

    def find_imaginary_modes(self):
        """The imaginary-mode report and verdict over path, mesh and commensurate points."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.instability = spectra.instability_report(self.harmonic, self.settings, self.band,
                                                      self.mesh)
        return self.instability

    def run_spectra(self) -> Phonons:
        self.run_band_structure()
        self.run_mesh()
        self.run_dos()
        self.run_thermal_properties()
        self.find_imaginary_modes()
        return self

    def run_kappa(self, settings=None, **changes):
        """κ(T) of this pair (``single.kappa_step``: FC3 and FC2 from the model on the relaxed
        cell, the κ benchmark's recipe; ``settings`` a ``KappaRunSettings`` or its fields as
        keywords, e.g. ``mesh=(11, 11, 11)``, ``method="rta"``); returns the
        ``anharmonic.kappa.KappaResult`` (``PhononsError`` when censored or failed)."""
        from phonjax.single import kappa_step

        if self.cells is None:
            self.prepare()  # relaxed cell, primitive and harmonic supercell: what κ starts from
        self._check()
        kappa_step.run([self], settings or kappa_step.with_defaults(**changes))
        if self.kappa.result is None:
            raise PhononsError(f"{self.name} · {self.model}: κ {self.kappa.status} at "
                               f"{self.kappa.stage}: {self.kappa.reason}")
        return self.kappa.result

    def run(self) -> Phonons:
        """Every step (the same as ``Phonons.run_all([self])``)."""
        Phonons.run_all([self])
        self._check()
        return self

    @staticmethod
    def run_all(items: Sequence[Phonons], progress=None) -> list[Phonons]:
        """Run many pairs: batched relaxations and model calls, one kernel call."""
        from phonjax.single import workflow

        workflow.run(items, progress or workflow.no_progress)
        return list(items)

    # --- output ---------------------------------------------------------------------------
    def summary(self) -> dict:
        from phonjax.single.report import summary

        return summary(self)

    def write(self, folder: str | os.PathLike) -> list[str]:
        """phonopy_params.yaml, band.yaml, DOS/PDOS, thermal YAML/CSV, modes, summary.json."""
        from phonjax.single import writers

        self._check()
        return writers.write_all(self, folder)

    def plot(self, folder: str | os.PathLike) -> list[str]:
        """bands_dos.png, pdos.png, thermal.png in ``folder``."""
        from phonjax.single import plots

        self._check()
        return plots.plot_all(self, folder)
