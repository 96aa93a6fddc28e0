"""Lattice thermal conductivity of one crystal from FC2 and FC3: phono3py's RTA (and Wigner)
pipeline, each stage one module.

    FC2, FC3, mesh ─ grid.bz_grid ─ phonons.grid_phonons (every BZ point)
      └ for each irreducible q (grid.ir_grid_points):
          grid.triplets_at_q → integration_weights (tetrahedron or Gaussian)
          → interaction.interaction_strength_at_q (chunks of triplets, memory-bounded)
          → self_energy.gamma_of_triplets (all temperatures) → degeneracy average
      └ velocity (group velocities, star-summed v⊗v; velocity matrices for Wigner)
      └ isotope (Tamura) and boundary scattering
      └ conductivity (heat capacities, mode κ, κ = Σ/N)

``KappaSettings`` says what is computed (mesh, temperatures, σ or tetrahedron, isotope,
boundary, method); ``KappaResult`` holds what phono3py's ``kappa-m*.hdf5`` holds, with the
same shapes and units (W/m·K, THz, eV/K, THz·Å). With the tetrahedron method the
integration weights are averaged over degenerate bands (phono3py's
``average_degenerate_weights=True``) unless asked otherwise: phono3py's default depends on
the eigensolver's basis inside degenerate subspaces (~5e-4 in κ), phonjax's must not.
"""

from __future__ import annotations

import functools
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic import conductivity as K
from phonjax.anharmonic import grid as G
from phonjax.anharmonic import integration_weights as W
from phonjax.anharmonic import interaction as I
from phonjax.anharmonic import isotope as ISO
from phonjax.anharmonic import velocity as V
from phonjax.anharmonic.degeneracy import CUTOFF_FREQUENCY_THZ
from phonjax.anharmonic.fc3 import FC3Cells, ForceConstants3
from phonjax.harmonic.nac import NACParams
from phonjax.structure.crystal import Crystal
from phonjax.anharmonic.phonons import GridPhonons, HarmonicModel, grid_phonons, harmonic_model
from phonjax.anharmonic.self_energy import (average_by_degeneracy, gamma_of_triplets,
                                            temperatures_thz)
from phonjax.execution.plan import Plan, default_plan
from phonjax.resources import DEFAULT_MEMORY_BYTES, ResourceError

METHODS = ("rta", "wigner")


class KappaError(ValueError):
    """Settings or inputs κ cannot be computed from (one line)."""


@dataclass(frozen=True)
class KappaSettings:
    """What to compute. ``sigma_THz`` None: tetrahedron method; ``boundary_mfp_um``: a
    boundary mean free path (µm) or None; ``mass_variances``: per primitive atom, or None
    for the natural abundances (used only with ``isotope``)."""

    mesh: tuple[int, int, int]
    temperatures_K: tuple[float, ...] = (300.0,)
    method: str = "rta"
    sigma_THz: float | None = None
    sigma_cutoff: float | None = None
    average_degenerate: bool = True
    isotope: bool = False
    mass_variances: tuple[float, ...] | None = None
    boundary_mfp_um: float | None = None
    r0_average: bool = True
    cutoff_frequency_THz: float = CUTOFF_FREQUENCY_THZ

    def __post_init__(self):
        mesh = tuple(int(m) for m in np.broadcast_to(np.asarray(self.mesh), (3,)))
        if min(mesh) < 1:
            raise KappaError(f"mesh must be positive integers, got {self.mesh}")
        object.__setattr__(self, "mesh", mesh)
        temps = tuple(float(t) for t in np.atleast_1d(self.temperatures_K))
        if not temps or min(temps) < 0 or not all(math.isfinite(t) for t in temps):
            raise KappaError(f"temperatures must be finite and ≥ 0 K, got {self.temperatures_K}")
        object.__setattr__(self, "temperatures_K", temps)
        if self.method not in METHODS:
            raise KappaError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.sigma_THz is not None and not self.sigma_THz > 0:
            raise KappaError(f"sigma must be > 0 THz, got {self.sigma_THz}")
        if self.boundary_mfp_um is not None and not self.boundary_mfp_um > 0:
            raise KappaError(f"boundary_mfp must be > 0 µm, got {self.boundary_mfp_um}")

    @property
    def integration(self) -> str:
        """The rule used for the δ functions, said in outputs."""
        if self.sigma_THz is None:
            return ("tetrahedron, degenerate weights averaged" if self.average_degenerate
                    else "tetrahedron")
        cut = f", cutoff {self.sigma_cutoff:g} σ" if self.sigma_cutoff else ""
        return f"Gaussian σ = {self.sigma_THz:g} THz{cut}"


@dataclass(frozen=True, eq=False)
class KappaResult:
    """κ and its mode-resolved parts on the irreducible q-points (phono3py's hdf5 layout)."""

    settings: KappaSettings
    temperatures_K: np.ndarray  # (n_T,)
    kappa: np.ndarray  # (n_T, 6) W/m·K, xx yy zz yz xz xy (Wigner: particle + coherence)
    mode_kappa: np.ndarray  # (n_T, n_q, n_b, 6) W/m·K (RTA part; sum/N = kappa_P)
    kappa_coherence: np.ndarray | None  # (n_T, 6) Wigner's inter-band part, else None
    # (n_T, n_q, n_b, n_b, 6) W/m·K, Wigner's band-pair κ_ss′ (phono3py 4.10's
    # mode_kappa_matrix: the diagonal is the particle part, the rest the coherence), else None
    mode_kappa_matrix: np.ndarray | None
    gamma: np.ndarray  # (n_T, n_q, n_b) THz, phonon-phonon
    gamma_isotope: np.ndarray | None  # (n_q, n_b) THz
    gamma_boundary: np.ndarray | None  # (n_q, n_b) THz
    frequency: np.ndarray  # (n_q, n_b) THz
    group_velocity: np.ndarray  # (n_q, n_b, 3) THz·Å
    gv_by_gv: np.ndarray  # (n_q, n_b, 6) (THz·Å)²
    heat_capacity: np.ndarray  # (n_T, n_q, n_b) eV/K
    qpoint: np.ndarray  # (n_q, 3) reduced
    weight: np.ndarray  # (n_q,) int, sum N
    grid_point: np.ndarray  # (n_q,) BZ indices
    mesh: np.ndarray  # (3,)
    volume_A3: float
    n_triplets: int
    timings_s: dict = field(default_factory=dict)

    @property
    def kappa_unit_conversion(self) -> float:
        return K.KAPPA_UNIT / self.volume_A3

    @property
    def kappa_particle(self) -> np.ndarray:
        """(n_T, 6): the RTA (particle) κ, Σ mode_kappa / N."""
        return K.total(self.mode_kappa, int(np.prod(self.mesh)))


@dataclass(frozen=True, eq=False)
class KappaInputs:
    """FC2 and FC3 with their cells (``ForceConstants3`` or arrays from elsewhere, e.g.
    phono3py's own ``fc2``/``fc3``)."""

    fc2: np.ndarray  # (n_p or N2, N2, 3, 3) eV/Å² on fc2_cells' supercell
    fc3: np.ndarray  # (n_p, N, N, 3, 3, 3) compact eV/Å³ on cells' supercell
    cells: FC3Cells
    fc2_cells: FC3Cells
    nac: NACParams | None = None  # Born charges and ε∞ for the phonons (FC2 only)
    unitcell: Crystal | None = None  # needed with Born charges per unit-cell atom
    fc2_supercell_matrix: np.ndarray | None = None  # idem

    @classmethod
    def from_force_constants(cls, fc: ForceConstants3, nac: NACParams | None = None,
                             unitcell: Crystal | None = None,
                             fc2_supercell_matrix=None) -> "KappaInputs":
        if not fc.compact:
            raise KappaError("κ needs the compact FC3 (force_constants(..., compact=True))")
        return cls(fc.fc2, fc.fc3, fc.cells, fc.fc2_cells, nac, unitcell,
                   fc2_supercell_matrix)


WEIGHT_BYTES_PER_ELEMENT = 8 * 100  # tetrahedron weights: ~96 vertex values per element


def _chunk_size(tables, n_b: int, memory_bytes: float, n_temps: int, indexed: bool) -> int:
    """Triplets per chunk: |Φ|², the integration weights and Γ's bracket under the bound."""
    per = (I.bytes_per_triplet(tables, n_b, indexed=indexed)
           + n_b ** 3 * (WEIGHT_BYTES_PER_ELEMENT + 8 * (6 + 2 * n_temps)))
    n = int(memory_bytes // per)
    if n < 1:
        raise ResourceError(f"one triplet needs {per / 1e9:.2f} GB, more than the bound "
                            f"{memory_bytes / 1e9:.2f} GB: raise the memory bound (--memory-gb)")
    return min(n, 4096)


@dataclass(frozen=True, eq=False)
class Interaction:
    """|Φ|² of chunks of triplets (BZ indices) of one q: ``indexed`` when the half transforms
    H_A of every BZ point fit in half the memory bound (computed once in parts and joined,
    twice the table at the peak; then gathered per triplet), else the direct transform of
    H_A(q2) per triplet; legs 2 and 3 from half transforms at q0
    (``phonjax.anharmonic.interaction.interaction_strength_at_q``)."""

    tables: I.InteractionTables
    fc3: jnp.ndarray
    qpoints: jnp.ndarray  # (N_bz, 3)
    frequencies: jnp.ndarray  # (N_bz, n_b) THz
    eigenvectors: jnp.ndarray  # (N_bz, n_b, n_b)
    n_grid: int
    cutoff_THz: float
    halves: I.HalfTransforms | None  # H_A only (``half_transforms(..., first_weight=True)``)
    q0w: I.Q0Weights  # fc3 weighted for the half transforms at q0 (legs 2 and 3)

    @property
    def indexed(self) -> bool:
        return self.halves is not None

    @property
    def table_bytes(self) -> int:
        """Bytes the half transforms hold (0 for the direct path)."""
        return 0 if self.halves is None else len(self.qpoints) * I.bytes_per_qpoint(
            self.tables, first_weight=True)

    def __call__(self, triplets: np.ndarray) -> jnp.ndarray:
        """|Φ|² of triplets (n_t, 3) of one grid point q (``grid.triplets_at_q``: their q0
        are images of q), ``interaction.interaction_strength_at_q``."""
        t = jnp.asarray(triplets)
        e, f = self.eigenvectors[t], self.frequencies[t]
        if self.halves is not None:
            return I.interaction_strength_at_q(self.tables, self.q0w, triplets, e, f,
                                               cutoff_frequency=self.cutoff_THz,
                                               n_grid=self.n_grid, halves=self.halves)
        return I.interaction_strength_at_q(self.tables, self.q0w, None, e, f,
                                           cutoff_frequency=self.cutoff_THz,
                                           n_grid=self.n_grid, fc3=self.fc3,
                                           qpoints=self.qpoints[t])


def interaction(tables, fc3: np.ndarray, grid: G.BZGrid, phonons: GridPhonons,
                settings: KappaSettings, memory_bytes: float = DEFAULT_MEMORY_BYTES,
                q_chunk: int = 256) -> Interaction:
    """The ``Interaction`` of a crystal on a grid (half transforms built in chunks of q)."""
    n_bz = len(grid.addresses)
    fc3_j = jnp.asarray(fc3)
    halves = None
    if 2 * n_bz * I.bytes_per_qpoint(tables, first_weight=True) <= memory_bytes:  # in parts
        parts = [I.half_transforms(tables, fc3_j, jnp.asarray(grid.qpoints[a:a + q_chunk]),
                                   first_weight=True)
                 for a in range(0, n_bz, q_chunk)]
        halves = I.HalfTransforms(jnp.concatenate([p.qpoints for p in parts]),
                                  jnp.concatenate([p.phases for p in parts]),
                                  jnp.concatenate([p.transforms for p in parts], axis=2))
    return Interaction(tables, fc3_j, jnp.asarray(grid.qpoints),
                       jnp.asarray(phonons.frequencies), jnp.asarray(phonons.eigenvectors),
                       grid.n_gr, settings.cutoff_frequency_THz, halves,
                       I.q0_weighted_fc3(tables, fc3_j))


def _weights(grid, triplets, frequencies, q_bz_index: int, settings: KappaSettings):
    """g at f0 = the frequencies of the requested q (its triplets may hold another image)."""
    q = np.full(len(triplets), q_bz_index)
    if settings.sigma_THz is None:
        return W.tetrahedron_weights(grid, triplets, frequencies, q_points=q,
                                     average_degenerate=settings.average_degenerate)
    return W.gaussian_weights(grid, triplets, frequencies, settings.sigma_THz, q_points=q,
                              sigma_cutoff=settings.sigma_cutoff)


@functools.lru_cache(maxsize=8)
def _interaction_tables(cells: FC3Cells, r0_average: bool) -> I.InteractionTables:
    """One ``InteractionTables`` per FC3 cell (the interaction's compiled functions are keyed
    on it: a second κ of the same crystal compiles nothing)."""
    return I.interaction_tables(cells, r0_average=r0_average)


def _bucket(n: int, chunk: int) -> int:
    """Padded size of n triplets: 2^k or 1.5·2^k, ≥ 16, at most ``chunk`` (few compiled
    shapes, at most a third of the work padding)."""
    size = max(16, 1 << (n - 1).bit_length())
    if size >= 32 and 3 * size // 4 >= n:
        size = 3 * size // 4
    return min(chunk, size)


def _triplet_chunks(n: int, size: int):
    for start in range(0, n, size):
        yield start, min(start + size, n)


def phph_gamma(grid: G.BZGrid, phonons: GridPhonons, pp: Interaction, q_bz_index: int,
               settings: KappaSettings, chunk: int) -> tuple[np.ndarray, int]:
    """Γ (n_T, n_b) THz at one q (degeneracy-averaged) and the number of triplets."""
    trip = G.triplets_at_q(grid, q_bz_index)
    t_thz = temperatures_thz(settings.temperatures_K)
    f = phonons.frequencies
    cut = settings.cutoff_frequency_THz
    total = jnp.zeros((len(t_thz), f.shape[1]))
    for a, b in _triplet_chunks(len(trip.triplets), chunk):
        t = trip.triplets[a:b]
        w = trip.weights[a:b]
        pad = _bucket(len(t), chunk) - len(t)
        if pad:  # few compiled shapes: repeat the first triplet with weight 0
            t = np.concatenate([t, np.repeat(t[:1], pad, axis=0)])
            w = np.concatenate([w, np.zeros(pad, w.dtype)])
        iw = _weights(grid, t, f, q_bz_index, settings)
        total = total + gamma_of_triplets(pp(t), jnp.asarray(iw.g[0]), jnp.asarray(iw.g[1]),
                                          w.astype(float), f[t[:, 1]], f[t[:, 2]], t_thz, cut)
    gamma = average_by_degeneracy(np.asarray(total), f[q_bz_index])
    return gamma, len(trip.triplets)


def _map_q(solve: Callable, points, workers: int):
    """``solve`` of each point, in order: in ``workers`` host threads when more than one
    (each with x64 on: JAX's setting is per thread), the results of each point unchanged
    (a point's own work runs in one thread, in the same order). On an error or interrupt
    the points not started are dropped."""
    if workers <= 1:
        yield from map(solve, points)
        return

    def in_x64(point):
        with jax.enable_x64(True):
            return solve(point)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="phonjax-q")
    try:
        futures = [pool.submit(in_x64, p) for p in points]
        for f in futures:
            yield f.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, eq=False)
class Velocities:
    """Group velocities at the irreducible q and their star sums (and, for Wigner, the
    velocity matrices' ``vm_by_vm``)."""

    group_velocities: np.ndarray  # (n_q, n_b, 3) THz·Å
    gv_by_gv: np.ndarray  # (n_q, n_b, 6) (THz·Å)²
    vm_by_vm: np.ndarray | None = None  # (n_q, n_b, n_b, 6) complex (THz·Å)²


def velocities(grid: G.BZGrid, bz_points: np.ndarray, model: HarmonicModel,
               matrices: bool = False) -> Velocities:
    """phono3py's velocities at BZ points (D(q) re-solved there, degenerate sets rotated,
    little-group average, star sums)."""
    args = (model.blocks, model.phases, model.lattice)
    v = V.group_velocities_on_grid(grid, bz_points, *args, nac=model.nac)
    gv2 = V.gv_by_gv_on_grid(grid, bz_points, v, model.lattice)
    vm2 = None
    if matrices:
        vm = V.velocity_matrices_on_grid(grid, bz_points, *args, nac=model.nac)
        vm2 = V.vm_by_vm_on_grid(grid, bz_points, vm, model.lattice)
    return Velocities(np.asarray(v), np.asarray(gv2), None if vm2 is None else np.asarray(vm2))


def thermal_conductivity(inputs: KappaInputs, settings: KappaSettings,
                         progress: Callable[[int, int], None] | None = None,
                         plan: Plan | None = None) -> KappaResult:
    """κ of one crystal (see the module docstring). ``progress(done, total)`` is called
    after each irreducible q-point. ``plan``: the harmonic kernel's execution plan (its
    eigensolver for the grid phonons, its memory bound for the chunks of triplets)."""
    plan = plan or default_plan()
    timings = {}
    clock = time.perf_counter()
    primitive = inputs.cells.primitive.crystal
    with jax.enable_x64(True):
        grid = G.bz_grid(primitive, settings.mesh)
        model = harmonic_model(inputs.fc2, inputs.fc2_cells, inputs.nac, inputs.unitcell,
                               inputs.fc2_supercell_matrix)
        phonons = grid_phonons(model, grid, settings.cutoff_frequency_THz, plan=plan)
        ir = G.ir_grid_points(grid)
        timings["phonons"] = time.perf_counter() - clock

        clock = time.perf_counter()
        tables = _interaction_tables(inputs.cells, settings.r0_average)
        pp = interaction(tables, inputs.fc3, grid, phonons, settings, plan.memory_bytes)
        timings["interaction_tables"] = time.perf_counter() - clock
        n_b = phonons.frequencies.shape[1]
        workers = min(plan.q_worker_count(), len(ir.bz_points))
        chunk = _chunk_size(tables, n_b, (plan.memory_bytes - pp.table_bytes) / workers,
                            len(settings.temperatures_K), pp.indexed)
        gammas, n_triplets = [], 0
        for i, (g, n) in enumerate(_map_q(
                lambda bz: phph_gamma(grid, phonons, pp, int(bz), settings, chunk),
                ir.bz_points, workers)):
            gammas.append(g)
            n_triplets += n
            if progress:
                progress(i + 1, len(ir.bz_points))
        gamma = np.stack(gammas, axis=1)  # (n_T, n_q, n_b)
        timings["gamma"] = time.perf_counter() - clock

        clock = time.perf_counter()
        vel = velocities(grid, ir.bz_points, model, settings.method == "wigner")
        timings["velocities"] = time.perf_counter() - clock

        freqs = phonons.frequencies[ir.bz_points]
        gamma_iso = None
        if settings.isotope:
            variances = (np.asarray(settings.mass_variances, float)
                         if settings.mass_variances is not None
                         else ISO.mass_variances(primitive.numbers))
            gamma_iso = np.asarray(ISO.isotope_gamma(
                grid, ir.bz_points, phonons.frequencies, phonons.eigenvectors, variances,
                sigma_THz=settings.sigma_THz, average_degenerate=settings.average_degenerate))
        gamma_b = (K.boundary_gamma(vel.group_velocities, settings.boundary_mfp_um)
                   if settings.boundary_mfp_um else None)
    gamma_eff = gamma + (0 if gamma_iso is None else gamma_iso[None]) + (
        0 if gamma_b is None else gamma_b[None])
    cv = K.heat_capacities(freqs, settings.temperatures_K, settings.cutoff_frequency_THz)
    volume = float(abs(np.linalg.det(primitive.lattice)))
    n_mesh = int(np.prod(settings.mesh))
    mode = K.rta_mode_kappa(freqs, vel.gv_by_gv, cv, gamma_eff, volume,
                            settings.cutoff_frequency_THz)
    kappa, coherence, pairs = K.total(mode, n_mesh), None, None
    if settings.method == "wigner":
        cw = K.wigner_heat_capacities(freqs, cv, settings.cutoff_frequency_THz)
        pairs = K.wigner_mode_kappa(freqs, vel.vm_by_vm, cw, gamma_eff, volume)
        kappa = K.total(pairs, n_mesh)
        diag = np.einsum("tqbbc->tqbc", pairs)
        coherence = kappa - K.total(diag, n_mesh)
    return KappaResult(
        settings=settings, temperatures_K=np.asarray(settings.temperatures_K), kappa=kappa,
        mode_kappa=mode, kappa_coherence=coherence, mode_kappa_matrix=pairs, gamma=gamma, gamma_isotope=gamma_iso,
        gamma_boundary=gamma_b, frequency=freqs, group_velocity=vel.group_velocities,
        gv_by_gv=vel.gv_by_gv, heat_capacity=cv, qpoint=grid.qpoints[ir.bz_points],
        weight=ir.weights, grid_point=ir.bz_points, mesh=np.asarray(settings.mesh),
        volume_A3=volume, n_triplets=n_triplets, timings_s=timings)
