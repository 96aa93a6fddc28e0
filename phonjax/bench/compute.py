"""One chunk of materials × one model → result rows (the unit of work of every executor).

Pure with respect to the store: it reads dataset files and returns plain
dicts. For a model: relax every unit cell, displace with the reference S and
P, evaluate all displaced supercells of the chunk in one batched adapter call
(split by ``max_atoms`` inside the adapter), then ``phonon_properties`` for all
materials at once. For the reference (``model == "dft"``): the same kernel on
the dataset's own forces. Any failure of one material becomes its row with
``status="failed"`` and the stage; unreadable inputs come back as
``status="input_error"`` (reported, never stored).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

import numpy as np

from phonjax.bench import REFERENCE_MODEL
from phonjax.bench.inputs import Material, load
from phonjax.bench.protocols import Protocol, mesh_for

_CRYSTAL_SYSTEMS = ((2, "triclinic"), (15, "monoclinic"), (74, "orthorhombic"),
                    (142, "tetragonal"), (167, "trigonal"), (194, "hexagonal"), (230, "cubic"))


def crystal_system(spacegroup_number: int) -> str:
    return next(name for top, name in _CRYSTAL_SYSTEMS if spacegroup_number <= top)


def crystal_info(crystal) -> dict:
    """Formula, elements, space group and crystal system of a unit cell."""
    import spglib
    from ase.data import chemical_symbols

    ds = spglib.get_symmetry_dataset(crystal.spglib_cell(), symprec=1e-5)
    number = int(ds.number) if ds is not None else 1
    symbols = [chemical_symbols[z] for z in crystal.numbers]
    counts = {s: symbols.count(s) for s in dict.fromkeys(symbols)}
    return {"formula": "".join(f"{s}{n if n > 1 else ''}" for s, n in sorted(counts.items())),
            "elements": " ".join(sorted(counts)), "n_atoms_unitcell": crystal.n_atoms,
            "spacegroup_number": number, "crystal_system": crystal_system(number)}


def _row(material: Material, model: str, protocol: Protocol, **fields) -> dict:
    row = {"dataset": material.dataset, "material_id": material.material_id, "model": model,
           "protocol": protocol.key, "status": "ok", "stage": None, "error": None}
    row.update(fields)
    return row


_PHONON_FIELDS = ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol", "omega_max_K",
                  "omega_min_K", "gamma_acoustic_min_K", "stable", "n_primitive", "n_supercell",
                  "n_displacements", "temperature_K")


def _phonon_fields(result) -> dict:
    record = result.record(0)
    return {**{k: record[k] for k in _PHONON_FIELDS}, "mesh": "x".join(map(str, result.mesh))}


def _properties(protocol: Protocol, systems, forces):
    """``phonon_properties`` for all; on an error, one by one so only the culprit fails."""
    from phonjax.phonons import phonon_properties

    settings = protocol.settings
    try:
        return phonon_properties(systems, forces, settings)
    except Exception:
        out = []
        for s, f in zip(systems, forces):
            try:
                out.append(phonon_properties([s], [f], settings)[0])
            except Exception as exc:
                out.append(exc)
        return out


def _prepare(protocol: Protocol, source, S=None, P=None, unitcell=None, pmat=None, **kw):
    from phonjax.prepare import prepare

    mesh = mesh_for(protocol, unitcell, pmat)
    kw.setdefault("nac", False)  # the benchmark protocols never apply NAC, as the paper's
    return prepare(source, S, P, mesh=mesh, gamma_centered=protocol.gamma_centered,
                   distance=protocol.distance_A, is_diagonal=protocol.is_diagonal,
                   commensurate=protocol.commensurate, **kw)


def reference_rows(materials: list[Material], protocol: Protocol) -> list[dict]:
    """The kernel on the datasets' own forces (or the binaries JSON's Cv)."""
    rows, systems, forces, pending = [], [], [], []
    for m in materials:
        t0 = time.perf_counter()
        try:
            ds = load(m)
            info = crystal_info(ds.unitcell)
            base = {**info, "volume_A3_per_atom": ds.unitcell.volume / ds.unitcell.n_atoms,
                    "energy_eV_per_atom": (None if ds.energy_eV is None
                                           else ds.energy_eV / ds.unitcell.n_atoms)}
            if m.entry is not None:  # Cv only, per mole of the JSON's cell
                rows.append(_row(m, REFERENCE_MODEL, protocol, **base,
                                 heat_capacity_JKmol=ds.reference.get("heat_capacity_300K"),
                                 n_primitive=ds.unitcell.n_atoms, temperature_K=300.0))
                continue
            if ds.forces is None:
                raise ValueError("the file has no forces")
            system = _prepare(protocol, ds, unitcell=ds.unitcell, pmat=ds.primitive_matrix)
        except Exception as exc:
            rows.append(_row(m, REFERENCE_MODEL, protocol, status="input_error", stage="input",
                             error=f"{type(exc).__name__}: {exc}"))
            continue
        systems.append(system)
        forces.append(ds.forces)
        pending.append((m, base, time.perf_counter() - t0))
    t0 = time.perf_counter()
    results = _properties(protocol, systems, forces) if systems else []
    share = (time.perf_counter() - t0) / max(1, len(systems))
    for (m, base, prep_s), system, res in zip(pending, systems, results):
        if isinstance(res, Exception):
            rows.append(_row(m, REFERENCE_MODEL, protocol, **base, status="failed", stage="phonons",
                             error=f"{type(res).__name__}: {res}"))
        else:
            rows.append(_row(m, REFERENCE_MODEL, protocol, **base, **_phonon_fields(res),
                             seconds=prep_s + share))
    return rows


def _evaluate_forces(adapter, systems, lanes: int = 1) -> list[np.ndarray | Exception]:
    """Forces (n_disp, N, 3) per system from one batched call (``lanes`` model calls at
    a time); per system on error."""
    from phonjax.structures import pad_structures

    def run(group):
        cells = [c for s in group for c in s.displaced_supercells()]
        out = adapter.evaluate(pad_structures(cells), compute_stress=False,
                               workers=lanes).forces
        res, start = [], 0
        for s in group:
            n = len(s.displacements)
            res.append(np.array(out[start:start + n, : s.n_supercell], float))
            start += n
        return res

    try:
        return run(systems)
    except Exception:
        out = []
        for s in systems:
            try:
                out.append(run([s])[0])
            except Exception as exc:
                out.append(exc)
        return out


def default_lanes(device: str = "cpu") -> int:
    """Model calls side by side: one per usable CPU core (at most 4: each CHGNet call of
    256 atoms holds ~2 GB) on CPU; one on an accelerator, which batches instead."""
    if device != "cpu":
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (not Linux)
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def _lane_threads(lanes: int):
    """One torch intra-op thread per lane while lanes run side by side (torch models)."""
    if lanes > 1 and "torch" in sys.modules:
        from phonjax_adapters.torch_utils import intra_op_threads

        return intra_op_threads(1)
    return contextlib.nullcontext()


def model_rows(materials: list[Material], model: str, protocol: Protocol, device: str = "cpu",
               max_atoms: int = 4096, lanes: int | None = None) -> list[dict]:
    """Rows of ``materials`` under ``model``; ``lanes`` concurrent model calls (None: as
    many as ``default_lanes``)."""
    from phonjax.bench import models

    adapter = models.adapter(model, device, max_atoms)
    if hasattr(adapter, "load"):
        adapter.load()  # imports the model's framework, so that its threads can be set
    lanes = default_lanes(device) if lanes is None else max(1, int(lanes))
    with _lane_threads(lanes):
        return _model_rows(materials, model, protocol, adapter, lanes)


def _model_rows(materials, model, protocol, adapter, lanes) -> list[dict]:
    from phonjax.bench.relax import relax_many
    from phonjax.crystal import Crystal

    rows, systems, pending, loaded = [], [], [], []
    for m in materials:
        t0 = time.perf_counter()
        try:
            ds = load(m)
            loaded.append((m, ds, crystal_info(ds.unitcell), time.perf_counter() - t0))
        except Exception as exc:
            rows.append(_row(m, model, protocol, status="input_error", stage="input",
                             error=f"{type(exc).__name__}: {exc}"))
    relaxed: list = [None] * len(loaded)
    if protocol.relax:  # all unit cells of the chunk together, one model call per step
        relaxed = relax_many([ds.unitcell.to_ase() for _, ds, _, _ in loaded], adapter, protocol,
                             lanes=lanes)
    for (m, ds, info, load_s), r in zip(loaded, relaxed):
        t0 = time.perf_counter()
        atoms = ds.unitcell.to_ase()
        fields = dict(info)
        if r is not None:
            fields.update(relax_steps=r.steps, relax_seconds=r.seconds, relax_fmax_eV_A=r.fmax_eV_A)
            if not r.ok:
                rows.append(_row(m, model, protocol, **fields, status="failed", stage="relax",
                                 error=r.reason, seconds=load_s + r.seconds))
                continue
            atoms = r.atoms
            fields.update(energy_eV_per_atom=r.energy_eV_per_atom,
                          volume_A3_per_atom=r.volume_A3_per_atom)
        try:
            crystal = Crystal.from_ase(atoms, masses=ds.unitcell.masses)
            system = _prepare(protocol, crystal, ds.supercell_matrix, ds.primitive_matrix,
                              unitcell=crystal, pmat=ds.primitive_matrix,
                              use_dataset_displacements=False, id=m.material_id)
        except Exception as exc:
            rows.append(_row(m, model, protocol, **fields, status="failed", stage="prepare",
                             error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0))
            continue
        systems.append(system)
        pending.append((m, fields, load_s + (r.seconds if r is not None else 0.0)
                        + time.perf_counter() - t0))
    if not systems:
        return rows
    t0 = time.perf_counter()
    forces = _evaluate_forces(adapter, systems, lanes)
    atoms_total = sum(len(s.displacements) * s.n_supercell for s in systems)
    forces_s = time.perf_counter() - t0
    good = [i for i, f in enumerate(forces)
            if not isinstance(f, Exception) and np.isfinite(f).all()]
    t0 = time.perf_counter()
    results = dict(zip(good, _properties(protocol, [systems[i] for i in good],
                                         [forces[i] for i in good])))
    phonons_s = (time.perf_counter() - t0) / max(1, len(good))
    for i, ((m, fields, prep_s), system, f) in enumerate(zip(pending, systems, forces)):
        own_forces_s = forces_s * len(system.displacements) * system.n_supercell / atoms_total
        fields = {**fields, "forces_seconds": own_forces_s}
        if isinstance(f, Exception):
            rows.append(_row(m, model, protocol, **fields, status="failed", stage="forces",
                             error=f"{type(f).__name__}: {f}"))
        elif i not in results:
            rows.append(_row(m, model, protocol, **fields, status="failed", stage="forces",
                             error="NaN or infinite forces"))
        elif isinstance(results[i], Exception):
            rows.append(_row(m, model, protocol, **fields, status="failed", stage="phonons",
                             error=f"{type(results[i]).__name__}: {results[i]}"))
        else:
            rows.append(_row(m, model, protocol, **fields, **_phonon_fields(results[i]),
                             seconds=prep_s + own_forces_s + phonons_s))
    return rows


def compute_chunk(materials: list[Material], model: str, protocol: Protocol,
                  device: str = "cpu", max_atoms: int = 4096,
                  lanes: int | None = None) -> list[dict]:
    """Rows for ``materials`` under ``model`` (``"dft"``: the reference); never raises.
    ``lanes``: concurrent model calls (None: ``default_lanes`` of the machine it runs on).

    Each row also gets ``wall_seconds``: the chunk's wall time over its materials. A row's
    own ``seconds`` overlap (lanes run side by side, a lock-step waits for its group), so
    only this share adds up to the run time."""
    t0 = time.perf_counter()
    try:
        if model == REFERENCE_MODEL:
            rows = reference_rows(materials, protocol)
        else:
            rows = model_rows(materials, model, protocol, device, max_atoms, lanes)
        share = (time.perf_counter() - t0) / max(1, len(materials))
        return [{**r, "wall_seconds": share} for r in rows]
    except Exception as exc:  # e.g. the model cannot load: not the materials' fault, not stored
        err = f"{type(exc).__name__}: {exc}"
        return [_row(m, model, protocol, status="model_error", stage="model", error=err,
                     traceback=traceback.format_exc(limit=5)) for m in materials]
