"""The imaginary-mode report on an unstable crystal (ThCl4, I4_1/amd, DFT forces from phonondb):
verdict, branches against phonopy's frequencies, and the modulated structure against phonopy's
own modulation of the same mode."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from phonjax.single import Phonons
from tests.conftest import sample_path


@pytest.fixture(scope="module")
def unstable():
    p = Phonons.from_dataset(sample_path("mp-23215"), mesh=(6, 6, 6), band_points=31).run()
    return p


def _phonopy(unstable):
    """phonopy on mp-23215's own forces, with our primitive matrix, symmetrized force constants."""
    import phonopy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph = phonopy.load(sample_path("mp-23215"), is_nac=False, produce_fc=False,
                          primitive_matrix=unstable.cells.primitive_matrix.tolist())
        ph.produce_force_constants()
        ph.symmetrize_force_constants()
    return ph


def test_verdict_and_branches(unstable):
    rep = unstable.instability
    v = rep.verdict
    assert not v.stable and v.min_frequency_THz < -0.4 and "−0.05 THz" in v.rule
    assert v.gamma_acoustic_max_abs_THz < 1e-5  # acoustic sum rule: Γ acoustic modes at zero
    assert {b.where for b in rep.branches} == {"band path", "mesh", "commensurate q-points"}
    ph = _phonopy(unstable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run_qpoints([b.q for b in rep.branches], with_eigenvectors=True)
    freqs = ph.get_qpoints_dict()["frequencies"]
    for b, f in zip(rep.branches, freqs):
        assert b.frequency_THz == pytest.approx(f[b.band], abs=1e-8)
        assert sum(b.element_shares.values()) == pytest.approx(1.0, abs=1e-3)
        assert b.frequency_THz < -unstable.settings.imaginary_tolerance_THz


def test_modulated_structure_is_phonopys_mode(unstable):
    rep = unstable.instability
    assert rep.modulations, rep.skipped
    m = rep.modulations[0]
    assert m.frequency_THz < -0.05 and m.crystal.n_atoms <= unstable.settings.modulation_max_atoms
    ph = _phonopy(unstable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mod = ph.run_modulations(np.array(m.supercell), [[list(m.q), m.band, 1.0, 0.0]])
    u_ph, cell = mod.get_modulations_and_supercell()
    base = cell.positions
    ours = m.crystal.positions
    # match atoms by position (both are supercells of the same primitive cell)
    lat = cell.cell
    d = (ours[:, None, :] - base[None, :, :]) @ np.linalg.inv(lat)
    d -= np.rint(d)
    dist = np.linalg.norm(d @ lat, axis=-1)
    match = dist.argmin(axis=1)
    assert len(set(match.tolist())) == len(match)
    u = (d[np.arange(len(match)), match] @ lat).reshape(-1)  # our displacement field
    basis = np.stack([u_ph[0].real[match].reshape(-1), u_ph[0].imag[match].reshape(-1)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, u, rcond=None)
    assert np.linalg.norm(basis @ coef - u) <= 1e-6 * np.linalg.norm(u)
    assert np.linalg.norm(u.reshape(-1, 3), axis=1).max() == pytest.approx(m.amplitude_A, rel=1e-9)


def test_report_files(unstable, tmp_path):
    import json

    import ase.io

    unstable.write(tmp_path)
    data = json.loads((tmp_path / "imaginary_modes.json").read_text())
    assert data["verdict"]["stable"] is False and data["unstable_branches"]
    f = tmp_path / data["modulated_structures"][0]["file"]
    atoms = ase.io.read(f)
    assert len(atoms) == unstable.instability.modulations[0].crystal.n_atoms
    text = (tmp_path / "summary.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
