"""phonjax.qha.from_energy: the QHA of a JAX model, against phonopy 4.10 and finite differences.

The model: a Morse pair potential in ``jnp`` (params θ = (D eV, α 1/Å, r0 Å), Girifalco–Weizer's
D and α for Cu, r0 = Cu's nearest-neighbour distance), switched off smoothly (C², quintic)
between 3.0 and 3.4 Å: nearest neighbours only at every volume of the scan. Crystal: fcc Cu,
conventional cell, supercell 2×2×2 (32 atoms), the primitive cell (1 atom), 6³ mesh,
7 volumes 0.96–1.04 of a reference 1 % above the static minimum, 0–400 K every 50 K.

(a) Forward: ``thermal_expansion`` ("minpack") against ``core.quasi_harmonic`` fed with the
same U(V) and phonopy's F, S, Cv (Phonopy with the model's force constants set, Γ-centred
run_mesh, run_thermal_properties(exclude_gamma_acoustic=True)). (b) ∂α(300 K)/∂D and
∂V(300 K)/∂α by ``jax.jacrev`` against central differences of the forward function.

Measured (phonopy 4.10, jax 0.10.2, scipy 1.17, CPU): (a) F, S, Cv of phonjax's kernel vs
phonopy's ≤ 4.7e-16 relative; the QHA columns ≤ 5.8e-10 relative (γ, α; B_T 2.5e-10, V 3.6e-12,
G 1.2e-13): MINPACK's stopping point follows the last bits in which the two F differ (fed the
same F, the jax and numpy QHA agree to ≤ 8.3e-13). V(300 K) = 12.002 Å³ (static minimum
11.766), α(300 K) = 6.32e-5 /K, B_T(300 K) = 68.9 GPa. (b) ∂α(300 K)/∂D = −2.08242e-4 /K/eV,
∂V(300 K)/∂α = −0.1009956 Å⁴; Richardson-extrapolated central differences (steps 8e-3 and
4e-3 of θ) agree to 1.8e-8 and 2.2e-8 ("minpack"), 2.0e-9 and 1.0e-9 ("lm", slow test).
Plain central differences at 4e-3 are 1.9e-5 off (O(h²)); at 1e-3 and below MINPACK's
stopping noise (~1e-6) takes over.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import phonjax
from phonjax.qha.core import QHAInputs, quasi_harmonic
from phonjax.qha.from_energy import (check_fixed_by_symmetry, prepare_volume_scan,
                                     quasi_harmonic_of_scan, thermal_expansion)
from phonjax.structure.crystal import Crystal

IMAGES = np.array(list(itertools.product((-1, 0, 1), repeat=3)), float)
R_ON, R_CUT = 3.0, 3.4  # Å: the switch; Cu's second shell (≥ 3.56 Å on the scan) is outside
PARAMS = (0.3429, 1.3588, 2.553)  # D eV, α 1/Å, r0 Å
SUPERCELL = np.diag([2, 2, 2])
PRIMITIVE = [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
MESH = (6, 6, 6)
FRACTIONS = np.linspace(0.96, 1.04, 7)
TEMPERATURES = np.arange(0.0, 401.0, 50.0)
I300 = 6
FD_STEP = 8e-3  # relative step of the central differences (and half of it: Richardson)
A_REF = PARAMS[2] * np.sqrt(2) * 1.01 ** (1 / 3)  # static minimum a = r0·√2, volume + 1 %

# the QHAResult fields compared, to phonjax's contract with phonopy (1e-8 relative; measured
# ≤ 5.8e-10: MINPACK's stopping point follows the last bits in which F differs)
FIELDS = ["free_energies_eV", "equilibrium_volumes_A3", "gibbs_eV", "bulk_modulus_GPa",
          "thermal_expansion_per_K", "heat_capacity_P_numerical_JKmol",
          "heat_capacity_P_polyfit_JKmol", "dsdv_JKmolA3", "gruneisen", "entropy_JKmol",
          "enthalpy_eV"]
TOL = 1e-8


def morse(params, positions, cell):
    """E = ½ Σ_i Σ_j Σ_T D[(1 − e^{−α(r − r0)})² − 1]·s(r) eV over the images T (±1 cell) of a
    periodic cell; s = 1 − t³(10 − 15t + 6t²), t = (r − R_ON)/(R_CUT − R_ON) clipped to [0, 1]."""
    import jax.numpy as jnp

    depth, alpha, r0 = params[0], params[1], params[2]
    shifts = jnp.asarray(IMAGES, positions.dtype) @ cell
    vec = positions[None, :, None, :] + shifts[None, None] - positions[:, None, None, :]
    r2 = jnp.sum(vec ** 2, axis=-1)
    inside = (r2 > 1e-6) & (r2 < R_CUT ** 2)
    r = jnp.sqrt(jnp.where(inside, r2, 1.0))
    t = jnp.clip((r - R_ON) / (R_CUT - R_ON), 0.0, 1.0)
    switch = 1 - t ** 3 * (10 - 15 * t + 6 * t ** 2)
    pair = depth * ((1 - jnp.exp(-alpha * (r - r0))) ** 2 - 1) * switch
    return 0.5 * jnp.sum(jnp.where(inside, pair, 0.0))


def fcc_cu(a: float) -> Crystal:
    return Crystal(np.eye(3) * a, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]],
                   [29] * 4)


@pytest.fixture(scope="module")
def case():
    """(scan, params float64, ``model``: θ → (thermal_expansion's result, its QHA inputs, the
    force constants (n_V, N, N, 3, 3)), under one ``jax.jit``)."""
    import jax
    import jax.numpy as jnp

    from phonjax.harmonic.hessian import force_constants_from_energy
    from phonjax.qha.from_energy import qha_inputs

    scan = prepare_volume_scan(fcc_cu(A_REF), SUPERCELL, PRIMITIVE, FRACTIONS, mesh=MESH,
                               gamma_centered=True)

    @jax.jit
    def model(p):
        result = thermal_expansion(morse, p, fcc_cu(A_REF), SUPERCELL, PRIMITIVE, FRACTIONS,
                                   TEMPERATURES, mesh=MESH, gamma_centered=True)
        inputs = qha_inputs(morse, p, scan, TEMPERATURES)
        fcs = jnp.stack([force_constants_from_energy(lambda r, c: morse(p, r, c), s)
                         for s in scan.systems])
        return result, (inputs.electronic_energies_eV, inputs.free_energy_kJmol,
                        inputs.entropy_JKmol, inputs.heat_capacity_JKmol), fcs

    with phonjax.float64():
        params = jnp.asarray(PARAMS, jnp.float64)
    return scan, params, model


def phonopy_thermal(scan, force_constants):
    """phonopy 4.10's (F, S, Cv) (n_T, n_V) from the given force constants at each volume."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    columns = []
    for system, fc in zip(scan.systems, force_constants):
        cell = system.unitcell
        ph = Phonopy(PhonopyAtoms(cell=cell.lattice, scaled_positions=cell.frac_positions,
                                  numbers=cell.numbers, masses=cell.masses),
                     supercell_matrix=SUPERCELL, primitive_matrix=PRIMITIVE)
        np.testing.assert_allclose(ph.supercell.positions, system.supercell.positions, atol=1e-12)
        ph.force_constants = fc
        ph.run_mesh(list(MESH), is_gamma_center=True)
        tp = ph.run_thermal_properties(temperatures=TEMPERATURES, exclude_gamma_acoustic=True)
        columns.append([tp.free_energy, tp.entropy, tp.heat_capacity])
    return tuple(np.array([c[k] for c in columns]).T for k in range(3))


def test_forward_equals_phonopy_qha(case):
    """``thermal_expansion`` = ``core.quasi_harmonic`` on U(V) and phonopy's F, S, Cv."""
    scan, params, model = case
    with phonjax.float64():
        mine, (u, *kernel), fcs = model(params)
    u = np.asarray(u)
    free, entropy, cv = phonopy_thermal(scan, np.asarray(fcs))
    for got, ref in zip(kernel, (free, entropy, cv)):  # the kernel alone: measured ≤ 4.7e-16
        assert np.abs(np.asarray(got) - ref).max() <= 1e-12 * np.abs(ref).max()
    assert np.argmin(u) == 2  # static minimum inside the scan (V 0.99 of the reference)
    ref = quasi_harmonic(QHAInputs(scan.volumes_A3, u, TEMPERATURES, free, entropy, cv))
    for name in FIELDS:
        a, b = np.asarray(getattr(mine, name)), np.asarray(getattr(ref, name))
        assert a.shape == b.shape, name
        assert np.abs(a - b).max() <= TOL * np.abs(b).max(), name
    v = np.asarray(mine.equilibrium_volumes_A3)
    assert scan.volumes_A3[0] < v.min() and v.max() < scan.volumes_A3[-1]  # no extrapolation
    assert 5e-5 < float(mine.thermal_expansion_per_K[I300]) < 8e-5


def _alpha_and_volume_300K(result):
    import jax.numpy as jnp

    return jnp.stack([result.thermal_expansion_per_K[I300], result.equilibrium_volumes_A3[I300]])


def _central_difference(f, params, k, rel):
    """(f(θ + h e_k) − f(θ − h e_k)) / 2h, h = rel·θ_k: (2,) for f's (α, V) at 300 K."""
    import jax.numpy as jnp

    h = rel * float(params[k])
    step = jnp.zeros_like(params).at[k].set(h)
    return (np.asarray(f(params + step)) - np.asarray(f(params - step))) / (2 * h)


def _check_gradients(scan, params, value, method, tol):
    """``jax.jacrev`` (2, 3) of (α, V)(300 K) against central differences of ``value``, for
    ∂α/∂D and ∂V/∂α_Morse; returns the Jacobian. The differences: Richardson's
    (4·d(h/2) − d(h))/3 at h = ``FD_STEP``·θ_k, which removes the O(h²) error (~2e-5 at h/2)
    while the steps stay large against the fits' own noise (MINPACK's stopping point moves
    central differences by ~1e-6 at h = 1e-3·θ)."""
    import jax

    def f(p):
        return _alpha_and_volume_300K(quasi_harmonic_of_scan(morse, p, scan, TEMPERATURES,
                                                             method=method))

    with phonjax.float64():
        jac = np.asarray(jax.jit(jax.jacrev(f))(params))
        for row, k in ((0, 0), (1, 1)):  # ∂α(300 K)/∂D, ∂V(300 K)/∂α_Morse
            d, d_half = (_central_difference(value, params, k, rel)[row]
                         for rel in (FD_STEP, FD_STEP / 2))
            richardson = (4 * d_half - d) / 3
            assert abs(d_half - richardson) <= 1e-4 * abs(richardson), (row, k, d, d_half)
            assert abs(jac[row, k] - richardson) <= tol * abs(richardson), \
                (row, k, jac[row, k], richardson)
    return jac


@pytest.mark.slow  # 14 s; the jnp QHA's own gradient test (tests/qha/test_qha.py) stays default
def test_gradients_match_finite_differences(case):
    """``jax.jacrev`` through the MINPACK fits (implicit gradients) = central differences."""
    scan, params, model = case
    jac = _check_gradients(scan, params, lambda p: _alpha_and_volume_300K(model(p)[0]),
                           "minpack", 1e-6)
    assert jac[0, 0] < 0 and jac[1, 1] < 0  # a deeper or stiffer well expands less


@pytest.mark.slow
def test_gradients_lm_and_float32_params(case):
    """"lm" (the true minimum, no stopping noise) = central differences to 1e-7; float32
    params (cast to float64 at the entry) give the float64 gradient rounded to float32."""
    import jax
    import jax.numpy as jnp

    scan, params, _ = case

    def f(p):
        return _alpha_and_volume_300K(quasi_harmonic_of_scan(morse, p, scan, TEMPERATURES,
                                                             method="lm"))

    with phonjax.float64():
        value = jax.jit(f)
    jac = _check_gradients(scan, params, value, "lm", 1e-7)
    with jax.enable_x64(False):
        grad = jax.jit(jax.grad(lambda p: f(p)[0]))(jnp.asarray(PARAMS, jnp.float32))
    assert grad.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(grad, float), jac[0], rtol=1e-6)


def test_refuses_crystals_not_fixed_by_symmetry():
    hcp = Crystal([[2.55, 0, 0], [-1.275, 2.55 * np.sqrt(3) / 2, 0], [0, 0, 4.16]],
                  [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]], [29, 29])
    with pytest.raises(ValueError, match="hexagonal"):
        check_fixed_by_symmetry(hcp)
    # cubic, but with a free coordinate: pyrite FeS2 (Pa-3, S at 8c (x, x, x), x ≈ 0.385)
    x = 0.385
    s_sites = [[x, x, x], [-x, -x, -x], [0.5 - x, -x, 0.5 + x], [0.5 + x, x, 0.5 - x],
               [-x, 0.5 + x, 0.5 - x], [x, 0.5 - x, 0.5 + x], [0.5 + x, 0.5 - x, -x],
               [0.5 - x, 0.5 + x, x]]
    fe_sites = [[0, 0, 0], [0.5, 0, 0.5], [0, 0.5, 0.5], [0.5, 0.5, 0]]
    pyrite = Crystal(np.eye(3) * 5.42, fe_sites + s_sites, [26] * 4 + [16] * 8)
    with pytest.raises(ValueError, match="free coordinate"):
        check_fixed_by_symmetry(pyrite)
    check_fixed_by_symmetry(fcc_cu(3.61))
    with pytest.raises(ValueError, match="positive"):
        prepare_volume_scan(fcc_cu(3.61), SUPERCELL, PRIMITIVE, [0.98, -1.0, 1.0], mesh=MESH)
