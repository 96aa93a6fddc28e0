"""phonjax.anharmonic.tetrahedron / integration_weights against phonopy and phono3py 4.10
(default Rust backend), computed live on phono3py's own frequencies:

* the 24 tetrahedra and their vertex BZ indices (phonopy's relative addresses and
  ``get_neighboring_grid_points``), Si and wurtzite GaN (main-diagonal tie);
* the single-tetrahedron "I" weight against phonopy's reference ``TetrahedronMethod``
  with ω exactly at vertex values (the 4.10 tie-break) and repeated vertex values
  (the Si triplets also have ~5e4 exact ties f0 = vertex value on 7³; the pre-4.10 rule,
  ties weighted 0, moves g by 0.33 of max |g| there, so the tie rule is tested);
* ordinary grid-point weights (``get_integration_weights``);
* triplet weights g and g_zero (``get_triplets_integration_weights``) at every irreducible
  q of Si-PBEsol 7³ and of GaN 4×4×3 with a made-up spring fc2: tetrahedron with and
  without ``average_degenerate_weights``, σ = 0.1 THz with and without ``sigma_cutoff``.

Measured differences (max |Δg| / max |g|): ≤ 8e-16 (tetrahedron, ± adw), ≤ 1.5e-16 (σ);
g_zero identical. The tolerance below is 1e-13 of max |g|.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from phonjax.anharmonic import grid as G
from phonjax.anharmonic import integration_weights as IW
from phonjax.anharmonic import tetrahedron as T

pytest.importorskip("phono3py")
pytest.importorskip("ase.build")
from phono3py.phonon3.triplets import get_triplets_integration_weights  # noqa: E402
from phonopy.phonon.grid import get_ir_grid_points, get_neighboring_grid_points  # noqa: E402
from phonopy.phonon.tetrahedron_method import (TetrahedronMethod,  # noqa: E402
                                               get_integration_weights,
                                               get_tetrahedra_relative_gr_grid_address)

from tests.anharmonic.systems import SI_PBESOL, si_pbesol, wurtzite_gan  # noqa: E402

REL_TOL = 1e-13  # of max |g|; measured ≤ 8e-16


@pytest.fixture(scope="module")
def si():
    if not SI_PBESOL.is_dir():
        pytest.skip("Si-PBEsol example data not available")
    return si_pbesol((7, 7, 7))


@pytest.fixture(scope="module")
def gan():
    return wurtzite_gan((4, 4, 3))


def _close(mine: IW.IntegrationWeights, ref, ref_zero):
    g = np.asarray(mine.g)
    assert g.shape == ref.shape
    scale = np.abs(ref).max()
    assert np.abs(g - ref).max() <= REL_TOL * scale
    np.testing.assert_array_equal(np.asarray(mine.g_zero), ref_zero.astype(bool))


# --------------------------------------------------------------------------- tetrahedra


@pytest.mark.parametrize("system", ["si", "gan"])
def test_tetrahedra_and_vertices_equal_phonopy(system, request):
    ph, grid = request.getfixturevalue(system)
    ref_rel = get_tetrahedra_relative_gr_grid_address(ph.grid)
    rel = T.relative_addresses(grid)
    assert (rel[:, 0] == 0).all()  # central vertex first, as phonors

    def key(r):  # same tetrahedra, central vertex first, the others in any order
        return sorted((tuple(t[0]), tuple(sorted(map(tuple, t[1:])))) for t in r.tolist())

    assert key(rel) == key(ref_rel)
    points = np.arange(len(grid.addresses))
    for sign in (1, -1):
        ref = np.array([get_neighboring_grid_points(p, sign * rel, ph.grid) for p in points])
        np.testing.assert_array_equal(T.vertex_bz_indices(grid, points, rel, sign), ref)


def test_single_tetrahedron_weight_equals_phonopy_reference():
    """ω at every vertex value (exact ties) and tetrahedra with repeated values."""
    rng = np.random.default_rng(7)
    rel = T.relative_addresses_for_diagonal(0)
    thm = TetrahedronMethod(None, relative_grid_address=rel)
    for case in range(12):
        values = rng.uniform(0, 5, (24, 4))
        if case % 3 == 1:
            values = np.round(values, 0)  # many equal vertex values
        if case % 3 == 2:
            values[:, 1] = values[:, 0]  # central tied with a neighbour
        omegas = np.concatenate([np.unique(values), rng.uniform(-0.5, 5.5, 8)])
        thm.set_tetrahedra_omegas(values)
        thm.run(omegas)
        ref = thm.get_integration_weight()
        with jax.enable_x64(True):
            v, rank = T.sort_vertices(jnp.asarray(values))
            mine = np.asarray(T.delta_weights(jnp.asarray(omegas), v, rank))
        np.testing.assert_allclose(mine, ref, rtol=1e-13, atol=1e-13 * np.abs(ref).max())


def test_grid_point_weights_equal_phonopy(si):
    ph, grid = si
    freqs = ph.get_phonon_data()[0]
    ir = ph.grid.grg2bzg[get_ir_grid_points(ph.grid)[0]][::3]
    ref = np.array([get_integration_weights(freqs[p], freqs, ph.grid) for p in ir])
    with jax.enable_x64(True):
        mine = np.asarray(T.grid_point_weights(grid, freqs[ir], freqs))
    assert mine.shape == ref.shape  # (n_p, N, n_b0, n_b)
    assert np.abs(mine - ref).max() <= REL_TOL * np.abs(ref).max()


# --------------------------------------------------------------------------- triplets


SETTINGS = [("thm", False, None), ("thm", True, None), ("sigma", False, None),
            ("sigma", True, 3.0)]  # phono3py ignores adw with σ, and so does phonjax


@pytest.mark.parametrize("kind,adw,cutoff", SETTINGS)
@pytest.mark.parametrize("system", ["si", "gan"])
def test_triplet_weights_equal_phono3py(system, kind, adw, cutoff, request):
    """All irreducible q, their triplets concatenated into one phonjax call."""
    ph, grid = request.getfixturevalue(system)
    pp = ph.phph_interaction
    freqs = ph.get_phonon_data()[0]
    ir = ph.grid.grg2bzg[get_ir_grid_points(ph.grid)[0]]
    refs, triplets, q_points = [], [], []
    for gp in ir:
        pp.set_grid_point(gp)
        tp = pp.get_triplets_at_q()[0]
        refs.append(get_triplets_integration_weights(
            pp, freqs[gp], None if kind == "thm" else 0.1, sigma_cutoff=cutoff,
            is_collision_matrix=True, average_degenerate_weights=adw))
        triplets.append(tp)
        q_points.append(np.full(len(tp), gp))
    triplets, q_points = np.concatenate(triplets), np.concatenate(q_points)
    with jax.enable_x64(True):
        if kind == "thm":
            mine = IW.tetrahedron_weights(grid, triplets, freqs, q_points=q_points,
                                          average_degenerate=adw)
        else:
            mine = IW.gaussian_weights(grid, triplets, freqs, 0.1, sigma_cutoff=cutoff,
                                       q_points=q_points, average_degenerate=adw)
    ref = np.concatenate([r[0] for r in refs], axis=1)
    ref_zero = np.concatenate([r[1] for r in refs])
    _close(mine, ref, ref_zero)
    assert kind == "sigma" and cutoff is None or (ref_zero.any() and not ref_zero.all())


def test_triplets_record_and_band_indices(si):
    """A ``Triplets`` record (f0 from its q_bz_index) and a subset of bands at q."""
    ph, grid = si
    pp = ph.phph_interaction
    freqs = ph.get_phonon_data()[0]
    gp = int(ph.grid.grg2bzg[get_ir_grid_points(ph.grid)[0][4]])
    pp.set_grid_point(gp)
    bands = np.array([1, 4])
    ref, ref_zero = get_triplets_integration_weights(pp, freqs[gp, bands], None,
                                                     is_collision_matrix=True,
                                                     average_degenerate_weights=True)
    with jax.enable_x64(True):
        mine = IW.tetrahedron_weights(grid, G.triplets_at_q(grid, gp), freqs,
                                      band_indices=bands, average_degenerate=True)
    _close(mine, ref, ref_zero)
