"""CHGNet with its shipped weights against CHGNet's own ASE calculator on phonondb supercells."""

from __future__ import annotations

import numpy as np
import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_matches_calculator,
    phonondb_supercells,
    to_batch,
)

# Small phonondb materials: rock salt BaTe (64-atom supercells) and a 40-atom elpasolite.
MATERIALS = ("mp-1000", "mp-3248")  # both in the bundled sample


@pytest.fixture(scope="module")
def adapter():
    from phonjax_adapters.chgnet import CHGNetAdapter

    return CHGNetAdapter("0.3.0").load()


@pytest.fixture(scope="module")
def supercells():
    # The first two displaced supercells of each material keep the suite quick.
    return [a for mp_id in MATERIALS for a in phonondb_supercells(mp_id)[:2]]


def test_forces_energy_stress_equal_chgnet_calculator(adapter, supercells):
    from chgnet.model.dynamics import CHGNetCalculator

    calculator = CHGNetCalculator(model=adapter.model, use_device="cpu")
    assert_matches_calculator(adapter, calculator, supercells, f_atol=1e-6, e_atol=1e-4, s_atol=1e-6)


def test_batched_equals_sequential(adapter, supercells):
    assert_batched_equals_sequential(adapter, to_batch(supercells), atol=1e-6)


def test_units_energy_is_total_and_stress_in_ev_per_a3(adapter, supercells):
    """CHGNet predicts eV/atom and GPa; the adapter returns eV per cell and eV/Å³."""
    from ase import units
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = supercells[0]
    raw = adapter.model.predict_structure(AseAtomsAdaptor.get_structure(atoms), task="efs")
    out = adapter.evaluate(to_batch([atoms]))
    assert out.energies[0] == pytest.approx(float(raw["e"]) * len(atoms), abs=1e-4)
    np.testing.assert_allclose(out.stresses[0], raw["s"] * units.GPa, atol=1e-7)


def test_variant_0_2_0_equals_its_calculator(supercells):
    from chgnet.model.dynamics import CHGNetCalculator
    from phonjax_adapters.chgnet import CHGNetAdapter

    adapter = CHGNetAdapter("0.2.0").load()
    calculator = CHGNetCalculator(model=adapter.model, use_device="cpu")
    assert_matches_calculator(adapter, calculator, supercells[:2], f_atol=1e-6, e_atol=1e-4, s_atol=1e-6)


def test_float64_is_refused_with_a_reason():
    from phonjax_adapters.base import ModelUnavailable
    from phonjax_adapters.chgnet import CHGNetAdapter

    with pytest.raises(ModelUnavailable, match="float32"):
        CHGNetAdapter(dtype="float64").load()


def test_explicit_checkpoint_path_loads_the_same_model(adapter, supercells):
    from phonjax_adapters.chgnet import CHGNetAdapter

    path = adapter.weight_files()[0]
    from_path = CHGNetAdapter(checkpoint=path).load()
    batch = to_batch(supercells[:1])
    np.testing.assert_array_equal(from_path.evaluate(batch).forces, adapter.evaluate(batch).forces)
