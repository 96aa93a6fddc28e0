"""Force constants from a JAX energy function (phonjax.harmonic.hessian) against jax.hessian and phonopy.

The energy is a smooth Morse pair potential in jnp (validation/pair_potential.py) on real
phonondb structures: the Hessian-vector route must give the symmetrized Hessian itself; the
finite-displacement route must give what phonopy computes from the same energy's forces on
its own displaced supercells, and differ from the Hessian by O(h²).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phonjax
from phonjax.harmonic.hessian import displaced_forces, force_constants_from_energy, from_jax_md
from phonjax.harmonic.force_constants import symmetrize
from tests.conftest import sample_path
from validation.pair_potential import morse_energy
from validation.reference import phonopy_reference


@pytest.fixture(scope="module", params=["mp-1000", "mp-361"])
def case(request):
    ds = phonjax.read_dataset(sample_path(request.param))
    system = phonjax.prepare(ds)
    sc = system.supercell
    return system, morse_energy(sc.numbers, sc.positions, sc.lattice)


def test_hessian_route_equals_symmetrized_hessian(case):
    system, energy = case
    sc = system.supercell
    with phonjax.float64():
        fc = np.asarray(jax.jit(lambda: force_constants_from_energy(energy, system))())
        hessian = jax.jit(jax.hessian(lambda r: energy(r, jnp.asarray(sc.lattice))))(
            jnp.asarray(sc.positions))
        full = jnp.transpose(hessian, (0, 2, 1, 3))  # [i, j, a, b] = ∂²E/∂x_ia∂x_jb
        expected = np.asarray(symmetrize(full, jnp.ones(sc.n_atoms, bool)))
    assert np.abs(expected).max() > 1e-3  # a real test: the atoms interact
    assert np.abs(fc - expected).max() <= 1e-10 * np.abs(expected).max()


def test_finite_displacements_equal_phonopys_and_are_second_order(case):
    import phonopy

    system, energy = case
    sc = system.supercell
    with phonjax.float64():
        hvp = np.asarray(force_constants_from_energy(energy, system))
        fd = np.asarray(force_constants_from_energy(energy, system, method="finite_displacement"))
        grad = jax.jit(jax.grad(lambda r: -energy(r, jnp.asarray(sc.lattice))))
        # phonopy: its own displaced supercells, forces of the same energy
        ph = phonopy.Phonopy(phonopy.structure.atoms.PhonopyAtoms(
            cell=system.unitcell.lattice, scaled_positions=system.unitcell.frac_positions,
            numbers=system.unitcell.numbers, masses=system.unitcell.masses),
            supercell_matrix=system.supercell_matrix, primitive_matrix=system.primitive_matrix)
        ph.generate_displacements(distance=0.01)
        ph.forces = np.array([np.asarray(grad(jnp.asarray(c.positions)))
                              for c in ph.supercells_with_displacements])
    ref = phonopy_reference(ph, mesh=None)
    scale = np.abs(hvp).max()
    assert np.abs(fd - ref.force_constants).max() <= 1e-10 * scale  # the same protocol
    # O(h²) away from the Hessian: halving h quarters the difference
    half = phonjax.prepare(system.unitcell, system.supercell_matrix, system.primitive_matrix,
                           distance=0.005)
    with phonjax.float64():
        fd_half = np.asarray(force_constants_from_energy(energy, half,
                                                         method="finite_displacement"))
    err, err_half = np.abs(fd - hvp).max() / scale, np.abs(fd_half - hvp).max() / scale
    assert err < 5e-3 and 3.5 < err / err_half < 4.5, (err, err_half)


def test_jax_md_convention_wrapper(case):
    """jax-md's energy_fn(R, box=..., neighbor=...) with fractional R and box = cellᵀ."""
    system, energy = case
    sc = system.supercell

    def jax_md_style(r_fractional, box, neighbor):
        assert neighbor == "nbrs"
        return energy(r_fractional @ box.T, box.T)

    wrapped = from_jax_md(jax_md_style, fractional=True, neighbor="nbrs")
    with phonjax.float64():
        f1 = np.asarray(displaced_forces(wrapped, system))
        f2 = np.asarray(displaced_forces(energy, system))
    np.testing.assert_allclose(f1, f2, rtol=0, atol=1e-12)
