"""``phonon.irreps``: the irreducible representations of the modes at a q-point against
phonopy 4.10's ``Phonopy.run_irreps`` / ``write_yaml_irreps``, run here on the same cells and
the same force constants (phonjax's, set into phonopy), and the IR/Raman activities at Γ
against the selection rules of the literature.

phonopy's side is built from phonjax's unit cell, supercell and primitive matrices (no
magnetic moments: phonopy refuses irreps of the magnetic Cr example as it is loaded), with
the folder's BORN through phonopy's ``parse_BORN`` for the NAC cases.
"""

from __future__ import annotations

import warnings
from collections import Counter

import numpy as np
import pytest
import yaml

from phonjax import Phonons
from phonjax.phonon.irreps import ACTIVITIES, irreps, write_irreps_yaml
from tests.conftest import EXAMPLES, sample_path

# measured max |χ_phonjax − χ_phonopy|: 7.4e-13 (mp-556003 at (½,½,½), little co-group),
# 4.4e-13 (mp-10851 at A, co-group), ≤ 1.2e-13 in the other cases
CHARACTER_TOL = 1e-10
# measured max |Δf| over bands with |f| > 0.1 THz: 6.1e-13 THz (mp-10851 at A); the three
# acoustic modes at Γ (√ of an eigenvalue ~1e-14) differ by up to 1.9e-7 THz, left out here
FREQUENCY_TOL = 1e-10


@pytest.fixture(scope="module")
def pair():
    """``pair(source, nac)`` → (phonjax ``Harmonic``, phonopy on the same cells and FC)."""
    import phonopy
    from phonopy.file_IO import parse_BORN
    from phonopy.interface.calculator import get_calculator_physical_units
    from phonopy.structure.atoms import PhonopyAtoms

    cache = {}

    def build(source, nac: bool = False):
        if (source, nac) not in cache:
            if not source.exists():
                pytest.skip(f"{source} not found")
            p = Phonons.from_dataset(source, nac=nac, mesh=(1, 1, 1))
            p.produce_force_constants()
            h = p.harmonic
            u = h.system.unitcell
            ph = phonopy.Phonopy(
                PhonopyAtoms(cell=u.lattice, scaled_positions=u.frac_positions,
                             numbers=u.numbers, masses=u.masses),
                supercell_matrix=h.system.supercell_matrix,
                primitive_matrix=h.cells.primitive_matrix)
            assert np.abs(ph.primitive.scaled_positions
                          - h.system.primitive.crystal.frac_positions).max() == 0
            ph.force_constants = np.asarray(h.result.force_constants)
            if nac:
                born = parse_BORN(ph.primitive, filename=str(source / "BORN"))
                # a BORN without a factor line: phonopy.load's default for VASP (Hartree·Bohr)
                born.setdefault("factor", get_calculator_physical_units("vasp").nac_factor)
                ph.nac_params = born
            cache[(source, nac)] = (h, ph)
        return cache[(source, nac)]

    return build


def phonopy_irreps(ph, q, folder, **kw):
    """phonopy's ``IrReps`` at q and its irreps.yaml (written into ``folder``), parsed."""
    import os

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = ph.run_irreps(q, **kw)
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        ph.write_yaml_irreps()
    finally:
        os.chdir(cwd)
    with open(folder / "irreps.yaml") as f:
        return ref, yaml.safe_load(f)


def assert_same_yaml(ours: dict, theirs: dict, characters: np.ndarray) -> None:
    """Every field of irreps.yaml equal; numbers to their printed digits, phases on the
    circle (phonopy may print 360.0 for a phase just below 0). ``characters``: phonopy's
    (n_sets, n_ops); the rounded |χ| is compared where |χ| is no half-integer (a set split
    by the NAC direction has |χ| = 1/2, which rounds either way with the last bit)."""
    assert set(ours) == set(theirs)
    assert np.allclose(ours["q-position"], theirs["q-position"], atol=1e-7)
    assert ours["point_group"] == theirs["point_group"]
    assert ours["transformation_matrix"] == theirs["transformation_matrix"]
    assert ours["rotations"] == theirs["rotations"]  # matrices and class symbols
    assert len(ours["normal_modes"]) == len(theirs["normal_modes"])
    for a, b, chars in zip(ours["normal_modes"], theirs["normal_modes"], characters):
        assert set(a) == set(b)
        assert a["band_indices"] == b["band_indices"]
        assert a.get("ir_label") == b.get("ir_label")
        assert abs(a["frequency"] - b["frequency"]) <= 1e-5  # Γ acoustic: 1.9e-7 measured
        ca, cb = np.array(a["characters"], float), np.array(b["characters"], float)
        clear = np.abs(np.abs(chars) % 1 - 0.5) > 1e-6
        assert (ca[clear, 0] == cb[clear, 0]).all()
        turn = np.abs((ca[:, 1] - cb[:, 1] + 180) % 360 - 180)
        assert turn[np.abs(chars) > 0.1].max(initial=0) <= 0.11


def compare(ours, ref, ph_yaml, tmp_path) -> None:
    """The little group, the degenerate sets, the characters, labels and the file."""
    assert (ours.conventional_rotations == ref.conventional_rotations).all()
    assert [list(s) for s in ours.degenerate_sets] == [list(s) for s in ref.band_indices]
    assert np.abs(ours.characters - ref.characters).max() <= CHARACTER_TOL
    moving = np.abs(ref.frequencies) > 0.1
    assert np.abs(ours.frequencies_THz - ref.frequencies)[moving].max(initial=0) <= FREQUENCY_TOL
    assert ours.rotation_symbols == (None if ref.rotation_symbols is None
                                     else tuple(ref.rotation_symbols))
    with_irreps = write_irreps_yaml(ours, tmp_path / "ours-irreps.yaml", show_irreps=True)
    plain = write_irreps_yaml(ours, tmp_path / "ours.yaml")
    with open(plain) as f:
        assert_same_yaml(yaml.safe_load(f), ph_yaml, ref.characters)
    with open(with_irreps) as f:
        full = yaml.safe_load(f)
    assert len(full["irreps"]) == len(ours.degenerate_sets)
    assert all(len(rep) == len(ours.rotations) for rep in full["irreps"])


# (folder or sample, NAC, q, q_direction, little co-group, point group of the little group)
CASES = [
    ("NaCl", False, [0, 0, 0], None, False, "m-3m"),
    ("NaCl", True, [0, 0, 0], [1, 0, 0], False, "m-3m"),
    ("NaCl", True, [0, 0, 0], [1, 1, 1], False, "m-3m"),
    ("NaCl", False, [0.5, 0, 0.5], None, False, "4/mmm"),  # X
    ("Al2O3", False, [0, 0, 0], None, False, "-3m"),
    ("Al2O3", False, [0.5, 0.5, 0.5], None, True, "-3m"),  # Z of R-3c (non-symmorphic)
    ("MgB2", False, [0, 0, 0], None, False, "6/mmm"),
    ("MgB2", False, [0, 0, 0.5], None, False, "6/mmm"),  # A
    ("MgB2", False, [0.5, 0, 0], None, False, "mmm"),  # M
    ("MgB2", False, [1 / 3, 1 / 3, 0.5], None, False, "-6m2"),  # H
    ("Cr", False, [0, 0, 0], None, False, "m-3m"),
    ("Cr", False, [0.5, -0.5, 0.5], None, False, "m-3m"),  # H
    ("mp-361", False, [0, 0, 0], None, False, "m-3m"),  # Cu2O, Pn-3m
    ("mp-361", False, [0.5, 0.5, 0.5], None, True, "m-3m"),  # R
    ("mp-10851", False, [0, 0, 0], None, False, "622"),  # SiO2, P6_422
    ("mp-10851", False, [0, 0, 0.5], None, False, "622"),
    ("mp-10851", False, [0, 0, 0.5], None, True, "622"),
]
# more point groups, ~4 s each (a force-constant run and its compilation per material)
SLOW_CASES = [
    ("Al2O3", True, [0, 0, 0], [0, 0, 1], False, "-3m"),  # Eu split into LO/TO: |χ| = 1/2
    ("mp-23215", False, [0, 0, 0], None, False, "4/mmm"),  # ThCl4, I4_1/amd
    ("mp-23215", False, [0.5, 0.5, 0.5], None, True, "4/mmm"),
    ("mp-14006", False, [0, 0, 0], None, False, "-3m"),  # R-3m
    ("mp-28163", False, [0, 0, 0], None, False, "2/m"),  # C2/m
    ("mp-556003", False, [0.5, 0.5, 0.5], None, True, "mmm"),  # CaTiO3, Imma
    ("mp-673245", False, [0, 0, 0], None, False, "1"),  # CuI, P1
]


def case_id(c) -> str:
    name, nac, q, direction, cogroup, _ = c
    return (f"{name}-{'nac-' if nac else ''}{q}{'-cogroup' if cogroup else ''}"
            f"{'' if direction is None else f'-{direction}'}")


def source_of(name: str):
    return sample_path(name) if name.startswith("mp-") else EXAMPLES / name


@pytest.mark.parametrize(
    "name,nac,q,q_direction,cogroup,point_group_at_q",
    [pytest.param(*c, id=case_id(c)) for c in CASES]
    + [pytest.param(*c, id=case_id(c), marks=pytest.mark.slow) for c in SLOW_CASES])
def test_irreps_match_phonopy(pair, tmp_path, name, nac, q, q_direction, cogroup,
                              point_group_at_q):
    h, ph = pair(source_of(name), nac)
    ours = irreps(h, q, q_direction=q_direction, is_little_cogroup=cogroup)
    ref, ph_yaml = phonopy_irreps(ph, q, tmp_path, nac_q_direction=q_direction,
                                  is_little_cogroup=cogroup)
    assert ours.point_group_at_q == point_group_at_q
    compare(ours, ref, ph_yaml, tmp_path)
    at_gamma = not np.any(q)
    assert (ours.labels is not None) == at_gamma == (ours.activities is not None)
    if at_gamma:
        assert set(ours.activities) <= set(ACTIVITIES)
        # the sets that hold the three translations hold nothing else
        assert sum(len(s) for s, a in zip(ours.degenerate_sets, ours.acoustic) if a) == 3


def optical_sets(ir):
    """(label, activity) of each set that holds no acoustic translation."""
    return [(label, act) for label, act, ac in zip(ir.labels, ir.activities, ir.acoustic)
            if not ac]


def test_rocksalt_gamma_selection_rules(pair):
    """Rocksalt (Oh) Γ: one optical T1u, IR-active; no first-order Raman (textbook, e.g.
    Yu & Cardona, *Fundamentals of Semiconductors*, §6.2 / 7.1). With NAC the T1u splits
    into TO (2) and LO (1), both IR-active, no label."""
    h, _ = pair(EXAMPLES / "NaCl", False)
    ir = irreps(h, [0, 0, 0])
    assert ir.labels == ("T1u", "T1u") and ir.acoustic == (True, False)
    assert optical_sets(ir) == [("T1u", "IR")]
    h, _ = pair(EXAMPLES / "NaCl", True)
    ir = irreps(h, [0, 0, 0], q_direction=[1, 0, 0])
    assert [len(s) for s in ir.degenerate_sets] == [3, 2, 1]
    assert optical_sets(ir) == [(None, "IR"), (None, "IR")]


def test_corundum_gamma_selection_rules(pair):
    """Corundum α-Al2O3 (D3d): Γ_optical = 2A1g + 5Eg (Raman; Porto & Krishnan, J. Chem.
    Phys. 47, 1009 (1967)) + 2A2u + 4Eu (IR; Barker, Phys. Rev. 132, 1474 (1963))
    + 2A1u + 3A2g (silent)."""
    h, _ = pair(EXAMPLES / "Al2O3", False)
    counts = Counter(optical_sets(irreps(h, [0, 0, 0])))
    assert counts == {("A1g", "Raman"): 2, ("Eg", "Raman"): 5, ("A2u", "IR"): 2,
                      ("Eu", "IR"): 4, ("A1u", "silent"): 2, ("A2g", "silent"): 3}


def test_mgb2_and_cuprite_gamma_selection_rules(pair):
    """MgB2 (D6h): Γ_optical = E1u + A2u (IR) + E2g (Raman) + B1g (silent) (Bohnen, Heid &
    Renker, Phys. Rev. Lett. 86, 5771 (2001)). Cu2O (Oh, Pn-3m): 2T1u (IR) + T2g (Raman)
    + A2u + Eu + T2u (silent) (Reimann & Syassen, Phys. Rev. B 39, 11113 (1989))."""
    h, _ = pair(EXAMPLES / "MgB2", False)
    assert Counter(optical_sets(irreps(h, [0, 0, 0]))) == {
        ("E1u", "IR"): 1, ("A2u", "IR"): 1, ("E2g", "Raman"): 1, ("B1g", "silent"): 1}
    h, _ = pair(sample_path("mp-361"), False)
    assert Counter(optical_sets(irreps(h, [0, 0, 0]))) == {
        ("T1u", "IR"): 2, ("T2g", "Raman"): 1, ("A2u", "silent"): 1, ("Eu", "silent"): 1,
        ("T2u", "silent"): 1}


def test_noncentrosymmetric_modes_can_be_both(pair):
    """D6 (622, β-quartz-like SiO2): E1 is IR- and Raman-active, A2 IR only, A1 and E2
    Raman only, B1 and B2 silent (the D6 character table's x, y, z and quadratic columns)."""
    h, _ = pair(sample_path("mp-10851"), False)
    rule = {"E1": "IR+Raman", "A2": "IR", "A1": "Raman", "E2": "Raman", "B1": "silent",
            "B2": "silent"}
    sets = optical_sets(irreps(h, [0, 0, 0]))
    assert {label for label, _ in sets} == set(rule)
    assert all(act == rule[label] for label, act in sets)


def test_bad_input(pair):
    h, _ = pair(EXAMPLES / "MgB2", False)
    with pytest.raises(ValueError, match="q_reduced"):
        irreps(h, [0, 0])
    with pytest.raises(ValueError, match="degeneracy_tolerance_THz"):
        irreps(h, [0, 0, 0], degeneracy_tolerance_THz=0)
