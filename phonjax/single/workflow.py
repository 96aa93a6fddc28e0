"""The workflow's steps (``STEPS``), each batched over many (crystal, model) pairs.

Each step fills the next record of every pair still alive (``phonjax.pipeline.records``):
``symmetrize`` and ``relax`` the ``Structure`` (the crystals of one model relax together,
``pipeline.relax.relax_many``: one model call per lock-step for all of them);
``build_systems`` the cells (``pipeline.cells``), Born charges (``pipeline.born``) and
``HarmonicSystem``; ``model_forces`` the forces (all displaced supercells of one model in one
batched call, ``pipeline.forces.evaluate_forces``); ``kernel`` the ``Harmonic`` record (one
``phonon_properties`` call for every pair of every model: force constants and commensurate
frequencies; the one call site of the kernel). A pair that fails at a step keeps the stage
and a one-line reason (``Phonons.error``) and leaves the others running."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from phonjax.pipeline.records import REFERENCE_MODEL, Harmonic, RelaxSummary, Structure
from phonjax.structure.crystal import Crystal

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """The ``Progress`` that reports nothing (the steps' default)."""
    pass


def _alive(items) -> list:
    return [p for p in items if p.error is None]


def _fail(item, stage: str, exc: Exception | str) -> None:
    message = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    item.error = (stage, message.strip().splitlines()[0] if message.strip() else message)


def symmetrize(items: Sequence, progress: Progress = no_progress) -> None:
    """Symmetry of each input and, where a looser tolerance finds more, the snapped cell."""
    from phonjax.structure.symmetry import symmetrized
    from phonjax.structure.symmetry import symmetry_of

    for p in _alive(items):
        if p.structure is not None:
            continue
        try:
            if p.dataset is not None or p.settings.symmetrize_tolerance_A is None:
                p.structure = Structure(p.input_crystal,
                                        symmetry_of(p.input_crystal, p.settings.symprec))
                continue
            p.structure = Structure(*symmetrized(p.input_crystal,
                                                 p.settings.symmetrize_tolerance_A,
                                                 p.settings.symprec))
        except Exception as exc:
            _fail(p, "symmetry", exc)


def by_model(items: Sequence) -> dict[tuple, list]:
    groups: dict[tuple, list] = {}
    for p in _alive(items):
        if p.model != REFERENCE_MODEL:
            groups.setdefault((p.model, p.device, p.max_atoms, p.lanes), []).append(p)
    return groups


def relax(items: Sequence, progress: Progress = no_progress) -> None:
    """Relax every pair that asks for it, the crystals of one model together."""
    from phonjax.pipeline.relax import relax_many
    from phonjax.pipeline import models
    from phonjax.pipeline.forces import lane_threads, lanes_or_default
    from phonjax.structure.symmetry import symmetry_of

    for (model, device, max_atoms, lanes), group in by_model(items).items():
        group = [p for p in group if p.settings.relax and p.relaxation is None
                 and _cells_fit(p)]
        if not group:
            continue
        progress(f"relaxing {len(group)} crystal(s) with {model} (fmax "
                 f"{group[0].settings.fmax_eV_A:g} eV/Å, FixSymmetry, FrechetCellFilter, FIRE)")
        try:
            adapter = models.loaded_adapter(model, device, max_atoms)
            n = lanes_or_default(device, lanes)
            by_settings: dict = {}  # pairs whose relaxation settings agree relax together
            for p in group:
                by_settings.setdefault(p.settings.relax_settings, []).append(p)
            with lane_threads(n):
                for settings, ps in by_settings.items():
                    results = relax_many([p.unitcell.to_ase() for p in ps], adapter, settings, n)
                    for p, r in zip(ps, results):
                        after, cell = None, p.unitcell
                        if r.ok:
                            cell = Crystal.from_ase(r.atoms, masses=p.unitcell.masses)
                            after = symmetry_of(cell, p.settings.symprec)
                        p.structure = replace(p.structure, unitcell=cell, relaxation=RelaxSummary(
                            r.ok, r.steps, r.fmax_eV_A, r.seconds, r.energy_eV_per_atom,
                            r.reason, after))
                        if not r.ok:
                            _fail(p, "relax", f"{r.reason} (target fmax {settings.fmax_eV_A:g} "
                                  "eV/Å); loosen fmax (--fmax) or skip it (--no-relax)")
        except Exception as exc:  # the model cannot load: every pair of it fails
            for p in group:
                _fail(p, "model", exc)


def _cells_fit(p) -> bool:
    """Whether the supercell the settings choose for the input cell fits the memory bound,
    checked before a relaxation is spent on it (the relaxed cell is checked again in
    ``build_systems``; relaxation moves the lattice by a few per cent at most); a pair that does
    not fit fails at once with the one-line ``ResourceError``."""
    from phonjax.resources import ResourceError
    from phonjax.pipeline.cells import choose_cells

    try:
        choose_cells(p.unitcell, p.settings, memory_bytes=p.memory_bytes, name=p.name)
    except ResourceError as exc:
        _fail(p, "prepare", exc)
        return False
    except Exception:  # anything else is prepare's to report, after the relaxation
        pass
    return True


def build_systems(items: Sequence, progress: Progress = no_progress) -> None:
    """Cells (P, S), the non-analytical correction (``born.nac_for``: Born charges read and
    checked for the cells chosen, after relaxation) and the kernel's tables of every pair
    (the mesh reduced exactly as phonopy reduces it, so that F, S, Cv are phonopy's sums
    point for point)."""
    from phonjax.harmonic.system import prepare
    from phonjax.pipeline.born import nac_for
    from phonjax.pipeline.cells import choose_cells

    todo = [p for p in _alive(items) if p.system is None]
    if todo:
        progress(f"preparing {len(todo)} supercell(s): symmetry, displacements, tables")
    for p in todo:
        s = p.settings
        try:
            ds = p.dataset
            file_matrices = None if ds is None else (ds.primitive_matrix, ds.supercell_matrix,
                                                     ds.primitive_matrix_rule)
            if p.model == REFERENCE_MODEL and s.supercell_matrix is not None and not np.array_equal(
                    np.asarray(s.supercell_matrix), ds.supercell_matrix):
                raise ValueError("the file's forces belong to its own supercell; --supercell "
                                 "needs a --model")
            p.cells = choose_cells(p.unitcell, s, file_matrices, memory_bytes=p.memory_bytes,
                                   name=p.name)
            try:
                nac = nac_for(s.nac, ds, p.unitcell, p.cells.primitive_matrix, s.symprec)
            except Exception as exc:
                _fail(p, "born", exc)
                continue
            nac = False if nac is None else nac
            if p.model == REFERENCE_MODEL and ds.displacement_fields is not None:
                _type2_file(p, ds, nac)  # every atom displaced: the kernel's tables, a fit
            elif p.model == REFERENCE_MODEL:  # the file's displacements and forces, P as chosen
                from phonjax.io import PhononDataset

                ds = PhononDataset(ds.id, ds.unitcell, ds.supercell_matrix,
                                   p.cells.primitive_matrix, ds.displaced_atoms,
                                   ds.displacements, ds.forces, ds.energy_eV, ds.reference,
                                   ds.source)
                p.system = prepare(ds, mesh=s.mesh, phonopy_mesh_fallback=True, id=p.name,
                                   nac=nac, memory_bytes=p.memory_bytes)
            else:
                p.system = prepare(p.unitcell, p.cells.supercell_matrix,
                                   p.cells.primitive_matrix, mesh=s.mesh,
                                   phonopy_mesh_fallback=True, distance=s.distance_A,
                                   symprec=s.symprec, id=p.name, nac=nac,
                                   memory_bytes=p.memory_bytes)
            _random_fields(p)
        except Exception as exc:
            _fail(p, "prepare", exc)


def _type2_file(p, ds, nac) -> None:
    """A force-set file with every atom displaced (phonopy's type 2): the system (tables,
    commensurate points) of its cells, its displacements as the pair's fields, fitted by
    symfc (phonopy 4's choice for such data, recorded in the pair's settings)."""
    from dataclasses import replace

    from phonjax.harmonic.system import prepare

    s = p.settings
    if s.fc_calculator != "symfc":
        p.pair = replace(p.pair, settings=s.replace(fc_calculator="symfc"))
        s = p.settings
    p.system = prepare(ds.unitcell, ds.supercell_matrix, p.cells.primitive_matrix, mesh=s.mesh,
                       phonopy_mesh_fallback=True, distance=s.distance_A, symprec=s.symprec,
                       id=p.name, nac=nac, memory_bytes=p.memory_bytes)
    p.displacement_fields = ds.displacement_fields


def _random_fields(p) -> None:
    """The pair's random displacements (``pipeline.fc_route``), its seed drawn and recorded
    in its settings when none was given."""
    from dataclasses import replace

    from phonjax.pipeline.fc_route import displacement_fields, with_seed

    route = p.settings.fc_route
    if route.random_snapshots is None:
        return
    if p.model == REFERENCE_MODEL:
        raise ValueError("random displacements need a --model (the file's forces are on its "
                         "own displacements)")
    seeded = with_seed(route)
    if seeded.random_seed != route.random_seed:
        p.pair = replace(p.pair, settings=p.settings.replace(random_seed=seeded.random_seed))
    p.displacement_fields = displacement_fields(p.system, seeded, p.settings.distance_A)


def model_forces(items: Sequence, progress: Progress = no_progress) -> None:
    """Forces on every displaced supercell: one batched model call per model."""
    from phonjax.pipeline import models
    from phonjax.pipeline.forces import evaluate_forces, lane_threads, lanes_or_default

    for p in _alive(items):
        if p.model == REFERENCE_MODEL and p.forces is None:
            if p.dataset.forces is None:
                _fail(p, "forces", "the force-set file has no forces; give a --model")
            else:
                p.forces = p.dataset.forces
    for (model, device, max_atoms, lanes), group in by_model(items).items():
        group = [p for p in group if p.forces is None]
        if not group:
            continue
        cells = [_displaced(p) for p in group]
        n_cells = sum(len(c.displacements) for c in cells)
        n_atoms = sum(len(c.displacements) * c.n_supercell for c in cells)
        progress(f"forces of {n_cells} displaced supercell(s) ({n_atoms} atoms) with {model}")
        t0 = time.perf_counter()
        try:
            adapter = models.loaded_adapter(model, device, max_atoms)
            n = lanes_or_default(device, lanes)
            with lane_threads(n):
                out = evaluate_forces(adapter, cells, n)
        except Exception as exc:
            for p in group:
                _fail(p, "model", exc)
            continue
        share = (time.perf_counter() - t0) / len(group)
        for p, f in zip(group, out):
            if isinstance(f, Exception):
                _fail(p, "forces", f)
            elif not np.isfinite(f).all():
                _fail(p, "forces", "the model returned NaN or infinite forces")
            else:
                p.forces, p.timings["forces_s"] = f, share


def _displaced(p):
    """What the model sees of a pair: its system's one-atom displaced supercells, or its
    random-displacement fields on the supercell (``pipeline.forces.DisplacedCells``)."""
    if p.displacement_fields is None:
        return p.system
    from phonjax.pipeline.forces import DisplacedCells

    return DisplacedCells(p.system.supercell, p.displacement_fields)


def kernel(items: Sequence, progress: Progress = no_progress) -> None:
    """Force constants and commensurate frequencies (ω_max, the stability verdict) of every
    pair: one ``phonon_properties`` call per set of kernel settings and plan (the kernel's
    one call site). The mesh is not solved here (``thermal=False``): the spectra solve it
    once, with eigenvectors, and take F, S, Cv from those modes (``spectra.thermal_table``)."""
    from phonjax.harmonic.properties import phonon_properties

    groups: dict = {}
    for p in _alive(items):
        route = p.settings.fc_route
        if p.harmonic is None and route.calculator == "finite" and route.symmetrize:
            groups.setdefault((p.settings.phonon_settings, p.plan), []).append(p)
    for (settings, plan), group in groups.items():
        progress(f"force constants and commensurate frequencies of {len(group)} material(s)")
        t0 = time.perf_counter()
        try:
            results = phonon_properties([p.system for p in group], [p.forces for p in group],
                                        settings, plan, keep_force_constants=True,
                                        thermal=False)
        except Exception:  # isolate the culprit
            results = []
            for p in group:
                try:
                    results.append(phonon_properties([p.system], [p.forces], settings, plan,
                                                     keep_force_constants=True,
                                                     thermal=False)[0])
                except Exception as exc:
                    results.append(exc)
        share = (time.perf_counter() - t0) / len(group)
        for p, r in zip(group, results):
            if isinstance(r, Exception):
                _fail(p, "force constants", r)
            else:
                p.harmonic = Harmonic(p.cells, p.system, p.forces, r, plan)
                p.timings["kernel_s"] = share
    other = [p for p in _alive(items) if not p.settings.fc_route.is_kernel]
    if other:
        progress(f"force constants of {len(other)} material(s) by phonopy's other routes")
    for p in other:
        _by_route(p)


def _by_route(p) -> None:
    """The force constants of a pair whose route is not the kernel's own
    (``pipeline.fc_route``: symfc, unsymmetrized, a cutoff radius), made on the host, and
    their commensurate frequencies."""
    from phonjax.harmonic.properties import properties_from_force_constants
    from phonjax.pipeline import fc_route

    s, route = p.settings, p.settings.fc_route
    t0 = time.perf_counter()
    try:
        produced = None if p.harmonic is None else p.harmonic.result.force_constants
        fc = fc_route.force_constants(p.system, p.forces, route, fields=p.displacement_fields,
                                      produced=produced, subtract_drift=s.subtract_drift,
                                      symprec=s.symprec)
        r = properties_from_force_constants(p.system, fc, s.phonon_settings, p.plan)
    except Exception as exc:
        _fail(p, "force constants", exc)
        return
    n_file = (len(p.displacement_fields) if p.displacement_fields is not None
              and route.random_snapshots is None else None)
    p.harmonic = Harmonic(p.cells, p.system, p.forces, r, p.plan, p.displacement_fields,
                          route.describe(n_file))
    p.timings["kernel_s"] = p.timings.get("kernel_s", 0.0) + time.perf_counter() - t0


STEPS = (symmetrize, relax, build_systems, model_forces, kernel)  # in order; each batched over pairs


def run(items: Sequence, progress: Progress = no_progress, spectra: bool = True) -> None:
    """Every step for every pair (``STEPS``, batched where the step allows), then each
    pair's spectra."""
    for step in STEPS:
        step(items, progress)
    if spectra:
        for p in _alive(items):
            progress(f"{p.name} · {p.model}: band structure, DOS, thermal properties, modes")
            try:
                p.run_spectra()
            except Exception as exc:
                _fail(p, "spectra", exc)
