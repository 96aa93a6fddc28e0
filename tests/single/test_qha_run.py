"""``Phonons.run_qha`` / ``phonjax run --qha`` (``single.qha_step``): the batched quasi-harmonic
approximation from a model, against ASE + phonopy 4.10 doing the same volumes one by one in the
test (fixed-volume FIRE relaxation, finite displacements, thermal properties, ``PhonopyQHA``),
with the toy Morse model (tests/bench/fakes.py); and the rule for volumes with imaginary modes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tests.bench.fakes  # noqa: F401  (registers the toy Morse model)
from phonjax import Phonons
from phonjax.single.qha_step import QHARunSettings

TEMPERATURES = tuple(float(t) for t in range(0, 501, 25))


def _reference(p, settings: QHARunSettings):
    """ASE + phonopy, one volume after another, as a user scripts it (the validation's)."""
    from phonjax.pipeline import models
    from validation.qha_phonopy import reference

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return reference(p, settings.fractions, models.adapter("toy:morse").load().calculator(),
                         TEMPERATURES)


def test_qha_equals_ase_and_phonopy_volume_by_volume():
    from ase.build import bulk

    p = Phonons.from_structure(bulk("Cu", "fcc", a=3.6), model="toy:morse",
                               supercell_matrix=(2, 2, 2), mesh=(6, 6, 6),
                               temperatures_K=TEMPERATURES)
    settings = QHARunSettings(volumes=7, strain=0.06)
    r = p.run_qha(settings)
    volumes, energies, ref = _reference(p, settings)
    # measured: volumes and energies equal (0); V(T) 3.2e-9, α(T) 3.3e-7, B_T 1.5e-7 relative:
    # F, S, Cv equal to ~1e-15, moved by phonopy's leastsq stopping point (phonjax.qha.core)
    np.testing.assert_allclose([v.volume_A3 for v in p.qha.points], volumes, rtol=1e-10)
    np.testing.assert_allclose([v.energy_eV for v in p.qha.points], energies, rtol=1e-9)
    n = len(r.temperatures_K)
    np.testing.assert_allclose(r.equilibrium_volumes_A3, ref.volume_temperature[:n], rtol=1e-7)
    np.testing.assert_allclose(r.thermal_expansion_per_K, ref.thermal_expansion[:n], rtol=3e-5,
                               atol=1e-12)
    np.testing.assert_allclose(r.bulk_modulus_GPa, ref.bulk_modulus_temperature[:n], rtol=1e-5)
    assert r.thermal_expansion_per_K[-1] > 0  # it expands


def test_unstable_volumes_are_excluded_and_named(tmp_path):
    """bcc Cu with the Morse model has imaginary modes above ~1.04 V₀: those volumes are left
    out of the fit and named; with fewer than 5 stable volumes the QHA is refused."""
    from ase.build import bulk

    from phonjax.single.cli import qha_line

    p = Phonons.from_structure(bulk("Cu", "bcc", a=2.87), model="toy:morse",
                               supercell_matrix=(2, 2, 2), mesh=(4, 4, 4),
                               temperatures_K=(0.0, 100.0, 200.0, 300.0))
    p.run_qha(volumes=9, strain=0.1)
    excluded = p.qha.excluded
    assert len(excluded) >= 2 and all(v.min_frequency_THz < 0 for v in excluded)
    assert all(v.fraction > 1 for v in excluded)
    assert len(p.qha.result.volumes_A3) == 9 - len(excluded)
    line = qha_line(p.qha)
    assert "excluded (imaginary modes)" in line and f"{excluded[0].fraction:.3f}" in line
    from phonjax.single import qha_step

    qha_step.write(p, tmp_path, plots=False)
    assert (tmp_path / "qha" / "e-v.dat").read_text().count("\n") == 1 + 9 - len(excluded)
    with pytest.raises(Exception, match="refused"):
        p.run_qha(volumes=7, strain=0.3)
    assert "5 needed" in p.qha.reason and "unstable" in p.qha.reason


def test_qha_settings_refused_in_one_line():
    for bad in ({"volumes": 4}, {"strain": 0.0}, {"strain": 0.7}, {"eos": "poly"}):
        with pytest.raises(ValueError):
            QHARunSettings(**bad)


def test_extrapolated_volumes_are_flagged():
    """V(T) beyond the largest fitted volume is an extrapolation: the step says from where."""
    from ase.build import bulk

    from phonjax.single.cli import qha_line

    p = Phonons.from_structure(bulk("Cu", "fcc", a=3.6), model="toy:morse",
                               supercell_matrix=(2, 2, 2), mesh=(4, 4, 4),
                               temperatures_K=tuple(float(t) for t in range(0, 1501, 50)))
    r = p.run_qha(volumes=5, strain=0.02)
    until = p.qha.inside_until_K
    assert until is not None and until < r.temperatures_K[-1]
    i = int(np.searchsorted(r.temperatures_K, until))
    assert r.equilibrium_volumes_A3[i + 1] > r.volumes_A3.max()
    assert r.equilibrium_volumes_A3[:i + 1].max() <= r.volumes_A3.max()
    assert "leaves the fitted volumes" in qha_line(p.qha)


def test_negative_bulk_modulus_is_flagged():
    """A fit whose B_T(T) is not positive (F(V) not convex) is named in the run's line."""
    from types import SimpleNamespace

    from phonjax.single.cli import qha_line
    from phonjax.single.qha_step import QHAOutcome

    t = np.array([0.0, 100.0, 200.0, 300.0])
    result = SimpleNamespace(temperatures_K=t, bulk_modulus_GPa=np.array([50.0, 20.0, -5.0, -9.0]),
                             equilibrium_volumes_A3=np.full(4, 10.0),
                             volumes_A3=np.array([9.5, 10.0, 10.5, 11.0, 11.5]))
    o = QHAOutcome("X", "done", points=(), result=result, settings=QHARunSettings())
    assert o.convex_until_K == 100.0 and o.inside_until_K == 300.0
    assert "B_T ≤ 0" in qha_line(o) and "above 100 K" in qha_line(o)
