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

:func:`node_energy_function` builds one for models with the edge-vector →
node-energy contract ``node_energies(edge_vectors, species, senders, receivers)``
(Nequix, phonax), given the host-built edges. jax-md's
``energy_fn(R, neighbor=, box=, ...)`` convention (its wrappers of UMA, MACE,
ORB, NequIP, Nequix) is ``phonjax.harmonic.hessian.from_jax_md``.
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
