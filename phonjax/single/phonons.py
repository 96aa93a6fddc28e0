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
    displacement_fields: np.ndarray | None = None  # (n, N, 3) Å: random displacements, if any
    harmonic: Harmonic | None = None
    band: BandStructure | None = None
    mesh: MeshSpectrum | None = None
    dos: DensityOfStates | None = None
    thermal: ThermalTable | None = None
    instability: InstabilityReport | None = None
    kappa: object | None = None  # pipeline.kappa.KappaOutcome (``run_kappa``, run --kappa)
    group_velocities: object | None = None  # phonon.group_velocity.GroupVelocities (mesh/q)
    band_group_velocities: list | None = None  # per band segment, GroupVelocities
    thermal_displacements: object | None = None  # phonon.thermal_displacements records
    thermal_displacement_matrices: object | None = None
    irreps_result: object | None = None  # phonon.irreps.Irreps at the settings' irreps_q
    modulations: object | None = None  # phonon.modulation.Modulations (settings' modulation)
    qha: object | None = None  # single.qha_step.QHAOutcome (``run_qha``, run --qha)
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
                           with_eigenvectors: bool = False, *, per_segment: bool | None = None,
                           band_connection: bool | None = None,
                           with_group_velocities: bool = False):
        """Bands along ``path`` ("auto": seekpath's, mapped and checked; a file; segments):
        ``n_points`` at constant spacing, or on every segment with ``per_segment`` (phonopy's
        BAND_POINTS); ``band_connection``: branches by eigenvector overlap (phonopy's
        ``is_band_connection``); ``with_group_velocities``: phonopy's velocities at every
        point (``band_group_velocities``). None: the settings'."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.band_group_velocities = None
        if with_group_velocities:
            self.band, self.band_group_velocities = spectra.band_with_velocities(
                self.harmonic, self.settings, path, n_points, with_eigenvectors,
                per_segment=per_segment, band_connection=band_connection)
        else:
            self.band = spectra.band_structure(self.harmonic, self.settings, path, n_points,
                                               with_eigenvectors, per_segment=per_segment,
                                               band_connection=band_connection)
        return self.band

    def run_group_velocities(self, qpoints=None, *, q_direction=None, symmetrize: bool = True):
        """phonopy's group velocities (``phonon.group_velocity``, THz·Å) at ``qpoints``
        (n_q, 3) reduced, as ``run_qpoints(..., with_group_velocities=True)``, or on the mesh
        (None: ``run_mesh`` first; as ``run_mesh(..., with_group_velocities=True)``)."""
        from phonjax.phonon import group_velocity as gv

        self.produce_force_constants()
        symprec = self.settings.symprec
        if qpoints is None:
            if self.mesh is None:
                self.run_mesh()
            self.group_velocities = gv.mesh_group_velocities(self.harmonic, self.mesh.grid,
                                                             symmetrize=symmetrize,
                                                             symprec=symprec)
        else:
            self.group_velocities = gv.group_velocities(self.harmonic, qpoints,
                                                        q_direction=q_direction,
                                                        symmetrize=symmetrize, symprec=symprec)
        return self.group_velocities

    def irreps(self, q=(0.0, 0.0, 0.0), *, degeneracy_tolerance_THz: float | None = None,
               is_little_cogroup: bool = False, q_direction=None):
        """The irreducible representations of the modes at ``q`` (``phonon.irreps``, phonopy's
        ``run_irreps``): little group, degenerate sets, characters, Mulliken labels and, at Γ,
        IR/Raman activity; ``.write(path)``: phonopy's irreps.yaml."""
        from phonjax.phonon import irreps as ir

        self.produce_force_constants()
        tol = (ir.IRREPS_DEGENERACY_TOLERANCE_THZ if degeneracy_tolerance_THz is None
               else degeneracy_tolerance_THz)
        return ir.irreps(self.harmonic, q, degeneracy_tolerance_THz=tol,
                         is_little_cogroup=is_little_cogroup, q_direction=q_direction,
                         symprec=self.settings.symprec)

    def run_modulations(self, dimension, modes, *, delta_q=None, nac_q_direction=None):
        """phonopy's modulated supercells (``phonon.modulation``, ``run_modulations``):
        ``dimension`` 3 integers or 3×3, ``modes`` (q reduced, band index from 0, amplitude,
        phase in degrees) each; ``write_modulations(result, folder)`` writes MPOSCAR… and
        modulation.yaml."""
        from phonjax.phonon.modulation import modulations

        self.produce_force_constants()
        return modulations(self.harmonic, dimension, modes, delta_q=delta_q,
                           nac_q_direction=nac_q_direction)

    def run_mesh(self, mesh=None, with_projections: bool = True, *,
                 length_A: float | None = None, gamma_center: bool | None = None):
        """Frequencies (and atom shares) on phonopy's mesh: ``mesh`` one or three integers
        (half-shifted on even axes; ``gamma_center=True``: unshifted), or ``length_A``
        (phonopy's ``run_mesh(length)``: Γ-centred, a generalized regular grid where a regular
        one breaks the symmetry); neither: the settings' (``mesh``, ``mesh_length_A``).
        ``mesh.grid.rule`` says which was used."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.mesh = spectra.mesh_spectrum(self.harmonic, self.settings, mesh, with_projections,
                                          length_A=length_A, gamma_center=gamma_center)
        return self.mesh

    def run_dos(self, method: str | None = None, sigma_THz: float | None = None, *,
                freq_min_THz: float | None = None, freq_max_THz: float | None = None,
                freq_pitch_THz: float | None = None):
        """Total DOS and PDOS per element and atom ("tetrahedron" or "gaussian"), on phonopy's
        frequency points (``freq_min/max/pitch_THz`` as phonopy's ``run_total_dos``)."""
        from phonjax.single import spectra

        if self.mesh is None:
            self.run_mesh()
        self.dos = spectra.density_of_states(self.harmonic, self.settings, self.mesh, method,
                                             sigma_THz, freq_min_THz=freq_min_THz,
                                             freq_max_THz=freq_max_THz,
                                             freq_pitch_THz=freq_pitch_THz)
        return self.dos

    def run_thermal_properties(self, cutoff_frequency_THz: float | None = None,
                               classical: bool | None = None):
        """F, S, Cv (``ThermalTable``) at the settings' temperatures on the mesh;
        ``cutoff_frequency_THz``: phonopy's ``cutoff_frequency``; ``classical``: phonopy's
        ``classical=True`` statistics (None: the settings')."""
        from phonjax.single import spectra

        if self.mesh is None:
            self.run_mesh()
        self.thermal = spectra.thermal_table(self.harmonic, self.settings, self.mesh,
                                             cutoff_frequency_THz, classical)
        return self.thermal

    def find_imaginary_modes(self):
        """The imaginary-mode report and verdict over path, mesh and commensurate points."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.instability = spectra.instability_report(self.harmonic, self.settings, self.band,
                                                      self.mesh)
        return self.instability

    def _tdisp_options(self, mesh, temperatures_K, freq_min_THz, freq_max_THz) -> dict:
        """The thermal displacements' mesh, temperatures and mode window (None: settings')."""
        s = self.settings
        return {"mesh": s.mesh if mesh is None else mesh,
                "temperatures_K": s.temperatures_K if temperatures_K is None else temperatures_K,
                "freq_min_THz": s.tdisp_freq_min_THz if freq_min_THz is None else freq_min_THz,
                "freq_max_THz": s.tdisp_freq_max_THz if freq_max_THz is None else freq_max_THz,
                "gamma_centered": s.gamma_center}

    def run_thermal_displacements(self, mesh=None, temperatures_K=None, *,
                                  freq_min_THz: float | None = None,
                                  freq_max_THz: float | None = None, direction=None):
        """phonopy's mean square displacements ⟨u²⟩ (Å², per atom and axis, or along
        ``direction`` reduced) over temperature (``phonon.thermal_displacements``) on the full
        mesh (None: the settings' mesh and temperatures, and tdisp_freq_* cutoffs)."""
        from phonjax.phonon.thermal_displacements import thermal_displacements

        self.produce_force_constants()
        o = self._tdisp_options(mesh, temperatures_K, freq_min_THz, freq_max_THz)
        self.thermal_displacements = thermal_displacements(
            self.harmonic, o.pop("mesh"), o.pop("temperatures_K"), direction=direction, **o)
        return self.thermal_displacements

    def run_thermal_displacement_matrices(self, mesh=None, temperatures_K=None, *,
                                          freq_min_THz: float | None = None,
                                          freq_max_THz: float | None = None):
        """phonopy's thermal displacement matrices (ADPs: Cartesian and CIF's U, Å²) over
        temperature; ``write_adp_cif`` makes tdispmat.cif. Defaults as
        ``run_thermal_displacements``."""
        from phonjax.phonon.thermal_displacements import thermal_displacement_matrices

        self.produce_force_constants()
        o = self._tdisp_options(mesh, temperatures_K, freq_min_THz, freq_max_THz)
        self.thermal_displacement_matrices = thermal_displacement_matrices(
            self.harmonic, o.pop("mesh"), o.pop("temperatures_K"), **o)
        return self.thermal_displacement_matrices

    def run_spectra(self) -> Phonons:
        """Bands, mesh, DOS, thermal table, imaginary modes; and phonopy's other outputs the
        settings ask for (group velocities, thermal displacements, irreps, modulations)."""
        s = self.settings
        self.run_band_structure(with_group_velocities=s.group_velocities)
        self.run_mesh()
        self.run_dos()
        self.run_thermal_properties()
        self.find_imaginary_modes()
        if s.group_velocities:
            self.run_group_velocities()
        if s.thermal_displacements:  # one pass over the mesh: ⟨u²⟩ is the matrices' diagonal
            from phonjax.phonon.thermal_displacements import displacements_of

            self.thermal_displacements = displacements_of(self.run_thermal_displacement_matrices())
        if s.irreps_q is not None:
            self.irreps_result = self.irreps(s.irreps_q)
        if s.modulation is not None:
            self.modulations = self.run_modulations(*s.modulation)
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

    def run_qha(self, settings=None, **changes):
        """Thermal expansion of this pair (``single.qha_step``: ``volumes`` volumes around the
        relaxed one, relaxed at fixed volume and their phonons in batches, phonopy's QHA);
        ``settings`` a ``QHARunSettings`` or its fields as keywords (``volumes=11``,
        ``strain=0.05``, ``eos="vinet"``, ``pressure_GPa``, ``t_max_K``). Returns the
        ``phonjax.qha.core.QHAResult`` (``PhononsError`` when refused or failed; the reason
        and the excluded volumes are in ``self.qha``)."""
        from phonjax.single import qha_step

        self.produce_force_constants()
        qha_step.run([self], settings or qha_step.with_defaults(**changes))
        if self.qha.result is None:
            raise PhononsError(f"{self.name} · {self.model}: QHA {self.qha.status}: "
                               f"{self.qha.reason}")
        return self.qha.result

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
