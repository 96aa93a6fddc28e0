"""Buckets, padded sizes and the memory model of compiled calls.

Materials differ in every size (``phonjax.harmonic.tables.Sizes``). A *bucket* is a group
of materials whose supercell and primitive atom counts pad to the same ladder
sizes; its tables are padded to the group's sizes (each on the plan's ladder,
so that separate calls share compilations) and stacked, ``batch`` materials
per compiled call. The memory model says how many fit ``plan.memory_bytes``
and refuses a material that alone does not.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from phonjax.execution.plan import Plan
from phonjax.resources import THERMAL_BYTES_PER_VALUE, refuse_if_over
from phonjax.harmonic.tables import FORCES_AXES, MaterialTables, Sizes, pad, pad_array, sizes_of, stack


def bucket(tables: Sequence[MaterialTables], plan: Plan) -> list[list[int]]:
    """Indices grouped by padded (supercell atoms, primitive atoms) and by their
    non-analytical correction (none, Gonze–Lee with or without full terms, Wang: tables of
    one structure),
    smallest first."""
    groups: dict[tuple[int, int, str], list[int]] = {}
    for i, t in enumerate(tables):
        s = sizes_of(t)
        key = (plan.padded(max(s.N, plan.min_padded_atoms)),
               plan.padded(max(s.np, plan.min_padded_primitive)),
               "" if t.nac is None else t.nac.method
               + ("+full" if t.nac.full_terms is not None else ""))
        groups.setdefault(key, []).append(i)
    return [groups[k] for k in sorted(groups)]


def group_sizes(tables: Sequence[MaterialTables], plan: Plan) -> Sizes:
    """Padded sizes of a group: the largest of each size, on the ladder."""
    s = sizes_of(tables[0])
    for t in tables[1:]:
        s = s.max(sizes_of(t))
    padded = {k: plan.padded(v) for k, v in dataclasses.asdict(s).items()}
    padded["N"] = plan.padded(max(s.N, plan.min_padded_atoms))
    padded["np"] = plan.padded(max(s.np, plan.min_padded_primitive))
    padded["nG"] = plan.padded(s.nG) if s.nG else 0  # 0: no NAC
    return Sizes(**padded)


def own_sizes(tables: MaterialTables, plan: Plan) -> Sizes:
    """One material's D(q) sizes in the chunked runner: np and nt on the fine ladder
    (D(q) costs np²·nt, so a bucket's coarse padding is not paid there)."""
    s = sizes_of(tables)
    return s.replace(np=plan.fine(s.np), nt=plan.fine(s.nt), nI=plan.padded(s.nI),
                     nG=plan.padded(s.nG) if s.nG else 0)


def force_constant_bytes(s: Sizes) -> float:
    """Peak bytes of one material's force-constant stage: the gathered, rotated forces
    (nd·K·N·3) and a few (N, N, 3, 3) intermediates, float64."""
    return 8 * 3 * s.nd * s.K * s.N * 4 + 8 * 9 * s.N * s.N * 4


def q_bytes(s: Sizes, q_chunk: int) -> float:
    """Peak bytes of one chunk of D(q) work: the (q, np, np, nt) phases and the complex
    matrices with their eigensolver workspace; with NAC (nG > 0) the (q, nG, 3, 3)
    Ewald terms and a few dipole-dipole matrices more."""
    modes = 3 * s.np
    nac = 8 * q_chunk * s.nG * 9 * 3 + 16 * q_chunk * 4 * modes * modes if s.nG else 0
    return 16 * q_chunk * (4 * modes * modes + 4 * s.np ** 2 * s.nt * 9) + nac


def batch_size(n_materials: int, bytes_per_material: float, plan: Plan) -> int:
    """Materials per compiled call: a ladder size (calls of 3 or 4 materials share one
    compilation; the stack is filled up with copies) that fits ``plan.memory_bytes``."""
    fits = max(1, int(plan.memory_bytes // max(bytes_per_material, 1)))
    return max(size for size in plan.ladder if size <= min(plan.padded(n_materials), fits))


def thermal_bytes(n_temperatures: int, n_values: int) -> float:
    """Peak bytes of the thermal sums of ``n_values`` mode values at ``n_temperatures``."""
    return THERMAL_BYTES_PER_VALUE * n_temperatures * n_values


def material_bytes(tables: MaterialTables, plan: Plan, n_temperatures: int = 1) -> float:
    """Peak bytes of one material run alone under ``plan`` (its own padded sizes) at
    ``n_temperatures``: the thermal sums of a chunk of q-points at once where XLA solves
    (the chunked runner with a host solver splits the temperatures instead,
    ``Plan.temperature_chunk``)."""
    if plan.runner == "graph":
        s = group_sizes([tables], plan)
        q_chunk = min(plan.q_chunk(s.modes), max(s.nq, 1))
        return (force_constant_bytes(s) + q_bytes(s, q_chunk)
                + thermal_bytes(n_temperatures, q_chunk * s.modes))
    s = own_sizes(tables, plan)
    q_chunk = plan.q_chunk(s.modes)
    thermal = 0.0 if plan.host_solver else thermal_bytes(n_temperatures, q_chunk * s.modes)
    return force_constant_bytes(group_sizes([tables], plan)) + q_bytes(s, q_chunk) + thermal


def check_fits(name: str, tables: MaterialTables, plan: Plan, n_temperatures: int = 1) -> None:
    """Refuse, before anything runs, a material that alone exceeds ``plan.memory_bytes`` at
    ``n_temperatures``."""
    s = sizes_of(tables)
    many = n_temperatures > 1 and not (plan.runner == "chunked" and plan.host_solver)
    what = f"the kernel ({s.N} supercell atoms, {3 * s.np} modes"
    what += f", {n_temperatures} temperatures)" if many else ")"
    refuse_if_over(name, what, material_bytes(tables, plan, n_temperatures), plan.memory_bytes,
                   "raise the bound (--memory-gb, Plan.memory_bytes), or use a smaller "
                   "supercell" + (" or fewer temperatures" if many else ""))


def padded_stack(forces: Sequence[np.ndarray], tables: Sequence[MaterialTables], s: Sizes,
                 batch: int) -> tuple[np.ndarray, MaterialTables]:
    """Forces and tables padded to ``s`` and stacked to ``batch`` entries, the last one
    repeated (one compiled shape per bucket whatever the group's length)."""
    items = [(pad_array(np.asarray(f, float), FORCES_AXES, s), pad(t, s))
             for f, t in zip(forces, tables)]
    items += [items[-1]] * (batch - len(items))
    return stack(items)
