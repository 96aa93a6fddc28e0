"""From prepared materials and their forces to phonon properties, many per call.

The public workflow API: ``prepare`` each material (host side, once), then
``phonon_properties(systems, forces, settings, plan)`` for any number of them:
force constants → frequencies on the irreducible mesh → F, S, Cv at the
settings' temperatures, and frequencies at the commensurate q-points → ω_max and
stability. ``PhononSettings`` is the physics (what is computed);
``phonjax.execution.Plan`` is how (runner, eigensolver, sizes), by default chosen
from JAX's backend. Results are the same for every plan to within the contract
with phonopy.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence

import numpy as np

from phonjax.io import PhononDataset, read_dataset
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.system import HarmonicSystem, prepare
from phonjax.harmonic.stability import stability
from phonjax.units import THZ_TO_K


@dataclass(frozen=True)
class PhononSettings:
    """The physics of ``phonon_properties`` (validated: a nonsense value fails here)."""

    temperatures_K: tuple[float, ...] = (300.0,)
    subtract_drift: bool = False  # remove each displaced supercell's mean force first: phonopy's
    #   default (False); the benchmark protocol removes it (True, the paper's choice)
    gamma_acoustic_tolerance_K: float = 50.0  # Γ acoustic modes may go down to −this
    acoustic_modes: Literal["smallest", "lowest"] = "smallest"  # which three Γ modes are acoustic
    thz_to_k: float = THZ_TO_K  # K per THz for ω (phonopy's; a protocol may fix another)

    def __post_init__(self):
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures_K))
        object.__setattr__(self, "temperatures_K", temps)
        if not temps or not all(math.isfinite(t) and t >= 0 for t in temps):
            raise ValueError(f"temperatures must be finite and ≥ 0 K, got {list(temps)}")
        if not (math.isfinite(self.gamma_acoustic_tolerance_K)
                and self.gamma_acoustic_tolerance_K >= 0):
            raise ValueError("gamma_acoustic_tolerance_K must be finite and ≥ 0, "
                             f"got {self.gamma_acoustic_tolerance_K}")
        if not (math.isfinite(self.thz_to_k) and self.thz_to_k > 0):
            raise ValueError(f"thz_to_k must be finite and > 0, got {self.thz_to_k}")
        if self.acoustic_modes not in ("smallest", "lowest"):
            raise ValueError(f"acoustic_modes must be 'smallest' or 'lowest', "
                             f"got {self.acoustic_modes!r}")


@dataclass
class PhononResult:
    id: str
    n_primitive: int
    temperatures_K: list[float]
    free_energy_kJmol: list[float]  # per mole of primitive cells, zero-point energy included
    entropy_JKmol: list[float]
    heat_capacity_JKmol: list[float]
    omega_max_K: float
    omega_min_K: float
    gamma_acoustic_min_K: float
    stable: bool
    gamma_acoustic_tolerance_K: float
    acoustic_modes: str
    mesh: list[int]
    n_irreducible_q: int
    n_commensurate_q: int
    n_displacements: int
    n_supercell: int
    spacegroup: str
    nac: str | None = None  # the non-analytical correction applied: "gonze", "wang" or None
    # the mesh holds Γ, whose three acoustic modes the sums exclude (thermal.GAMMA_ACOUSTIC_RULE)
    mesh_contains_gamma: bool = False
    commensurate_frequencies_THz: np.ndarray | None = field(default=None, repr=False)
    force_constants: np.ndarray | None = field(default=None, repr=False)

    def record(self, temperature_index: int = 0) -> dict:
        """The flat record of one temperature: the JSON line of ``phonjax phonons``, the
        bench's phonon columns and the validation's phonjax side."""
        i = temperature_index
        return {"id": self.id, "n_primitive": self.n_primitive,
                "temperature_K": self.temperatures_K[i],
                "free_energy_kJmol": self.free_energy_kJmol[i],
                "entropy_JKmol": self.entropy_JKmol[i],
                "heat_capacity_JKmol": self.heat_capacity_JKmol[i],
                "omega_max_K": self.omega_max_K, "omega_min_K": self.omega_min_K,
                "gamma_acoustic_min_K": self.gamma_acoustic_min_K, "stable": self.stable,
                "gamma_acoustic_tolerance_K": self.gamma_acoustic_tolerance_K,
                "acoustic_modes": self.acoustic_modes, "mesh": self.mesh,
                "n_irreducible_q": self.n_irreducible_q, "n_commensurate_q": self.n_commensurate_q,
                "n_displacements": self.n_displacements, "n_supercell": self.n_supercell,
                "spacegroup": self.spacegroup, "nac": self.nac,
                "gamma_acoustic_thermal": ("excluded (phonopy's exclude_gamma_acoustic=True)"
                                           if self.mesh_contains_gamma else "no Γ in the mesh")}


def check_forces(systems: Sequence[HarmonicSystem], forces: Sequence[np.ndarray]) -> None:
    """One line naming the material for forces of the wrong shape or not finite."""
    if len(systems) != len(forces):
        raise ValueError(f"{len(systems)} systems but {len(forces)} force arrays")
    import jax

    if any(isinstance(f, jax.core.Tracer) for f in forces):
        raise TypeError("phonon_properties runs on the host and cannot be traced or "
                        "differentiated; use phonjax.harmonic.differentiable (thermal_properties_from_forces, "
                        "thermal_properties, commensurate_frequencies) inside jax.grad/jit")
    for s, f in zip(systems, forces):
        expected = (len(s.displacements), s.n_supercell, 3)
        if np.shape(f) != expected:
            raise ValueError(f"{s.id}: forces have shape {np.shape(f)}, expected {expected}")
        if not np.isfinite(f).all():
            raise ValueError(f"{s.id}: forces contain NaN or infinite values")


def phonon_properties(systems: Sequence[HarmonicSystem], forces: Sequence[np.ndarray],
                      settings: PhononSettings | None = None, plan=None, *,
                      keep_force_constants: bool = False,
                      progress: Callable[[int], None] | None = None,
                      thermal: bool = True) -> list[PhononResult]:
    """Phonon properties of many materials; ``forces[i]`` (n_disp_i, N_i, 3) eV/Å on the
    displaced supercells of ``systems[i]`` in their order.

    ``settings``: the physics (default ``PhononSettings()``: 300 K, no drift removal,
    the smallest-|ν| Γ acoustic rule at 50 K). ``plan``: a ``phonjax.execution.Plan``
    (default: by JAX's backend). ``progress(n)`` is called as materials finish.
    ``thermal=False``: the mesh may be left unsolved (a caller that solves it with
    eigenvectors anyway, ``execution.modes.mesh_thermal``); a result without F, S, Cv has
    empty ``temperatures_K`` and thermal lists.
    """
    from phonjax import execution

    settings = settings or PhononSettings()
    check_forces(systems, forces)
    temps = list(settings.temperatures_K)
    results: list[PhononResult | None] = [None] * len(systems)

    def done(indices, outputs):
        for i, out in zip(indices, outputs):
            results[i] = _result(systems[i], out, settings)
        if progress:
            progress(len(indices))

    execution.run(forces, [s.tables for s in systems], temps, settings.subtract_drift, plan,
                  keep_force_constants, on_bucket_done=done, names=[s.id for s in systems],
                  thermal=thermal)
    return results  # type: ignore[return-value]


def properties_from_force_constants(system: HarmonicSystem, force_constants: np.ndarray,
                                    settings: PhononSettings | None = None, plan=None
                                    ) -> PhononResult:
    """The ``PhononResult`` of force constants made elsewhere (N, N, 3, 3) eV/Å² — a symfc
    fit, unsymmetrized, cut at a radius (``phonjax.harmonic.fc_route``): the commensurate
    frequencies (ω_max, the stability verdict) by the plan's ``ModeSolver`` on the system's
    tables, and no thermal sums (as ``phonon_properties(..., thermal=False)``)."""
    from types import SimpleNamespace

    from phonjax.execution.modes import modes

    settings = settings or PhononSettings()
    fc = np.asarray(force_constants, float)
    expected = (system.n_supercell, system.n_supercell, 3, 3)
    if fc.shape != expected or not np.isfinite(fc).all():
        raise ValueError(f"{system.id}: force constants of shape {fc.shape} (finite {expected} "
                         "expected)")
    comm = modes(system.tables, fc, system.commensurate, plan)[0]
    out = SimpleNamespace(commensurate_frequencies_THz=comm, force_constants=fc,
                          free_energy_kJmol=np.zeros(0), entropy_JKmol=np.zeros(0),
                          heat_capacity_JKmol=np.zeros(0))
    return _result(system, out, settings)


def _result(s: HarmonicSystem, out, settings: PhononSettings) -> PhononResult:
    comm = out.commensurate_frequencies_THz
    st = stability(s.commensurate, comm, settings.gamma_acoustic_tolerance_K, settings.thz_to_k,
                   settings.acoustic_modes)
    return PhononResult(
        id=s.id, n_primitive=s.n_primitive,
        temperatures_K=list(settings.temperatures_K) if len(out.free_energy_kJmol) else [],
        free_energy_kJmol=out.free_energy_kJmol.tolist(), entropy_JKmol=out.entropy_JKmol.tolist(),
        heat_capacity_JKmol=out.heat_capacity_JKmol.tolist(), omega_max_K=st.omega_max_K, omega_min_K=st.omega_min_K,
        gamma_acoustic_min_K=st.gamma_acoustic_min_K, stable=st.stable,
        gamma_acoustic_tolerance_K=st.gamma_acoustic_tolerance_K,
        acoustic_modes=settings.acoustic_modes, mesh=list(s.mesh.mesh),
        n_irreducible_q=len(s.mesh.qpoints), n_commensurate_q=len(s.commensurate),
        n_displacements=len(s.displacements), n_supercell=s.n_supercell,
        spacegroup=s.group.international, nac=None if s.nac is None else s.nac.method,
        mesh_contains_gamma=bool(is_gamma(np.asarray(s.mesh.qpoints)).any()),
        commensurate_frequencies_THz=comm,
        force_constants=out.force_constants)


def from_dataset(dataset: PhononDataset | str | os.PathLike,
                 settings: PhononSettings | None = None, plan=None, *, mesh=(20, 20, 20),
                 **prepare_options) -> PhononResult:
    """Properties of one dataset file (or ``PhononDataset``) from its own forces."""
    ds = dataset if isinstance(dataset, PhononDataset) else read_dataset(dataset)
    if ds.forces is None:
        raise ValueError(f"{ds.id}: the dataset has no forces")
    system = prepare(ds, mesh=mesh, **prepare_options)
    return phonon_properties([system], [ds.forces], settings, plan)[0]
