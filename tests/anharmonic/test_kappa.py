"""κ of Si-PBEsol (phono3py's example) from phonjax against phono3py 4.10 on the same FC2 and
FC3, every method on a 5³ mesh: RTA with the tetrahedron method (phono3py with
``average_degenerate_weights``), Gaussian σ, isotope (σ: phono3py's tetrahedron isotope
Γ is decided by rounding, see BENCHMARKS), boundary, Wigner (SMM19) with its coherence part;
κ(T) at several temperatures in one call; Γ independent of the eigenvector basis inside
degenerate subspaces."""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.anharmonic import kappa as KA

TEMPERATURES = (10.0, 300.0, 1000.0)
# measured: tetrahedron κ 3.7e-10, Γ 2.1e-10 (eigensolver rounding through the tetrahedron
# weights); σ 1e-14. The contract is 1e-8 in Γ, 1e-6 in κ.
TOL_KAPPA = {"tetrahedron": 1e-8, "sigma": 1e-11}
TOL_GAMMA = {"tetrahedron": 1e-8, "sigma": 1e-11}

CASES = {
    "rta": ({}, {}),
    "sigma": ({"sigma": 0.1}, {"sigma_THz": 0.1}),
    "sigma-cutoff": ({"sigma": 0.1, "sigma_cutoff": 3.0}, {"sigma_THz": 0.1, "sigma_cutoff": 3.0}),
    "isotope-sigma": ({"sigma": 0.1, "is_isotope": True}, {"sigma_THz": 0.1, "isotope": True}),
    "boundary": ({"boundary_mfp": 0.3}, {"boundary_mfp_um": 0.3}),
    "wigner": ({"transport_type": "SMM19"}, {"method": "wigner"}),
}


@pytest.fixture(scope="module")
def inputs(si_phono3py, si_cells):
    ph = si_phono3py()
    return KA.KappaInputs(np.asarray(ph.fc2), np.asarray(ph.fc3), si_cells, si_cells)


@pytest.mark.parametrize("case", list(CASES))
def test_kappa_equals_phono3py(si_phono3py, inputs, case):
    opts, fields = CASES[case]
    opts = dict(opts)
    sigma = opts.pop("sigma", None)
    sigma_cutoff = opts.pop("sigma_cutoff", None)
    ph = si_phono3py((5, 5, 5), sigma, sigma is None)
    if sigma_cutoff is not None:
        ph.sigma_cutoff = sigma_cutoff
    ph.run_thermal_conductivity(temperatures=list(TEMPERATURES), write_kappa=False, **opts)
    tc = ph.thermal_conductivity
    r = KA.thermal_conductivity(inputs, KA.KappaSettings(mesh=(5, 5, 5),
                                                         temperatures_K=TEMPERATURES, **fields))
    kind = "tetrahedron" if sigma is None else "sigma"
    assert np.array_equal(r.grid_point, tc.grid_points)
    assert np.array_equal(r.weight, tc.grid_weights)
    gmax = np.abs(tc.gamma[0]).max(axis=(1, 2), keepdims=True)
    assert (np.abs(r.gamma - tc.gamma[0]) / gmax).max() <= TOL_GAMMA[kind]
    assert np.abs(r.kappa - tc.kappa[0]).max() <= TOL_KAPPA[kind] * np.abs(tc.kappa[0]).max()
    if case == "wigner":
        inter = tc.kappa_inter[0]
        assert np.abs(r.kappa_coherence - inter).max() <= TOL_KAPPA[kind] * np.abs(inter).max()
        assert np.abs(inter).max() > 0
    else:
        assert np.abs(r.mode_kappa - tc.mode_kappa[0]).max() <= (
            TOL_KAPPA[kind] * np.abs(tc.mode_kappa[0]).max())


def test_gamma_independent_of_degenerate_basis(inputs):
    """A random unitary rotation inside every degenerate subspace of every eigenvector set
    leaves Γ unchanged (phono3py's default tetrahedron result changes by up to 4% per mode)."""
    from phonjax.anharmonic import grid as G
    from phonjax.anharmonic import interaction as I
    from phonjax.anharmonic.degeneracy import degenerate_labels
    from phonjax.anharmonic.phonons import GridPhonons, grid_phonons, harmonic_model

    settings = KA.KappaSettings(mesh=(5, 5, 5), temperatures_K=(300.0,))
    grid = G.bz_grid(inputs.cells.primitive.crystal, settings.mesh)
    phonons = grid_phonons(harmonic_model(inputs.fc2, inputs.fc2_cells), grid)
    rng = np.random.default_rng(7)
    e = phonons.eigenvectors.copy()
    rotated = 0
    for b, ids in enumerate(degenerate_labels(phonons.frequencies)):
        for first in np.unique(ids):
            cols = np.flatnonzero(ids == first)
            if len(cols) > 1:
                z = rng.normal(size=(len(cols),) * 2) + 1j * rng.normal(size=(len(cols),) * 2)
                u, _ = np.linalg.qr(z)
                e[b][:, cols] = e[b][:, cols] @ u
                rotated += 1
    assert rotated > 20
    other = GridPhonons(phonons.frequencies, e, phonons.gamma_forced)
    tables = I.interaction_tables(inputs.cells)
    pp = KA.interaction(tables, inputs.fc3, grid, phonons, settings)
    pp_other = KA.interaction(tables, inputs.fc3, grid, other, settings)
    ir = G.ir_grid_points(grid)
    per_band = KA.KappaSettings(mesh=(5, 5, 5), temperatures_K=(300.0,),
                                average_degenerate=False)
    moved = 0.0
    for bz in ir.bz_points[1:6]:
        a, _ = KA.phph_gamma(grid, phonons, pp, int(bz), settings, 512)
        b, _ = KA.phph_gamma(grid, other, pp_other, int(bz), settings, 512)
        assert np.abs(a - b).max() <= 1e-12 * np.abs(a).max()
        a, _ = KA.phph_gamma(grid, phonons, pp, int(bz), per_band, 512)
        b, _ = KA.phph_gamma(grid, other, pp_other, int(bz), per_band, 512)
        moved = max(moved, np.abs(a - b).max() / np.abs(a).max())
    assert moved > 1e-4  # without the averaging the basis shows (the test can fail)


def test_settings_refuse_bad_values():
    with pytest.raises(KA.KappaError, match="mesh"):
        KA.KappaSettings(mesh=(0, 5, 5))
    with pytest.raises(KA.KappaError, match="temperatures"):
        KA.KappaSettings(mesh=5, temperatures_K=(-1.0,))
    with pytest.raises(KA.KappaError, match="method"):
        KA.KappaSettings(mesh=5, method="lbte")
    with pytest.raises(KA.KappaError, match="sigma"):
        KA.KappaSettings(mesh=5, sigma_THz=0.0)


def test_isotope_tetrahedron_on_the_same_phonons(si_phono3py, inputs):
    """phono3py's tetrahedron isotope Γ is decided by the rounding of its frequencies (exact
    ties): fed phonjax's grid phonons, phono3py gives phonjax's κ with isotopes (and with
    them every other number) to rounding."""
    from phonjax.anharmonic import grid as G
    from phonjax.anharmonic.phonons import grid_phonons, harmonic_model

    mesh = (5, 5, 5)
    grid = G.bz_grid(inputs.cells.primitive.crystal, mesh)
    p = grid_phonons(harmonic_model(inputs.fc2, inputs.fc2_cells), grid)
    ph = si_phono3py(mesh, None, True)
    ph.set_phonon_data(p.frequencies, p.eigenvectors, grid.addresses)
    ph.run_thermal_conductivity(temperatures=list(TEMPERATURES), is_isotope=True,
                                write_kappa=False)
    tc = ph.thermal_conductivity
    r = KA.thermal_conductivity(inputs, KA.KappaSettings(mesh=mesh, temperatures_K=TEMPERATURES,
                                                         isotope=True))
    # measured 5e-15
    assert np.abs(r.gamma_isotope - tc.gamma_isotope[0]).max() <= 1e-12 * tc.gamma_isotope.max()
    assert np.abs(r.kappa - tc.kappa[0]).max() <= 1e-12 * np.abs(tc.kappa[0]).max()


def test_plans_agree(inputs):
    """The grid phonons by every eigensolver of the harmonic kernel's plans give the same κ
    (σ: eigensolver rounding only; the tetrahedron amplifies it, measured 3e-10 vs phono3py's
    own eigensolver)."""
    from phonjax.execution.plan import Plan

    results = {}
    for solver in ("phonors", "lapack", "xla"):
        for sigma in (0.1, None):
            r = KA.thermal_conductivity(
                inputs, KA.KappaSettings(mesh=(5, 5, 5), temperatures_K=(300.0,),
                                         sigma_THz=sigma), plan=Plan(eigensolver=solver))
            results[solver, sigma] = r.kappa
    for sigma, tol in ((0.1, 1e-12), (None, 1e-8)):
        ref = results["phonors", sigma]
        for solver in ("lapack", "xla"):
            assert np.abs(results[solver, sigma] - ref).max() <= tol * np.abs(ref).max()


def test_q_workers_give_the_serial_result_bitwise(inputs):
    """Irreducible q-points solved in two host threads (the CPU default here) give Γ and κ
    bit for bit as one thread does where the chunks of triplets are the same (here: every
    q's triplets in one chunk under either share of the bound): each point's sums run in
    one thread in the same order, with x64 on in each thread (a thread without it would
    compute in float32)."""
    from phonjax.execution.plan import Plan

    for sigma in (None, 0.1):
        settings = KA.KappaSettings(mesh=(5, 5, 5), temperatures_K=(300.0,), sigma_THz=sigma)
        one = KA.thermal_conductivity(inputs, settings, plan=Plan(q_workers=1))
        two = KA.thermal_conductivity(inputs, settings, plan=Plan(q_workers=2))
        assert np.array_equal(one.gamma, two.gamma) and np.array_equal(one.kappa, two.kappa)
        assert one.gamma.dtype == np.float64


def test_q_workers_stop_on_an_error(inputs, monkeypatch):
    """An error at one q-point reaches the caller and the points not started are dropped."""
    from phonjax.execution.plan import Plan

    calls = []
    real = KA.phph_gamma

    def failing(grid, phonons, pp, q, settings, chunk):
        calls.append(q)
        if len(calls) == 2:
            raise RuntimeError("boom at one q")
        return real(grid, phonons, pp, q, settings, chunk)

    monkeypatch.setattr(KA, "phph_gamma", failing)
    with pytest.raises(RuntimeError, match="boom at one q"):
        KA.thermal_conductivity(inputs, KA.KappaSettings(mesh=(5, 5, 5), sigma_THz=0.1),
                                plan=Plan(q_workers=2))
    assert len(calls) < 10  # 5³ has 10 irreducible q-points


def test_memory_bound_refused_before_the_triplets(inputs):
    from phonjax.execution.plan import Plan
    from phonjax.resources import ResourceError

    with pytest.raises(ResourceError, match="memory bound"):
        KA.thermal_conductivity(inputs, KA.KappaSettings(mesh=(5, 5, 5)),
                                plan=Plan(memory_bytes=1e5))
