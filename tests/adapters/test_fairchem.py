"""fairchem through load_predict_unit on a random small UMA-style (MoLE eSCN) checkpoint."""

from __future__ import annotations

import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_derivatives_match_energy,
    assert_matches_calculator,
    small_cells,
    to_batch,
)
from random_models import uma_checkpoint


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    from phonjax_adapters.fairchem import FairChemAdapter

    path = uma_checkpoint(tmp_path_factory.mktemp("fairchem"))
    return FairChemAdapter(checkpoint=path, task="omat").load()


@pytest.mark.parametrize("index", [0, 1])
def test_forces_and_stress_are_energy_derivatives(adapter, index):
    assert adapter.dtype == "float64"
    assert_derivatives_match_energy(adapter, small_cells()[index], h=1e-4, rtol=1e-5)


def test_batched_equals_sequential(adapter):
    assert_batched_equals_sequential(adapter, to_batch(small_cells() * 2), atol=1e-10)


def test_equals_fairchem_calculator(adapter):
    from fairchem.core import FAIRChemCalculator

    calculator = FAIRChemCalculator(adapter.model, task_name="omat")
    assert_matches_calculator(adapter, calculator, small_cells(), f_atol=1e-10, e_atol=1e-9, s_atol=1e-11)
