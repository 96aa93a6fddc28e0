"""Forces of many displaced supercells from one model.

A *system* here is a prepared ``phonjax.harmonic.system`` system, or any record with the same
three members (``displacements``, ``displaced_supercells()``, ``n_supercell``), such as
``DisplacedCells``: a supercell and a displacement field per displaced copy (phono3py's
two-atom FC3 displacements, ``phonjax.anharmonic.displacements``); its *forces* are an array
(n_displacements, n_supercell_atoms, 3) in eV/Å. Two routes:

* finite displacements (``evaluate_forces``): every displaced supercell of every system
  in one batched adapter call (the adapter splits it by its ``max_atoms``), with
  ``lanes`` model calls side by side;
* the Hessian route (``hessian_forces``): −H·u from Hessian-vector products of a
  JAX-native model's energy, no finite differences.

A *lane* is one model call running beside others: ``default_lanes`` says how many a
device gets, ``lane_threads`` gives torch one intra-op thread per lane while they run.
Both routes return one entry per system, the forces or the exception that system raised,
so that one bad system never fails the others.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import ContextManager, Sequence

import numpy as np

from phonjax.resources import usable_cores


@dataclass(frozen=True, eq=False)
class DisplacedCells:
    """Copies of one supercell, each with its own displacement field (n, N, 3) Å: the
    members ``evaluate_forces`` reads, for displacements that are not one atom's."""

    supercell: object  # phonjax Crystal
    fields_A: np.ndarray  # (n, N, 3) Cartesian Å

    @property
    def displacements(self) -> np.ndarray:
        return self.fields_A

    @property
    def n_supercell(self) -> int:
        return self.supercell.n_atoms

    def displaced_supercells(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(cell, Cartesian positions, numbers) of each displaced copy."""
        base, sc = self.supercell.positions, self.supercell
        return [(sc.lattice, base + u, sc.numbers) for u in self.fields_A]


def evaluate_forces(adapter, systems: Sequence, lanes: int = 1) -> list[np.ndarray | Exception]:
    """Forces (n_disp, N, 3) per system from one batched call (``lanes`` model calls at
    a time); on an error, system by system so that only the culprit fails."""
    from phonjax.structure.batch import pad_structures

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


def hessian_forces(adapter, systems: Sequence) -> list[np.ndarray | Exception]:
    """−H·u (n_disp, N, 3) per system from Hessian-vector products of the model's energy
    (``phonjax.harmonic.hessian``): the force constants' forces of the protocol's displacements
    without finite differences. Needs a JAX-native adapter (``energy_function``)."""
    import jax

    from phonjax.harmonic.hessian import hessian_forces as energy_hessian_forces

    if not hasattr(adapter, "energy_function"):
        error = ValueError(f"force_constants=hessian needs a JAX-native model; "
                           f"{type(adapter).__name__} has no energy_function")
        return [error] * len(systems)
    out = []
    for s in systems:
        try:
            sc = s.supercell
            with jax.enable_x64(True):
                energy = adapter.energy_function(sc.lattice, sc.positions, sc.numbers)
                out.append(np.asarray(jax.jit(lambda: energy_hessian_forces(energy, s))(),
                                      float))
        except Exception as exc:
            out.append(exc)
    return out


def default_lanes(device: str = "cpu") -> int:
    """Model calls side by side: one per usable CPU core (at most 4: each CHGNet call of
    256 atoms holds ~2 GB) on CPU; one on an accelerator, which batches instead."""
    if device != "cpu":
        return 1
    return max(1, min(usable_cores(), 4))


def lanes_or_default(device: str, lanes: int | None) -> int:
    """``lanes`` as asked (≥ 1), or ``default_lanes(device)`` when None."""
    return default_lanes(device) if lanes is None else max(1, int(lanes))


def lane_threads(lanes: int) -> ContextManager:
    """One torch intra-op thread per lane while lanes run side by side (torch models)."""
    if lanes > 1 and "torch" in sys.modules:
        from phonjax_adapters.torch_utils import intra_op_threads

        return intra_op_threads(1)
    return contextlib.nullcontext()
