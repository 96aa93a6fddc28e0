"""One chunk of materials × one model → result rows (the unit of work of every executor).

Pure with respect to the store: it reads dataset files and yields plain dicts,
each material's row as soon as that material is done, so that the caller can
store it at once (a kill then loses at most the material in hand, besides the
relaxations still running). For a model: relax the chunk's unit cells together
(one model call per lock-step for all those still relaxing); as each relaxation
ends, displace with the reference S and P, evaluate that material's displaced
supercells in one batched adapter call (split by ``max_atoms`` inside the
adapter) and compute its phonons. For the reference (``model == "dft"``): the
kernel on the datasets' own forces, all materials of the chunk in one batched
``phonon_properties`` call. Any failure of one material becomes its row with
``status="failed"`` and the stage; unreadable inputs come back as
``status="input_error"`` (reported, never stored). Every row carries the
SHA-256 of its input (``input_sha256``): the one the material carries (the runner
hashes each input once per run, ``inputs.hashed``), else taken when the input is read.

How the kernel runs is a ``phonjax.Plan`` (``--plan``, ``--memory-gb``): its
``memory_bytes`` bounds prepare and the kernel. None: ``default_plan()`` of the
machine the chunk runs on (as ``lanes``), resolved once per chunk. The plan is how,
not what: it never enters a row or the protocol key.
"""

from __future__ import annotations

import math
import time
import traceback
from typing import TYPE_CHECKING, Iterator

import numpy as np

from phonjax.bench import REFERENCE_MODEL
from phonjax.bench.inputs import Material, content_sha256, load
from phonjax.bench.protocols import Protocol, mesh_for
from phonjax.pipeline.forces import (evaluate_forces, hessian_forces, lane_threads,
                                     lanes_or_default)
from phonjax.structure.symmetry import crystal_system, spglib_dataset

if TYPE_CHECKING:  # phonjax.execution imports jax: only where a kernel runs
    from phonjax.execution.plan import Plan


def crystal_info(crystal) -> dict:
    """Formula, elements, space group (1 where spglib finds none) and crystal system of a
    unit cell."""
    from ase.data import chemical_symbols

    ds = spglib_dataset(crystal, required=False)
    number = int(ds.number) if ds is not None else 1
    symbols = [chemical_symbols[z] for z in crystal.numbers]
    counts = {s: symbols.count(s) for s in dict.fromkeys(symbols)}
    return {"formula": "".join(f"{s}{n if n > 1 else ''}" for s, n in sorted(counts.items())),
            "elements": " ".join(sorted(counts)), "n_atoms_unitcell": crystal.n_atoms,
            "spacegroup_number": number, "crystal_system": crystal_system(number)}


def material_row(material: Material, model: str, protocol: Protocol, **fields) -> dict:
    """The result row of one material under one model and protocol: its keys, status
    ``ok`` with no stage or error, then ``fields`` (which may override any of those)."""
    row = {"dataset": material.dataset, "material_id": material.material_id, "model": model,
           "protocol": protocol.key, "status": "ok", "stage": None, "error": None}
    row.update(fields)
    return row


_EXTENSIVE = ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol")


ACOUSTIC_RULES = ("smallest", "lowest")  # phonjax.harmonic.stability's two Γ rules


def phonon_fields(result, system, protocol: Protocol) -> dict:
    """The row's phonon numbers, from ``result.record()`` (the record ``phonjax phonons
    --json`` prints) and the verdicts; ``ValueError`` when F, S or Cv is not a finite number
    (so that it becomes a failure, never a stored ``ok``). Stability and ω_min follow the
    protocol's Γ rule; ``stable_smallest``/``stable_lowest`` are the verdicts under each
    rule (same tolerance), from the commensurate frequencies: each taken once (the
    protocol's own is the result's, ``rule_verdict``)."""
    record = result.record()  # the result's own flat record (``PhononResult.record``)
    for name in _EXTENSIVE:
        if not math.isfinite(record[name]):
            raise ValueError(f"{name} is not a finite number at {record['temperature_K']:g} K")
    verdicts = {rule: rule_verdict(result, system, protocol, rule) for rule in ACOUSTIC_RULES}
    own = verdicts[protocol.acoustic_modes]
    return {**{name: record[name] for name in _EXTENSIVE}, "omega_max_K": own.omega_max_K,
            "omega_min_K": own.omega_min_K, "gamma_acoustic_min_K": own.gamma_acoustic_min_K,
            "stable": own.stable, "acoustic_modes": protocol.acoustic_modes,
            **{f"stable_{rule}": v.stable for rule, v in verdicts.items()},
            "n_primitive": record["n_primitive"], "n_supercell": record["n_supercell"],
            "n_displacements": record["n_displacements"],
            "mesh": "x".join(str(m) for m in record["mesh"]),
            "temperature_K": record["temperature_K"]}


def rule_verdict(result, system, protocol: Protocol, rule: str):
    """The ``Stability`` of ``result`` under Γ rule ``rule`` and the protocol's tolerance:
    the result's own when ``phonon_properties`` took it under that rule and tolerance (as
    ``protocol_properties`` does, with ``protocol.settings``), else from its commensurate
    frequencies."""
    from phonjax.harmonic.stability import Stability, stability

    if (rule == getattr(result, "acoustic_modes", None) == protocol.acoustic_modes
            and getattr(result, "gamma_acoustic_tolerance_K", None)
            == protocol.gamma_acoustic_tolerance_K):
        return Stability(result.omega_max_K, result.omega_min_K, result.gamma_acoustic_min_K,
                         result.stable, result.gamma_acoustic_tolerance_K)
    return stability(system.commensurate, result.commensurate_frequencies_THz,
                     protocol.gamma_acoustic_tolerance_K, protocol.thz_to_k, acoustic_modes=rule)


def protocol_properties(protocol: Protocol, systems, forces, plan: Plan | None = None):
    """``phonon_properties`` for all under ``plan`` (None: ``default_plan()``); on an
    error, one by one so only the culprit fails."""
    from phonjax.execution.plan import resolved_plan
    from phonjax.harmonic.properties import phonon_properties

    settings = protocol.settings
    plan = resolved_plan(plan)
    try:
        return phonon_properties(systems, forces, settings, plan)
    except Exception:
        out = []
        for s, f in zip(systems, forces):
            try:
                out.append(phonon_properties([s], [f], settings, plan)[0])
            except Exception as exc:
                out.append(exc)
        return out


def prepare_for_protocol(protocol: Protocol, source, S=None, P=None, unitcell=None, pmat=None,
                         **kw):
    """``phonjax.harmonic.system.prepare`` of ``source`` under the protocol's mesh (for ``unitcell``
    and primitive matrix ``pmat``), displacements and commensurate points; no NAC unless
    ``kw`` asks for it."""
    from phonjax.harmonic.system import prepare

    mesh = mesh_for(protocol, unitcell, pmat)
    kw.setdefault("nac", False)  # the benchmark protocols never apply NAC, as the paper's
    return prepare(source, S, P, mesh=mesh, gamma_centered=protocol.gamma_centered,
                   distance=protocol.distance_A, is_diagonal=protocol.is_diagonal,
                   commensurate=protocol.commensurate, **kw)


def reference_rows(materials: list[Material], protocol: Protocol,
                   plan: Plan | None = None) -> list[dict]:
    """The kernel on the datasets' own forces (or the binaries JSON's Cv) under ``plan``
    (None: ``default_plan()``; its ``memory_bytes`` bounds prepare and the kernel)."""
    return [row for group in iter_reference_rows(materials, protocol, plan) for row in group]


def iter_reference_rows(materials: list[Material], protocol: Protocol,
                        plan: Plan | None = None) -> Iterator[list[dict]]:
    """``reference_rows`` in groups of rows finished together: each unreadable input at
    once, then every other material of the chunk after one batched kernel call."""
    from phonjax.execution.plan import resolved_plan

    plan = resolved_plan(plan)
    systems, forces, pending = [], [], []
    for m in materials:
        t0 = time.perf_counter()
        sha = content_sha256(m)
        try:
            ds = load(m)
            info = crystal_info(ds.unitcell)
            base = {**info, "volume_A3_per_atom": ds.unitcell.volume / ds.unitcell.n_atoms,
                    "energy_eV_per_atom": (None if ds.energy_eV is None
                                           else ds.energy_eV / ds.unitcell.n_atoms),
                    "input_sha256": sha}
            if m.entry is not None:  # Cv only, per mole of the JSON's cell
                yield [material_row(m, REFERENCE_MODEL, protocol, **base,
                                    heat_capacity_JKmol=ds.reference.get("heat_capacity_300K"),
                                    n_primitive=ds.unitcell.n_atoms, temperature_K=300.0)]
                continue
            if ds.forces is None:
                raise ValueError("the file has no forces")
            system = prepare_for_protocol(protocol, ds, unitcell=ds.unitcell,
                                          pmat=ds.primitive_matrix,
                                          memory_bytes=plan.memory_bytes)
        except Exception as exc:
            yield [material_row(m, REFERENCE_MODEL, protocol, status="input_error", stage="input",
                                error=f"{type(exc).__name__}: {exc}", input_sha256=sha)]
            continue
        systems.append(system)
        forces.append(ds.forces)
        pending.append((m, base, time.perf_counter() - t0))
    if not systems:
        return
    t0 = time.perf_counter()
    results = protocol_properties(protocol, systems, forces, plan)
    share = (time.perf_counter() - t0) / max(1, len(systems))
    yield [result_row(m, REFERENCE_MODEL, protocol, base, system, res, seconds=prep_s + share)
           for (m, base, prep_s), system, res in zip(pending, systems, results)]


def result_row(m: Material, model: str, protocol: Protocol, fields: dict, system, result,
               **extra) -> dict:
    """The ok row of ``result`` (a PhononResult), or the failed row of the phonon step."""
    try:
        if isinstance(result, Exception):
            raise result
        return material_row(m, model, protocol, **fields, **phonon_fields(result, system, protocol),
                            **extra)
    except Exception as exc:
        return material_row(m, model, protocol, **fields, status="failed", stage="phonons",
                            error=f"{type(exc).__name__}: {exc}")


def model_rows(materials: list[Material], model: str, protocol: Protocol, device: str = "cpu",
               max_atoms: int = 4096, lanes: int | None = None,
               plan: Plan | None = None) -> list[dict]:
    """Rows of ``materials`` under ``model``, in the order they finished; ``lanes``
    concurrent model calls (None: as many as ``default_lanes``); ``plan``: how the kernel
    runs (None: ``default_plan()``; its ``memory_bytes`` bounds prepare and the kernel)."""
    return [row for group in iter_model_rows(materials, model, protocol, device, max_atoms, lanes,
                                             plan)
            for row in group]


def iter_model_rows(materials: list[Material], model: str, protocol: Protocol,
                    device: str = "cpu", max_atoms: int = 4096,
                    lanes: int | None = None,
                    plan: Plan | None = None) -> Iterator[list[dict]]:
    """``model_rows``, each material's row yielded as soon as it is done."""
    from phonjax.pipeline import models
    from phonjax.execution.plan import resolved_plan

    plan = resolved_plan(plan)
    adapter = models.loaded_adapter(model, device, max_atoms)
    lanes = lanes_or_default(device, lanes)
    with lane_threads(lanes):
        yield from _model_rows(materials, model, protocol, adapter, lanes, plan)


def _model_rows(materials, model, protocol, adapter, lanes, plan: Plan) -> Iterator[list[dict]]:
    from phonjax.pipeline.relax import relax_each

    loaded = []
    for m in materials:
        t0 = time.perf_counter()
        sha = content_sha256(m)
        try:
            ds = load(m)
            info = {**crystal_info(ds.unitcell), "input_sha256": sha}
            loaded.append((m, ds, info, time.perf_counter() - t0))
        except Exception as exc:
            yield [material_row(m, model, protocol, status="input_error", stage="input",
                                error=f"{type(exc).__name__}: {exc}", input_sha256=sha)]
    if protocol.relax:  # all unit cells of the chunk together, one model call per step
        relaxed = relax_each([ds.unitcell.to_ase() for _, ds, _, _ in loaded],
                             adapter, protocol.relax_settings, lanes=lanes)
    else:
        relaxed = ((i, None) for i in range(len(loaded)))
    for i, r in relaxed:  # each material finished as soon as its relaxation is
        yield [_finish(*loaded[i], r, model, protocol, adapter, lanes, plan)]


def _finish(m, ds, info, load_s, r, model, protocol, adapter, lanes, plan: Plan) -> dict:
    """The row of one relaxed material: displace, forces (one batched call), phonons."""
    from phonjax.structure.crystal import Crystal

    t0 = time.perf_counter()
    atoms = ds.unitcell.to_ase()
    fields = dict(info)
    if r is not None:
        fields.update(relax_steps=r.steps, relax_seconds=r.seconds, relax_fmax_eV_A=r.fmax_eV_A)
        if not r.ok:
            return material_row(m, model, protocol, **fields, status="failed", stage="relax",
                                error=r.reason, seconds=load_s + r.seconds)
        atoms = r.atoms
        fields.update(energy_eV_per_atom=r.energy_eV_per_atom,
                      volume_A3_per_atom=r.volume_A3_per_atom)
    try:
        crystal = Crystal.from_ase(atoms, masses=ds.unitcell.masses)
        system = prepare_for_protocol(protocol, crystal, ds.supercell_matrix, ds.primitive_matrix,
                                      unitcell=crystal, pmat=ds.primitive_matrix,
                                      use_dataset_displacements=False, id=m.material_id,
                                      memory_bytes=plan.memory_bytes)
    except Exception as exc:
        return material_row(m, model, protocol, **fields, status="failed", stage="prepare",
                            error=f"{type(exc).__name__}: {exc}", seconds=time.perf_counter() - t0)
    prep_s = load_s + (r.seconds if r is not None else 0.0) + time.perf_counter() - t0
    t0 = time.perf_counter()
    if protocol.force_constants == "hessian":
        [f] = hessian_forces(adapter, [system])
    else:
        [f] = evaluate_forces(adapter, [system], lanes)
    fields["forces_seconds"] = forces_s = time.perf_counter() - t0
    if isinstance(f, Exception):
        return material_row(m, model, protocol, **fields, status="failed", stage="forces",
                            error=f"{type(f).__name__}: {f}")
    if not np.isfinite(f).all():
        return material_row(m, model, protocol, **fields, status="failed", stage="forces",
                            error="NaN or infinite forces")
    t0 = time.perf_counter()
    [result] = protocol_properties(protocol, [system], [f], plan)
    return result_row(m, model, protocol, fields, system, result,
                      seconds=prep_s + forces_s + time.perf_counter() - t0)


def compute_chunk(materials: list[Material], model: str, protocol: Protocol,
                  device: str = "cpu", max_atoms: int = 4096,
                  lanes: int | None = None, plan: Plan | None = None) -> Iterator[dict]:
    """Rows for ``materials`` under ``model`` (``"dft"``: the reference), each yielded as
    soon as it is done; never raises. ``lanes``: concurrent model calls (None:
    ``default_lanes`` of the machine it runs on); ``plan``: how the kernel runs (None:
    ``default_plan()`` of the machine it runs on; its ``memory_bytes`` bounds prepare and
    the kernel).

    Each row also gets ``wall_seconds``: its share of the chunk's wall time (the time
    since the previous rows were yielded, split over the rows finished together). A
    row's own ``seconds`` overlap (lanes run side by side, a lock-step waits for its
    group), so only this share adds up to the run time."""
    t_last = time.perf_counter()
    finished: set[str] = set()
    try:
        groups = (iter_reference_rows(materials, protocol, plan)
                  if model == REFERENCE_MODEL else
                  iter_model_rows(materials, model, protocol, device, max_atoms, lanes, plan))
        for group in groups:
            now = time.perf_counter()
            share, t_last = (now - t_last) / max(1, len(group)), now
            for row in group:
                finished.add(row["material_id"])
                yield {**row, "wall_seconds": share}
    except Exception as exc:  # e.g. the model cannot load: not the materials' fault, not stored
        err = f"{type(exc).__name__}: {exc}"
        for m in materials:
            if m.material_id not in finished:
                yield material_row(m, model, protocol, status="model_error", stage="model",
                                   error=err, traceback=traceback.format_exc(limit=5))


def compute_chunk_list(*args, **kwargs) -> list[dict]:
    """``compute_chunk`` as one list (for executors that return a chunk's rows at once)."""
    return list(compute_chunk(*args, **kwargs))
