"""Band paths for any input cell: analytic positions of labelled points, the checks, user paths.

The reference here is geometry, not phonjax: fcc X, L, K at |k| = 1/a, √3/(2a), 3√2/(4a)
(no 2π), the orthorhombic X on the shortest axis (HPKOT orders a < b < c), and the unmapped
coordinates (phonopy's ``get_band_qpoints_by_seekpath``) failing the check where they are wrong.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from phonjax.structure.supercell import build_primitive, build_supercell
from phonjax.single.bandpath import (BandPathError, check_path, naive_path, read_path_file,
                                     sample, seekpath_path, user_path)
from phonjax.pipeline.cells import choose_cells
from phonjax.single.inputs import crystal_of
from phonjax.single.settings import WorkflowSettings
from validation.cell_variants import rotation

A_SI, A_NACL = 5.43, 5.64


def primitive_of(atoms, primitive="auto"):
    crystal = crystal_of(atoms)
    ch = choose_cells(crystal, WorkflowSettings(primitive_matrix=primitive, supercell_matrix=(1, 1, 1)))
    supercell, _ = build_supercell(crystal, ch.supercell_matrix)
    return build_primitive(supercell, ch.supercell_matrix, ch.primitive_matrix).crystal


def rotated(atoms, seed=3):
    out = atoms.copy()
    out.set_cell(atoms.cell.array @ rotation(seed).T, scale_atoms=True)
    return out


def cartesian_lengths(path, primitive):
    points = {s.start: s.q_start for s in path.segments} | {s.end: s.q_end for s in path.segments}
    rec = np.linalg.inv(primitive.lattice).T  # rows b*_i, no 2π
    return {k: float(np.linalg.norm(q @ rec)) for k, q in points.items()}


FCC = {"X": 1.0, "L": np.sqrt(3) / 2, "K": 3 * np.sqrt(2) / 4, "W": np.sqrt(5) / 2,
       "GAMMA": 0.0}


@pytest.mark.parametrize("make, a", [
    (lambda: bulk("Si", "diamond", A_SI), A_SI),
    (lambda: bulk("Si", "diamond", A_SI, cubic=True), A_SI),
    (lambda: rotated(bulk("Si", "diamond", A_SI)), A_SI),
    (lambda: rotated(bulk("NaCl", "rocksalt", A_NACL, cubic=True)), A_NACL),
])
@pytest.mark.parametrize("primitive", ["auto", "unitcell"])
def test_fcc_points_at_their_analytic_distance(make, a, primitive):
    prim = primitive_of(make(), primitive)
    path = seekpath_path(prim)
    assert path.verified
    lengths = cartesian_lengths(path, prim)
    for label, factor in FCC.items():
        # a folded cell (the conventional cell used as "primitive") keeps the Cartesian point
        assert lengths[label] == pytest.approx(factor / a, abs=1e-9), label


def test_orthorhombic_x_on_the_shortest_axis():
    atoms = Atoms("Si", scaled_positions=[[0, 0, 0]], cell=[5.0, 6.0, 4.0], pbc=True)
    prim = primitive_of(atoms, "unitcell")  # the cell as given: a=5, b=6, c=4
    path = seekpath_path(prim)
    assert path.verified
    x = next(s.q_end for s in path.segments if s.end == "X")
    k = x @ np.linalg.inv(prim.lattice).T
    np.testing.assert_allclose(np.abs(k), [0, 0, 1 / 8], atol=1e-12)  # 1/(2·4 Å) along c
    naive = {s.end: s.q_end for s in naive_path(prim).segments}
    assert not np.allclose(naive["X"], x)  # unmapped: X on the 5 Å axis


@pytest.mark.parametrize("make", [
    lambda: bulk("NaCl", "rocksalt", A_NACL, cubic=True),
    lambda: rotated(bulk("Si", "diamond", A_SI, cubic=True)),
])
def test_unmapped_coordinates_fail_the_check(make):
    prim = primitive_of(make(), "unitcell")  # 8-atom conventional cell as "primitive"
    bad = [c.label for c in check_path(naive_path(prim), prim) if not c.ok]
    assert {"X", "K", "W"} <= set(bad)
    assert seekpath_path(prim).verified


def test_hexagonal_and_rotated_hexagonal():
    for atoms in (bulk("Mg", "hcp", 3.2), rotated(bulk("Mg", "hcp", 3.2), 7)):
        prim = primitive_of(atoms)
        path = seekpath_path(prim)
        assert path.verified
        lengths = cartesian_lengths(path, prim)
        assert lengths["M"] == pytest.approx(1 / (np.sqrt(3) * 3.2), rel=1e-9)  # |b*|/2
        assert lengths["K"] == pytest.approx(2 / (3 * 3.2), rel=1e-9)


def test_user_path_in_unitcell_basis(tmp_path):
    pmat = np.array([[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    f = tmp_path / "path.yaml"
    f.write_text("basis: unitcell\npath:\n  - [[GAMMA, [0, 0, 0]], [X, [0, 1, 0]]]\n"
                 "  - [[L, [0.5, 0.5, 0.5]], [GAMMA, [0, 0, 0]]]\n")
    path = read_path_file(f, pmat)
    np.testing.assert_allclose(path.segments[0].q_end, [0.5, 0, 0.5])  # (0,1,0)·P
    assert path.connections == [False, False]
    assert path.labels == ["GAMMA", "X", "L", "GAMMA"]
    assert path.verified is None
    with pytest.raises(BandPathError, match="at least two points"):
        user_path([[("G", (0, 0, 0))]])
    with pytest.raises(BandPathError, match="not found"):
        read_path_file(tmp_path / "missing.yaml")


def test_sampling_matches_phonopy_band_structure_distances():
    """phonopy's own BandStructure on the same segments gives the same distances."""
    import phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    prim = primitive_of(bulk("Si", "diamond", A_SI))
    path = seekpath_path(prim)
    s = sample(path, prim.lattice, 31)
    cell = PhonopyAtoms(cell=prim.lattice, scaled_positions=prim.frac_positions,
                        numbers=prim.numbers)
    ph = phonopy.Phonopy(cell, np.eye(3, dtype=int))
    ph.force_constants = np.zeros((2, 2, 3, 3))
    ph.run_band_structure(s.qpoints, path_connections=path.connections)
    for ours, theirs in zip(s.distances, ph.band_structure.distances):
        np.testing.assert_allclose(ours, theirs, atol=1e-12)
