"""Relaxation of a unit cell with a model: FIRE on FrechetCellFilter + FixSymmetry.

As in the published benchmark: up to ``relax_rounds`` rounds of at most
``relax_steps`` FIRE steps aiming at fmax/2, accepted when the final force
(atoms and cell, as the filter reports them) is ≤ fmax. Non-convergence,
exploding forces (> max_force_eV_A), NaN and model exceptions become a
``RelaxResult`` with ``ok=False`` and a reason, never an exception.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


class RelaxationFailed(RuntimeError):
    pass


@dataclass
class RelaxResult:
    ok: bool
    atoms: object | None  # relaxed ase.Atoms (no calculator, no constraint)
    energy_eV_per_atom: float | None
    volume_A3_per_atom: float | None
    fmax_eV_A: float | None
    steps: int
    seconds: float
    reason: str = ""


def _fmax(forces: np.ndarray) -> float:
    return float(np.sqrt((np.asarray(forces) ** 2).sum(axis=1).max()))


def relax(atoms, calculator, protocol) -> RelaxResult:
    """Relax a copy of ``atoms`` with ``calculator`` under ``protocol`` (see module doc)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return _relax(atoms, calculator, protocol)
    # The cell filter solves many 3×3/6×6 systems; with several BLAS libraries loaded
    # (numpy's and scipy's OpenBLAS) their threads spin against each other and each
    # tiny solve costs ~10 ms instead of ~20 µs. One thread is fastest for such sizes.
    with threadpool_limits(1, user_api="blas"):
        return _relax(atoms, calculator, protocol)


def _relax(atoms, calculator, protocol) -> RelaxResult:
    from ase.constraints import FixSymmetry
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    t0 = time.perf_counter()
    atoms = atoms.copy()
    atoms.calc = calculator
    if protocol.fix_symmetry:
        atoms.set_constraint(FixSymmetry(atoms))
    steps = 0
    fmax = float("nan")

    def guard(filtered):
        f = filtered.get_forces()
        if not np.isfinite(f).all():
            raise RelaxationFailed("NaN or infinite forces/stress")
        if _fmax(f) > protocol.max_force_eV_A:
            raise RelaxationFailed(f"forces exploded (> {protocol.max_force_eV_A:g} eV/Å)")

    def failed(reason: str) -> RelaxResult:
        return RelaxResult(False, None, None, None, None if np.isnan(fmax) else fmax, steps,
                           time.perf_counter() - t0, reason)

    try:
        for _ in range(protocol.relax_rounds):
            filtered = FrechetCellFilter(atoms)
            opt = FIRE(filtered, logfile=None)
            opt.insert_observer(guard, filtered=filtered)
            opt.run(fmax=protocol.fmax_eV_A / 2, steps=protocol.relax_steps)
            steps += opt.nsteps
            fmax = _fmax(filtered.get_forces())
            if not np.isfinite(fmax):
                return failed("NaN forces")
            if fmax < protocol.fmax_eV_A / 2:
                break
        fmax = _fmax(FrechetCellFilter(atoms).get_forces())
        if not np.isfinite(fmax):
            return failed("NaN forces")
        if fmax > protocol.fmax_eV_A:
            return failed(f"not converged: fmax {fmax:.3g} eV/Å after {steps} steps")
        energy = float(atoms.get_potential_energy())
        if not np.isfinite(energy):
            return failed("NaN energy")
    except RelaxationFailed as exc:
        return failed(str(exc))
    except Exception as exc:  # a model error is a recorded failure of this material
        return failed(f"{type(exc).__name__}: {exc}")
    n = len(atoms)
    volume = float(atoms.get_volume())
    out = atoms.copy()
    out.set_constraint()
    out.calc = None
    return RelaxResult(True, out, energy / n, volume / n, fmax, steps,
                       time.perf_counter() - t0)
