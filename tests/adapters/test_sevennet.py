"""SevenNet with its shipped weights against SevenNet's own ASE calculator on phonondb supercells."""

from __future__ import annotations

import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_matches_calculator,
    phonondb_supercells,
    to_batch,
)

MATERIALS = ("mp-1000", "mp-3248")  # both in the bundled sample


@pytest.fixture(scope="module")
def supercells():
    # The first two displaced supercells of each material keep the suite quick.
    return [a for mp_id in MATERIALS for a in phonondb_supercells(mp_id)[:2]]


@pytest.fixture(scope="module")
def adapter():
    from phonjax_adapters.sevennet import SevenNetAdapter

    return SevenNetAdapter("7net-0").load()


def test_forces_energy_stress_equal_sevennet_calculator(adapter, supercells):
    from sevenn.calculator import SevenNetCalculator

    calculator = SevenNetCalculator("7net-0", device="cpu")
    assert_matches_calculator(adapter, calculator, supercells, f_atol=1e-6, e_atol=1e-4, s_atol=1e-7)


def test_batched_equals_sequential(adapter, supercells):
    assert_batched_equals_sequential(adapter, to_batch(supercells), atol=1e-6)


def test_multifidelity_variant_uses_its_modal():
    from sevenn.calculator import SevenNetCalculator
    from phonjax_adapters.sevennet import SevenNetAdapter

    adapter = SevenNetAdapter("7net-mf-0").load()
    assert adapter.modal == "PBE"
    calculator = SevenNetCalculator("7net-mf-0", device="cpu", modal="PBE")
    cells = phonondb_supercells("mp-1000")
    assert_matches_calculator(adapter, calculator, cells, f_atol=1e-6, e_atol=1e-4, s_atol=1e-7)


@pytest.mark.slow
def test_l3i5_equals_its_calculator(supercells):
    from sevenn.calculator import SevenNetCalculator
    from phonjax_adapters.sevennet import SevenNetAdapter

    adapter = SevenNetAdapter("7net-l3i5").load()
    calculator = SevenNetCalculator("7net-l3i5", device="cpu")
    assert_matches_calculator(adapter, calculator, supercells, f_atol=1e-6, e_atol=1e-4, s_atol=1e-7)
    assert_batched_equals_sequential(adapter, to_batch(supercells), atol=1e-6)
