"""Heat capacities, boundary Γ and the RTA κ sum (``anharmonic.conductivity``) against
phono3py's own arrays: from phono3py's Γ, isotope Γ and v⊗v, the mode κ and κ of phono3py
are rebuilt (the lifetimes part is tested in test_self_energy / test_kappa)."""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.anharmonic import conductivity as K

TEMPERATURES = [0.0, 10.0, 300.0, 1000.0]


@pytest.fixture(scope="module")
def rta(si_phono3py):
    ph = si_phono3py((5, 5, 5), 0.1, False)
    ph.run_thermal_conductivity(temperatures=TEMPERATURES, is_isotope=True, boundary_mfp=0.5,
                                write_kappa=False)
    return ph


def test_heat_capacities(rta):
    tc = rta.thermal_conductivity
    f = rta.get_phonon_data()[0][tc.grid_points]
    ours = K.heat_capacities(f, TEMPERATURES)
    assert np.abs(ours - tc.mode_heat_capacities).max() <= 1e-14 * np.abs(ours).max()


def test_kappa_unit_is_phono3pys():
    from phono3py.conductivity.utils import get_unit_to_WmK

    assert K.KAPPA_UNIT == pytest.approx(get_unit_to_WmK(), rel=1e-15)


def test_rta_mode_kappa_and_boundary(rta):
    tc = rta.thermal_conductivity
    f = rta.get_phonon_data()[0][tc.grid_points]
    volume = rta.primitive.volume
    gamma_b = K.boundary_gamma(tc.group_velocities, 0.5)
    gamma_eff = tc.gamma[0] + tc.gamma_isotope[0][None] + gamma_b[None]
    mode = K.rta_mode_kappa(f, tc.gv_by_gv, tc.mode_heat_capacities, gamma_eff, volume)
    scale = np.abs(tc.mode_kappa[0]).max()
    assert np.abs(mode - tc.mode_kappa[0]).max() <= 1e-13 * scale
    kappa = K.total(mode, int(np.prod(rta.mesh_numbers)))
    assert np.abs(kappa - tc.kappa[0]).max() <= 1e-13 * np.abs(tc.kappa[0]).max()


def test_wigner_heat_capacity_matrix(rta):
    from phono3py.conductivity.heat_capacity_solvers import compute_bulk_cv_matrix
    from phono3py.phonon.heat_capacity_matrix import mode_cv_matrix_smm19

    freqs = rta.get_phonon_data()[0]
    gps = rta.thermal_conductivity.grid_points
    nb = freqs.shape[1]
    cv, ref = compute_bulk_cv_matrix(freqs, gps, np.array(TEMPERATURES), np.arange(nb), 1e-4,
                                     mode_cv_matrix_smm19)
    ours = K.wigner_heat_capacities(freqs[gps], K.heat_capacities(freqs[gps], TEMPERATURES))
    assert np.abs(ours - ref).max() <= 1e-14 * np.abs(ref).max()
