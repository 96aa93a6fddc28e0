"""``phonon.band_connection`` against phonopy 4.10: per-segment sampling (``get_band_qpoints``,
``get_band_qpoints_and_path_connections``, ``BandStructure`` distances) and band connection
(``run_band_structure(..., is_band_connection=True)``) on seekpath's paths of MgB2 and Al2O3
(paths with breaks and crossings), 51 points per segment, phonopy given phonjax's force constants.
"""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.phonon import band_connection as bc
from phonjax.single import bandpath
from tests.conftest import EXAMPLES

N_POINTS = 51
MATERIALS = [("MgB2", False), ("Al2O3", False)]  # NAC: phonopy 11 s a path
# measured max |Δ| vs phonopy: q-points 0, distances 0, connected frequencies and
# eigenvectors from phonopy's own arrays 0; phonjax's connected bands 3.8e-13 THz
TOL_Q = 1e-12
TOL_F = 1e-8


@pytest.fixture(scope="module", params=MATERIALS, ids=[m for m, _ in MATERIALS])
def case(request):
    """(h, phonopy with the same force constants, path, our sampling, phonopy's raw and
    connected band-structure dicts on our q-points)."""
    import phonopy

    from phonjax import Phonons

    if not EXAMPLES.is_dir():
        pytest.skip("phonopy example folders not found")
    name, nac = request.param
    folder = EXAMPLES / name
    p = Phonons.from_dataset(folder, nac=nac, mesh=(2, 2, 2))
    p.produce_force_constants()
    h = p.harmonic
    extra = {"born_filename": folder / "BORN"} if nac else {"is_nac": False}
    ph = phonopy.load(folder / "phonopy_disp.yaml", force_sets_filename=folder / "FORCE_SETS",
                      primitive_matrix=np.asarray(h.cells.primitive_matrix).tolist(),
                      produce_fc=False, log_level=0, **extra)
    ph.force_constants = np.asarray(h.result.force_constants)
    primitive = h.system.primitive.crystal
    assert np.abs(ph.primitive.cell - primitive.lattice).max() < 1e-12
    path = bandpath.seekpath_path(primitive)
    sampling = bandpath.sample(path, primitive.lattice, N_POINTS, per_segment=True)
    bands = {}
    for connect in (False, True):
        ph.run_band_structure(sampling.qpoints, path_connections=list(path.connections),
                              with_eigenvectors=True, is_band_connection=connect)
        b = ph.band_structure
        bands[connect] = {"frequencies": b.frequencies, "eigenvectors": b.eigenvectors,
                          "distances": b.distances}
    return h, path, sampling, bands


def _polylines(path: bandpath.BandPath) -> list[list[np.ndarray]]:
    """The path as phonopy's band_paths: polylines of end points, a break starting a new one."""
    out, line = [], []
    for seg, connected in zip(path.segments, path.connections):
        line = line or [seg.q_start]
        line.append(seg.q_end)
        if not connected:
            out.append(line)
            line = []
    return out


def test_per_segment_sampling_matches_phonopy(case):
    from phonopy.phonon.band_structure import get_band_qpoints_and_path_connections

    _, path, sampling, bands = case
    assert not all(path.connections[:-1])  # a path with breaks
    qpoints, connections = get_band_qpoints_and_path_connections(_polylines(path), npoints=N_POINTS)
    assert connections == list(path.connections)
    assert [len(q) for q in sampling.qpoints] == [N_POINTS] * len(path.segments)
    for ours, theirs, seg in zip(sampling.qpoints, qpoints, path.segments):
        assert np.abs(ours - theirs).max() <= TOL_Q
        assert np.abs(ours[0] - seg.q_start).max() <= TOL_Q
        assert np.abs(ours[-1] - seg.q_end).max() <= TOL_Q
    for ours, theirs in zip(sampling.distances, bands[False]["distances"], strict=True):
        assert np.abs(ours - theirs).max() <= TOL_Q
    assert len(sampling.tick_positions) == len(path.segments) + 1


def test_user_path_with_break():
    from phonopy.phonon.band_structure import get_band_qpoints

    lattice = np.array([[3.0, 0.0, 0.0], [-1.5, 2.6, 0.0], [0.0, 0.0, 3.5]])
    path = bandpath.user_path([[("G", (0, 0, 0)), ("M", (0.5, 0, 0)), ("K", (1 / 3, 1 / 3, 0))],
                               [("A", (0, 0, 0.5)), ("L", (0.5, 0, 0.5))]])
    sampling = bandpath.sample(path, lattice, 7, per_segment=True)
    theirs = get_band_qpoints([[[0, 0, 0], [0.5, 0, 0], [1 / 3, 1 / 3, 0]],
                               [[0, 0, 0.5], [0.5, 0, 0.5]]], npoints=7)
    assert all(np.abs(a - b).max() <= TOL_Q for a, b in zip(sampling.qpoints, theirs, strict=True))
    d = sampling.distances  # no step across the break K|A
    assert d[2][0] == d[1][-1] and d[1][0] == d[0][-1] and d[0][0] == 0.0
    for n in (1, 2.0, True):
        with pytest.raises(ValueError, match="band points"):
            bandpath.sample(path, lattice, n, per_segment=True)
    assert [len(q) for q in bandpath.sample(path, lattice, 2, per_segment=True).qpoints] == [2, 2, 2]


def test_connection_is_phonopys_on_its_arrays(case):
    """phonopy's own unconnected frequencies and eigenvectors, connected here, are exactly
    its ``is_band_connection=True`` result, crossings and all."""
    _, _, _, bands = case
    ours = bc.connect_bands(bands[False]["frequencies"], bands[False]["eigenvectors"])
    crossings = 0
    for f, v, order, f_ref, v_ref in zip(ours.frequencies_THz, ours.eigenvectors, ours.order,
                                         bands[True]["frequencies"], bands[True]["eigenvectors"],
                                         strict=True):
        assert np.abs(f - f_ref).max() <= 1e-12
        assert np.abs(v - v_ref).max() <= 1e-12
        assert (order[0] == np.arange(f.shape[1])).all()  # each segment starts afresh
        crossings += int((order != np.arange(f.shape[1])).any(axis=1).sum())
    assert crossings > 50


def test_connection_of_phonjax_bands(case):
    """phonjax's own band structure connected: the order is phonopy's wherever it is defined,
    i.e. on every segment with no degenerate bands before its last point (inside a degenerate
    set the eigenvectors, and so the connection through it, are each eigensolver's choice)."""
    h, _, sampling, bands = case
    modes = h.path_modes(sampling.qpoints, True)
    ours = bc.connect_bands([f for f, _ in modes], [v for _, v in modes])
    ref = bc.connect_bands(bands[False]["frequencies"], bands[False]["eigenvectors"])
    compared = crossings = 0
    for i, f_raw in enumerate(bands[False]["frequencies"]):
        if (np.diff(f_raw[:-1], axis=1) < 1e-4).any():
            continue
        order, order_ref = ours.order[i][:-1], ref.order[i][:-1]
        assert (order == order_ref).all()
        f, f_ref = ours.frequencies_THz[i], ref.frequencies_THz[i]
        real = np.abs(f_ref) > 1e-3  # Γ's acoustic modes are √(rounding)
        assert np.abs(f - f_ref)[real].max() <= TOL_F
        compared += 1
        crossings += int((order_ref != np.arange(f.shape[1])).any(axis=1).sum())
    assert compared >= 1 and crossings >= 10  # MgB2: 3 segments, 87 points off the ascending
    #   order; Al2O3: 2 segments, 91 points


def test_connected_band_structure(case):
    from phonjax.single.spectra import BandStructure

    h, _, sampling, _ = case
    segments = h.path_modes(sampling.qpoints[:2], True)
    band = BandStructure(bandpath.PathSampling(sampling.qpoints[:2], sampling.distances[:2],
                                               sampling.path),
                         [f for f, _ in segments], [v for _, v in segments])
    connected = bc.connected_band_structure(band)
    direct = bc.connect_bands(band.frequencies_THz, band.eigenvectors)
    assert all((a == b).all() for a, b in zip(connected.frequencies_THz, direct.frequencies_THz))
    assert connected.sampling is band.sampling
    with pytest.raises(ValueError, match="eigenvectors"):
        bc.connected_band_structure(BandStructure(band.sampling, band.frequencies_THz, None))
    with pytest.raises(ValueError, match="shape"):
        bc.connect_bands(band.frequencies_THz, [v[:, :-1] for v in band.eigenvectors])
