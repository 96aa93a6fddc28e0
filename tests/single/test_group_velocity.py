"""``phonon.group_velocity``: group velocities against phonopy 4.10's ``GroupVelocity`` as
``Phonopy.run_qpoints / run_mesh / run_band_structure(..., with_group_velocities=True)`` build
it, on phonopy's example folders, with phonopy given phonjax's force constants (same FC, same
NAC), so that only the velocity computation is compared.

Velocities are compared element by element: phonopy's perturbation direction (1, 2, 3)/√14,
or a generic ``q_direction``, splits every degenerate set at these q-points, so phonopy's
result does not depend on its eigensolver's basis here (module docstring: it would only where
e†·(∂D/∂q·n̂)·e is itself degenerate). Measured max |Δv|/max|v| ≤ 1.5e-13 over all cases
(NaCl, NaCl+BORN, Al2O3+BORN, MgB2, Cr; symmetrized and not; q-points, 6³ meshes, band
paths); tolerance 1e-11 relative (≤ 1e-8, the project's contract).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pytest

from tests.conftest import EXAMPLES

REL_TOL = 1e-11  # measured ≤ 1.5e-13 relative (see the module docstring)
F_TOL_THZ = 1e-8  # frequencies away from Γ's acoustic modes (those are ±1e-7 noise)


@lru_cache(maxsize=None)  # one load per example and NAC choice for the whole module
def _load(name: str, nac: bool):
    import phonopy

    from phonjax import Phonons

    folder = EXAMPLES / name
    if not (folder / "FORCE_SETS").is_file():
        pytest.skip(f"phonopy example {name} not found")
    p = Phonons.from_dataset(folder, nac=nac)
    p.produce_force_constants()
    h = p.harmonic
    kw = {"born_filename": folder / "BORN"} if nac else {"is_nac": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                          primitive_matrix=np.asarray(h.cells.primitive_matrix).tolist(),
                          produce_fc=False, log_level=0, **kw)
    assert np.allclose(ph.primitive_matrix, h.cells.primitive_matrix)
    assert (h.system.nac is not None) == nac
    ph.force_constants = h.result.force_constants
    return p, h, ph


@pytest.fixture(scope="module", params=[("NaCl", False), ("NaCl", True), ("Al2O3", True),
                                        ("MgB2", False), ("Cr", False)],
                ids=lambda c: f"{c[0]}{'-nac' if c[1] else ''}")
def case(request):
    return _load(*request.param)


def _qpoints():
    """Random points and points on high-symmetry lines/planes and the zone boundary (degenerate
    bands), Γ included: 16 points (one compiled chunk size)."""
    rng = np.random.default_rng(7)
    special = [[0, 0, 0], [0.5, 0, 0], [0.5, 0.5, 0.5], [0.1, 0, 0], [0.1, 0.1, 0.1],
               [0.2, 0.2, 0], [0, 0, 0.25], [1 / 3, 1 / 3, 0], [0.5, 0.25, 0.75], [0.05, 0.05, 0]]
    return np.vstack([rng.uniform(-0.6, 0.6, (6, 3)), special])


def _assert_close(v, v_ref):
    scale = np.abs(v_ref).max()
    assert scale > 1.0  # THz·Å: real velocities, not all zeros
    assert v.shape == v_ref.shape
    assert np.abs(v - v_ref).max() <= REL_TOL * scale


def _assert_frequencies(f, f_ref):
    away = np.abs(f_ref) > 1e-3  # Γ acoustic modes: sqrt of rounding, ±1e-7 THz
    assert np.abs(f - f_ref)[away].max() <= F_TOL_THZ


def test_qpoints_match_phonopy(case):
    from phonjax.phonon.group_velocity import group_velocities

    _, h, ph = case
    q = _qpoints()
    gv = group_velocities(h, q)
    ph.run_qpoints(q, with_group_velocities=True)
    _assert_close(gv.velocities_THz_A, ph.qpoints.group_velocities)
    _assert_frequencies(gv.frequencies_THz, ph.qpoints.frequencies)
    assert np.array_equal(gv.qpoints, q)
    assert np.abs(gv.velocities_THz_A[6]).max() <= 1e-12  # Γ: time reversal averages v to 0
    assert np.allclose(gv.speeds_m_s, 100.0 * np.linalg.norm(gv.velocities_THz_A, axis=-1))
    with warnings.catch_warnings():  # deprecated in 4.10, still the same GroupVelocity
        warnings.simplefilter("ignore")
        one = ph.get_group_velocity_at_q(q[0])
    _assert_close(gv.velocities_THz_A[0], one)


@pytest.mark.parametrize("name,nac", [("MgB2", False),
                                      pytest.param("Al2O3", True, marks=pytest.mark.slow)])
def test_direction_and_unsymmetrized_match_phonopy(name, nac):
    """``q_direction`` is phonopy's ``nac_q_direction``: the D(q → 0) direction of the
    frequencies and the perturbation direction of degenerate sets (it changes unsymmetrized
    velocities at degenerate points by 11 THz·Å (MgB2), 34 THz·Å (Al2O3), so this can fail)."""
    from phonopy.phonon.group_velocity import GroupVelocity

    from phonjax.phonon.group_velocity import group_velocities

    _, h, ph = _load(name, nac)
    q = _qpoints()
    qd = np.array([0.3, 0.1, 0.0])
    gv = group_velocities(h, q, q_direction=qd)
    ph.run_qpoints(q, nac_q_direction=qd, with_group_velocities=True)
    _assert_close(gv.velocities_THz_A, ph.qpoints.group_velocities)
    _assert_frequencies(gv.frequencies_THz, ph.qpoints.frequencies)

    plain = GroupVelocity(ph.dynamical_matrix, symmetry=None,
                          frequency_factor_to_THz=ph.unit_conversion_factor)
    plain.run(q)
    default = group_velocities(h, q, symmetrize=False).velocities_THz_A
    _assert_close(default, plain.group_velocities)
    plain.run(q, perturbation=qd)
    directed = group_velocities(h, q, q_direction=qd, symmetrize=False).velocities_THz_A
    _assert_close(directed, plain.group_velocities)
    assert np.abs(directed - default).max() > 1.0  # the direction mattered


@pytest.mark.parametrize("name,nac,mesh,gamma_center", [
    ("NaCl", True, [6, 6, 6], True),  # 16 points, full point group
    ("MgB2", False, [4, 4, 4], False),  # phonopy's default shift: its time-reversal fallback
    ("Al2O3", True, [4, 4, 4], False),  # shifted, hexagonal, symmetry kept
])
@pytest.mark.filterwarnings("ignore::Warning")  # phonopy's MeshSymmetryFallbackWarning
def test_mesh_matches_phonopy(name, nac, mesh, gamma_center):
    from phonjax.phonon.group_velocity import mesh_group_velocities
    from phonjax.single.dos import phonopy_mesh

    _, h, ph = _load(name, nac)
    grid = phonopy_mesh(h.system.primitive.crystal, mesh, gamma_center=gamma_center)
    gv = mesh_group_velocities(h, grid)
    ph.run_mesh(mesh, is_gamma_center=gamma_center, with_group_velocities=True)
    assert np.abs(grid.qpoints - ph.mesh.qpoints).max() <= 1e-12
    _assert_close(gv.velocities_THz_A, ph.mesh.group_velocities)
    _assert_frequencies(gv.frequencies_THz, ph.mesh.frequencies)


def test_band_path_through_gamma_matches_phonopy(tmp_path):
    """NaCl with Born charges: the path starts at Γ (LO–TO split frequencies there, by the
    segment's direction); phonopy's velocities take no direction, and are 0 at Γ."""
    from phonjax.phonon.group_velocity import band_group_velocities, plot_group_velocities
    from phonjax.single import spectra

    p, h, ph = _load("NaCl", True)
    path = [[("X", (0.5, 0.0, 0.5)), ("Γ", (0.0, 0.0, 0.0)), ("L", (0.5, 0.5, 0.5))]]
    band = spectra.band_structure(h, p.settings, path, n_points=9)
    segments = band_group_velocities(h, band)
    ph.run_band_structure(band.sampling.qpoints, with_group_velocities=True)
    ref = ph.band_structure
    assert len(segments) == len(ref.group_velocities)
    assert len(segments) == 2 and np.abs(band.sampling.all_qpoints).sum(axis=1).min() == 0.0
    lo_to = segments[0].frequencies_THz[-1]  # Γ approached along X–Γ: LO–TO split
    assert lo_to[-1] - lo_to[-2] > 1.0
    for seg, v_ref, f_ref in zip(segments, ref.group_velocities, ref.frequencies):
        _assert_close(seg.velocities_THz_A, v_ref)
        _assert_frequencies(seg.frequencies_THz, f_ref)
    out = plot_group_velocities(segments, None, tmp_path / "gv.png")
    assert out == str(tmp_path / "gv.png")
    assert (tmp_path / "gv.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    v = np.concatenate([s.velocities_THz_A for s in segments])
    f = np.concatenate([s.frequencies_THz for s in segments])
    plot_group_velocities(v, f, tmp_path / "gv2.png")
    assert (tmp_path / "gv2.png").stat().st_size > 1000


def test_bad_input_raises():
    from phonjax.phonon.group_velocity import group_velocities, plot_group_velocities

    _, h, _ = _load("Cr", False)
    with pytest.raises(ValueError, match="q-points"):
        group_velocities(h, np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        group_velocities(h, [np.nan, 0, 0])
    with pytest.raises(ValueError, match="zero length"):
        group_velocities(h, [0.1, 0, 0], q_direction=[0, 0, 0])
    with pytest.raises(ValueError, match="cutoff_frequency_THz"):
        group_velocities(h, [0.1, 0, 0], cutoff_frequency_THz=-1.0)
    with pytest.raises(ValueError, match="do not fit"):
        plot_group_velocities(np.zeros((2, 3, 3)), np.zeros((2, 4)), "unused.png")
