"""phonjax.anharmonic.isotope against phono3py 4.10, computed live on phono3py's phonons:

* mass variances against ``phono3py.other.isotope.get_mass_variances`` (phonopy's table);
* Γ_iso at every irreducible q of Si-PBEsol 9³ against phono3py's ``Isotope`` (the class
  behind ``gamma_isotope``, default Rust backend, cutoff 1e-4 THz): tetrahedron, tetrahedron
  with ``average_degenerate_weights``, σ = 0.1 THz; and against
  ``ph.thermal_conductivity.gamma_isotope`` of a σ run;
* the same for wurtzite GaN 4×4×3 with a made-up spring fc2 (two species, hexagonal grid).

Measured max relative differences: 9e-16 (tetrahedron, ± adw), 4e-15 (σ); Γ at Γ's
acoustic modes is 0 in both. Tolerance: 1e-12 relative plus 1e-14 of max Γ.
"""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.anharmonic import isotope as I

pytest.importorskip("phono3py")
pytest.importorskip("ase.build")
from phono3py.other.isotope import Isotope, get_mass_variances  # noqa: E402
from phonopy.phonon.grid import get_ir_grid_points  # noqa: E402

from tests.anharmonic.systems import SI_PBESOL, si_pbesol, wurtzite_gan  # noqa: E402

RTOL = 1e-12


@pytest.fixture(scope="module")
def si():
    if not SI_PBESOL.is_dir():
        pytest.skip("Si-PBEsol example data not available")
    return si_pbesol((9, 9, 9))


@pytest.fixture(scope="module")
def gan():
    return wurtzite_gan((4, 4, 3))


def _close(mine, ref):
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=RTOL, atol=1e-14 * np.abs(ref).max())


def test_mass_variances_equal_phono3py():
    symbols = ["Si", "Ga", "N", "O", "C", "Mo", "S"]
    ref = get_mass_variances(symbols=symbols)
    np.testing.assert_array_equal(I.mass_variances(symbols), ref)
    np.testing.assert_array_equal(I.mass_variances([14, 31, 7, 8, 6, 42, 16]), ref)
    custom = {"Si": [(28, 27.977, 0.5), (30, 29.974, 0.5)]}
    np.testing.assert_array_equal(I.mass_variances(["Si"], custom),
                                  get_mass_variances(symbols=["Si"], isotope_data=custom))


@pytest.mark.parametrize("sigma,adw", [(None, False), (None, True), (0.1, False)])
@pytest.mark.parametrize("system", ["si", "gan"])
def test_isotope_gamma_equals_phono3py(system, sigma, adw, request):
    ph, grid = request.getfixturevalue(system)
    pp = ph.phph_interaction
    freqs, vecs, _ = ph.get_phonon_data()
    ir = ph.grid.grg2bzg[get_ir_grid_points(ph.grid)[0]]
    iso = Isotope(ph.mesh_numbers, ph.primitive, bz_grid=ph.grid, sigma=sigma,
                  cutoff_frequency=1e-4, average_degenerate_weights=adw)
    iso.set_phonons(pp.phonons, dm=pp.dynamical_matrix)
    ref = []
    for gp in ir:
        iso.set_grid_point(gp)
        iso.run()
        ref.append(iso.gamma)
    variances = I.mass_variances(ph.primitive.symbols)
    mine = I.isotope_gamma(grid, ir, freqs, vecs, variances, sigma_THz=sigma,
                           average_degenerate=adw)
    _close(mine, np.array(ref))


def test_isotope_gamma_equals_thermal_conductivity(si):
    ph, grid = si
    ph.sigmas = [0.1]
    ph.run_thermal_conductivity(temperatures=[300], is_isotope=True)
    tc = ph.thermal_conductivity
    freqs, vecs, _ = ph.get_phonon_data()
    mine = I.isotope_gamma(grid, tc.grid_points, freqs, vecs,
                           I.mass_variances(ph.primitive.symbols), sigma_THz=0.1)
    _close(mine, tc.gamma_isotope[0])
