"""phonopy's example folders (phonopy_disp.yaml + FORCE_SETS [+ BORN]) against phonopy 4.10.

phonopy's side is computed here, during the run, by ``validation.reference.phonopy_reference``
(``phonopy.load(..., force_sets_filename=, born_filename=)``, NAC on with BORN and off
without; the ``phonopy_example`` fixture). For each folder, with and without the
non-analytical correction: force constants, F/S/Cv at 300 K on the 20³ mesh,
frequencies at phonopy's mesh q-points, at the commensurate points and along phonopy's
own band path (seekpath; each segment through Γ with its direction), and the LO–TO
splitting at Γ along Cartesian [100] and [111]; Wang's method on NaCl and Al2O3
(anisotropic charges). Each case compiles its own kernels (~10 s on 2 cores): three
run by default, the rest with ``-m slow``.
"""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax.execution.modes import modes, path_modes

FAST = [("NaCl", "gonze"), ("NaCl", None), ("Al2O3", "wang")]
SLOW = [("MgO", "gonze"), ("MgO", None), ("Al2O3", "gonze"), ("Al2O3", None), ("Cr", None),
        ("MgB2", None), ("NaCl", "wang")]
CASES = FAST + [pytest.param(*c, marks=pytest.mark.slow) for c in SLOW]
REAL = 0.1  # THz: the contract's modes; |ν| below is acoustic noise at Γ


def _ids(value):
    return value if value is not None else "no-nac"


def _close(ours, theirs, what):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, what
    real = np.abs(theirs) >= REAL
    err = np.abs(ours - theirs)[real].max()
    assert err <= 1e-8, (what, err)


@pytest.mark.parametrize("name, nac", CASES, ids=_ids)
def test_folder_matches_phonopy(phonopy_example, name, nac):
    ref, ds, directions = phonopy_example(name, nac)
    system = phonjax.prepare(ds)
    assert (system.tables.nac is None) == (nac is None)
    r = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True)[0]
    fc = r.force_constants
    assert np.abs(fc - ref.force_constants).max() <= 1e-10
    for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
        ours, theirs = getattr(r, key)[0], getattr(ref, key)[0]
        assert abs(ours - theirs) <= 1e-8 * abs(theirs), (key, ours, theirs)
    _close(np.sort(r.commensurate_frequencies_THz, axis=1),
           np.sort(ref.commensurate_frequencies_THz, axis=1), "commensurate")
    _close(modes(system.tables, fc, ref.mesh_qpoints)[0], ref.mesh_frequencies_THz, "20³ mesh")
    for k, ((ours, _), theirs) in enumerate(zip(path_modes(system.tables, fc, ref.band_qpoints),
                                                ref.band_frequencies_THz)):
        _close(ours, theirs, f"band segment {k}")
    if nac is None:
        return
    for d, theirs in zip(directions, ref.gamma_frequencies_THz):  # LO–TO at Γ
        _close(modes(system.tables, fc, [[0.0, 0.0, 0.0]], q_direction=d)[0][0], theirs,
               f"Γ along {d}")
    if (name, nac) == ("NaCl", "gonze"):  # a real splitting, not two equal spectra
        assert (ref.gamma_frequencies_THz[:, -1] - ref.gamma_frequencies_THz[:, -2] > 2.0).all()
        without = modes(system.tables, fc, [[0.0, 0.0, 0.0]])[0][0]
        assert abs(without[-1] - without[-2]) < 1e-6  # no direction: no splitting


def test_nac_changes_polar_results(phonopy_example):
    """NAC is no no-op: phonopy's NaCl F differs with and without it, and phonjax follows."""
    with_nac, without = phonopy_example("NaCl", "gonze")[0], phonopy_example("NaCl", None)[0]
    assert abs(with_nac.free_energy_kJmol[0] - without.free_energy_kJmol[0]) > 1e-3
