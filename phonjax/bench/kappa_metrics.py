"""Scores of a predicted thermal conductivity against the DFT reference: κ_SRME, κ_SRE,
κ_SRD and the phonon-spectrum distance of the κ benchmark (Póta et al. 2024; k_SRME's
``k_srme/benchmark.py`` and matbench-discovery's ``matbench_discovery/metrics/phonons.py``,
whose definitions these re-implement; see each function for the exact source lines).

Everything is for one material at one temperature (the benchmark's 300 K; the reference
holds that temperature only) unless a docstring says otherwise, κ in W/m·K, frequencies
in THz, arrays on the irreducible q-points of the material's mesh (n_q points of weight
w_q, Σ w_q = N, the mesh's point count; n_b bands).

Trace average: κ̄ = (κ_xx + κ_yy + κ_zz)/3.

Per-mode κ carries its q-point's weight and is not divided by N (phono3py's and phonjax's
``mode_kappa``), so that a material's κ is

    κ̄ = Σ_q Σ_s κ̄_qs / Σ_q w_q = Σ_qs κ̄_qs / N

(phonjax.anharmonic.conductivity.total: ``mode_kappa.sum(q, band) / n_mesh``; k_SRME
conductivity.py l.250–252 and matbench thermal_conductivity.py l.355–357 check theirs
the same way). Verified on the DFT reference (``kappas_phononDB_PBE_noNAC.json.gz``): for
all 103 materials Σ mode_kappa_TOT_ave / Σ weights equals kappa_TOT_ave to 9.1e-11
relative at worst (the file keeps 10 decimals), Σ weights = 19³ = 6859 or
19·19·15 = 5415; dividing by the number of irreducible points instead is 16–31× off.

Scores (matbench-discovery's names; SRD and SRE use the totals, SRME the modes too):

    SRD  = 2 (κ̄_pred − κ̄_ref) / (κ̄_pred + κ̄_ref)                       ∈ [−2, 2]
    SRE  = |SRD|
    SRME = 2 (Σ_qs |κ̄^pred_qs − κ̄^ref_qs| / Σ_q w_q) / (κ̄_pred + κ̄_ref)   ∈ [0, 2]

Failure conventions (``score_material``), from matbench-discovery (commit 2c7f9fc, 2026-07,
metrics/phonons.py): a prediction without a single finite non-negative κ̄ scores
SRD = −2 (SRE = 2); SRME = 2, flagged *censored* (the ``failure_rate``), when the model's
phonons have imaginary modes, its relaxation changed the space group, or its κ is missing
or malformed (no or non-finite mode κ, mode κ on another mesh, bad weights) or gives an
SRME outside [0, 2] (possible when mode κ are negative). A malformed reference is an error.
k_SRME (commit 0269a94) differs only at the edges: NaN κ̄ → SRD −2 as here, but a negative
κ̄ or an SRME above 2 is scored as computed, and no division by zero is guarded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from phonjax.pipeline.kappa import GAMMA_ACOUSTIC_THRESHOLD_THZ

KAPPA_ERROR_MAX = 2.0  # SRME of a censored material, |SRD| of a failed one
DEGENERATE_THZ = 1e-4  # phono3py ≤ 3.30 (MS-SMM19): band pairs this close count as particle κ
IMAGINARY_THRESHOLD_THZ = GAMMA_ACOUSTIC_THRESHOLD_THZ  # Γ acoustic modes may dip this far


def trace_average(kappa) -> np.ndarray:
    """κ̄ = (κ_xx + κ_yy + κ_zz)/3 of Voigt 6-vectors (..., 6) in phono3py's order
    xx yy zz yz xz xy, or of tensors (..., 3, 3); shape (...). matbench
    ``calculate_kappa_avg`` (phonons.py l.277–310), k_SRME ``calculate_kappa_ave``
    (benchmark.py l.107–119: the mean of the first three Voigt components)."""
    k = np.asarray(kappa, dtype=float)
    if k.ndim >= 2 and k.shape[-2:] == (3, 3):
        return np.trace(k, axis1=-2, axis2=-1) / 3.0
    if k.ndim >= 1 and k.shape[-1] == 6:
        return k[..., :3].mean(axis=-1)
    raise ValueError(f"κ of shape {k.shape}: expected (..., 6) Voigt or (..., 3, 3)")


def mode_kappa_total(mode_kappa_p, mode_kappa_c=None, heat_capacity=None) -> np.ndarray:
    """Trace-averaged per-mode total κ̄_qs (n_T, n_q, n_b) W/m·K, as the benchmark builds
    ``mode_kappa_TOT_ave`` from phono3py's Wigner output (k_SRME benchmark.py l.122–139
    then ``calculate_kappa_ave``; matbench thermal_conductivity.py l.370–398; the DFT
    reference was made so by k_SRME data/join_dft_kappas.py l.57–59).

    mode_kappa_p (n_T, n_q, n_b, 6): particle (populations) κ per mode, phono3py's
    ``mode_kappa_P_RTA`` (or plain RTA ``mode_kappa``; then leave out the rest);
    mode_kappa_c (n_T, n_q, n_b, n_b, 6): coherence κ per band pair (s, s′), phono3py's
    ``mode_kappa_C``; heat_capacity (n_T, n_q, n_b) eV/K, phono3py's
    ``mode_heat_capacities`` (only ratios enter). Voigt order xx yy zz yz xz xy.

    A pair's coherence κ is shared out by heat capacity, each mode s′ (the *second* band
    index) receiving, per Voigt component,

        κ^C_qs′ = Σ_s 2 C_qs / (C_qs + C_qs′) · κ^C_q,ss′

    (with κ^C symmetric in s, s′ the shares of a pair add up to its κ^C_ss′ + κ^C_s′s);
    where a term is 0/0 (C_s = C_s′ = 0) or NaN, that mode's whole coherence share
    (that component) is 0. Then κ_qs = κ^P_qs + κ^C_qs, trace-averaged. Neither weights
    nor N enter: the result has the normalisation of its inputs (Σ / N gives κ̄).

    phonjax's and phono3py 4.10's Wigner output is one band-pair matrix whose diagonal
    is the particle part: pass it as ``mode_kappa_c`` with ``mode_kappa_p`` zero, or
    split it as phono3py 3.30 did first (``split_band_pairs``); the two agree to the
    heat-capacity difference within near-degenerate pairs (< 1e-4 THz apart).
    """
    p = np.asarray(mode_kappa_p, dtype=float)
    if p.ndim != 4 or p.shape[-1] != 6:
        raise ValueError(f"mode_kappa_p of shape {p.shape}: expected (n_T, n_q, n_b, 6)")
    if mode_kappa_c is None:
        return trace_average(p)
    c = np.asarray(mode_kappa_c, dtype=float)
    if c.shape != p.shape[:3] + (p.shape[2], 6):
        raise ValueError(f"mode_kappa_c of shape {c.shape}: expected {p.shape[:3] + (p.shape[2], 6)}")
    if heat_capacity is None:
        raise ValueError("mode_kappa_c needs heat_capacity (n_T, n_q, n_b) to be shared out")
    cv = np.asarray(heat_capacity, dtype=float)
    if cv.shape != p.shape[:3]:
        raise ValueError(f"heat_capacity of shape {cv.shape}: expected {p.shape[:3]}")
    partner, receiver = cv[..., :, None], cv[..., None, :]  # C_s on axis 2, C_s′ on axis 3
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 2.0 * partner / (partner + receiver)  # (n_T, n_q, s, s′)
        coherence = (share[..., None] * c).sum(axis=2)  # (n_T, n_q, s′, 6)
    coherence = np.where(np.isnan(coherence), 0.0, coherence)
    return trace_average(p + coherence)


def split_band_pairs(mode_kappa_matrix, frequencies_THz, degenerate_THz: float = DEGENERATE_THZ
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(mode_kappa_p, mode_kappa_c) in phono3py 3.30's MS-SMM19 layout from one band-pair
    matrix κ_ss′ (n_T, n_q, n_b, n_b, 6) (phonjax ``KappaResult.mode_kappa_matrix``,
    phono3py 4.10 ``mode_kappa_matrix``) and frequencies (n_q, n_b) THz.

    Pairs with |f_s − f_s′| < ``degenerate_THz``, the diagonal included, are particle κ,
    each ordered pair giving half to s and half to s′:
    κ^P_s = ½ Σ_{s′ ≈ s} (κ_ss′ + κ_s′s); the others stay in κ^C (zero where moved)."""
    k = np.asarray(mode_kappa_matrix, dtype=float)
    f = np.asarray(frequencies_THz, dtype=float)
    if k.ndim != 5 or k.shape[-1] != 6 or k.shape[2] != k.shape[3] or k.shape[1:3] != f.shape:
        raise ValueError(f"mode_kappa_matrix {k.shape} and frequencies {f.shape}: expected "
                         "(n_T, n_q, n_b, n_b, 6) and (n_q, n_b)")
    close = np.abs(f[:, :, None] - f[:, None, :]) < degenerate_THz  # (n_q, s, s′)
    near = np.where(close[None, ..., None], k, 0.0)
    particle = 0.5 * (near.sum(axis=3) + near.sum(axis=2))
    return particle, k - near


def kappa_from_modes(mode_kappa, weights) -> np.ndarray | float:
    """κ̄ = Σ_qs κ̄_qs / Σ_q w_q of per-mode κ (..., n_q, n_b) and q weights (n_q,): the
    normalisation of phono3py, phonjax and the DFT reference (see the module docstring)."""
    m = np.asarray(mode_kappa, dtype=float)
    w = np.asarray(weights, dtype=float)
    if m.ndim < 2 or w.shape != m.shape[-2:-1]:
        raise ValueError(f"mode κ {m.shape} and weights {w.shape}: expected (..., n_q, n_b), (n_q,)")
    out = m.sum(axis=(-2, -1)) / w.sum()
    return float(out) if out.ndim == 0 else out


def _scalar(value, what: str) -> float:
    arr = np.asarray(value, dtype=float)
    if arr.size != 1:
        raise ValueError(f"{what}: one value expected (one temperature), got shape {arr.shape}")
    return float(arr.reshape(()))


def srd(pred_kappa_avg, ref_kappa_avg) -> float:
    """Symmetric relative difference 2 (κ̄_pred − κ̄_ref)/(κ̄_pred + κ̄_ref) of two
    trace-averaged κ (one temperature); 0 where both are 0 (matbench phonons.py
    l.65–78; k_SRME benchmark.py l.58–62). Failed predictions: ``score_material``."""
    p, r = _scalar(pred_kappa_avg, "pred_kappa_avg"), _scalar(ref_kappa_avg, "ref_kappa_avg")
    return 0.0 if p + r == 0 else KAPPA_ERROR_MAX * (p - r) / (p + r)


def sre(pred_kappa_avg, ref_kappa_avg) -> float:
    """Symmetric relative error |SRD|."""
    return abs(srd(pred_kappa_avg, ref_kappa_avg))


def srme(pred_mode_kappa, ref_mode_kappa, weights, pred_kappa_avg, ref_kappa_avg) -> float:
    """κ_SRME of one material at one temperature:

        SRME = 2 (Σ_qs |κ̄^pred_qs − κ̄^ref_qs| / Σ_q w_q) / (κ̄_pred + κ̄_ref)

    pred/ref_mode_kappa (n_q, n_b) trace-averaged per-mode κ (``mode_kappa_total``; same
    mesh, same shape), weights (n_q,) the q weights (only Σ w = N enters; the benchmark
    takes the prediction's), pred/ref_kappa_avg the trace-averaged totals (the
    prediction's from its own κ tensor, not from its modes). A zero denominator gives 0
    if the modes agree, else 2. (k_SRME benchmark.py l.207–219; matbench phonons.py
    l.469–486.) Not clipped: negative mode κ or totals inconsistent with the modes can
    give more than 2, which ``score_material`` censors as matbench does."""
    p = np.asarray(pred_mode_kappa, dtype=float)
    r = np.asarray(ref_mode_kappa, dtype=float)
    if p.shape != r.shape:
        raise ValueError(f"mode κ of shapes {p.shape} (pred) and {r.shape} (ref) differ")
    w = np.asarray(weights, dtype=float)
    error = float(np.abs(p - r).sum() / w.sum())
    denominator = _scalar(pred_kappa_avg, "pred_kappa_avg") + _scalar(ref_kappa_avg,
                                                                       "ref_kappa_avg")
    if denominator == 0:
        return 0.0 if error == 0 else KAPPA_ERROR_MAX
    return KAPPA_ERROR_MAX * error / denominator


def spectrum_distance(pred_frequencies, ref_frequencies, weights, pred_weights=None) -> float:
    """Wasserstein-1 distance (THz) between the weighted distributions of the predicted
    and reference phonon frequencies (n_q, n_b) on the κ mesh: each frequency weighs its
    q-point's weight (``weights`` (n_q,) for the reference; ``pred_weights`` for the
    prediction, by default the same, which needs the same q-points; np.ones(n) for a
    full mesh), via scipy.stats.wasserstein_distance (matbench phonons.py l.229–274).
    Imaginary modes enter as their negative frequencies."""
    from scipy.stats import wasserstein_distance

    def spectrum(freqs, w, what):
        f = np.asarray(freqs, dtype=float)
        w = np.asarray(w, dtype=float).ravel()
        if f.ndim != 2 or w.shape != f.shape[:1]:
            raise ValueError(f"{what}: frequencies {f.shape} and weights {w.shape} do not fit "
                             "(n_q, n_b), (n_q,)")
        if not (np.all(np.isfinite(f)) and np.all(np.isfinite(w)) and np.all(w >= 0)
                and w.sum() > 0):
            raise ValueError(f"{what}: non-finite frequencies or invalid weights")
        return f.ravel(), np.repeat(w, f.shape[1])

    u, uw = spectrum(pred_frequencies, weights if pred_weights is None else pred_weights,
                     "prediction")
    v, vw = spectrum(ref_frequencies, weights, "reference")
    return float(wasserstein_distance(u, v, uw, vw))


def has_imaginary_modes(frequencies_THz, threshold_THz: float = IMAGINARY_THRESHOLD_THZ
                        ) -> bool:
    """Whether phonons (n_q, n_b) THz, q-point 0 being Γ, count as unstable for the
    benchmark (matbench phonons/__init__.py l.25–47): all NaN, or a negative optical
    (band ≥ 3) frequency at Γ, or a Γ acoustic one (bands 0–2) below ``threshold_THz``, or
    a negative one anywhere else."""
    f = np.asarray(frequencies_THz, dtype=float)
    if np.all(np.isnan(f)):
        return True
    gamma, rest = f[0], f[1:]
    return bool(np.any(gamma[3:] < 0) or np.any(gamma[:3] < threshold_THz) or np.any(rest < 0))


@dataclass(frozen=True)
class KappaScore:
    """One material's scores at one temperature."""

    material_id: str
    srd: float  # ∈ [−2, 2]; −2 for a prediction without a valid κ̄
    sre: float  # |srd|
    srme: float  # ∈ [0, 2]; 2 when censored
    censored: bool  # SRME forced to 2 (matbench's ``srme_censored``: the failure rate)
    reason: str  # why censored, "" if not
    has_imaginary_modes: bool | None  # None: not said
    spectrum_w1_THz: float | None  # None without both spectra
    pred_kappa_avg_WmK: float | None
    ref_kappa_avg_WmK: float


def _finite(value, *, nonnegative: bool = False) -> np.ndarray | None:
    """``value`` as a finite (non-negative) float array, None if it is not one."""
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or (nonnegative and np.any(arr < 0)):
        return None
    return arr


def score_material(pred_kappa_avg, pred_mode_kappa, weights, ref_kappa_avg, ref_mode_kappa,
                   *, material_id: str = "", has_imaginary_modes: bool | None = None,
                   relaxed_spacegroup: int | None = None,
                   expected_spacegroup: int | None = None,
                   pred_frequencies=None, ref_frequencies=None, ref_weights=None
                   ) -> KappaScore:
    """SRD, SRE, SRME (and the spectrum W1 when both spectra are given) of one material at
    one temperature, with the benchmark's failure conventions (module docstring;
    matbench phonons.py l.53–78 and l.366–486).

    pred_kappa_avg: the prediction's trace-averaged κ (None: failed); pred_mode_kappa
    (n_q, n_b) its trace-averaged mode κ (None: failed); weights (n_q,) its q weights;
    ref_kappa_avg, ref_mode_kappa: the reference's (``KappaReference`` at one
    temperature: ``kappa_tot_avg_WmK[i]``, ``mode_kappa_tot_avg[i]``), which must be
    finite (and κ̄ ≥ 0) or this raises ``ValueError``. has_imaginary_modes
    (``has_imaginary_modes`` of the model's harmonic phonons) and a space group after
    relaxation different from ``expected_spacegroup`` (the initial structure's, else the
    reference's) censor SRME to 2. pred_frequencies (n_q′, n_b) are weighed by
    ``weights`` where n_q′ = n_q, else uniformly (a full mesh); ref_frequencies by
    ``ref_weights`` (default ``weights``)."""
    ref_total = _finite(ref_kappa_avg, nonnegative=True)
    if ref_total is None or ref_total.size != 1:
        raise ValueError(f"{material_id}: reference κ̄ must be one finite non-negative value, "
                         f"got {ref_kappa_avg!r}")
    ref_modes = _finite(ref_mode_kappa)
    if ref_modes is None:
        raise ValueError(f"{material_id}: reference mode κ missing or not finite")
    ref_value = float(ref_total.reshape(()))

    pred_total = _finite(pred_kappa_avg, nonnegative=True)
    pred_value = float(pred_total.reshape(())) if pred_total is not None and \
        pred_total.size == 1 else None
    srd_value = -KAPPA_ERROR_MAX if pred_value is None else srd(pred_value, ref_value)

    reason = ""
    if has_imaginary_modes:
        reason = "imaginary modes"
    elif relaxed_spacegroup and expected_spacegroup is not None and \
            relaxed_spacegroup != expected_spacegroup:
        reason = f"space group {expected_spacegroup} → {relaxed_spacegroup}"
    pred_modes, w = _finite(pred_mode_kappa), _finite(weights, nonnegative=True)
    srme_value = float("nan")
    if reason:
        pass
    elif pred_modes is None:
        reason = "no finite mode κ"
    elif pred_value is None:
        reason = "no finite non-negative κ̄"
    elif w is None or w.sum() <= 0:
        reason = "invalid weights"
    elif pred_modes.shape != ref_modes.shape:
        reason = f"mode κ on another mesh ({pred_modes.shape} vs {ref_modes.shape})"
    else:
        srme_value = srme(pred_modes, ref_modes, w, pred_value, ref_value)
        if not 0 <= srme_value <= KAPPA_ERROR_MAX:  # NaN fails too
            reason = f"SRME {srme_value:.4g} outside [0, 2]"

    w1 = None
    pred_f, ref_f = _finite(pred_frequencies), _finite(ref_frequencies)
    if pred_f is not None and ref_f is not None and pred_f.ndim == 2 and ref_f.ndim == 2:
        rw = _finite(weights if ref_weights is None else ref_weights, nonnegative=True)
        if rw is not None and rw.shape == ref_f.shape[:1] and rw.sum() > 0:
            pw = w if w is not None and w.shape == pred_f.shape[:1] and w.sum() > 0 \
                else np.ones(pred_f.shape[0])
            w1 = spectrum_distance(pred_f, ref_f, rw, pred_weights=pw)

    return KappaScore(
        material_id=material_id, srd=srd_value, sre=abs(srd_value),
        srme=KAPPA_ERROR_MAX if reason else srme_value, censored=bool(reason), reason=reason,
        has_imaginary_modes=None if has_imaginary_modes is None else bool(has_imaginary_modes),
        spectrum_w1_THz=w1, pred_kappa_avg_WmK=pred_value, ref_kappa_avg_WmK=ref_value)


@dataclass(frozen=True)
class KappaSummary:
    """The κ task's aggregates over materials (matbench ``evaluate_kappa_predictions``,
    phonons.py l.123–175, reported as κ_SRME, κ_SRE, κ_SRD, κ_failure_rate,
    imaginary_mode_rate, spectrum_w1; k_SRME ``get_metrics``/``get_success_metrics``,
    benchmark.py l.90–104, for the spreads and the means without SRME = 2)."""

    n_materials: int
    srme: float  # mean κ_SRME (censored materials count 2)
    sre: float  # mean κ_SRE
    srd: float  # mean κ_SRD (the sign says over- or underprediction)
    n_censored: int
    failure_rate: float  # n_censored / n_materials
    imaginary_mode_rate: float  # share of materials flagged with imaginary modes
    spectrum_w1_THz: float | None  # mean W1 over materials with both spectra, each
    # rounded to 4 decimals first as matbench does; None if there is none
    srme_std: float  # k_SRME's "rmseSRME": the population standard deviation
    sre_std: float
    srme_success: float  # mean over materials with SRME ≠ 2 (k_SRME, by value); NaN if none
    sre_success: float


def summarize(scores: Sequence[KappaScore]) -> KappaSummary:
    """Aggregate ``score_material`` records (one per material, all of the benchmark's 103
    for a reportable number) into the benchmark's metrics."""
    if not scores:
        raise ValueError("no scores to summarize")
    srme_v = np.array([s.srme for s in scores], dtype=float)
    sre_v = np.array([s.sre for s in scores], dtype=float)
    srd_v = np.array([s.srd for s in scores], dtype=float)
    n_censored = sum(s.censored for s in scores)
    w1 = [round(s.spectrum_w1_THz, 4) for s in scores if s.spectrum_w1_THz is not None]
    ok = srme_v != KAPPA_ERROR_MAX
    return KappaSummary(
        n_materials=len(scores), srme=float(srme_v.mean()), sre=float(sre_v.mean()),
        srd=float(srd_v.mean()), n_censored=int(n_censored),
        failure_rate=n_censored / len(scores),
        imaginary_mode_rate=sum(bool(s.has_imaginary_modes) for s in scores) / len(scores),
        spectrum_w1_THz=float(np.mean(w1)) if w1 else None,
        srme_std=float(srme_v.std()), sre_std=float(sre_v.std()),
        srme_success=float(srme_v[ok].mean()) if ok.any() else float("nan"),
        sre_success=float(sre_v[ok].mean()) if ok.any() else float("nan"))
