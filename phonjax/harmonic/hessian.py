"""Force constants from a JAX energy function: Hessian-vector products along phonopy's displacements.

An *energy function* maps the Cartesian positions (N, 3) Å of a material's
supercell, and its lattice (3, 3) Å (rows), to the potential energy in eV:
``energy_fn(positions_A, cell_A) -> eV``, pure JAX, smooth, with any model
parameters closed over (so that gradients reach them).

phonopy's finite-difference solve reads forces F_i on the displaced supercells
R₀ + u_i. For a harmonic crystal F_i = F₀ − H·u_i exactly, so the forces of the
*linearized* model, −H·u_i, fed to the same solve, distribution and
symmetrization (``phonjax.harmonic.force_constants``), give the force constants at zero
displacement: ``hessian_forces`` evaluates them as Hessian-vector products, one
``jax.linearize`` of the gradient and one product per displacement (silicon:
1 instead of 3N). F₀ (non-zero for an unrelaxed structure) cancels in the solve
of a ± pair and is left out here; the result is the Hessian's force constants.
``displaced_forces`` evaluates the energy's forces at phonopy's displaced
supercells instead: the finite-displacement protocol, O(h²) from the Hessian.

Both return forces (n_disp, N, 3) eV/Å in the order of ``system.displacements``,
for ``phonon_properties`` or ``force_constants``; both are differentiable in the
energy function's parameters.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from phonjax.harmonic.force_constants import force_constants
from phonjax.harmonic.system import HarmonicSystem

EnergyFn = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]


def hessian_forces(energy_fn: EnergyFn, system: HarmonicSystem,
                   batch_size: int | None = None) -> jnp.ndarray:
    """Forces −H·u_i (n_disp, N, 3) eV/Å of the linearized energy at phonopy's displacements.

    One ``jax.linearize`` of ∇E at the undisplaced supercell, then one
    Hessian-vector product per displacement (``batch_size`` of them vmapped at a time;
    default None: one after another, ``jax.lax.map``'s scan).
    """
    cell = jnp.asarray(system.supercell.lattice)
    positions = jnp.asarray(system.supercell.positions)
    gradient = jax.grad(lambda r: energy_fn(r, cell))
    _, hvp = jax.linearize(gradient, positions)
    directions = jnp.asarray(system.displacement_vectors(), positions.dtype)
    return -jax.lax.map(hvp, directions, batch_size=batch_size)


def displaced_forces(energy_fn: EnergyFn, system: HarmonicSystem,
                     batch_size: int | None = None) -> jnp.ndarray:
    """Forces −∇E (n_disp, N, 3) eV/Å on phonopy's displaced supercells (finite displacements),
    ``batch_size`` supercells vmapped at a time (None: one after another)."""
    cell = jnp.asarray(system.supercell.lattice)
    positions = jnp.asarray(system.supercell.positions)
    forces = jax.grad(lambda r: -energy_fn(r, cell))
    shifts = jnp.asarray(system.displacement_vectors(), positions.dtype)
    return jax.lax.map(lambda u: forces(positions + u), shifts, batch_size=batch_size)


def force_constants_from_energy(energy_fn: EnergyFn, system: HarmonicSystem, *,
                                method: str = "hessian", subtract_drift: bool = False,
                                batch_size: int | None = None) -> jnp.ndarray:
    """Symmetrized force constants (N, N, 3, 3) eV/Å², float64, from an energy function.

    ``method``: "hessian" (Hessian-vector products) or "finite_displacement".
    Computed in float64 whatever the energy's dtype (its forces are cast), without
    changing the caller's JAX settings; differentiable in the energy's parameters.
    """
    if method not in ("hessian", "finite_displacement"):
        raise ValueError(f"method must be 'hessian' or 'finite_displacement', got {method!r}")
    route = hessian_forces if method == "hessian" else displaced_forces
    forces = route(energy_fn, system, batch_size)
    with jax.enable_x64(True):
        return force_constants(jnp.asarray(forces, jnp.float64), jax.device_put(system.tables.fc),
                               subtract_drift=subtract_drift)


def from_jax_md(energy_fn: Callable, *, neighbor=None, neighbor_fn=None,
                reference_positions=None, reference_cell=None, fractional: bool = False,
                **energy_kwargs) -> EnergyFn:
    """An energy function from jax-md's convention ``energy_fn(R, box=..., neighbor=..., ...)``.

    ``box`` is passed as jax-md's ``periodic_general`` takes it: the lattice vectors as
    columns (``cell_A.T``); with ``fractional`` the positions go in as fractional
    coordinates R = positions_A · cell_A⁻¹. Give ``neighbor`` (a list allocated by the
    caller) or ``neighbor_fn`` with ``reference_positions`` (Cartesian Å, e.g.
    ``system.supercell.positions``) and ``reference_cell``: the list is then allocated
    here, once, and kept fixed while differentiating at that geometry (a smooth cutoff
    makes the energy smooth there). Other keywords go to every ``energy_fn`` call. No
    jax-md import happens here.
    """
    if neighbor is None and neighbor_fn is not None:
        if reference_positions is None or reference_cell is None:
            raise ValueError("neighbor_fn needs reference_positions and reference_cell "
                             "(Cartesian Å, rows) to allocate the neighbour list")
        cell = jnp.asarray(reference_cell)
        r0 = jnp.asarray(reference_positions)
        neighbor = neighbor_fn.allocate(r0 @ jnp.linalg.inv(cell) if fractional else r0)
    kwargs = dict(energy_kwargs)
    if neighbor is not None:
        kwargs["neighbor"] = neighbor

    def energy(positions_A, cell_A):
        r = positions_A @ jnp.linalg.inv(cell_A) if fractional else positions_A
        return energy_fn(r, box=cell_A.T, **kwargs)

    return energy
