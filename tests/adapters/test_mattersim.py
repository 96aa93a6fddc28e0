"""MatterSim through Potential.from_checkpoint on a random small MatterSim M3Gnet."""

from __future__ import annotations

import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_derivatives_match_energy,
    assert_matches_calculator,
    small_cells,
    to_batch,
)
from random_models import mattersim_checkpoint


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    from phonjax_adapters.mattersim import MatterSimAdapter

    path = mattersim_checkpoint(tmp_path_factory.mktemp("mattersim"))
    return MatterSimAdapter(checkpoint=path).load()


@pytest.mark.parametrize("index", [0, 1])
def test_forces_and_stress_are_energy_derivatives(adapter, index):
    # MatterSim computes in float32 only: a large step keeps rounding below the tolerance.
    assert_derivatives_match_energy(adapter, small_cells()[index], h=1e-2, rtol=2e-2)


def test_batched_equals_sequential(adapter):
    assert_batched_equals_sequential(adapter, to_batch(small_cells() * 2), atol=1e-6)


def test_equals_mattersim_calculator(adapter):
    from mattersim.forcefield.potential import MatterSimCalculator

    calculator = MatterSimCalculator(potential=adapter.model, device="cpu")
    assert_matches_calculator(adapter, calculator, small_cells(), f_atol=1e-6, e_atol=1e-5, s_atol=1e-7)
