"""Γ (``anharmonic.self_energy``) from phono3py's own |Φ|² and integration weights equals
phono3py's ``thermal_conductivity.gamma`` at every irreducible q and temperature (T = 0
included): the formula, occupations, unit factor and degeneracy averaging, separately from
the interaction and the weights (tested in their own files)."""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.anharmonic import self_energy as SE

TEMPERATURES = [0.0, 100.0, 300.0, 1000.0]


@pytest.mark.parametrize("sigma, adw", [(0.1, False), (None, True)])
def test_gamma_equals_phono3py(si_phono3py, sigma, adw):
    from phono3py.phonon3.triplets import get_triplets_integration_weights

    ph = si_phono3py((5, 5, 5), sigma, adw)
    ph.run_thermal_conductivity(temperatures=TEMPERATURES, write_kappa=False)
    tc, pp = ph.thermal_conductivity, ph.phph_interaction
    f = ph.get_phonon_data()[0]
    t_thz = SE.temperatures_thz(TEMPERATURES)
    for i, gp in enumerate(tc.grid_points):
        pp.set_grid_point(gp)
        pp.run()
        triplets, weights, _, _ = pp.get_triplets_at_q()
        g, _ = get_triplets_integration_weights(pp, f[gp], sigma,
                                                average_degenerate_weights=adw)
        ours = SE.gamma_of_triplets(pp.interaction_strength, g[0], g[1], weights,
                                    f[triplets[:, 1]], f[triplets[:, 2]], t_thz)
        ours = SE.average_by_degeneracy(np.asarray(ours), f[gp])
        ref = tc.gamma[0, :, i]
        # measured 3e-15 (Si 9³): summation order only
        assert np.abs(ours - ref).max() <= 1e-12 * np.abs(ref).max()


def test_self_energy_factor_from_constants():
    """V = 18π/(ħ·2π·THz)² against phono3py's own unit factor."""
    from phonopy.physical_units import get_physical_units

    u = get_physical_units()
    ref = 18 * np.pi / (u.Hbar * u.EV) ** 2 / (2 * np.pi * u.THz) ** 2 * u.EV ** 2
    assert SE.SELF_ENERGY_FACTOR == pytest.approx(ref, rel=1e-14)


def test_occupations_zero_temperature_and_cutoff():
    n = np.asarray(SE.occupations(np.array([0.0, 5e-5, 1.0]), SE.temperatures_thz([0.0, 300.0])))
    assert np.all(n[0] == 0) and n[1, 0] == 0 and n[1, 1] == 0
    x = 1.0 / SE.temperatures_thz([300.0])[0]
    assert n[1, 2] == pytest.approx(1 / np.expm1(x), rel=1e-15)
