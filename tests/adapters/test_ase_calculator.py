"""The ASE calculator view of an adapter, used for relaxations (CHGNet's shipped weights)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk
from ase.filters import FrechetCellFilter
from ase.optimize import BFGS

from adapter_checks import to_batch


@pytest.fixture(scope="module")
def adapter():
    from phonjax_adapters import get_adapter

    return get_adapter("chgnet").load()


def test_calculator_returns_what_evaluate_returns(adapter):
    from ase.stress import full_3x3_to_voigt_6_stress

    atoms = bulk("NaCl", "rocksalt", a=5.5) * (2, 1, 1)
    atoms.rattle(0.05, seed=3)
    out = adapter.evaluate(to_batch([atoms]))
    atoms.calc = adapter.calculator()
    assert atoms.get_potential_energy() == pytest.approx(out.energies[0], abs=1e-12)
    np.testing.assert_array_equal(atoms.get_forces(), out.forces[0])
    np.testing.assert_allclose(atoms.get_stress(), full_3x3_to_voigt_6_stress(out.stresses[0]), atol=1e-15)


def test_relaxation_with_cell_filter_lowers_energy_and_forces(adapter):
    atoms = bulk("NaCl", "rocksalt", a=5.9)  # strained away from CHGNet's lattice constant
    atoms.rattle(0.03, seed=4)
    atoms.calc = adapter.calculator()
    start_energy = atoms.get_potential_energy()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=100)
    assert atoms.get_potential_energy() < start_energy
    assert np.abs(atoms.get_forces()).max() < 0.01
    assert np.abs(atoms.get_stress()).max() < 0.01
