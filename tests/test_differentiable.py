"""The differentiable surface (phonjax.harmonic.differentiable) against finite differences and phonopy.

Directional derivatives (jvp) and gradients of F, S, Cv at 300 K with respect to the force
constants and the masses, on three real, dynamically stable phonondb materials (two cubic, with degenerate
modes on the mesh; with modes near ν = 0, as in unstable crystals, F's curvature ~ 1/ν² needs much
smaller finite-difference steps), against central finite differences of the same functions; the values against
phonopy; no NaN anywhere; and float64 results from float32 inputs without touching the
caller's x64 setting.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phonjax
from phonjax.harmonic import differentiable as dx

IDS = ["mp-1000", "mp-361", "mp-11583"]  # stable: no mode near ν = 0, where F is not smooth
H = 1e-5  # central differences: truncation ~1e-8 relative here, rounding ~1e-10


@pytest.fixture(scope="module")
def cases(kernel_cases):
    return [c for c in kernel_cases if c[0].dataset.id in IDS]


def _properties(tables):
    return jax.jit(lambda fc, masses: jnp.stack(dx.thermal_properties(
        fc, dataclasses.replace(tables, phases=dataclasses.replace(tables.phases, masses=masses)),
        [300.0]))[:, 0])


def test_values_equal_phonopy(cases):
    """In float64 whatever the caller's setting (here: x64 off; float64 inputs, no jit of the
    caller's around it, which would cast them to float32 at its boundary)."""
    assert not jax.config.jax_enable_x64
    for ref, system, res in cases:
        values = [float(x[0]) for x in dx.thermal_properties(res.force_constants, system.tables,
                                                             [300.0])]
        theirs = np.array([ref.free_energy_kJmol[0], ref.entropy_JKmol[0],
                           ref.heat_capacity_JKmol[0]])
        np.testing.assert_allclose(values, theirs, rtol=1e-8, atol=0)


def test_values_with_nac_equal_phonopy():
    """NaCl with Born charges (Gonze–Lee): the differentiable path carries the NAC tables."""
    from tests.conftest import SHARED
    from validation.reference import phonopy_reference

    folder = SHARED / "phonopy-examples" / "NaCl"
    if not folder.is_dir():
        pytest.skip("phonopy example folders not found")
    ds = phonjax.read_input(folder)
    system = phonjax.prepare(ds)
    [res] = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True)
    ref = phonopy_reference(folder / "phonopy_disp.yaml", force_sets=folder / "FORCE_SETS",
                            born=folder / "BORN")
    values = [float(x[0]) for x in dx.thermal_properties(res.force_constants, system.tables,
                                                         [300.0])]
    theirs = [ref.free_energy_kJmol[0], ref.entropy_JKmol[0], ref.heat_capacity_JKmol[0]]
    np.testing.assert_allclose(values, theirs, rtol=1e-8, atol=0)


def test_derivatives_equal_central_differences(cases):
    """On a 6³ mesh (the same functions as on 20³, a tenth of the eigen work)."""
    rng = np.random.default_rng(0)
    degenerate = 0
    for ref, full_mesh, res in cases:
        system = phonjax.prepare(ref.dataset, mesh=(6, 6, 6))
        fc, masses = np.asarray(res.force_constants), np.asarray(system.tables.phases.masses)
        f = _properties(system.tables)
        d_fc = rng.normal(size=fc.shape) * np.abs(fc).max() * 1e-2
        d_fc = 0.5 * (d_fc + np.transpose(d_fc, (1, 0, 3, 2)))
        d_m = rng.normal(size=masses.shape) * masses * 1e-2
        with phonjax.float64():
            _, jvp = jax.jvp(f, (jnp.asarray(fc), jnp.asarray(masses)),
                             (jnp.asarray(d_fc), jnp.asarray(d_m)))
            fd = (np.asarray(f(fc + H * d_fc, masses + H * d_m))
                  - np.asarray(f(fc - H * d_fc, masses - H * d_m))) / (2 * H)
            g_fc, g_m = jax.jacrev(f, argnums=(0, 1))(fc, masses)
        jvp = np.asarray(jvp)
        np.testing.assert_allclose(jvp, fd, rtol=1e-6, atol=0, err_msg=system.id)
        # reverse mode (F, S, Cv rows): the same directional derivatives
        g_fc, g_m = np.asarray(g_fc), np.asarray(g_m)
        assert np.isfinite(g_fc).all() and np.isfinite(g_m).all()
        along = (g_fc * d_fc).reshape(3, -1).sum(1) + (g_m * d_m).sum(1)
        np.testing.assert_allclose(along, jvp, rtol=1e-9, atol=0)
        with phonjax.float64():
            freqs = np.sort(np.asarray(dx.mesh_frequencies(fc, system.tables)), axis=1)
        degenerate += int((np.diff(freqs, axis=1) < 1e-6).any())
    assert degenerate >= 1  # degenerate modes on the mesh of at least one material


def test_float32_inputs_float64_work_caller_setting_untouched(cases):
    """A float32 'model' output: float64 F, a float32 gradient, x64 still off afterwards."""
    ref, system, res = cases[0]
    forces32 = jnp.asarray(ref.dataset.forces, jnp.float32)
    assert not jax.config.jax_enable_x64
    free = jax.jit(lambda f: dx.thermal_properties_from_forces(f, system.tables, [300.0])[0][0])
    value, grad = jax.value_and_grad(free)(forces32)
    assert value.dtype == jnp.float64 and grad.dtype == jnp.float32
    assert not jax.config.jax_enable_x64
    assert float(value) == pytest.approx(ref.free_energy_kJmol[0], rel=1e-6)  # f32 forces
    with phonjax.float64():
        grad64 = jax.grad(free)(jnp.asarray(forces32, jnp.float64))
    np.testing.assert_allclose(np.asarray(grad), np.asarray(grad64), rtol=1e-5,
                               atol=1e-6 * np.abs(grad64).max())
    assert np.abs(grad64).max() > 0


def test_host_workflow_says_it_cannot_be_differentiated(cases):
    ref, system, _ = cases[0]
    with pytest.raises(TypeError, match="cannot be traced or differentiated"):
        jax.grad(lambda f: phonjax.phonon_properties([system], [f])[0].free_energy_kJmol[0])(
            jnp.asarray(ref.dataset.forces))


def test_commensurate_frequencies_and_smooth_max(cases):
    ref, system, res = cases[0]
    with phonjax.float64():
        freqs = np.asarray(dx.commensurate_frequencies(res.force_constants, system.tables))
        top = float(dx.smooth_max(freqs, 100.0))
    np.testing.assert_allclose(np.sort(freqs, axis=1)[:, 3:].ravel(),
                               np.sort(ref.commensurate_frequencies_THz, axis=1)[:, 3:].ravel(),
                               atol=1e-8)
    assert freqs.max() <= top <= freqs.max() + np.log(freqs.size) / 100.0
