"""Relaxation of a unit cell with a model: FIRE on FrechetCellFilter + FixSymmetry.

How is ``RelaxSettings`` (``phonjax.pipeline.settings``), as in the published benchmark: up
to ``relax_rounds`` rounds of at most ``relax_steps`` FIRE steps aiming at fmax/2, accepted when
the final force (atoms and cell, as the filter reports them) is ≤ fmax. Non-convergence,
exploding forces (> max_force_eV_A), NaN and model exceptions become a ``RelaxResult`` with
``ok=False`` and a reason, never an exception. The benchmark passes its protocol's
``relax_settings``, the workflow its settings' ``relax_settings``.

``TwoStageRelaxSettings`` (the κ benchmark's) selects the two-stage scheme instead
(``relax_two_stage``): stage 1 with FixSymmetry, stage 2 without, the stage-1 structure kept
when stage 2 changes the space group; ``RelaxResult.details`` records the space groups, the
steps and whether either stage ran out of steps.

``relax_many`` relaxes many crystals together with unchanged ASE optimizers:
each runs in its own thread, and their calculators meet at a barrier so that
every energy/force/stress request of one step goes to the model as one batch
(lock-step: a batch is exactly the materials still relaxing, so results do
not depend on thread timing). With ``lanes`` > 1 there is one such barrier per
fixed group of crystals, and the groups' model calls run concurrently.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field

import numpy as np

from phonjax.pipeline.settings import RelaxSettings, TwoStageRelaxSettings

NO_TILT_MASK = (True, True, True, False, False, False)  # FrechetCellFilter: no shear strain


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
    details: dict = field(default_factory=dict)  # the two-stage scheme's record


def _fmax(forces: np.ndarray) -> float:
    return float(np.sqrt((np.asarray(forces) ** 2).sum(axis=1).max()))


def _guard(filtered, max_force_eV_A: float) -> None:
    """A FIRE observer: NaN or exploding forces end the relaxation (``RelaxationFailed``)."""
    f = filtered.get_forces()
    if not np.isfinite(f).all():
        raise RelaxationFailed("NaN or infinite forces/stress")
    if _fmax(f) > max_force_eV_A:
        raise RelaxationFailed(f"forces exploded (> {max_force_eV_A:g} eV/Å)")


def _one_blas_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()
    # The cell filter solves many 3×3/6×6 systems; with several BLAS libraries loaded
    # (numpy's and scipy's OpenBLAS) their threads spin against each other and each
    # tiny solve costs ~10 ms instead of ~20 µs. One thread is fastest for such sizes.
    return threadpool_limits(1, user_api="blas")


def _checked(settings) -> RelaxSettings | TwoStageRelaxSettings:
    if not isinstance(settings, (RelaxSettings, TwoStageRelaxSettings)):
        raise TypeError(f"relaxation takes RelaxSettings (a protocol's or workflow settings' "
                        f"relax_settings) or TwoStageRelaxSettings, got {type(settings).__name__}")
    return settings


def _scheme(settings):
    """The per-crystal relaxation of these settings."""
    return _relax_two_stage if isinstance(settings, TwoStageRelaxSettings) else _relax


def relax(atoms, calculator, settings: RelaxSettings, cell_filter=None) -> RelaxResult:
    """Relax a copy of ``atoms`` with ``calculator`` as ``settings`` say (see module doc).

    ``cell_filter``: the filter class (default: FrechetCellFilter computing its forces
    once per configuration; ASE's own class gives the same relaxation, more slowly).
    """
    settings = _checked(settings)
    with _one_blas_thread():
        return _scheme(settings)(atoms, calculator, settings, cell_filter or _cell_filter)


def relax_many(atoms_list, adapter, settings: RelaxSettings | TwoStageRelaxSettings,
               lanes: int = 1, constant_volume: bool = False) -> list[RelaxResult]:
    """``relax`` for every structure, with the model called once per lock-step for all
    (the results of ``relax_each`` in input order)."""
    done = dict(relax_each(atoms_list, adapter, settings, lanes, constant_volume))
    return [done[i] for i in range(len(atoms_list))]


def relax_each(atoms_list, adapter, settings: RelaxSettings | TwoStageRelaxSettings,
               lanes: int = 1, constant_volume: bool = False):
    """Yield ``(index, RelaxResult)`` for every structure as soon as its relaxation ends,
    while the others go on (so that the caller can finish and store each material at
    once); the model is called once per lock-step for all structures still relaxing.

    ``lanes`` > 1 splits the structures into that many lock-step groups (balanced by
    atom count, fixed in advance so that results do not depend on thread timing).
    Each group's model call runs in its own thread: with one intra-op torch thread
    per call, ``lanes`` CPU cores work at once, and one group's ASE work overlaps the
    other groups' model calls. An adapter that does not batch on its device
    (``batches_here`` false) gains nothing from lock-steps; its crystals are relaxed
    one by one instead, ``lanes`` at a time, each lane taking the next crystal when it
    is free (results again independent of timing). Closing the generator early (an
    error, Ctrl-C) stops the relaxations still running at their next model call.
    ``constant_volume``: the cell's shape relaxes at fixed volume (FrechetCellFilter's
    ``constant_volume``; the quasi-harmonic volumes).
    """
    cell_filter = functools.partial(_cell_filter, constant_volume=True) if constant_volume \
        else _cell_filter
    # a wrong settings type: at once
    return _relax_each(atoms_list, adapter, _checked(settings), lanes, cell_filter)


def _relax_each(atoms_list, adapter, settings: RelaxSettings, lanes: int, cell_filter):
    from concurrent.futures import ThreadPoolExecutor, as_completed

    if not atoms_list:
        return
    import warnings

    # FrechetCellFilter's matrix logarithm warns at ~1e-13 accuracy on every step; catching
    # it per thread is not thread-safe, so the (process-wide) filter is set once here
    warnings.filterwarnings("ignore", message="logm result may be inaccurate")
    if getattr(adapter, "batches_here", True):
        lane_of = balanced_lanes([len(a) for a in atoms_list], lanes)
        barriers = [_Barrier(adapter, lane_of.count(k)) for k in range(max(lane_of) + 1)]
        workers = len(atoms_list)
    else:  # no batching gain: each crystal alone, ``lanes`` at a time, the next to a free lane
        lane_of = list(range(len(atoms_list)))
        barriers = [_Barrier(adapter, 1) for _ in atoms_list]
        workers = max(1, min(lanes, len(atoms_list)))

    def run(i):
        barrier = barriers[lane_of[i]]
        try:
            return _scheme(settings)(atoms_list[i], _LockstepCalculator(barrier, i), settings,
                                     cell_filter)
        finally:
            barrier.leave(i)

    # largest first, so that the last crystals to start are the short ones
    order = sorted(range(len(atoms_list)), key=lambda i: (-len(atoms_list[i]), i))
    pool = ThreadPoolExecutor(workers)
    try:
        with _one_blas_thread():
            futures = {pool.submit(run, i): i for i in order}
            for future in as_completed(futures):
                yield futures[future], future.result()
    finally:
        for barrier in barriers:
            barrier.abort()
        pool.shutdown(wait=True, cancel_futures=True)


def balanced_lanes(n_atoms: list[int], lanes: int) -> list[int]:
    """Lane of each structure: largest first, each to the lane with the fewest atoms so
    far (ties: lowest lane), so that the lanes' model calls take about equally long."""
    lanes = max(1, min(lanes, len(n_atoms)))
    load = [0] * lanes
    lane_of = [0] * len(n_atoms)
    for i in sorted(range(len(n_atoms)), key=lambda i: (-n_atoms[i], i)):
        k = min(range(lanes), key=lambda k: (load[k], k))
        lane_of[i] = k
        load[k] += n_atoms[i]
    return lane_of


class _Barrier:
    """Collects one request per relaxation still running; the last to arrive evaluates all."""

    def __init__(self, adapter, n: int) -> None:
        import threading

        self.adapter, self.active = adapter, n
        self.cond = threading.Condition()
        self.pending: dict[int, tuple] = {}
        self.results: dict[int, object] = {}
        self.aborted = False

    def abort(self) -> None:
        """Make every waiting and future request fail (the caller is gone)."""
        with self.cond:
            self.aborted = True
            self.cond.notify_all()

    def request(self, i: int, atoms):
        with self.cond:
            if self.aborted:
                raise RelaxationFailed("aborted")
            self.pending[i] = atoms.copy()
            self._maybe_evaluate()
            while i not in self.results:
                if self.aborted:
                    raise RelaxationFailed("aborted")
                self.cond.wait()
            out = self.results.pop(i)
        if isinstance(out, Exception):
            raise out
        return out

    def leave(self, i: int) -> None:
        with self.cond:
            self.active -= 1
            self._maybe_evaluate()

    def _maybe_evaluate(self) -> None:
        if not self.pending or len(self.pending) < self.active:
            return
        order = sorted(self.pending)
        items = [self.pending.pop(i) for i in order]
        try:
            out = self.adapter.evaluate_atoms(items, compute_stress=True)
        except Exception:  # isolate the culprit: one call per structure
            out = []
            for a in items:
                try:
                    out.append(self.adapter.evaluate_atoms([a], compute_stress=True)[0])
                except Exception as exc:
                    out.append(exc)
        self.results.update(zip(order, out))
        self.cond.notify_all()


def _lockstep_calculator_class():
    from ase.calculators.calculator import Calculator, all_changes
    from ase.stress import full_3x3_to_voigt_6_stress

    class LockstepCalculator(Calculator):
        """Always returns the stress too: the cell filter asks for forces, then stress,
        and a second model call for the same positions would be wasted."""

        implemented_properties = ["energy", "free_energy", "forces", "stress"]

        def __init__(self, barrier: _Barrier, index: int) -> None:
            super().__init__()
            self.barrier, self.index = barrier, index

        def calculate(self, atoms=None, properties=None, system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            r = self.barrier.request(self.index, self.atoms)
            self.results = {"energy": r.energy, "free_energy": r.energy,
                            "forces": np.array(r.forces, float)}
            if r.stress is not None:
                self.results["stress"] = full_3x3_to_voigt_6_stress(r.stress)

    return LockstepCalculator


def _LockstepCalculator(barrier: _Barrier, index: int):
    return _lockstep_calculator_class()(barrier, index)


def _cell_filter(atoms, mask=None, constant_volume: bool = False):
    """FrechetCellFilter whose get_forces is computed once per atomic configuration.

    ASE's optimizer loop asks the filter for its forces four times per FIRE step
    (step, log, observers, convergence test) at the same positions and cell; each
    call re-applies FixSymmetry to forces and stress and takes a 3×3 matrix
    logarithm (~25 % of a CHGNet step on CPU). The filter's forces are a function
    of positions, cell and constraints (the calculator caches its results on the same
    state), so the last result is returned again while none of them has changed.
    """
    return _state_cached_filter_class()(atoms, mask=mask, constant_volume=constant_volume)


@functools.cache
def _state_cached_filter_class():
    from ase.filters import FrechetCellFilter

    class StateCachedFrechetCellFilter(FrechetCellFilter):
        _state = None

        def get_forces(self, **kwargs):
            state = (self.atoms.positions.tobytes(), self.atoms.cell.array.tobytes(),
                     tuple(map(id, self.atoms.constraints)), tuple(sorted(kwargs.items())))
            if state != self._state:
                self._forces = super().get_forces(**kwargs)
                self._filter_stress, self._state = self.stress, state
            self.stress = self._filter_stress.copy()  # get_forces' side effect, as in ASE
            return self._forces.copy()

    return StateCachedFrechetCellFilter


def _relax(atoms, calculator, settings: RelaxSettings, cell_filter) -> RelaxResult:
    from ase.constraints import FixSymmetry
    from ase.optimize import FIRE

    t0 = time.perf_counter()
    atoms = atoms.copy()
    atoms.calc = calculator
    if settings.fix_symmetry:
        atoms.set_constraint(FixSymmetry(atoms))
    steps = 0
    fmax = float("nan")

    def failed(reason: str) -> RelaxResult:
        return RelaxResult(False, None, None, None, None if np.isnan(fmax) else fmax, steps,
                           time.perf_counter() - t0, reason)

    try:
        for _ in range(settings.relax_rounds):
            filtered = cell_filter(atoms)
            opt = FIRE(filtered, logfile=None)
            opt.insert_observer(_guard, filtered=filtered, max_force_eV_A=settings.max_force_eV_A)
            opt.run(fmax=settings.fmax_eV_A / 2, steps=settings.relax_steps)
            steps += opt.nsteps
            fmax = _fmax(filtered.get_forces())
            if not np.isfinite(fmax):
                return failed("NaN forces")
            if fmax < settings.fmax_eV_A / 2:
                break
        fmax = _fmax(cell_filter(atoms).get_forces())
        if not np.isfinite(fmax):
            return failed("NaN forces")
        if fmax > settings.fmax_eV_A:
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


def space_group_number(atoms, symprec: float) -> int | None:
    """spglib's space-group number of ``atoms`` at ``symprec`` (None when spglib finds none)."""
    from phonjax.structure.symmetry import spglib_dataset

    cell = (np.asarray(atoms.cell), atoms.get_scaled_positions(), atoms.numbers)
    dataset = spglib_dataset(cell, symprec, required=False)
    return None if dataset is None else int(dataset.number)


def _relax_two_stage(atoms, calculator, settings: TwoStageRelaxSettings,
                     cell_filter) -> RelaxResult:
    """k_SRME's ``two_stage_relax`` (see the module docstring): one filter for both stages
    (its reference cell is the input's), a fresh FIRE per stage, ASE's FixSymmetry (its own
    symprec, 0.01) in stage 1; space groups by spglib at ``settings.symprec``."""
    from ase.constraints import FixSymmetry
    from ase.optimize import FIRE

    t0 = time.perf_counter()
    atoms = atoms.copy()
    atoms.calc = calculator
    details = {"initial_space_group": space_group_number(atoms, settings.symprec)}
    steps, fmax = 0, float("nan")
    mask = None if settings.allow_tilt else list(NO_TILT_MASK)

    def stage(filtered) -> int:
        opt = FIRE(filtered, logfile=None)
        opt.insert_observer(_guard, filtered=filtered, max_force_eV_A=settings.max_force_eV_A)
        opt.run(fmax=settings.fmax_eV_A, steps=settings.steps)
        return opt.nsteps

    try:
        atoms.set_constraint(FixSymmetry(atoms))
        filtered = cell_filter(atoms, mask=mask)
        n1 = stage(filtered)
        details["stage1_space_group"] = space_group_number(atoms, settings.symprec)
        stage1 = atoms.copy()
        stage1.set_constraint()
        atoms.set_constraint()  # the filter's cache is keyed on the constraints too
        n2 = stage(filtered)
        steps = n1 + n2
        details["stage2_space_group"] = space_group_number(atoms, settings.symprec)
        details["reached_max_steps"] = bool(n1 >= settings.steps or n2 >= settings.steps)
        details["steps"] = [n1, n2]
        final = atoms
        details["redirected_to_stage1"] = (details["stage1_space_group"]
                                           != details["stage2_space_group"])
        if details["redirected_to_stage1"]:
            final = stage1
            final.calc = calculator
        fmax = _fmax(cell_filter(final, mask=mask).get_forces())
        energy = float(final.get_potential_energy())
        if not (np.isfinite(fmax) and np.isfinite(energy)):
            raise RelaxationFailed("NaN forces or energy")
    except RelaxationFailed as exc:
        return RelaxResult(False, None, None, None, None if np.isnan(fmax) else fmax, steps,
                           time.perf_counter() - t0, str(exc), details)
    except Exception as exc:  # a model error is a recorded failure of this material
        return RelaxResult(False, None, None, None, None, steps, time.perf_counter() - t0,
                           f"{type(exc).__name__}: {exc}", details)
    details["final_space_group"] = (details["stage1_space_group"]
                                    if details["redirected_to_stage1"]
                                    else details["stage2_space_group"])
    details["broken_symmetry"] = details["final_space_group"] != details["initial_space_group"]
    n = len(final)
    out = final.copy()
    out.set_constraint()
    out.calc = None
    return RelaxResult(True, out, energy / n, float(final.get_volume()) / n, fmax, steps,
                       time.perf_counter() - t0, details=details)
