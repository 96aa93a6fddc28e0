"""MatterSim through Potential.from_checkpoint on a random small MatterSim M3Gnet."""

from __future__ import annotations

import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_derivatives_match_energy,
    assert_matches_calculator,
    float32_noise,
    small_cells,
    to_batch,
)
from random_models import mattersim_checkpoint


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    from phonjax_adapters.mattersim import MatterSimAdapter

    path = mattersim_checkpoint(tmp_path_factory.mktemp("mattersim"))
    return MatterSimAdapter(checkpoint=path).load()


@pytest.fixture(scope="module")
def noise(adapter):
    """This random model's float32 round-off on small_cells(), on this CPU
    (adapter_checks.Float32Noise): ~3e-10 eV/Å, 7e-8 eV, 8e-11 eV/Å³ on AMD EPYC, where its
    calculator and a batch of both cells differ by 1.7e-10, 3e-8, 3e-11 (the former fixed
    1e-6 eV/Å was 3000 times the forces' round-off)."""
    return float32_noise(adapter, small_cells())


@pytest.mark.parametrize("index", [0, 1])
def test_forces_and_stress_are_energy_derivatives(adapter, index, noise):
    """MatterSim computes in float32 only: a large step h keeps the energies' round-off
    (noise/h) small, and the tolerance adds it to the truncation error. That error goes as
    h² (on AMD EPYC, 2.4e-2 of the largest force and 8e-2 of the largest stress at h = 0.16,
    so ~3e-4 at h = 0.01): rtol = 1e-3."""
    assert_derivatives_match_energy(adapter, small_cells()[index], h=1e-2, rtol=1e-3,
                                    noise=noise)


def test_batched_equals_sequential(adapter, noise):
    tol = noise.tolerances()
    assert_batched_equals_sequential(adapter, to_batch(small_cells() * 2), tol["f_atol"],
                                     tol["e_atol"], tol["s_atol"])


def test_equals_mattersim_calculator(adapter, noise):
    from mattersim.forcefield.potential import MatterSimCalculator

    calculator = MatterSimCalculator(potential=adapter.model, device="cpu")
    assert_matches_calculator(adapter, calculator, small_cells(), **noise.tolerances())
