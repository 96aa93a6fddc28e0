"""κ benchmark scores (phonjax.bench.kappa_metrics) on hand-made arrays with hand-computed
answers, and its data (phonjax.bench.kappa_reference) read from the shared folder."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math

import numpy as np
import pytest

from phonjax.bench import kappa_metrics as km
from phonjax.bench import kappa_reference as kr


def _modes(seed=0, n_q=5, n_b=6):
    """Non-negative mode κ (n_q, n_b), q weights summing to N = 20, and their κ̄."""
    rng = np.random.default_rng(seed)
    modes = rng.uniform(0.0, 3.0, (n_q, n_b))
    weights = np.array([1, 3, 4, 6, 6])[:n_q]
    return modes, weights, km.kappa_from_modes(modes, weights)


# ---- scores ----------------------------------------------------------------------------

def test_identical_prediction_scores_zero():
    modes, w, kappa = _modes()
    assert km.srme(modes, modes, w, kappa, kappa) == 0.0
    assert km.srd(kappa, kappa) == 0.0
    s = km.score_material(kappa, modes, w, kappa, modes, material_id="a",
                          pred_frequencies=modes, ref_frequencies=modes)
    assert (s.srme, s.srd, s.sre, s.censored, s.reason) == (0.0, 0.0, 0.0, False, "")
    assert s.spectrum_w1_THz == 0.0


@pytest.mark.parametrize("c", [0.25, 0.9, 1.5, 4.0])
def test_scaled_prediction(c):
    """pred = c·ref per mode with consistent totals: SRME = 2|c−1|/(c+1), SRD = 2(c−1)/(c+1)."""
    modes, w, kappa = _modes(seed=1)
    pred_kappa = km.kappa_from_modes(c * modes, w)
    assert pred_kappa == pytest.approx(c * kappa, rel=1e-14)
    assert km.srme(c * modes, modes, w, pred_kappa, kappa) == pytest.approx(
        2 * abs(c - 1) / (c + 1), rel=1e-12)
    assert km.srd(pred_kappa, kappa) == pytest.approx(2 * (c - 1) / (c + 1), rel=1e-12)
    assert km.sre(pred_kappa, kappa) == pytest.approx(2 * abs(c - 1) / (c + 1), rel=1e-12)
    assert km.srd(kappa, pred_kappa) == pytest.approx(-km.srd(pred_kappa, kappa), rel=1e-14)


def test_single_mode_off_and_no_cancellation():
    modes, w, kappa = _modes(seed=2)
    n = w.sum()
    delta = 0.7
    pred = modes.copy()
    pred[2, 3] += delta
    pred_kappa = kappa + delta / n
    expected = 2 * (delta / n) / (2 * kappa + delta / n)
    assert km.srme(pred, modes, w, pred_kappa, kappa) == pytest.approx(expected, rel=1e-12)
    assert km.srd(pred_kappa, kappa) == pytest.approx(expected, rel=1e-12)
    # the same κ moved from one mode to another: the total (SRD) is right, SRME is not
    pred[0, 0] -= delta
    assert km.srd(kappa, kappa) == 0.0
    assert km.srme(pred, modes, w, kappa, kappa) == pytest.approx(2 * delta / (n * kappa),
                                                                  rel=1e-12)


def test_srme_uses_only_the_weight_sum():
    modes, w, kappa = _modes(seed=3)
    pred = 1.2 * modes
    a = km.srme(pred, modes, w, 1.2 * kappa, kappa)
    b = km.srme(pred, modes, np.full(5, w.sum() / 5), 1.2 * kappa, kappa)
    assert a == pytest.approx(b, rel=1e-14)
    assert km.srme(pred, modes, 2 * w, 1.2 * kappa, kappa) == pytest.approx(a / 2, rel=1e-14)


def test_zero_denominators():
    zeros = np.zeros((2, 3))
    assert km.srd(0.0, 0.0) == 0.0
    assert km.srme(zeros, zeros, [1, 1], 0.0, 0.0) == 0.0
    assert km.srme(zeros + 1, zeros, [1, 1], 0.0, 0.0) == 2.0
    with pytest.raises(ValueError, match="one value"):
        km.srd([1.0, 2.0], 1.0)
    with pytest.raises(ValueError, match="differ"):
        km.srme(zeros, np.zeros((3, 3)), [1, 1, 1], 1.0, 1.0)


@pytest.mark.parametrize("case, reason", [
    (dict(has_imaginary_modes=True), "imaginary"),
    (dict(relaxed_spacegroup=216, expected_spacegroup=225), "space group"),
])
def test_censored_material_scores_two(case, reason):
    modes, w, kappa = _modes(seed=4)
    s = km.score_material(kappa, modes, w, kappa, modes, **case)
    assert (s.srme, s.censored) == (2.0, True) and reason in s.reason
    assert s.srd == 0.0  # SRD/SRE are not censored, only SRME


def test_same_spacegroup_or_unknown_is_not_censored():
    modes, w, kappa = _modes(seed=4)
    for case in (dict(relaxed_spacegroup=225, expected_spacegroup=225),
                 dict(relaxed_spacegroup=None, expected_spacegroup=225),
                 dict(relaxed_spacegroup=216, expected_spacegroup=None),
                 dict(has_imaginary_modes=False)):
        assert not km.score_material(kappa, modes, w, kappa, modes, **case).censored


@pytest.mark.parametrize("pred_kappa, pred_modes, weights, srd", [
    (None, None, None, -2.0),  # failed run
    (np.nan, "same", "same", -2.0),
    (-1.0, "same", "same", -2.0),  # negative κ̄: SRD −2 as matbench (not the formula)
    ([1.0, 2.0], "same", "same", -2.0),  # not one temperature
    ("same", None, "same", 0.0),  # no mode κ: SRD from the totals, SRME censored
    ("same", "nan", "same", 0.0),
    ("same", "other mesh", "same", 0.0),
    ("same", "same", "zero", 0.0),
    ("same", "negative", "same", 0.0),  # SRME above 2 from negative mode κ
])
def test_failed_predictions(pred_kappa, pred_modes, weights, srd):
    modes, w, kappa = _modes(seed=5)
    pk = kappa if isinstance(pred_kappa, str) else pred_kappa
    pm = {"same": modes, "nan": np.where(modes > 1, np.nan, modes), "other mesh": modes[:-1],
          "negative": -50 * modes, None: None}[pred_modes]
    pw = {"same": w, "zero": np.zeros_like(w), None: None}[weights]
    s = km.score_material(pk, pm, pw, kappa, modes)
    assert (s.srme, s.censored, s.srd, s.sre) == (2.0, True, srd, abs(srd))
    assert s.reason


def test_invalid_reference_raises():
    modes, w, kappa = _modes(seed=6)
    for ref_kappa, ref_modes in ((np.nan, modes), (-1.0, modes), (kappa, None),
                                 (kappa, np.full_like(modes, np.inf))):
        with pytest.raises(ValueError, match="reference"):
            km.score_material(kappa, modes, w, ref_kappa, ref_modes)


def test_summarize():
    scores = [
        km.KappaScore("a", 0.5, 0.5, 0.4, False, "", False, 0.12344, 3.0, 2.0),
        km.KappaScore("b", -2.0, 2.0, 2.0, True, "no finite mode κ", None, None, None, 1.0),
        km.KappaScore("c", -0.2, 0.2, 2.0, True, "imaginary modes", True, 0.30006, 0.9, 1.1),
        km.KappaScore("d", 0.1, 0.1, 0.2, False, "", False, None, 1.1, 1.0),
    ]
    s = km.summarize(scores)
    assert s.n_materials == 4 and s.n_censored == 2
    assert s.srme == pytest.approx((0.4 + 2 + 2 + 0.2) / 4)
    assert s.sre == pytest.approx((0.5 + 2 + 0.2 + 0.1) / 4)
    assert s.srd == pytest.approx((0.5 - 2 - 0.2 + 0.1) / 4)
    assert (s.failure_rate, s.imaginary_mode_rate) == (0.5, 0.25)
    assert s.spectrum_w1_THz == pytest.approx((0.1234 + 0.3001) / 2)  # rounded first
    assert s.srme_std == pytest.approx(np.std([0.4, 2, 2, 0.2]))
    assert s.srme_success == pytest.approx(0.3) and s.sre_success == pytest.approx(0.3)
    with pytest.raises(ValueError):
        km.summarize([])


# ---- per-mode κ from phono3py's Wigner output ---------------------------------------------

def test_trace_average():
    voigt = np.array([1.0, 2.0, 6.0, 100.0, -100.0, 50.0])
    assert km.trace_average(voigt) == 3.0
    tensor = np.array([[1.0, 50.0, -100.0], [50.0, 2.0, 100.0], [-100.0, 100.0, 6.0]])
    assert km.trace_average(tensor[None])[0] == 3.0
    with pytest.raises(ValueError):
        km.trace_average(np.ones(4))


def test_mode_kappa_total_by_hand():
    """n_T = 1, one q-point, three bands: C = (1, 3, 0). The pair (0, 1) has κ^C = 4 (xx),
    mode 1 gets 2·C₀/(C₀+C₁)·4 = 2, mode 0 gets 2·C₁/(C₀+C₁)·4 = 6; the pair (0, 2) has
    κ^C = 5 but band 2's own term is 0/0, so band 2's coherence share is dropped (as
    k_SRME), while band 0 gets 2·0/(1+0)·5 = 0 from it."""
    p = np.zeros((1, 1, 3, 6))
    p[0, 0, :, :3] = [[3.0, 3.0, 3.0], [1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]
    p[0, 0, :, 3:] = 99.0  # off-diagonal Voigt components never enter
    c = np.zeros((1, 1, 3, 3, 6))
    c[0, 0, 0, 1, 0] = c[0, 0, 1, 0, 0] = 4.0  # xx only
    c[0, 0, 0, 2, :3] = c[0, 0, 2, 0, :3] = 5.0
    c[..., 3:] = -7.0
    cv = np.array([[[1.0, 3.0, 0.0]]])
    total = km.mode_kappa_total(p, c, cv)
    assert total.shape == (1, 1, 3)
    np.testing.assert_allclose(total[0, 0], [3.0 + 6.0 / 3, 2.0 + 2.0 / 3, 0.5], rtol=1e-14)
    np.testing.assert_allclose(km.mode_kappa_total(p), [[[3.0, 2.0, 0.5]]], rtol=1e-14)
    with pytest.raises(ValueError, match="heat_capacity"):
        km.mode_kappa_total(p, c)


def test_mode_kappa_total_keeps_the_total_and_split_band_pairs():
    """With a symmetric pair matrix the shares sum to the whole; phono3py 3.30's split
    (degenerate pairs into the particle part) and the whole matrix as coherence agree
    when degenerate bands have equal heat capacities."""
    rng = np.random.default_rng(7)
    n_t, n_q, n_b = 2, 3, 4
    k = rng.normal(size=(n_t, n_q, n_b, n_b, 6))
    k = 0.5 * (k + k.transpose(0, 1, 3, 2, 4))
    f = np.array([[1.0, 1.0 + 5e-5, 2.0, 3.0], [0.5, 1.0, 1.5, 1.5], [1.0, 2.0, 3.0, 4.0]])
    cv = np.exp(-f)[None] * np.array([1.0, 2.0])[:, None, None]
    cv[:, 0, 1] = cv[:, 0, 0]  # a degenerate pair has one heat capacity
    whole = km.mode_kappa_total(np.zeros((n_t, n_q, n_b, 6)), k, cv)
    np.testing.assert_allclose(whole.sum(axis=(1, 2)), km.trace_average(k.sum(axis=(1, 2, 3))),
                               rtol=1e-12)
    p, c = km.split_band_pairs(k, f)
    assert np.all(c[:, 0, 0, 1] == 0) and np.all(c[:, 1, 2, 3] == 0) and np.all(c[:, 2, 0, 0] == 0)
    np.testing.assert_allclose(p[:, 2], np.einsum("tqbbc->tqbc", k)[:, 2], rtol=1e-14)
    np.testing.assert_allclose(km.mode_kappa_total(p, c, cv), whole, rtol=1e-12, atol=1e-12)


def test_kappa_from_modes_shapes():
    assert km.kappa_from_modes(np.ones((2, 4, 3)), [1, 1, 2, 4]).tolist() == [1.5, 1.5]
    with pytest.raises(ValueError):
        km.kappa_from_modes(np.ones((4, 3)), [1, 1, 2])


# ---- spectrum and imaginary modes ----------------------------------------------------------

def test_spectrum_distance():
    f = np.array([[0.0, 1.0], [2.0, 4.0]])
    assert km.spectrum_distance(f + 0.25, f, [1, 3]) == pytest.approx(0.25)
    # weights (1, 3): the second q-point counts three times, so only moving it costs 3/4 of a shift
    g = f.copy()
    g[1] += 1.0
    assert km.spectrum_distance(g, f, [1, 3]) == pytest.approx(0.75)
    assert km.spectrum_distance(g, f, [3, 1]) == pytest.approx(0.25)
    # integer weights = repetition, e.g. a full mesh with uniform weights
    full = np.concatenate([f[:1], f[1:], f[1:], f[1:]])
    assert km.spectrum_distance(full, f, [1, 3], pred_weights=np.ones(4)) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        km.spectrum_distance(full, f, [1, 3])
    with pytest.raises(ValueError):
        km.spectrum_distance(f * np.nan, f, [1, 3])


@pytest.mark.parametrize("gamma, rest, imaginary", [
    ([-0.005, 0.0, 0.001, 5.0], [1.0, 2.0, 3.0, 4.0], False),
    ([-0.02, 0.0, 0.0, 5.0], [1.0, 2.0, 3.0, 4.0], True),
    ([0.0, 0.0, 0.0, -0.001], [1.0, 2.0, 3.0, 4.0], True),
    ([0.0, 0.0, 0.0, 5.0], [-1e-6, 2.0, 3.0, 4.0], True),
])
def test_has_imaginary_modes(gamma, rest, imaginary):
    assert km.has_imaginary_modes(np.array([gamma, rest])) is imaginary
    assert km.has_imaginary_modes(np.full((2, 4), np.nan))


# ---- the benchmark's data --------------------------------------------------------------------

def _folder():
    try:
        return kr.default_folder()
    except ValueError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def bench():
    return kr.load_benchmark(_folder())


def test_benchmark_loads(bench):
    assert len(bench) == 103
    groups = {}
    for mp_id, (mat, ref) in bench.items():
        assert mat.mp_id == ref.mp_id == mp_id and mat.name == ref.name
        groups[mat.spacegroup_number] = groups.get(mat.spacegroup_number, 0) + 1
        n_q, n_b = ref.frequencies_THz.shape
        assert n_b == 3 * len(mat.atoms) // round(abs(np.linalg.det(mat.primitive_matrix)) ** -1)
        assert ref.mode_kappa_tot_avg.shape == ref.heat_capacity.shape == (1, n_q, n_b)
        assert ref.temperatures_K.tolist() == [300.0]
    assert groups == {225: 37, 216: 33, 186: 33}
    gan = sorted((m.spacegroup_number, i) for i, (m, _) in bench.items() if m.name == "GaN")
    assert [g for g, _ in gan] == [186, 216]
    wurtzite = next(m for m, _ in bench.values() if m.spacegroup_number == 186)
    assert np.array_equal(wurtzite.primitive_matrix, np.eye(3))
    assert wurtzite.q_mesh.tolist() == [19, 19, 15] and wurtzite.n_mesh == 5415


def test_reference_normalisation(bench):
    """κ̄ = Σ mode κ̄ / Σ weights (N), for every material, to ≤ 1e-8 relative; the sum over
    the irreducible points alone (Σ/n_q) is far off."""
    for mat, ref in bench.values():
        kappa = ref.kappa_tot_avg_WmK[0]
        assert ref.weights.sum() == mat.n_mesh
        got = km.kappa_from_modes(ref.mode_kappa_tot_avg, ref.weights)[0]
        assert abs(got - kappa) <= 1e-8 * kappa, ref.mp_id
        assert ref.mode_kappa_tot_avg[0].sum() / len(ref.weights) > 10 * kappa


def test_reference_scores_itself_zero_and_perturbed(bench):
    for mp_id in ("mp-2472", "mp-8062", "mp-1184046"):
        _, ref = bench[mp_id]
        k, m = ref.kappa_tot_avg_WmK[0], ref.mode_kappa_tot_avg[0]
        s = km.score_material(k, m, ref.weights, k, m, material_id=mp_id,
                              pred_frequencies=ref.frequencies_THz,
                              ref_frequencies=ref.frequencies_THz)
        assert (s.srme, s.srd, s.spectrum_w1_THz, s.censored) == (0.0, 0.0, 0.0, False)
        assert not km.has_imaginary_modes(ref.frequencies_THz)
        s = km.score_material(0.8 * k, 0.8 * m, ref.weights, k, m)
        assert s.srme == pytest.approx(2 * 0.2 / 1.8, rel=1e-8)


def test_match_checks_both_files(bench):
    materials = {i: m for i, (m, _) in bench.items()}
    references = {i: r for i, (_, r) in bench.items()}
    assert list(kr.match(materials, references)) == list(bench)
    missing = dict(references)
    del missing["mp-2472"]
    with pytest.raises(ValueError, match="mp-2472"):
        kr.match(materials, missing)
    renamed = dict(references)
    renamed["mp-2472"] = dataclasses.replace(references["mp-2472"], name="CaO")
    with pytest.raises(ValueError, match="SrO"):
        kr.match(materials, renamed)


# ---- loading errors --------------------------------------------------------------------------

def _one_line_error(func, *args, match=None):
    with pytest.raises(ValueError, match=match) as info:
        func(*args)
    assert "\n" not in str(info.value) and str(info.value)
    return str(info.value)


def test_missing_folder_and_files(tmp_path, monkeypatch):
    for func in (kr.load_materials, kr.load_reference, kr.load_benchmark):
        _one_line_error(func, tmp_path / "nowhere", match="does not exist")
        _one_line_error(func, tmp_path, match="missing")
    monkeypatch.setenv(kr.DATA_ENV, str(tmp_path / "nowhere"))
    _one_line_error(kr.default_folder, match=kr.DATA_ENV)
    _one_line_error(kr.load_reference, None, match="does not exist")
    monkeypatch.setenv(kr.DATA_ENV, str(tmp_path))
    assert kr.default_folder() == tmp_path


def test_garbled_files(tmp_path):
    (tmp_path / kr.REFERENCE_FILE).write_bytes(b"not gzip at all")
    _one_line_error(kr.load_reference, tmp_path, match="gzipped JSON")
    with gzip.open(tmp_path / kr.REFERENCE_FILE, "wt") as fh:
        fh.write("{broken json")
    _one_line_error(kr.load_reference, tmp_path, match="gzipped JSON")
    with gzip.open(tmp_path / kr.REFERENCE_FILE, "wt") as fh:
        json.dump({"mp_id": {"0": "mp-1"}}, fh)
    _one_line_error(kr.load_reference, tmp_path, match="lacks the columns")
    row = {"mp_id": "mp-1", "name": "X", "symm.no": 225, "q_mesh": [2, 1, 1],
           "qpoints": [[0, 0, 0], [0.5, 0, 0]], "weights": [1, 1],
           "frequencies": [[0.0, 1.0, 2.0]] * 2, "heat_capacity": [[[1e-5] * 3] * 2],
           "temperatures": [300.0], "kappa_TOT_ave": [2.0],
           "mode_kappa_TOT_ave": [[[0.5, 0.5, 1.0]] * 2]}

    def write(**change):
        with gzip.open(tmp_path / kr.REFERENCE_FILE, "wt") as fh:
            json.dump({k: {"0": v} for k, v in (row | change).items()}, fh)

    write()
    (ref,) = kr.load_reference(tmp_path).values()
    assert ref.mp_id == "mp-1" and km.kappa_from_modes(ref.mode_kappa_tot_avg, ref.weights)[0] == 2.0
    write(mode_kappa_TOT_ave=[[[0.5, 0.5]] * 2])
    _one_line_error(kr.load_reference, tmp_path, match="mode_kappa_TOT_ave")
    write(weights=[1, 2])
    _one_line_error(kr.load_reference, tmp_path, match="weights")
    write(kappa_TOT_ave=["NaN"])
    _one_line_error(kr.load_reference, tmp_path, match="kappa_TOT_ave")

    (tmp_path / kr.STRUCTURES_FILE).write_text("3\nthis is not\nan extxyz file\n")
    _one_line_error(kr.load_materials, tmp_path, match="extxyz")
    (tmp_path / kr.STRUCTURES_FILE).write_text(
        '1\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 mp_id=mp-1 name=X '
        'pbc="T T T"\nNa 0 0 0\n')
    _one_line_error(kr.load_materials, tmp_path, match="lacks")


def test_loaded_arrays_are_read_only(bench):
    mat, ref = bench["mp-2472"]
    with pytest.raises(ValueError):
        ref.mode_kappa_tot_avg[0, 0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.name = "x"
    assert math.isclose(ref.kappa_tot_avg_WmK[0], 9.9150521822)
    assert mat.fc2_supercell.tolist() == (4 * np.eye(3, dtype=int)).tolist()
