"""``structure.symmetry.group_permutations`` (a space group's atom maps by its cosets) equals
``permutations`` (every operation matched directly), atom for atom."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk

from phonjax.structure.crystal import Crystal
from phonjax.structure.supercell import build_supercell
from phonjax.structure.symmetry import (PositionMatcher, group_permutations, permutations,
                                        space_group)


@pytest.mark.parametrize("atoms, smat, symprec", [
    (bulk("NaCl", "rocksalt", a=5.64, cubic=True), np.diag([2, 2, 2]), 1e-5),
    (bulk("GaN", "wurtzite", a=3.19, c=5.19), np.diag([3, 3, 2]), 1e-5),
    (bulk("Si", "diamond", a=5.43), np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]]), 1e-3),
    (bulk("Ti", "hcp", a=2.95, c=4.68), np.diag([2, 2, 1]), 1e-5),
])
def test_group_permutations_equal_direct_matching(atoms, smat, symprec):
    cell, _ = build_supercell(Crystal.from_ase(atoms), smat, symprec)
    group = space_group(cell, symprec)
    matcher = PositionMatcher(cell, symprec)
    direct = permutations(matcher, group.rotations, group.translations)
    fast = group_permutations(matcher, group.rotations, group.translations)
    assert len(np.unique(group.rotations.reshape(-1, 9), axis=0)) < len(group.rotations)
    np.testing.assert_array_equal(fast, direct)
    # a real test: the maps are permutations and not all the identity
    assert (np.sort(fast, axis=1) == np.arange(cell.n_atoms)).all()
    assert (fast != np.arange(cell.n_atoms)).any()
