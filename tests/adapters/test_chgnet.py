"""CHGNet with its shipped weights against CHGNet's own ASE calculator on phonondb supercells."""

from __future__ import annotations

import numpy as np
import pytest

from adapter_checks import (
    assert_batched_equals_sequential,
    assert_matches_calculator,
    float32_noise,
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


@pytest.fixture(scope="module")
def noise(adapter, supercells):
    """CHGNet's float32 round-off on these supercells, on this CPU (adapter_checks.Float32Noise):
    ~1.2e-5 eV/Å, 4.4e-5 eV, 1.3e-7 eV/Å³ on AMD EPYC."""
    return float32_noise(adapter, supercells)


# The adapter takes forces and stress from one backward pass; CHGNet's calculator takes
# two, with double-backward graphs. Both are float32 roundings of the same derivative, so
# they may differ by the float32 noise (0.86x of it in forces on AMD EPYC); each is ~2e-5
# eV/Å from float64 (next test).
def test_forces_energy_stress_equal_chgnet_calculator(adapter, supercells, noise):
    from chgnet.model.dynamics import CHGNetCalculator

    calculator = CHGNetCalculator(model=adapter.model, use_device="cpu")
    assert_matches_calculator(adapter, calculator, supercells, **noise.tolerances())


def _float64_predictions(model, atoms):
    """CHGNet's own predict_graph on a float64 copy of the same weights (the exact answer
    that every float32 evaluation rounds)."""
    import copy

    from pymatgen.io.ase import AseAtomsAdaptor

    model64 = copy.deepcopy(model).double()
    model64.composition_model = model.composition_model  # energies only, not tested here
    out = []
    for a in atoms:
        g = copy.copy(model.graph_converter(AseAtomsAdaptor.get_structure(a)))
        g.atom_frac_coord = g.atom_frac_coord.detach().double().requires_grad_(True)
        g.lattice = g.lattice.detach().double().requires_grad_(True)
        g.neighbor_image = g.neighbor_image.double()
        out.append(model64.predict_graph(g, task="efs"))
    return out


def test_forces_and_stress_as_accurate_as_chgnets_own_float32_path(adapter, supercells):
    from ase import units
    from pymatgen.io.ase import AseAtomsAdaptor

    exact = _float64_predictions(adapter.model, supercells)
    own = [adapter.model.predict_structure(AseAtomsAdaptor.get_structure(a), task="efs")
           for a in supercells]
    out = adapter.evaluate(to_batch(supercells))
    for b, a in enumerate(supercells):
        n = len(a)
        err = np.abs(out.forces[b, :n] - exact[b]["f"]).max()
        err_own = np.abs(own[b]["f"] - exact[b]["f"]).max()
        assert err <= 2 * err_own + 1e-7
        s_err = np.abs(out.stresses[b] - exact[b]["s"] * units.GPa).max()
        s_err_own = np.abs((own[b]["s"] - exact[b]["s"]) * units.GPa).max()
        assert s_err <= 2 * s_err_own + 1e-8


def test_batched_equals_sequential(adapter, supercells, noise):
    tol = noise.tolerances()
    assert_batched_equals_sequential(adapter, to_batch(supercells), tol["f_atol"],
                                     tol["e_atol"], tol["s_atol"])


def test_units_energy_is_total_and_stress_in_ev_per_a3(adapter, supercells):
    """CHGNet predicts eV/atom and GPa; the adapter returns eV per cell and eV/Å³."""
    from ase import units
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = supercells[0]
    raw = adapter.model.predict_structure(AseAtomsAdaptor.get_structure(atoms), task="efs")
    out = adapter.evaluate(to_batch([atoms]))
    tol = float32_noise(adapter, [atoms]).tolerances()  # a unit error is orders larger
    assert out.energies[0] == pytest.approx(float(raw["e"]) * len(atoms), abs=tol["e_atol"])
    np.testing.assert_allclose(out.stresses[0], raw["s"] * units.GPa, atol=tol["s_atol"])


def test_variant_0_2_0_equals_its_calculator(supercells):
    from chgnet.model.dynamics import CHGNetCalculator
    from phonjax_adapters.chgnet import CHGNetAdapter

    adapter = CHGNetAdapter("0.2.0").load()
    calculator = CHGNetCalculator(model=adapter.model, use_device="cpu")
    assert_matches_calculator(adapter, calculator, supercells[:2],
                              **float32_noise(adapter, supercells[:2]).tolerances())


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
