"""phono3py's FC3 displacement datasets (``phonjax.anharmonic.displacements``) against phono3py.

Against ``Phono3py(...).generate_displacements`` run here on the same cells: Si (diamond,
F-centred), NaCl (rocksalt), wurtzite AlN and GaN (built with ASE), a monoclinic (K2PdF4,
C2/m) and a triclinic (CuI, P1) crystal of the bundled sample, with ``is_plusminus``
auto/True/False, ``is_diagonal=False``, a pair cutoff and a separate FC2 supercell: same
supercells in the same order, same atoms, ids, ``included`` flags and duplicates, vectors
equal to 1e-12 Å (they come out bitwise equal) and pair distances to 1e-10 Å. Also against
the two ``phono3py_disp*.yaml`` files of phono3py's Si-PBEsol example (111 supercells).
The cases are the ones ``validation/fc3_displacements.py`` prints.
"""

from __future__ import annotations

import numpy as np
import pytest

from phonjax.anharmonic.displacements import (FC3Displacements, generate_phono3py_displacements,
                                              least_orbits)
from phonjax.io.dataset import DatasetError
from validation.fc3_displacements import SI_EXAMPLE, cases, crystals, example_rows, run_case

pytest.importorskip("phono3py")

CASES = cases(quick=False)  # all of them: 3 s on top of the quick set


def _id(case) -> str:
    name, smat, options = case
    opts = ",".join(f"{k}={v}" for k, v in options.items())
    return f"{name.split()[0]}-{'x'.join(map(str, smat))}-{opts}"


@pytest.fixture(scope="module")
def table():
    return crystals()


def _check(table, case):
    name, smat, options = case
    crystal, pmat = table[name]
    c, _, _ = run_case(crystal, np.diag(smat), pmat, **{
        k: (np.diag(v) if k == "phonon_supercell_matrix" else v) for k, v in options.items()})
    assert c.n_phonjax == c.n_phono3py
    assert c.same_layout
    assert c.max_vector_diff_A <= 1e-12
    assert c.max_pair_distance_diff_A <= 1e-10
    if "phonon_supercell_matrix" in options:
        assert c.n_fc2_phonjax == c.n_fc2_phono3py and c.max_fc2_diff_A <= 1e-12


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_equal_to_phono3py(table, case):
    _check(table, case)


@pytest.mark.skipif(not SI_EXAMPLE.is_dir(), reason="phono3py's Si-PBEsol example not present")
def test_si_example_yaml_files():
    rows = dict(example_rows())
    plain, dimfc2 = rows["Si-PBEsol phono3py_disp.yaml"], rows["Si-PBEsol phono3py_disp_dimfc2.yaml"]
    for c in (plain, dimfc2):
        assert c.n_phonjax == c.n_phono3py == 111
        assert c.same_layout and c.max_vector_diff_A <= 1e-12  # the yaml has 16 decimals
    assert dimfc2.n_fc2_phonjax == dimfc2.n_fc2_phono3py == 1 and dimfc2.max_fc2_diff_A == 0


@pytest.fixture(scope="module")
def si(table):
    crystal, pmat = table["Si (Fd-3m)"]
    return crystal, pmat


def test_si_counts(si):
    """The counts of the internals note: 111, 117 with axes only, 222 with plus-minus."""
    crystal, pmat = si
    s = np.diag([2, 2, 2])
    assert generate_phono3py_displacements(crystal, s, pmat).fc3.n_supercells == 111
    assert generate_phono3py_displacements(crystal, s, pmat, is_diagonal=False
                                           ).fc3.n_supercells == 117
    assert generate_phono3py_displacements(crystal, s, pmat, is_plusminus=True
                                           ).fc3.n_supercells == 222


def test_record(si):
    crystal, pmat = si
    out = generate_phono3py_displacements(crystal, np.diag([2, 2, 2]), pmat, distance_A=0.02,
                                          cutoff_pair_distance_A=4.0)
    fc3 = out.fc3
    assert isinstance(fc3, FC3Displacements) and out.fc2 is None and out.phonon_supercell is None
    assert fc3.n_atoms == out.supercell.n_atoms == 64
    u, mask = fc3.displacement_vectors()
    assert u.shape == (fc3.n_supercells, 64, 3) and mask.sum() == fc3.n_included < fc3.n_supercells
    ids = [f.id for f in fc3.first] + [s.id for s in fc3.pairs]
    assert ids == list(range(1, fc3.n_supercells + 1))
    for f in fc3.first:
        assert np.isclose(np.linalg.norm(f.displacement_A), 0.02)
        for s in f.second:
            assert np.isclose(np.linalg.norm(s.displacement_A), 0.02)
            assert s.included == (s.pair_distance_A < 4.0)
            assert np.allclose(u[s.id - 1].sum(axis=0), f.displacement_A + s.displacement_A)
    ds = fc3.to_phono3py()
    assert ds["cutoff_distance"] == 4.0 and all("included" in s for f in ds["first_atoms"]
                                                for s in f["second_atoms"])


def test_refusals(si):
    crystal, pmat = si
    with pytest.raises(ValueError, match="is_plusminus"):
        generate_phono3py_displacements(crystal, np.eye(3), pmat, is_plusminus="yes")
    with pytest.raises(ValueError, match="positive"):
        generate_phono3py_displacements(crystal, np.eye(3), pmat, distance_A=0)
    with pytest.raises(DatasetError):
        generate_phono3py_displacements(crystal, np.eye(3), None)


def test_least_orbits():
    # two orbits {0, 2} and {1, 3}; and the identity alone: every atom its own orbit
    image = np.array([[0, 1, 2, 3], [2, 3, 0, 1]])
    assert least_orbits(image).tolist() == [0, 1]
    assert least_orbits(image[:1]).tolist() == [0, 1, 2, 3]
