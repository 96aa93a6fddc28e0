"""JAX energy functions of atomic positions: the input of phonjax's Hessian route.

An *energy function* here is a pure JAX function

    energy_fn(positions_A) -> energy_eV

of the Cartesian positions ``positions_A`` (N, 3) Å of one periodic cell (a
phonopy supercell), returning a scalar in eV, so that ``jax.grad`` (−forces,
eV/Å), ``jax.linearize`` of that gradient (Hessian-vector products) and
``jax.hessian`` ((N, 3, N, 3) eV/Å²) work on it. The neighbour graph is built
once on the host at the reference geometry and then kept fixed: derivatives at
that geometry are exact only for models whose energy goes smoothly to zero at
the cutoff (every model wrapped here does), and positions should stay within a
small displacement of the reference.

Two builders:

* :func:`node_energy_function` for models with the edge-vector → node-energy
  contract ``node_energies(edge_vectors, species, senders, receivers)``
  (Nequix, phonax), given the host-built edges;
* :func:`energy_from_jax_md` for jax-md's ``energy_fn(R, neighbor=, box=, ...)``
  convention (jax-md's wrappers of UMA, MACE, ORB, NequIP, Nequix).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

EnergyFunction = Callable[..., Any]


def node_energy_function(
    node_energies: Callable[..., Any],
    *,
    senders: np.ndarray,
    receivers: np.ndarray,
    shifts: np.ndarray,
    species: np.ndarray,
    lattice_A: np.ndarray,
    dtype: Any,
) -> EnergyFunction:
    """``energy_fn(positions_A, cell_A=None, **kw) -> eV`` of a node-energy model, fixed graph.

    Edge e runs from ``receivers[e]`` (the centre atom i) to ``senders[e]`` (its
    neighbour j, in the periodic image ``shifts[e]``, (E, 3) integers), and its
    vector is r_e = x_j − x_i + shifts[e] · cell (rows of ``cell`` are lattice
    vectors, Å), as in matscipy's ``neighbour_list("ijS")``. ``species`` (N,)
    are the model's species indices. The energy is the sum of all node
    energies. ``cell_A`` (3, 3) defaults to ``lattice_A``; passing it lets
    strain derivatives through (stress); other keywords go to ``node_energies``
    (e.g. the model's parameters). Positions are cast to ``dtype`` (the
    model's float type); a float64 model must be called with x64 enabled (e.g.
    inside ``with jax.enable_x64(True):``), which is checked when traced.
    """
    import jax
    import jax.numpy as jnp

    senders = np.asarray(senders, np.int32)
    receivers = np.asarray(receivers, np.int32)
    species = np.asarray(species, np.int32)
    shifts = np.asarray(shifts, np.float64)
    lattice = np.asarray(lattice_A, np.float64)
    wanted = np.dtype(dtype)

    def energy_fn(positions_A, cell_A=None, **kw):
        if wanted == np.float64 and not jax.config.jax_enable_x64:
            raise RuntimeError(
                "this energy function runs in float64: call it inside `with jax.enable_x64(True):`"
            )
        positions = jnp.asarray(positions_A, wanted)
        cell = jnp.asarray(lattice if cell_A is None else cell_A, wanted)
        offsets = jnp.asarray(shifts, wanted) @ cell
        vectors = positions[senders] - positions[receivers] + offsets
        with jax.default_matmul_precision("highest"):
            return jnp.sum(node_energies(vectors, species, senders, receivers, **kw))

    return energy_fn


def energy_from_jax_md(
    energy_fn: Callable[..., Any],
    *,
    neighbor: Any = None,
    neighbor_fn: Any = None,
    reference_positions: Any = None,
    box: Any = None,
    lattice_A: Any = None,
    fractional_coordinates: bool = False,
    **energy_kwargs: Any,
) -> EnergyFunction:
    """``energy(positions_A) -> eV`` from a jax-md style ``energy_fn(R, *, neighbor=, box=, ...)``.

    jax-md energy functions take positions ``R`` in the coordinates their
    ``space`` uses (Cartesian, or fractional with ``fractional_coordinates=True``
    and ``space.periodic_general``) and a neighbour list. Pass either
    ``neighbor`` (already allocated) or ``neighbor_fn`` and
    ``reference_positions`` (Cartesian Å, allocated once here): the list is
    then fixed, as the Hessian route needs. ``box`` is handed on as ``box=``
    when given (jax-md's box has lattice vectors as *columns*). With
    ``fractional_coordinates=True``, ``lattice_A`` (rows are lattice vectors, Å)
    converts Cartesian positions to the fractional ``R = positions_A ·
    lattice_A⁻¹``; it defaults to ``box.T``. Other keyword arguments go to
    every ``energy_fn`` call. No jax-md import happens here.
    """
    import jax.numpy as jnp

    if fractional_coordinates:
        if lattice_A is None:
            if box is None:
                raise ValueError("fractional_coordinates=True needs lattice_A (or box)")
            lattice_A = jnp.asarray(box).T
        inverse = jnp.linalg.inv(jnp.asarray(lattice_A))
    else:
        inverse = None

    def to_model(positions_A):
        return positions_A if inverse is None else positions_A @ inverse

    if neighbor is None and neighbor_fn is not None:
        if reference_positions is None:
            raise ValueError("neighbor_fn needs reference_positions (Cartesian Å) to allocate")
        neighbor = neighbor_fn.allocate(to_model(jnp.asarray(reference_positions)))
    kwargs = dict(energy_kwargs)
    if neighbor is not None:
        kwargs["neighbor"] = neighbor
    if box is not None:
        kwargs["box"] = box

    def energy(positions_A):
        return energy_fn(to_model(positions_A), **kwargs)

    return energy
