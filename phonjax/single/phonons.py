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
from typing import Sequence

import numpy as np

from phonjax.crystal import Crystal
from phonjax.resources import DEFAULT_MEMORY_BYTES, checked_memory_bytes
from phonjax.single.settings import WorkflowSettings
from phonjax.single.workflow import DFT


class PhononsError(RuntimeError):
    """A step of one (crystal, model) pair failed; the message names the stage and reason."""


@dataclass(frozen=True)
class RelaxSummary:
    converged: bool
    steps: int
    fmax_eV_A: float | None
    seconds: float
    energy_eV_per_atom: float | None
    reason: str
    symmetry_after: object | None  # SymmetryInfo of the relaxed cell

    def to_dict(self) -> dict:
        return {"converged": self.converged, "steps": self.steps, "final_fmax_eV_A": self.fmax_eV_A,
                "seconds": round(self.seconds, 3), "energy_eV_per_atom": self.energy_eV_per_atom,
                "reason": self.reason or None,
                "symmetry_after": str(self.symmetry_after) if self.symmetry_after else None}


@dataclass(eq=False)
class Phonons:
    name: str
    input_crystal: Crystal
    model: str = "chgnet"  # adapter spec ("family[:variant]") or "dft" (a force-set file's forces)
    settings: WorkflowSettings = field(default_factory=WorkflowSettings)
    dataset: object | None = None  # PhononDataset of a force-set input
    source: str | None = None
    device: str = "cpu"
    max_atoms: int = 256  # atoms per model call (the bench's CPU default)
    lanes: int | None = None  # model calls side by side (None: the bench's default)
    memory_bytes: float = DEFAULT_MEMORY_BYTES  # the bound of prepare and the kernel's plan:
    #   a supercell, mesh or kernel over it is refused (``ResourceError``) before it is built
    # --- state, filled by the steps -----------------------------------------------------
    error: tuple[str, str] | None = None
    symmetry_input: object | None = None
    symmetrized_to: object | None = None
    unitcell: Crystal | None = None
    relaxation: RelaxSummary | None = None
    cells: object | None = None
    system: object | None = None
    forces: np.ndarray | None = None
    result: object | None = None
    band: object | None = None
    mesh: object | None = None
    dos: object | None = None
    thermal: object | None = None
    instability: object | None = None
    timings: dict = field(default_factory=dict)

    # --- construction ---------------------------------------------------------------------
    @classmethod
    def from_structure(cls, structure, model: str = "chgnet", *, name: str | None = None,
                       settings: WorkflowSettings | None = None, device: str = "cpu",
                       max_atoms: int | None = None, born=None, memory_bytes: float | None = None,
                       **setting_changes) -> Phonons:
        """One crystal (a file name, ASE ``Atoms``, pymatgen ``Structure`` or ``Crystal``) with
        one model; ``setting_changes`` override ``settings`` (e.g. ``relax=False``,
        ``supercell_matrix=(2, 2, 2)``, ``mesh=(12, 12, 12)``). ``born``: a BORN file or
        ``NACParams``, Born charges and ε∞ (from DFT) for the non-analytical correction.
        ``memory_bytes``: the memory bound (default ``resources.DEFAULT_MEMORY_BYTES``)."""
        items = cls.from_structures([structure], [model], settings=settings, device=device,
                                    max_atoms=max_atoms, names=[name] if name else None,
                                    born=born, memory_bytes=memory_bytes, **setting_changes)
        if len(items) != 1:
            raise ValueError(f"{structure}: holds {len(items)} structures; use from_structures")
        return items[0]

    @classmethod
    def from_dataset(cls, dataset, *, model: str = DFT, name: str | None = None,
                     settings: WorkflowSettings | None = None, born=None,
                     memory_bytes: float | None = None, **setting_changes) -> Phonons:
        """Force-set data (a phonopy folder, a phonopy_disp.yaml / phonopy.yaml with FORCE_SETS
        next to it, a phonopy_params or Alexandria file, or a ``PhononDataset``): by default
        its own DFT forces, with its supercell and primitive matrices and its Born charges
        (``nac=False``: none; ``born``: a BORN file or ``NACParams`` instead); relaxation off."""
        from phonjax.io import PhononDataset
        from phonjax.single.born import check_input
        from phonjax.single.inputs import CrystalInput, InputError, read_inputs

        changes = {"relax": False, **setting_changes}
        if born is not None:
            changes["nac"] = born
        settings = (settings or WorkflowSettings()).replace(**changes)
        if isinstance(dataset, PhononDataset):
            item = CrystalInput(name or dataset.id, dataset.unitcell, dataset.source, dataset)
        else:
            item = read_inputs(dataset, name, nac=settings.nac is not False,
                               require_forces=model == DFT)[0]
            if item.dataset is None:
                raise ValueError(f"{dataset}: not a force-set file")
        try:
            check_input(item, settings)
        except ValueError as exc:
            raise InputError(f"{item.name}: {exc}") from None
        return cls._make(item, model, settings, "cpu", None, memory_bytes=memory_bytes)

    @classmethod
    def from_structures(cls, structures: Sequence, models: Sequence[str] = ("chgnet",), *,
                        settings: WorkflowSettings | None = None, device: str = "cpu",
                        max_atoms: int | None = None, names: Sequence[str] | None = None,
                        lanes: int | None = None, born=None, memory_bytes: float | None = None,
                        **setting_changes) -> list[Phonons]:
        """Every structure (files may hold several) × every model, not yet computed.
        Force-set files with no model other than "dft" use their own forces. ``born``: a
        BORN file or ``NACParams`` for every crystal (checked against each before any
        model work: a file that does not fit raises ``InputError`` with one line).
        ``memory_bytes``: the memory bound of every pair (``Phonons.memory_bytes``)."""
        from phonjax.bench import models as registry
        from phonjax.single.born import check_input
        from phonjax.single.inputs import InputError, read_inputs, unique_names

        if born is not None:
            setting_changes = {**setting_changes, "nac": born}
        settings = (settings or WorkflowSettings()).replace(**setting_changes) if setting_changes \
            else (settings or WorkflowSettings())
        for m in models:
            if m != DFT:
                registry.check_spec(m)  # a model that cannot run here: one line, before any work
        inputs = []
        for i, s in enumerate(structures):
            inputs += read_inputs(s, names[i] if names and i < len(names) else None,
                                  nac=settings.nac is not False, require_forces=DFT in models)
        out = []
        for item in unique_names(inputs):
            try:
                check_input(item, settings)
            except ValueError as exc:
                raise InputError(f"{item.name}: {exc}") from None
            for m in models:
                if m == DFT and item.dataset is None:
                    raise ValueError(f"{item.name}: model 'dft' needs a force-set file")
                own = settings.replace(relax=False) if m == DFT and settings.relax else settings
                out.append(cls._make(item, m, own, device, max_atoms, lanes, memory_bytes))
        return out

    @classmethod
    def _make(cls, item, model, settings, device, max_atoms, lanes=None,
              memory_bytes=None) -> Phonons:
        return cls(name=item.name, input_crystal=item.crystal, model=model, settings=settings,
                   dataset=item.dataset, source=item.source, device=device,
                   max_atoms=max_atoms or (256 if device == "cpu" else 2048), lanes=lanes,
                   memory_bytes=checked_memory_bytes(memory_bytes))

    # --- steps ----------------------------------------------------------------------------
    def _check(self) -> None:
        if self.error is not None:
            raise PhononsError(f"{self.name} ({self.model}): {self.error[0]} failed: "
                               f"{self.error[1]}")

    def _through(self, step: str) -> Phonons:
        from phonjax.single import workflow

        order = ["symmetrize", "relax", "prepare", "forces", "kernel"]
        for name in order[: order.index(step) + 1]:
            getattr(workflow, name)([self])
            self._check()
        return self

    def relax(self) -> Phonons:
        """Symmetry of the input, then (if the settings ask) the relaxation; a failure raises."""
        return self._through("relax")

    def prepare(self) -> Phonons:
        """Primitive cell and supercell (reported in ``cells``), displacements, kernel tables."""
        return self._through("prepare")

    def compute_forces(self) -> Phonons:
        return self._through("forces")

    def produce_force_constants(self) -> np.ndarray:
        """Force constants (N, N, 3, 3) eV/Å² of the supercell (and F/S/Cv on the mesh)."""
        self._through("kernel")
        return self.result.force_constants

    def modes_at(self, qpoints, eigenvectors: bool = False, q_direction=None):
        """(frequencies (n_q, 3n) THz, eigenvectors (n_q, 3n, 3n) or None) at q-points in
        the reciprocal basis of the primitive cell (``cells.primitive_matrix``). With NAC,
        ``q_direction`` (3,) reduced: the direction of q → 0 at Γ (phonopy's
        ``nac_q_direction``); without it Γ has no LO–TO splitting, as in phonopy."""
        from phonjax.execution.modes import modes

        self.produce_force_constants()
        return modes(self.system.tables, self.result.force_constants, qpoints,
                     eigenvectors=eigenvectors, q_direction=q_direction)

    def path_modes(self, segments, eigenvectors: bool = False) -> list[tuple]:
        """``modes_at`` along band-path segments (a list of (n_i, 3) arrays), with phonopy's
        rule for q → 0 with NAC: a segment on a line through Γ takes its own direction."""
        from phonjax.execution.modes import path_modes

        self.produce_force_constants()
        if self.system.tables.nac is None:  # no direction anywhere: one call for all points
            f, v = self.modes_at(np.concatenate(segments), eigenvectors)
            cuts = np.cumsum([len(q) for q in segments])[:-1]
            return list(zip(np.split(f, cuts), [None] * len(segments) if v is None
                            else np.split(v, cuts)))
        return path_modes(self.system.tables, self.result.force_constants, segments,
                          eigenvectors=eigenvectors)

    def run_band_structure(self, path=None, n_points: int | None = None,
                           with_eigenvectors: bool = False):
        """Bands along ``path`` ("auto": seekpath's, mapped and checked; a file; segments)."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.band = spectra.band_structure(self, path, n_points, with_eigenvectors)
        return self.band

    def run_mesh(self, mesh=None, with_projections: bool = True):
        from phonjax.single import spectra

        self.produce_force_constants()
        self.mesh = spectra.mesh_spectrum(self, mesh, with_projections)
        return self.mesh

    def run_dos(self, method: str | None = None, sigma_THz: float | None = None):
        """Total DOS and PDOS per element and atom ("tetrahedron" or "gaussian")."""
        from phonjax.single import spectra

        if self.mesh is None:
            self.run_mesh()
        self.dos = spectra.density_of_states(self, self.mesh, method, sigma_THz)
        return self.dos

    def run_thermal_properties(self):
        from phonjax.single import spectra

        self.produce_force_constants()
        self.thermal = spectra.thermal_table(self, self.mesh)
        return self.thermal

    def find_imaginary_modes(self):
        """The imaginary-mode report and verdict over path, mesh and commensurate points."""
        from phonjax.single import spectra

        self.produce_force_constants()
        self.instability = spectra.instability_report(self, self.band, self.mesh)
        return self.instability

    def run_spectra(self) -> Phonons:
        self.run_band_structure()
        self.run_mesh()
        self.run_dos()
        self.run_thermal_properties()
        self.find_imaginary_modes()
        return self

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
