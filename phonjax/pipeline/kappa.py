"""The κ steps of (crystal, model): relax → FC2 and FC3 from the model → gate → κ.

One implementation for every front door (``phonjax bench --task kappa``, the κ of one
crystal): a ``KappaRecipe`` says how (the κ benchmark's preset is one recipe), a
``KappaCrystal`` what (the unit cell, the FC3 and FC2 supercells, the primitive matrix and the
q-mesh), and ``kappa_of_crystals`` runs many crystals with one model, batched per stage:

0. masses: phonopy's table (``masses="phonopy"``, what phono3py uses for a cell without
   masses, as the published pipeline builds it) or the crystal's own (``"input"``);
1. **relax** all crystals together (``pipeline.relax.relax_each``; the recipe's
   ``TwoStageRelaxSettings``: k_SRME's two stages), or take them as given (``relax=None``);
2. **force constants**: phono3py's displacements of every relaxed crystal (FC3 supercell and
   a separate FC2 supercell) evaluated in one batched model call, solved as phono3py does
   (``pipeline.fc3.model_fc3``; the recipe's symmetrization, "traditional" = phono3py's
   ``produce_fc2(symmetrize_fc2=True)`` / ``produce_fc3(symmetrize_fc3r=True)``);
3. **gate** (the benchmark's ``check_imaginary_freqs`` and broken-symmetry rule): the FC2
   phonons on every point of the q-mesh; imaginary when one of Γ's three lowest bands is below
   ``gamma_acoustic_threshold_THz`` (−0.01 THz) or any other frequency is negative; a
   space group changed by the relaxation also stops the crystal (unless
   ``kappa_if_symmetry_broken``). Such a crystal is **censored** (``status``), with its
   reason;
4. **κ** (``anharmonic.kappa.thermal_conductivity``) on the crystal's mesh with the recipe's
   method, isotope and boundary scattering and temperatures.

Each crystal's ``KappaOutcome`` holds its status ("ok", "censored", "failed"), the stage it
reached, the reason in one line, the relaxation record, the gate's numbers and the
``KappaResult``. Nothing raises for one crystal's failure; a model that cannot load raises.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from phonjax.pipeline.settings import TwoStageRelaxSettings

STATUSES = ("ok", "censored", "failed")
GAMMA_ACOUSTIC_THRESHOLD_THZ = -0.01  # the benchmark's: Γ acoustic modes may dip this far


@dataclass(frozen=True)
class KappaRecipe:
    """How κ of a crystal is computed from a model (defaults: the κ benchmark's, k_SRME's
    published pipeline with phono3py 4.10's conventions)."""

    relax: TwoStageRelaxSettings | None = TwoStageRelaxSettings()
    distance_A: float = 0.03
    symmetrization: str = "traditional"  # "traditional", "symfc-projector" or "none"
    symprec: float = 1e-5  # cells and symmetry of the displacements and force constants
    method: str = "wigner"  # "rta" or "wigner" (phono3py's SMM19)
    isotope: bool = True
    boundary_mfp_um: float | None = 1.0e6  # k_SRME passes boundary_mfp=1e6 µm
    temperatures_K: tuple[float, ...] = (300.0,)
    average_degenerate: bool = True
    gamma_acoustic_threshold_THz: float = GAMMA_ACOUSTIC_THRESHOLD_THZ
    kappa_if_symmetry_broken: bool = False
    # "phonopy": phonopy's standard masses (the published pipeline builds PhonopyAtoms
    # without masses); "input": the masses the crystal's Atoms carry
    masses: str = "phonopy"

    def kappa_settings(self, mesh):
        from phonjax.anharmonic.kappa import KappaSettings

        return KappaSettings(mesh=tuple(int(m) for m in mesh),
                             temperatures_K=tuple(self.temperatures_K), method=self.method,
                             isotope=self.isotope, boundary_mfp_um=self.boundary_mfp_um,
                             average_degenerate=self.average_degenerate)


@dataclass(frozen=True, eq=False)
class KappaCrystal:
    """One crystal's κ work: unit cell (ase.Atoms), FC3 and FC2 supercell matrices (3, 3)
    relative to it, primitive matrix (3, 3), q-mesh (3,)."""

    name: str
    atoms: object
    fc3_supercell: np.ndarray
    fc2_supercell: np.ndarray | None
    primitive_matrix: np.ndarray
    mesh: tuple[int, int, int]


@dataclass(frozen=True, eq=False)
class Gate:
    """The gate's verdict on the FC2 phonons of the q-mesh (frequencies in THz)."""

    imaginary: bool
    gamma_acoustic_min_THz: float  # lowest of Γ's three lowest bands
    min_frequency_THz: float  # lowest frequency elsewhere (Γ's optical bands included)
    symmetry_broken: bool


@dataclass(frozen=True, eq=False)
class KappaOutcome:
    """What became of one crystal (see the module docstring)."""

    name: str
    status: str  # one of STATUSES
    stage: str  # "relax", "force_constants", "gate", "kappa", "done"
    reason: str = ""
    relaxation: object | None = None  # pipeline.relax.RelaxResult
    gate: Gate | None = None
    result: object | None = None  # anharmonic.kappa.KappaResult
    n_supercells: int = 0  # displaced supercells the model evaluated for it
    dataset: object | None = None  # io.phono3py_files.FC3Dataset: the model's forces
    timings_s: dict = field(default_factory=dict)


def imaginary_gate(frequencies_THz: np.ndarray, gamma_index: int,
                   threshold_THz: float) -> tuple[bool, float, float]:
    """(imaginary, Γ acoustic minimum, minimum elsewhere) of frequencies (n_points, n_b) THz
    on a q-mesh whose Γ is row ``gamma_index``: the benchmark's ``check_imaginary_freqs``
    (Γ's three lowest bands may go down to ``threshold_THz``; every other frequency ≥ 0)."""
    f = np.asarray(frequencies_THz, float)
    gamma = np.sort(f[gamma_index])
    others = np.concatenate([gamma[3:], np.delete(f, gamma_index, axis=0).ravel()])
    acoustic_min = float(gamma[:3].min())
    other_min = float(others.min()) if others.size else float("inf")
    imaginary = bool(acoustic_min < threshold_THz or other_min < 0 or not np.isfinite(f).all())
    return imaginary, acoustic_min, other_min


def mesh_frequencies(inputs, mesh, plan=None) -> tuple[np.ndarray, int]:
    """FC2 frequencies (n_mesh, n_b) THz at the q-mesh's points (phono3py's grid, Γ acoustic
    rule applied as there) and the row of Γ."""
    import jax

    from phonjax.anharmonic import grid as G
    from phonjax.anharmonic.phonons import grid_phonons, harmonic_model

    with jax.enable_x64(True):
        grid = G.bz_grid(inputs.cells.primitive.crystal, tuple(int(m) for m in mesh))
        model = harmonic_model(inputs.fc2, inputs.fc2_cells, inputs.nac, inputs.unitcell,
                               inputs.fc2_supercell_matrix)
        phonons = grid_phonons(model, grid, plan=plan)
    rows = np.asarray(grid.grg2bzg)  # one BZ image of each mesh point
    freqs = np.asarray(phonons.frequencies)[rows]
    gamma = int(np.flatnonzero(np.all(np.asarray(grid.addresses)[rows] == 0, axis=1))[0])
    return freqs, gamma


def _failed(c: KappaCrystal, stage: str, exc, **kw) -> KappaOutcome:
    reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    return KappaOutcome(c.name, "failed", stage, reason.splitlines()[0] if reason else stage,
                        **kw)


def kappa_of_crystals(crystals: list[KappaCrystal], adapter, recipe: KappaRecipe = KappaRecipe(),
                      *, lanes: int = 1, plan=None,
                      progress: Callable[[str, str], None] | None = None
                      ) -> Iterator[KappaOutcome]:
    """``KappaOutcome`` of every crystal, in input order, each yielded as soon as its κ is
    done (a generator); the model called once per relaxation lock-step and once for all
    displaced supercells. ``progress(name, stage)`` is called as each crystal enters a
    stage."""
    from phonjax.execution.plan import resolved_plan
    from phonjax.pipeline.fc3 import fc3_job, model_fc3
    from phonjax.pipeline.relax import RelaxResult, relax_each
    from phonjax.structure.crystal import Crystal
    from phonjax.structure.elements import phonopy_masses

    plan = resolved_plan(plan)
    say = progress or (lambda name, stage: None)
    n = len(crystals)
    outcomes: list[KappaOutcome | None] = [None] * n
    relaxed: list[RelaxResult | None] = [None] * n

    t0 = time.perf_counter()
    if recipe.relax is not None:
        for c in crystals:
            say(c.name, "relax")
        for i, r in relax_each([c.atoms for c in crystals], adapter, recipe.relax, lanes):
            relaxed[i] = r
            if not r.ok:
                outcomes[i] = _failed(crystals[i], "relax", r.reason, relaxation=r)
    else:
        for i, c in enumerate(crystals):
            relaxed[i] = RelaxResult(True, c.atoms.copy(), None, None, None, 0, 0.0)
    relax_s = time.perf_counter() - t0

    jobs, owners = [], []
    for i, c in enumerate(crystals):
        if outcomes[i] is not None:
            continue
        say(c.name, "force_constants")
        try:
            atoms = relaxed[i].atoms
            unit = Crystal.from_ase(atoms, masses=phonopy_masses(atoms.numbers)
                                    if recipe.masses == "phonopy" else None)
            jobs.append(fc3_job(c.name, unit, c.fc3_supercell, c.primitive_matrix,
                                phonon_supercell_matrix=c.fc2_supercell,
                                distance_A=recipe.distance_A, symprec=recipe.symprec))
            owners.append(i)
        except Exception as exc:
            outcomes[i] = _failed(c, "force_constants", exc, relaxation=relaxed[i])
    t1 = time.perf_counter()
    solved = model_fc3(jobs, adapter, lanes=lanes, plan=plan,
                       symmetrization=recipe.symmetrization, with_datasets=True) if jobs else []
    fc_s = time.perf_counter() - t1
    n_cells = {i: int(j.displacements.fc3.displacement_vectors()[1].sum())
               + (0 if j.displacements.fc2 is None else len(j.displacements.fc2.atoms))
               for i, j in zip(owners, jobs)}
    total_cells = max(1, sum(n_cells.values()))

    results = dict(zip(owners, solved))
    for i, c in enumerate(crystals):  # input order, each yielded as soon as it is done
        if outcomes[i] is None:
            share = fc_s * n_cells[i] / total_cells
            timings = {"relax": relaxed[i].seconds, "force_constants": share,
                       "relax_batch": relax_s, "force_constants_batch": fc_s}
            outcomes[i] = _finish(c, relaxed[i], results[i], n_cells[i], timings, recipe,
                                  plan, say)
        yield outcomes[i]


def _finish(c: KappaCrystal, r, solved, n_supercells: int, timings: dict,
            recipe: KappaRecipe, plan, say) -> KappaOutcome:
    """Gate and κ of one crystal whose force constants were solved (or failed)."""
    from phonjax.anharmonic.kappa import KappaInputs, thermal_conductivity

    common = dict(relaxation=r, n_supercells=n_supercells, timings_s=timings)
    if isinstance(solved, Exception):
        return _failed(c, "force_constants", solved, **common)
    fc, common["dataset"] = solved
    say(c.name, "gate")
    try:
        t2 = time.perf_counter()
        inputs = KappaInputs.from_force_constants(fc)
        freqs, gamma_row = mesh_frequencies(inputs, c.mesh, plan)
        imag, ac_min, other_min = imaginary_gate(freqs, gamma_row,
                                                 recipe.gamma_acoustic_threshold_THz)
        broken = bool(r.details.get("broken_symmetry", False))
        gate = Gate(imag, ac_min, other_min, broken)
        timings["gate"] = time.perf_counter() - t2
    except Exception as exc:
        return _failed(c, "gate", exc, **common)
    if imag or (broken and not recipe.kappa_if_symmetry_broken):
        why = ([f"imaginary modes (Γ acoustic min {ac_min:.4g} THz, elsewhere min "
                f"{other_min:.4g} THz)"] if imag else []) + (
            [f"symmetry broken by the relaxation (space group "
             f"{r.details.get('initial_space_group')} → "
             f"{r.details.get('final_space_group')})"] if broken else [])
        return KappaOutcome(c.name, "censored", "gate", "; ".join(why), gate=gate, **common)
    say(c.name, "kappa")
    try:
        t3 = time.perf_counter()
        result = thermal_conductivity(inputs, recipe.kappa_settings(c.mesh), plan=plan)
        timings["kappa"] = time.perf_counter() - t3
    except Exception as exc:
        return _failed(c, "kappa", exc, gate=gate, **common)
    return KappaOutcome(c.name, "ok", "done", "", gate=gate, result=result, **common)
