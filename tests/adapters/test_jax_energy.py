"""Energy functions of positions: the jax-md wrapper and the fixed-graph node-energy builder.

Checked against things that need no model package: a Lennard-Jones pair energy written
in the jax-md convention is compared with ASE's own LennardJones calculator (energy and
forces) and with finite differences; the node-energy builder with a pair model against
the same calculator.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.lj import LennardJones
from ase.neighborlist import neighbor_list

jax = pytest.importorskip("jax")
jnp = jax.numpy

from phonjax.harmonic.hessian import from_jax_md  # noqa: E402
from phonjax_adapters.jax_energy import node_energy_function  # noqa: E402

SIGMA, EPSILON, CUTOFF = 2.3, 0.1, 5.0


def _pair(r):
    """ASE's LennardJones with smooth=False: shifted so that it is 0 at the cutoff."""
    shift = 4 * EPSILON * ((SIGMA / CUTOFF) ** 12 - (SIGMA / CUTOFF) ** 6)
    return 4 * EPSILON * ((SIGMA / r) ** 12 - (SIGMA / r) ** 6) - shift


@pytest.fixture
def argon():
    atoms = bulk("Ar", "fcc", a=3.9) * (2, 2, 2)
    atoms.rattle(0.05, seed=4)
    return atoms


def _reference(atoms):
    atoms = atoms.copy()
    atoms.calc = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=CUTOFF)
    return atoms.get_potential_energy(), atoms.get_forces()


def test_jax_md_style_energy_with_a_fixed_neighbour_list(argon):
    """A jax-md-convention energy_fn(R, neighbor=, box=) with fractional coordinates."""
    i, j, shifts = neighbor_list("ijS", argon, CUTOFF)

    def energy_fn(R, *, neighbor, box, **kwargs):  # R fractional, box columns = lattice
        senders, receivers, images = neighbor
        vectors = (R[receivers] - R[senders] + images) @ box.T
        return 0.5 * jnp.sum(_pair(jnp.linalg.norm(vectors, axis=1)))

    with jax.enable_x64(True):
        energy = from_jax_md(energy_fn, neighbor=(i, j, shifts), fractional=True)
        value, gradient = jax.value_and_grad(energy)(jnp.asarray(argon.positions),
                                                     jnp.asarray(argon.cell.array))
    reference_energy, reference_forces = _reference(argon)
    assert float(value) == pytest.approx(reference_energy, abs=1e-10)
    np.testing.assert_allclose(-np.asarray(gradient), reference_forces, atol=1e-10)


def test_jax_md_neighbor_fn_is_allocated_once_at_the_reference():
    calls = []

    class NeighborFn:
        def allocate(self, R):
            calls.append(np.asarray(R))
            return "nbrs"

    def energy_fn(R, *, neighbor, box):
        assert neighbor == "nbrs"
        return jnp.sum(R**2)

    energy = from_jax_md(energy_fn, neighbor_fn=NeighborFn(), reference_positions=np.ones((2, 3)),
                         reference_cell=np.eye(3))
    assert float(energy(jnp.ones((2, 3)), jnp.eye(3))) == 6
    assert float(energy(2 * jnp.ones((2, 3)), jnp.eye(3))) == 24 and len(calls) == 1
    with pytest.raises(ValueError, match="reference_positions"):
        from_jax_md(energy_fn, neighbor_fn=NeighborFn())


def test_node_energy_function_of_a_pair_model(argon):
    """Edges i → j as matscipy/nequix store them; half a pair energy on each centre atom."""
    i, j, shifts = neighbor_list("ijS", argon, CUTOFF)

    def node_energies(vectors, species, senders, receivers):
        bonds = 0.5 * _pair(jnp.linalg.norm(vectors, axis=1))
        return jax.ops.segment_sum(bonds, receivers, num_segments=len(species))

    with jax.enable_x64(True):
        energy = node_energy_function(node_energies, senders=j, receivers=i, shifts=shifts,
                                      species=np.zeros(len(argon)), lattice_A=argon.cell.array,
                                      dtype=np.float64)
        value, gradient = jax.value_and_grad(energy)(argon.positions)
        hessian = np.asarray(jax.hessian(energy)(argon.positions))
        # the strain derivative through cell_A equals ASE's stress
        strain = jax.grad(lambda e: energy(argon.positions @ (np.eye(3) + e),
                                           argon.cell.array @ (np.eye(3) + e)))(np.zeros((3, 3)))
    reference_energy, reference_forces = _reference(argon)
    assert float(value) == pytest.approx(reference_energy, abs=1e-10)
    np.testing.assert_allclose(-np.asarray(gradient), reference_forces, atol=1e-10)
    n = len(argon)
    matrix = hessian.reshape(3 * n, 3 * n)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-10)
    np.testing.assert_allclose(hessian.sum(axis=2), 0, atol=1e-10)
    calc_atoms = argon.copy()
    calc_atoms.calc = LennardJones(sigma=SIGMA, epsilon=EPSILON, rc=CUTOFF)
    np.testing.assert_allclose(np.asarray(strain) / argon.get_volume(),
                               calc_atoms.get_stress(voigt=False), atol=1e-10)
    with jax.enable_x64(False), pytest.raises(RuntimeError, match="enable_x64"):
        energy(argon.positions)
