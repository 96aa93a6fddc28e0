"""Quasi-harmonic thermal expansion of a JAX energy model, differentiable in its parameters.

A *model* is ``energy_fn(params, positions_A, cell_A) -> eV``: pure JAX, smooth, the energy
of a periodic cell (positions (N, 3) Å, lattice (3, 3) Å, rows) for parameters ``params``
(any pytree of arrays). A *volume scan* of a crystal is its cell scaled isotropically,

    lattice_j = f_j^{1/3} · lattice,  fractional positions kept,  V_j = f_j · V_prim   (Å³)

for volume fractions f_j (≥ 5 of them, e.g. 0.96 … 1.04), V_prim the primitive cell's volume.
At each volume, for parameters θ (per primitive cell; n_c = N_supercell / n_primitive):

    U(V_j; θ)          = E_θ(supercell_j) / n_c                                     (eV)
    Φ_j(θ)             = the force constants of E_θ at supercell_j (Hessian-vector products
                         along phonopy's displacements, ``phonjax.harmonic.hessian``)  (eV/Å²)
    F_ph, S, Cv(V_j, T) = ``phonjax.harmonic.differentiable.thermal_properties(Φ_j, tables_j, T)``
                         (kJ/mol, J/K/mol per mole of primitive cells; the tables of supercell_j)

and the QHA of ``phonjax.qha.core`` (its docstring has the formulas) fits F(V, T) = U + pV + F_ph
to the EOS at each T: V(T) Å³, B_T(T) GPa, α(T) = (1/V)·dV/dT 1/K (volumetric; linear is α/3
for a cubic crystal), G(T), Cp(T), γ(T) — ``quasi_harmonic_jax``'s ``QHAResult``. Every step
is JAX, so ``jax.grad``/``jax.jacrev`` of any of them with respect to θ runs through the
energy, its Hessian, the eigenvalues, the thermal sums and the EOS fits (implicitly, at
each minimum). The volumes, the temperatures and the kernel tables are static: the
scan is prepared once on the host (``prepare_volume_scan``) and serves every θ.

Scope: an isotropic scan without relaxation is the QHA's path only where symmetry fixes
everything but the volume: every atom's site symmetry admits no invariant vector (the
forces vanish by symmetry at every volume) and the crystal is cubic (the stress is
isotropic, so the cell keeps its shape). fcc/bcc metals, rock salt, CsCl, diamond, zinc
blende, fluorite qualify; hcp (c/a free), wurtzite (u free), perovskites with tilts, …
are refused (``ValueError``). Non-analytical correction: none (a model gives no Born charges).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from phonjax.harmonic.system import HarmonicSystem, prepare
from phonjax.qha.core import QHAInputs, QHAResult
from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import (SYMPREC, cartesian_rotations, crystal_system,
                                        site_symmetry, space_group)

ModelEnergy = Callable[[Any, Any, Any], Any]  # energy_fn(params, positions_A, cell_A) -> eV
FORCE_FREE_TOL = 1e-8  # |mean site rotation|: above it an atom has a free coordinate


@dataclass(frozen=True, eq=False)
class VolumeScan:
    """A crystal's isotropic volume scan, prepared: one ``HarmonicSystem`` per volume fraction,
    the primitive-cell volumes (Å³) and the primitive cells per supercell."""

    fractions: np.ndarray  # (n_V,)
    systems: tuple[HarmonicSystem, ...]
    volumes_A3: np.ndarray  # (n_V,) per primitive cell
    cells_per_supercell: int


def check_fixed_by_symmetry(crystal: Crystal, symprec: float = SYMPREC) -> None:
    """A one-line ``ValueError`` unless symmetry fixes the crystal's positions and shape (cubic,
    no atom with a free coordinate): the condition for a volume scan without relaxation."""
    group = space_group(crystal, symprec)
    system = crystal_system(group.number)
    if system != "cubic":
        raise ValueError(f"space group {group.international} (#{group.number}) is {system}: "
                         "an isotropic volume scan needs a cubic crystal (its shape would relax)")
    for atom in range(crystal.n_atoms):
        ops = site_symmetry(crystal, group, atom, symprec)
        mean = cartesian_rotations(crystal.lattice, group.rotations[ops]).mean(axis=0)
        if np.abs(mean).max() > FORCE_FREE_TOL:
            raise ValueError(f"atom {atom} ({crystal.symbols[atom]}) has a free coordinate in "
                             f"{group.international}: its position would relax with the volume")


def scaled_crystal(crystal: Crystal, fraction: float) -> Crystal:
    """The crystal with its volume × ``fraction`` (lattice × fraction^(1/3), same fractional
    positions, numbers and masses)."""
    return Crystal(crystal.lattice * float(fraction) ** (1.0 / 3.0), crystal.frac_positions,
                   crystal.numbers, crystal.masses)


def prepare_volume_scan(crystal: Crystal, supercell_matrix, primitive_matrix, fractions, *,
                        mesh, symprec: float = SYMPREC, **prepare_kwargs) -> VolumeScan:
    """The volume scan of ``crystal`` (host work, once): ``phonjax.prepare`` of each scaled cell
    with ``mesh`` and ``prepare_kwargs`` (no NAC), after ``check_fixed_by_symmetry``."""
    f = np.asarray(fractions, dtype=float)
    if f.ndim != 1 or not (np.isfinite(f).all() and (f > 0).all()):
        raise ValueError(f"fractions must be a 1-d array of positive volume ratios, got {f!r}")
    if len(np.unique(f)) != len(f):
        raise ValueError("fractions must be distinct (one volume each)")
    check_fixed_by_symmetry(crystal, symprec)
    systems = tuple(prepare(scaled_crystal(crystal, x), supercell_matrix, primitive_matrix,
                            mesh=mesh, symprec=symprec, nac=False, **prepare_kwargs)
                    for x in f)
    volumes = np.array([s.primitive.crystal.volume for s in systems])
    n_cells = systems[0].n_supercell // systems[0].n_primitive
    return VolumeScan(fractions=f, systems=systems, volumes_A3=volumes,
                      cells_per_supercell=n_cells)


def as_float64(params):
    """``params`` with every floating leaf cast to float64 (once, at the entry: a float32 leaf
    used in float64 sums would get each use's cotangent rounded to float32 before they are
    added, and ∂α, a difference of near-equal terms, loses ~4e-5 relative)."""
    import jax
    import jax.numpy as jnp

    def cast(x):
        x = jnp.asarray(x)
        return x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree_util.tree_map(cast, params)


def _at_params(energy_fn: ModelEnergy, params) -> Callable:
    """``energy_fn`` with ``params`` bound: the (positions, cell) convention of
    ``phonjax.harmonic.hessian``."""
    return lambda positions, cell: energy_fn(params, positions, cell)


def static_energies(energy_fn: ModelEnergy, params, scan: VolumeScan):
    """(n_V,) U(V_j; θ) eV per primitive cell: the supercell's energy / cells per supercell."""
    import jax.numpy as jnp

    energy = _at_params(energy_fn, params)
    return jnp.stack([energy(jnp.asarray(s.supercell.positions), jnp.asarray(s.supercell.lattice))
                      for s in scan.systems]) / scan.cells_per_supercell


def phonon_thermal(energy_fn: ModelEnergy, params, scan: VolumeScan, temperatures_K):
    """(F kJ/mol, S J/K/mol, Cv J/K/mol), each (n_T, n_V): the harmonic phonons of the model's
    force constants at each volume, per mole of primitive cells."""
    import jax.numpy as jnp

    from phonjax.harmonic.differentiable import thermal_properties
    from phonjax.harmonic.hessian import force_constants_from_energy

    energy = _at_params(energy_fn, params)
    columns = [thermal_properties(force_constants_from_energy(energy, s), s.tables,
                                  temperatures_K) for s in scan.systems]
    return tuple(jnp.stack([c[k] for c in columns], axis=1) for k in range(3))


def qha_inputs(energy_fn: ModelEnergy, params, scan: VolumeScan, temperatures_K) -> QHAInputs:
    """The QHA's inputs from the model: static volumes and temperatures, traced U, F, S, Cv."""
    free, entropy, cv = phonon_thermal(energy_fn, params, scan, temperatures_K)
    return QHAInputs(scan.volumes_A3, static_energies(energy_fn, params, scan),
                     np.asarray(temperatures_K, dtype=float), free, entropy, cv)


def quasi_harmonic_of_scan(energy_fn: ModelEnergy, params, scan: VolumeScan, temperatures_K, *,
                           eos: str = "vinet", method: str = "minpack",
                           pressure_GPa: float | None = None,
                           t_max_K: float | None = None) -> QHAResult:
    """``quasi_harmonic_jax`` of the model's ``qha_inputs`` on a prepared scan (the form for a
    training loop: prepare once, differentiate in ``params`` at every step). Float64
    whatever the caller's x64 setting (reverse mode; forward mode inside ``phonjax.float64()``):
    the floating leaves of ``params`` are cast to float64, so the model runs in float64."""
    from phonjax.harmonic.differentiable import float64_differentiable
    from phonjax.qha.differentiable import quasi_harmonic_jax

    temperatures = np.asarray(temperatures_K, dtype=float)
    if temperatures.ndim != 1 or len(temperatures) < 3:
        raise ValueError(f"need ≥ 3 temperatures (α is a central difference): {temperatures!r}")

    @float64_differentiable
    def run(p):
        inputs = qha_inputs(energy_fn, as_float64(p), scan, temperatures)
        return quasi_harmonic_jax(inputs, eos, pressure_GPa, t_max_K, method)

    return run(params)


def thermal_expansion(energy_fn: ModelEnergy, params, crystal: Crystal, supercell_matrix,
                      primitive_matrix, fractions, temperatures_K, *, mesh, eos: str = "vinet",
                      method: str = "minpack", pressure_GPa: float | None = None,
                      t_max_K: float | None = None, symprec: float = SYMPREC,
                      **prepare_kwargs) -> QHAResult:
    """The QHA of a model on a crystal fixed by symmetry: ``prepare_volume_scan`` (with
    ``prepare_kwargs``, e.g. ``gamma_centered``) then ``quasi_harmonic_of_scan``.
    ``thermal_expansion_per_K`` is α(T) (volumetric), ``equilibrium_volumes_A3`` V(T),
    ``bulk_modulus_GPa`` B_T(T); all differentiable in ``params``. Each call prepares the
    scan again (under ``jax.jit``: once, at tracing)."""
    scan = prepare_volume_scan(crystal, supercell_matrix, primitive_matrix, fractions,
                               mesh=mesh, symprec=symprec, **prepare_kwargs)
    return quasi_harmonic_of_scan(energy_fn, params, scan, temperatures_K, eos=eos,
                                  method=method, pressure_GPa=pressure_GPa, t_max_K=t_max_K)
