"""ORB through orb-models' load_model on random small orb-v3-conservative and orb-v2 models."""

from __future__ import annotations

import numpy as np
import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_derivatives_match_energy,
    assert_matches_calculator,
    forces_by_finite_differences,
    small_cells,
    to_batch,
)
from random_models import orb_checkpoint


def _adapter(tmp_path_factory, conservative: bool):
    from phonjax_adapters.orb import ORBAdapter

    path, architecture = orb_checkpoint(tmp_path_factory.mktemp("orb"), conservative)
    variant = "orb-v3-conservative" if conservative else "orb-v2"
    return ORBAdapter(variant, checkpoint=path, architecture=architecture).load()


@pytest.fixture(scope="module")
def conservative(tmp_path_factory):
    return _adapter(tmp_path_factory, conservative=True)


@pytest.fixture(scope="module")
def direct(tmp_path_factory):
    return _adapter(tmp_path_factory, conservative=False)


def _orb_calculator(adapter):
    from orb_models.forcefield.calculator import ORBCalculator

    return ORBCalculator(adapter.model, device="cpu")


def test_loading_leaves_torch_default_dtype_alone(conservative):
    import torch

    assert conservative.dtype == "float64"
    assert torch.get_default_dtype() == torch.float32


@pytest.mark.parametrize("index", [0, 1])
def test_conservative_forces_and_stress_are_energy_derivatives(conservative, index):
    assert_derivatives_match_energy(conservative, small_cells()[index], h=1e-4, rtol=1e-5)


@pytest.mark.parametrize("name", ["conservative", "direct"])
def test_batched_equals_sequential(name, request):
    adapter = request.getfixturevalue(name)
    assert_batched_equals_sequential(adapter, to_batch(small_cells() * 2), atol=1e-10)


@pytest.mark.parametrize("name", ["conservative", "direct"])
def test_equals_orb_calculator(name, request):
    import torch

    from phonjax_adapters.torch_utils import default_dtype

    adapter = request.getfixturevalue(name)
    # ORBCalculator builds its graphs in torch's default dtype, which ORB's loader
    # normally leaves at float64.
    with default_dtype(torch.float64):
        assert_matches_calculator(
            adapter, _orb_calculator(adapter), small_cells(), f_atol=1e-10, e_atol=1e-9, s_atol=1e-11
        )


def test_direct_model_is_flagged_non_conservative(direct):
    """orb-v2 forces are a direct head, not -dE/dx; the adapter must say so."""
    assert direct.conservative is False
    atoms = small_cells()[0]
    forces = direct.evaluate(to_batch([atoms])).forces[0]
    pairs = [(0, 0), (1, 1), (2, 2)]
    gradient = forces_by_finite_differences(direct, atoms, pairs, h=1e-4)
    assert not np.allclose([forces[i, k] for i, k in pairs], gradient, atol=1e-6)
