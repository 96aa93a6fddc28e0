"""The workflow's steps, each batched over many (crystal, model) pairs.

Up to the force constants the steps are the bench's own code (``phonjax.bench``): the
crystals of one model relax together (``relax_many``: one model call per lock-step for all of
them), all their displaced supercells go to the model in one batched call
(``phonjax.pipeline.forces.evaluate_forces``), and every pair of every model goes through one
``phonon_properties`` call (``kernel``: force constants, F/S/Cv on the mesh, commensurate
frequencies; the one call site of the kernel). A pair that fails at a step keeps the stage
and a one-line reason (``Phonons.error``) and leaves the others running.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

from phonjax.crystal import Crystal

DFT = "dft"  # the model name of a force-set file's own forces (the bench's REFERENCE_MODEL)

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    """The ``Progress`` that reports nothing (the steps' default)."""
    pass


def _alive(items) -> list:
    return [p for p in items if p.error is None]


def _fail(item, stage: str, exc: Exception | str) -> None:
    message = exc if isinstance(exc, str) else (str(exc) or type(exc).__name__)
    item.error = (stage, message.strip().splitlines()[0] if message.strip() else message)


def symmetrize(items: Sequence) -> None:
    """Symmetry of each input and, where a looser tolerance finds more, the snapped cell."""
    from phonjax.single.cells import symmetrized, symmetry_of

    for p in _alive(items):
        if p.unitcell is not None:
            continue
        try:
            if p.dataset is not None or p.settings.symmetrize_tolerance_A is None:
                p.symmetry_input = symmetry_of(p.input_crystal, p.settings.symprec)
                p.unitcell = p.input_crystal
                continue
            p.unitcell, p.symmetry_input, after = symmetrized(
                p.input_crystal, p.settings.symmetrize_tolerance_A, p.settings.symprec)
            p.symmetrized_to = after
        except Exception as exc:
            _fail(p, "symmetry", exc)


def _by_model(items: Sequence) -> dict[tuple, list]:
    groups: dict[tuple, list] = {}
    for p in _alive(items):
        if p.model != DFT:
            groups.setdefault((p.model, p.device, p.max_atoms, p.lanes), []).append(p)
    return groups


def _adapter(model: str, device: str, max_atoms: int):
    from phonjax.bench import models

    adapter = models.adapter(model, device, max_atoms)
    if hasattr(adapter, "load"):
        adapter.load()  # imports the model's framework, so that its threads can be set
    return adapter


def _lanes(device: str, lanes: int | None) -> int:
    from phonjax.pipeline.forces import default_lanes

    return default_lanes(device) if lanes is None else max(1, int(lanes))


def relax(items: Sequence, progress: Progress = no_progress) -> None:
    """Relax every pair that asks for it, the crystals of one model together."""
    from phonjax.bench.relax import relax_many
    from phonjax.pipeline.forces import lane_threads
    from phonjax.single.cells import symmetry_of
    from phonjax.single.phonons import RelaxSummary

    for (model, device, max_atoms, lanes), group in _by_model(items).items():
        group = [p for p in group if p.settings.relax and p.relaxation is None
                 and _cells_fit(p)]
        if not group:
            continue
        progress(f"relaxing {len(group)} crystal(s) with {model} (fmax "
                 f"{group[0].settings.fmax_eV_A:g} eV/Å, FixSymmetry, FrechetCellFilter, FIRE)")
        try:
            adapter = _adapter(model, device, max_atoms)
            n = _lanes(device, lanes)
            by_protocol: dict = {}  # pairs whose relaxation settings agree relax together
            for p in group:
                s = p.settings
                key = (s.fmax_eV_A, s.relax_rounds, s.relax_steps, s.fix_symmetry,
                       s.max_force_eV_A)
                by_protocol.setdefault(key, []).append(p)
            with lane_threads(n):
                for ps in by_protocol.values():
                    settings = ps[0].settings  # carries the fields relax_many reads
                    results = relax_many([p.unitcell.to_ase() for p in ps], adapter, settings, n)
                    for p, r in zip(ps, results):
                        after = None
                        if r.ok:
                            p.unitcell = Crystal.from_ase(r.atoms, masses=p.unitcell.masses)
                            after = symmetry_of(p.unitcell, p.settings.symprec)
                        p.relaxation = RelaxSummary(r.ok, r.steps, r.fmax_eV_A, r.seconds,
                                                    r.energy_eV_per_atom, r.reason, after)
                        if not r.ok:
                            _fail(p, "relax", f"{r.reason} (target fmax {settings.fmax_eV_A:g} "
                                  "eV/Å); loosen fmax (--fmax) or skip it (--no-relax)")
        except Exception as exc:  # the model cannot load: every pair of it fails
            for p in group:
                _fail(p, "model", exc)


def _cells_fit(p) -> bool:
    """Whether the supercell the settings choose for the input cell fits the memory bound,
    checked before a relaxation is spent on it (the relaxed cell is checked again in
    ``prepare``; relaxation moves the lattice by a few per cent at most); a pair that does
    not fit fails at once with the one-line ``ResourceError``."""
    from phonjax.resources import ResourceError
    from phonjax.single.cells import choose_cells

    try:
        choose_cells(p.unitcell, p.settings, memory_bytes=p.memory_bytes, name=p.name)
    except ResourceError as exc:
        _fail(p, "prepare", exc)
        return False
    except Exception:  # anything else is prepare's to report, after the relaxation
        pass
    return True


def prepare(items: Sequence, progress: Progress = no_progress) -> None:
    """Cells (P, S), the non-analytical correction (``born.nac_for``: Born charges read and
    checked for the cells chosen, after relaxation) and the kernel's tables of every pair
    (the mesh reduced exactly as phonopy reduces it, so that F, S, Cv are phonopy's sums
    point for point)."""
    from phonjax.prepare import prepare as prepare_system
    from phonjax.single.born import nac_for
    from phonjax.single.cells import choose_cells

    todo = [p for p in _alive(items) if p.system is None]
    if todo:
        progress(f"preparing {len(todo)} supercell(s): symmetry, displacements, tables")
    for p in todo:
        s = p.settings
        try:
            ds = p.dataset
            file_matrices = None if ds is None else (ds.primitive_matrix, ds.supercell_matrix,
                                                     ds.primitive_matrix_rule)
            if p.model == DFT and s.supercell_matrix is not None and not np.array_equal(
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
            if p.model == DFT:  # the file's displacements and forces, P as chosen
                from phonjax.io import PhononDataset

                ds = PhononDataset(ds.id, ds.unitcell, ds.supercell_matrix,
                                   p.cells.primitive_matrix, ds.displaced_atoms,
                                   ds.displacements, ds.forces, ds.energy_eV, ds.reference,
                                   ds.source)
                p.system = prepare_system(ds, mesh=s.mesh, phonopy_mesh_fallback=True, id=p.name,
                                          nac=nac, memory_bytes=p.memory_bytes)
            else:
                p.system = prepare_system(p.unitcell, p.cells.supercell_matrix,
                                          p.cells.primitive_matrix, mesh=s.mesh,
                                          phonopy_mesh_fallback=True, distance=s.distance_A,
                                          symprec=s.symprec, id=p.name, nac=nac,
                                          memory_bytes=p.memory_bytes)
        except Exception as exc:
            _fail(p, "prepare", exc)


def forces(items: Sequence, progress: Progress = no_progress) -> None:
    """Forces on every displaced supercell: one batched model call per model."""
    from phonjax.pipeline.forces import evaluate_forces, lane_threads

    for p in _alive(items):
        if p.model == DFT and p.forces is None:
            if p.dataset.forces is None:
                _fail(p, "forces", "the force-set file has no forces; give a --model")
            else:
                p.forces = p.dataset.forces
    for (model, device, max_atoms, lanes), group in _by_model(items).items():
        group = [p for p in group if p.forces is None]
        if not group:
            continue
        n_cells = sum(len(p.system.displacements) for p in group)
        n_atoms = sum(len(p.system.displacements) * p.system.n_supercell for p in group)
        progress(f"forces of {n_cells} displaced supercell(s) ({n_atoms} atoms) with {model}")
        t0 = time.perf_counter()
        try:
            adapter = _adapter(model, device, max_atoms)
            n = _lanes(device, lanes)
            with lane_threads(n):
                out = evaluate_forces(adapter, [p.system for p in group], n)
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


def kernel(items: Sequence, progress: Progress = no_progress) -> None:
    """Force constants, mesh thermal properties and commensurate frequencies of every pair:
    one ``phonon_properties`` call per set of kernel settings (the kernel's one call site)."""
    from phonjax.phonons import phonon_properties

    from phonjax.execution import default_plan

    groups: dict = {}
    for p in _alive(items):
        if p.result is None:
            key = (_kernel_settings(p.settings), p.memory_bytes)
            groups.setdefault(key, []).append(p)
    for (settings, memory_bytes), group in groups.items():
        progress(f"force constants and thermal properties of {len(group)} material(s)")
        plan = default_plan().replace(memory_bytes=memory_bytes)
        t0 = time.perf_counter()
        try:
            results = phonon_properties([p.system for p in group], [p.forces for p in group],
                                        settings, plan, keep_force_constants=True)
        except Exception:  # isolate the culprit
            results = []
            for p in group:
                try:
                    results.append(phonon_properties([p.system], [p.forces], settings, plan,
                                                     keep_force_constants=True)[0])
                except Exception as exc:
                    results.append(exc)
        share = (time.perf_counter() - t0) / len(group)
        for p, r in zip(group, results):
            if isinstance(r, Exception):
                _fail(p, "force constants", r)
            else:
                p.result, p.timings["kernel_s"] = r, share


def _kernel_settings(settings):
    """The kernel's settings, with T = 0 added (F(0) is the zero-point energy)."""
    base = settings.phonon_settings
    temps = base.temperatures_K if 0.0 in base.temperatures_K else (0.0,) + base.temperatures_K
    from dataclasses import replace

    return replace(base, temperatures_K=temps)


def run(items: Sequence, progress: Progress = no_progress, spectra: bool = True) -> None:
    """Every step for every pair, batched where the step allows."""
    symmetrize(items)
    relax(items, progress)
    prepare(items, progress)
    forces(items, progress)
    kernel(items, progress)
    if spectra:
        for p in _alive(items):
            progress(f"{p.name} · {p.model}: band structure, DOS, thermal properties, modes")
            try:
                p.run_spectra()
            except Exception as exc:
                _fail(p, "spectra", exc)
