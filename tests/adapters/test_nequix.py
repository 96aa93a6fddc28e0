"""Nequix (JAX) adapter and its energy function, with the bundled MIT weights.

References never come from the code under test: nequix's own ASE calculator,
central finite differences of the adapter's energies (forces, stress) and of
its forces (the Hessian), and exact invariances (translation, symmetry).
Skipped when nequix is not installed or its weights are not found.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("nequix")
jax = pytest.importorskip("jax")

from ase.build import bulk, make_supercell  # noqa: E402

from adapter_checks import (  # noqa: E402
    assert_batched_equals_sequential,
    assert_derivatives_match_energy,
    displaced_pairs,
    float32_noise,
    small_cells,
    to_batch,
)
from phonjax_adapters.base import ModelUnavailable  # noqa: E402
from phonjax_adapters.nequix import NequixAdapter, ladder  # noqa: E402

if not NequixAdapter().availability():
    pytest.skip("Nequix weights not found", allow_module_level=True)

# The 2-atom primitive cell of diamond Si in its 8-atom (conventional) supercell.
CONVENTIONAL = [[-1, 1, 1], [1, -1, 1], [1, 1, -1]]


@pytest.fixture(scope="module")
def adapter():
    return NequixAdapter("nequix-mp-1").load()


@pytest.fixture(scope="module")
def silicon8():
    atoms = make_supercell(bulk("Si", "diamond", a=5.43), CONVENTIONAL)
    atoms.rattle(0.03, seed=3)
    return atoms


# XLA's CPU optimisation passes take ~60 % of the ~30 s compile of a Nequix Hessian;
# unoptimised code gives the same numbers (to 1e-14 here) a little slower.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


@pytest.fixture(scope="module")
def derivatives(adapter, silicon8):
    """Energy (eV), gradient (N, 3) eV/Å and jax.hessian (N, 3, N, 3) eV/Å² of the energy
    function at silicon8, from one compiled function."""
    with jax.enable_x64(True):
        energy_fn = adapter.energy_function(silicon8.cell.array, silicon8.positions,
                                            silicon8.numbers)
        lowered = jax.jit(
            lambda x: (energy_fn(x), jax.grad(energy_fn)(x), jax.hessian(energy_fn)(x))
        ).lower(silicon8.positions)
        return [np.asarray(a) for a in lowered.compile(FAST_COMPILE)(silicon8.positions)]


@pytest.fixture(scope="module")
def hessian(derivatives):
    return derivatives[2]


@pytest.fixture(scope="module")
def package_calculator(adapter):
    """nequix's own ASE calculator (its float32 path; call it with x64 off, as it needs). It
    gets the float32 model the adapter loaded with nequix's loader from the same file, to
    save a second load."""
    import nequix.calculator as calculator

    with jax.enable_x64(False), pytest.MonkeyPatch.context() as patch:
        patch.setattr(calculator, "from_pretrained",
                      lambda *args, **kwargs: (adapter.package_model, adapter.config))
        return calculator.NequixCalculator(model_path="unused.nqx", use_kernel=False)


@pytest.fixture(scope="module")
def calculator_results(package_calculator, silicon8):
    """Energy (eV), forces (eV/Å), stress (eV/Å³) of silicon8 from nequix's calculator."""
    atoms = silicon8.copy()
    atoms.calc = package_calculator
    with jax.enable_x64(False):
        return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


@pytest.fixture(scope="module")
def calculator_noise(package_calculator, silicon8):
    """The calculator's float32 round-off on silicon8, on this CPU (adapter_checks.Float32Noise;
    ~1 s once compiled): 6.6e-7 eV/Å, 5e-6 eV, 1.9e-8 eV/Å³ on AMD EPYC."""
    with jax.enable_x64(False):
        return float32_noise(package_calculator, [silicon8])


# A float64 result against a float32 one differs by float32's whole error, which is larger
# than the spread between two float32 orders of the atoms: on AMD EPYC the float64 adapter
# is 4.1e-6 eV/Å, 2.7e-5 eV, 6.2e-8 eV/Å³ from the calculator, 6.2x, 5.2x and 3.3x its
# noise (CHGNet's float32 forces, test_chgnet.py: ~4x). Hence 20 times the noise.
FLOAT64_VS_FLOAT32_FACTOR = 20


def test_matches_nequix_calculator(adapter, silicon8, calculator_results, calculator_noise):
    """float64 adapter against nequix's float32 calculator, to float32's error."""
    energy, forces, stress = calculator_results
    tol = calculator_noise.tolerances(FLOAT64_VS_FLOAT32_FACTOR)
    out = adapter.evaluate(to_batch([silicon8]))
    assert abs(out.energies[0] - energy) <= tol["e_atol"]
    np.testing.assert_allclose(out.forces[0, : len(silicon8)], forces, atol=tol["f_atol"], rtol=0)
    np.testing.assert_allclose(out.stresses[0], stress, atol=tol["s_atol"], rtol=0)


@pytest.mark.slow  # a second compile of the model (~20 s CPU)
def test_float32_is_the_packages_own_path(adapter, silicon8, calculator_results,
                                          calculator_noise):
    """The float32 adapter computes what nequix's calculator computes (float32 rounding of
    a different padding only: on AMD EPYC 0 eV, 1.8e-7 eV/Å, 5.6e-9 eV/Å³, at most 0.3x the
    calculator's noise), and not the float64 numbers."""
    energy, forces, stress = calculator_results
    tol = calculator_noise.tolerances()
    out32 = NequixAdapter(adapter.variant, dtype="float32").load().evaluate(to_batch([silicon8]))
    out64 = adapter.evaluate(to_batch([silicon8]))
    assert out32.forces.dtype == np.float64  # the protocol's arrays
    assert abs(out32.energies[0] - energy) <= tol["e_atol"]
    np.testing.assert_allclose(out32.forces[0, : len(silicon8)], forces, atol=tol["f_atol"], rtol=0)
    np.testing.assert_allclose(out32.stresses[0], stress, atol=tol["s_atol"], rtol=0)
    assert np.abs(out32.forces - out64.forces).max() > 1e-8  # it did run in float32


def test_forces_and_stress_are_derivatives_of_the_energy(adapter):
    for atoms in small_cells():
        assert_derivatives_match_energy(adapter, atoms, h=2e-4, rtol=1e-6)


def test_batched_equals_sequential(adapter):
    adapter.batch_on_cpu = True  # exercise the batched path on CPU too
    try:
        assert_batched_equals_sequential(adapter, to_batch(small_cells()), atol=1e-10)
    finally:
        adapter.batch_on_cpu = type(adapter).batch_on_cpu


def test_energy_function_gradient_equals_adapter_forces(adapter, silicon8, derivatives):
    out = adapter.evaluate(to_batch([silicon8]))
    energy, gradient, _ = derivatives
    assert abs(float(energy) - out.energies[0]) < 1e-9
    np.testing.assert_allclose(-gradient, out.forces[0], atol=1e-10, rtol=0)


def test_hessian_is_symmetric_and_translation_invariant(hessian):
    n = hessian.shape[0]
    matrix = hessian.reshape(3 * n, 3 * n)
    scale = np.abs(matrix).max()
    assert scale > 1  # eV/Å², a real crystal
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-10 * scale, rtol=0)
    # Σ_j Φ(i, j) = 0: moving every atom together changes no edge vector
    np.testing.assert_allclose(hessian.sum(axis=2), 0, atol=1e-10 * scale)


def test_hessian_equals_finite_differences_of_forces(adapter, silicon8, hessian):
    """Central differences of the adapter's forces converge to jax.hessian as h²."""
    columns = [(0, 0), (5, 2)]
    errors = []
    for h in (0.02, 0.01):
        moved = displaced_pairs(silicon8, columns, h)
        forces = adapter.evaluate(to_batch(moved), compute_stress=False).forces
        fd = -(forces[0::2] - forces[1::2]) / (2 * h)  # (columns, N, 3)
        exact = np.stack([hessian[i, k] for i, k in columns])
        errors.append(np.abs(fd - exact).max())
    assert errors[1] < 1e-3 * np.abs(hessian).max()
    assert 3.0 < errors[0] / errors[1] < 5.0, errors  # O(h²)


def test_global_jax_settings_are_left_alone(adapter, silicon8):
    atoms = silicon8
    precision = jax.config.jax_default_matmul_precision
    with jax.enable_x64(False):
        adapter.evaluate(to_batch([atoms]))
        energy_fn = adapter.energy_function(atoms.cell.array, atoms.positions, atoms.numbers)
        assert not jax.config.jax_enable_x64
        with pytest.raises(RuntimeError, match="enable_x64"):
            energy_fn(atoms.positions)
    assert jax.config.jax_default_matmul_precision == precision


@pytest.mark.slow  # a second load and compile (~30 s CPU)
def test_pft_variant_loads_other_weights(adapter, silicon8):
    atoms = silicon8
    pft = NequixAdapter("nequix-mp-1-pft").load()
    a, b = (m.evaluate(to_batch([atoms])).forces for m in (adapter, pft))
    assert np.abs(a - b).max() > 1e-4  # different models, same structure


def test_unknown_element_is_a_clear_error(adapter):
    atoms = bulk("Po", "sc", a=3.35)  # Z = 84: not in Nequix-MP's training set
    with pytest.raises(ModelUnavailable, match="Po"):
        adapter.evaluate(to_batch([atoms]))


def test_weights_found_in_cache_then_repository_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    shared = NequixAdapter("nequix-mp-1-pft").weight_files()[0]
    assert shared.exists() and "shared" in shared.parts  # empty cache: the repository copy
    cache = tmp_path / ".cache" / "nequix" / "models"
    cache.mkdir(parents=True)
    (cache / "nequix-mp-1-pft.nqx").write_bytes(b"")
    assert NequixAdapter("nequix-mp-1-pft").weight_files()[0] == cache / "nequix-mp-1-pft.nqx"
    missing = NequixAdapter(checkpoint=tmp_path / "none.nqx").availability()
    assert not missing and "none.nqx" in missing.reason


@pytest.mark.parametrize(("n", "quantum", "expected"), [(1, 8, 8), (65, 8, 72), (130, 8, 144),
                                                         (2900, 64, 3072), (64, 64, 64)])
def test_ladder(n, quantum, expected):
    assert ladder(n, quantum) == expected


def test_declared_as_an_entry_point():
    """pyproject.toml registers the family (the registry sees it once phonjax is reinstalled)."""
    import importlib
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["phonjax.adapters"]["nequix"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is NequixAdapter
    assert NequixAdapter.family == "nequix"
    assert NequixAdapter.variants == ("nequix-mp-1", "nequix-mp-1-pft")


@pytest.mark.slow  # one more compile (~20 s CPU)
def test_energy_function_differentiates_model_parameters(adapter, silicon8):
    """model= swaps in other parameters: the energy is linear in the readout weights,
    E(t·w) = B + t·A, so dE/dt equals E(w) − E(0) exactly."""
    import equinox as eqx

    def scaled(t):
        return eqx.tree_at(lambda m: m.readout, adapter.model,
                           replace_fn=lambda r: jax.tree.map(lambda x: t * x, r))

    with jax.enable_x64(True):
        energy_fn = adapter.energy_function(silicon8.cell.array, silicon8.positions,
                                            silicon8.numbers)
        energy_of_t = jax.jit(jax.value_and_grad(
            lambda t: energy_fn(silicon8.positions, model=scaled(t))))
        (e1, slope), (e0, _) = energy_of_t(1.0), energy_of_t(0.0)
    assert float(e1) == pytest.approx(adapter.evaluate(to_batch([silicon8])).energies[0], abs=1e-9)
    assert float(slope) == pytest.approx(float(e1 - e0), rel=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("mp_id", ["mp-1000", "mp-1415"])
def test_hessian_route_force_constants_equal_jax_hessian(adapter, mp_id):
    """phonjax.harmonic.hessian's Hessian-vector force constants of Nequix = the symmetrized
    jax.hessian of the same energy function, ≤1e-10 relative (BaTe, CaSe: 2×2×2 of the
    8-atom conventional cell, P the fcc primitive)."""
    import jax.numpy as jnp

    import phonjax
    from phonjax.data import sample_dir
    from phonjax.harmonic.hessian import force_constants_from_energy
    from phonjax.harmonic.force_constants import symmetrize

    ds = phonjax.read_dataset(sample_dir() / f"{mp_id}.yaml.xz")
    system = phonjax.prepare(ds.unitcell, np.eye(3, dtype=int), ds.primitive_matrix)
    sc = system.supercell
    with jax.enable_x64(True):
        energy = adapter.energy_function(sc.lattice, sc.positions, sc.numbers)
        fc = np.asarray(force_constants_from_energy(energy, system))
        hessian = jax.jit(jax.hessian(lambda r: energy(r, jnp.asarray(sc.lattice))),
                          compiler_options=FAST_COMPILE)(jnp.asarray(sc.positions))
        expected = np.asarray(symmetrize(jnp.transpose(hessian, (0, 2, 1, 3)),
                                         jnp.ones(sc.n_atoms, bool)))
    assert np.abs(expected).max() > 0.1
    assert np.abs(fc - expected).max() <= 1e-10 * np.abs(expected).max()
