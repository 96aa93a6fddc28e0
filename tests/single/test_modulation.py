"""``phonon.modulation`` against phonopy 4.10's ``run_modulations`` on the same force constants.

phonopy's example folders (NaCl with and without NAC, MgB2 with a non-diagonal dimension,
Al2O3 with NAC at Γ along a direction): phonopy is loaded from the same files and given
phonjax's force constants, so what is compared is the modulation itself (mode, supercell,
amplitude normalisation, phase factor, wrapping) and the files written. Modes are taken
non-degenerate (checked on phonopy's frequencies), or made unique by ``delta_q``: inside a
degenerate set the eigenvectors are the eigensolver's choice (phonopy's are LAPACK's).
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from phonjax.phonon import modulation as mod
from tests.conftest import EXAMPLES

CASES = {  # name: (folder, nac, dimension, modes (q, band 0-based, amplitude, phase°), kwargs)
    "NaCl": ("NaCl", False, [2, 2, 2],
             [([0.5, 0.5, 0.0], 2, 2.0, 0.0), ([0.0, 0.5, 0.5], 5, 1.0, 30.0),
              ([0.25, 0.25, 0.0], 5, 1.5, 0.0)], {}),
    "NaCl-nac": ("NaCl", True, [2, 2, 2],
                 [([0.0, 0.0, 0.0], 5, 2.0, 0.0), ([0.5, 0.0, 0.5], 5, 1.0, 10.0)],
                 {"nac_q_direction": [1.0, 0.0, 0.0]}),
    "MgB2": ("MgB2", False, [[1, 1, 0], [-1, 1, 0], [0, 0, 2]],
             [([0.5, 0.0, 0.5], 3, 1.0, 0.0), ([0.0, 0.0, 0.5], 8, 1.0, 0.0)], {}),
    "Al2O3-nac": ("Al2O3", True, [1, 1, 1],
                  [([0.0, 0.0, 0.0], 20, 1.0, 0.0), ([0.0, 0.0, 0.0], 29, 1.0, 90.0)],
                  {"nac_q_direction": [0.0, 0.0, 1.0]}),
}
DELTA_Q = [0.01, 0.02, 0.03]
LIFTED = {  # degenerate at q, made unique by delta_q (the projected ∂D/∂q splits them)
    "NaCl": ("NaCl", False, [2, 2, 2], [([0.2, 0.2, 0.2], b, 1.5, 20.0 * b) for b in (0, 1, 3, 4)]),
    "MgB2": ("MgB2", False, [3, 3, 1], [([1 / 3, 1 / 3, 0.0], b, 1.0, 0.0) for b in (1, 2, 3, 4)]),
}
# measured max |Δ| vs phonopy: displacements 1.5e-16 Å, modulated cells 1e-15 Å,
# frequencies 1.4e-14 THz, supercell 0; tolerances ~100× above, within the contract
TOL_U = 1e-10
TOL_F = 1e-8


@pytest.fixture(scope="module")
def loaded():
    """``loaded(folder, nac)`` → (phonjax Harmonic, phonopy.Phonopy with the same force
    constants), once per folder and NAC setting."""
    import phonopy

    from phonjax import Phonons

    if not EXAMPLES.is_dir():
        pytest.skip("phonopy example folders not found")
    cache = {}

    def load(name: str, nac: bool):
        if (name, nac) not in cache:
            folder = EXAMPLES / name
            p = Phonons.from_dataset(folder, nac=nac, mesh=(2, 2, 2))
            p.produce_force_constants()
            h = p.harmonic
            extra = {"born_filename": folder / "BORN"} if nac else {"is_nac": False}
            ph = phonopy.load(folder / "phonopy_disp.yaml",
                              force_sets_filename=folder / "FORCE_SETS",
                              primitive_matrix=np.asarray(h.cells.primitive_matrix).tolist(),
                              produce_fc=False, log_level=0, **extra)
            assert np.abs(ph.primitive.cell - h.system.primitive.crystal.lattice).max() < 1e-12
            ph.force_constants = np.asarray(h.result.force_constants)
            cache[(name, nac)] = (h, ph)
        return cache[(name, nac)]

    return load


def _cartesian_gap(a_frac, b_frac, lattice) -> float:
    d = np.asarray(a_frac) - np.asarray(b_frac)
    return float(np.abs((d - np.rint(d)) @ lattice).max())


def _assert_non_degenerate(ph, modes, kwargs):
    for q, band, _, _ in modes:
        ph.run_qpoints([q], nac_q_direction=kwargs.get("nac_q_direction"))
        f = ph.qpoints.frequencies[0]
        gaps = np.abs(f - f[band])
        gaps[band] = np.inf
        assert gaps.min() > 1e-3, f"mode {band} at {q} is degenerate: a test of nothing"


def _same_up_to_the_tied_pick(ours: np.ndarray, theirs: np.ndarray) -> bool:
    """One mode's displacements equal phonopy's (TOL_U) once the phase is fixed by phonopy's
    pick of the largest component, which must be one of phonjax's ties (|ũ_k| within
    TIE_RELATIVE of the largest): phonopy's ``argmax`` decides such ties by rounding noise
    (e.g. NaCl's LO mode along the reduced direction (1, 0, 0), Cartesian (−1, 1, 1): equal
    |x|, |y|, |z|), phonjax takes the first. True where both picked the same component."""
    a, b = ours.ravel(), theirs.ravel()
    k = int(np.argmax(np.abs(b)))
    assert abs(a[k]) >= np.abs(a).max() * (1 - mod.TIE_RELATIVE)
    phase = (b[k] / abs(b[k])) / (a[k] / abs(a[k]))
    assert np.abs(a * phase - b).max() <= TOL_U
    first = int(np.flatnonzero(np.abs(a) >= np.abs(a).max() * (1 - mod.TIE_RELATIVE))[0])
    return first == k


@pytest.mark.parametrize("case", list(CASES))
def test_modulations_match_phonopy(loaded, case):
    name, nac, dim, modes, kwargs = CASES[case]
    h, ph = loaded(name, nac)
    _assert_non_degenerate(ph, modes, kwargs)
    ours = mod.modulations(h, dim, modes, **kwargs)
    ref = ph.run_modulations(dim, [list(m) for m in modes], **kwargs)
    u_ref, supercell = ref.get_modulations_and_supercell()
    # the perfect supercell: phonopy's get_supercell of the primitive cell, its atom order
    assert np.abs(ours.supercell.lattice - supercell.cell).max() <= 1e-12
    assert np.abs(ours.supercell.frac_positions - supercell.scaled_positions).max() <= 1e-12
    assert ours.supercell.numbers.tolist() == list(supercell.numbers)
    assert np.abs(ours.supercell.masses - supercell.masses).max() <= 1e-12
    assert np.abs(ours.frequencies_THz - ref.frequencies).max() <= TOL_F
    assert ours.displacements_A.shape == u_ref.shape
    same_pick = [_same_up_to_the_tied_pick(a, b) for a, b in zip(ours.displacements_A, u_ref)]
    for cell, theirs, same in zip(ours.modulated_supercells + (ours.modulated_supercell,),
                                  ref.modulated_supercells + [ref.modulated_supercell],
                                  same_pick + [all(same_pick)]):
        if same:  # else shifted along the wave by the tied component's phase (above)
            assert _cartesian_gap(cell.frac_positions, theirs.scaled_positions,
                                  theirs.cell) <= TOL_U
        assert ((cell.frac_positions >= 0) & (cell.frac_positions <= 1)).all()  # x − ⌊x⌋
        assert cell.numbers.tolist() == list(theirs.numbers)
    # the same modes: eigenvectors equal up to eigh's global phase
    overlap = np.abs(np.einsum("mi,mi->m", ours.eigenvectors.conj(), ref.eigenvectors))
    assert np.abs(overlap - 1).max() <= 1e-10


@pytest.mark.parametrize("case", list(LIFTED))
def test_degenerate_modes_with_delta_q(loaded, case):
    """With ``delta_q`` the modes of a degenerate set are phonopy's. The largest component
    that fixes the phase is then one of several of equal size (images of one atom, where
    |e^{2πiq·x}| = 1): phonopy's ``argmax`` picks among them by rounding noise (measured:
    3 of these 8 picks are not the first), phonjax takes the first, so the two differ by that
    component's phase factor — the same modulation, shifted along the wave."""
    name, nac, dim, modes = LIFTED[case]
    h, ph = loaded(name, nac)
    ph.run_qpoints([modes[0][0]])
    f = ph.qpoints.frequencies[0]
    assert any(abs(f[b] - f[b + 1]) < 1e-6 for _, b, _, _ in modes if b + 1 < len(f))
    ours = mod.modulations(h, dim, modes, delta_q=DELTA_Q)
    ref = ph.run_modulations(dim, [list(m) for m in modes], delta_q=DELTA_Q)
    assert np.abs(ours.frequencies_THz - ref.frequencies).max() <= TOL_F
    for u, u_ref in zip(ours.displacements_A, ref.modulations):
        _same_up_to_the_tied_pick(u, u_ref)  # measured 1.9e-16
    with pytest.raises(ValueError, match="derivative_order"):
        mod.modulations(h, dim, modes, delta_q=DELTA_Q, derivative_order=2)


def _tokens(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_files_match_phonopy(loaded, tmp_path, monkeypatch):
    """MPOSCAR, MPOSCAR-001…, MPOSCAR-orig read back (phonopy's read_vasp, ASE) equal to
    phonopy's own files to their printed precision (1e-16); modulation.yaml has phonopy's
    layout and numbers."""
    import ase.io
    from phonopy.interface.vasp import read_vasp

    name, nac, dim, modes, kwargs = CASES["NaCl"]
    h, ph = loaded(name, nac)
    written = mod.write_modulations(mod.modulations(h, dim, modes, **kwargs), tmp_path / "ours")
    theirs = tmp_path / "phonopy"
    theirs.mkdir()
    monkeypatch.chdir(theirs)
    ph.run_modulations(dim, [list(m) for m in modes], **kwargs)
    ph.write_modulations()
    ph.write_yaml_modulations()
    names = sorted(p.name for p in theirs.iterdir())
    assert sorted(p.name for p in written) == names
    assert names == ["MPOSCAR", "MPOSCAR-001", "MPOSCAR-002", "MPOSCAR-003", "MPOSCAR-orig",
                     "modulation.yaml"]
    for n in names[:-1]:
        a, b = read_vasp(tmp_path / "ours" / n), read_vasp(theirs / n)
        assert np.abs(a.cell - b.cell).max() <= 1e-15
        assert _cartesian_gap(a.scaled_positions, b.scaled_positions, b.cell) <= 1e-14
        assert a.symbols == b.symbols
        atoms = ase.io.read(tmp_path / "ours" / n, format="vasp")
        assert atoms.get_chemical_symbols() == list(b.symbols)
        assert np.abs(atoms.cell.array - b.cell).max() <= 1e-15
        lines_a = _tokens((tmp_path / "ours" / n).read_text())
        lines_b = _tokens((theirs / n).read_text())
        assert [len(x) for x in lines_a] == [len(x) for x in lines_b]
        assert lines_a[:2] + lines_a[5:8] == lines_b[:2] + lines_b[5:8]  # header, species, Direct
    ours_yaml = yaml.safe_load((tmp_path / "ours" / "modulation.yaml").read_text())
    ref_yaml = yaml.safe_load((theirs / "modulation.yaml").read_text())
    assert ours_yaml.keys() == ref_yaml.keys()
    for cell in ("primitive_cell", "supercell"):
        assert ours_yaml[cell].keys() == ref_yaml[cell].keys()
        assert ours_yaml[cell]["atom_info"] == ref_yaml[cell]["atom_info"]
        for key in ("reciprocal_lattice", "real_lattice", "positions"):
            assert np.abs(np.subtract(ours_yaml[cell][key], ref_yaml[cell][key])).max() <= 1e-14
    assert ours_yaml["supercell"]["dimension"] == ref_yaml["supercell"]["dimension"]
    for a, b in zip(ours_yaml["modulations"], ref_yaml["modulations"], strict=True):
        assert a.keys() == b.keys()
        assert [a[k] for k in ("q-position", "band", "amplitude", "phase")] == \
               [b[k] for k in ("q-position", "band", "amplitude", "phase")]
        for key in ("displacements", "fractional_displacements"):
            assert np.abs(np.subtract(a[key], b[key])).max() <= 1e-14
    for a, b in zip(ours_yaml["phonon"], ref_yaml["phonon"], strict=True):
        assert a.keys() == b.keys() and a["band"] == b["band"]
        assert abs(a["frequency"] - b["frequency"]) <= 1e-9
        va = np.asarray(a["eigenvector"], float).reshape(-1, 2) @ [1, 1j]
        vb = np.asarray(b["eigenvector"], float).reshape(-1, 2) @ [1, 1j]
        assert abs(abs(np.vdot(va, vb)) - 1) <= 1e-12  # eigh's global phase apart


def test_bad_input(loaded):
    h, _ = loaded("NaCl", False)
    q = [0.5, 0.5, 0.0]
    with pytest.raises(ValueError, match="band_index"):
        mod.modulations(h, [2, 2, 2], [(q, 6, 1.0, 0.0)])
    with pytest.raises(ValueError, match="dimension"):
        mod.modulations(h, [2, 2], [(q, 0, 1.0, 0.0)])
    with pytest.raises(ValueError, match="positive determinant"):
        mod.modulations(h, [2, 2, 0], [(q, 0, 1.0, 0.0)])
    with pytest.raises(ValueError, match="each mode"):
        mod.modulations(h, [2, 2, 2], [(q, 0, 1.0)])
    with pytest.raises(ValueError, match="at least one mode"):
        mod.modulations(h, [2, 2, 2], [])
    with pytest.raises(ValueError, match="delta_q"):
        mod.modulations(h, [2, 2, 2], [(q, 0, 1.0, 0.0)], delta_q=[0, 0, 0])
