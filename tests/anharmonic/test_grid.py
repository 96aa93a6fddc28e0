"""phonjax.anharmonic.grid against phonopy's BZGrid / get_ir_grid_points and phono3py's
get_triplets_at_q (both backends): identical BZ addresses and maps, irreducible points and
weights, and triplets and weights at every irreducible q (plus one surface image of q)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from phonjax.anharmonic import grid as G
from phonjax.structure.crystal import Crystal

ase_build = pytest.importorskip("ase.build")
pytest.importorskip("phono3py")
from phono3py.phonon3.triplets import get_triplets_at_q  # noqa: E402
from phonopy.phonon.grid import BZGrid as PhonopyBZGrid  # noqa: E402
from phonopy.phonon.grid import get_ir_grid_points  # noqa: E402
from phonopy.structure.atoms import PhonopyAtoms  # noqa: E402
from phonopy.structure.symmetry import Symmetry  # noqa: E402


SI_PBESOL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phono3py-examples" / \
    "Si-PBEsol"


def _atoms(name):
    if name == "Si":
        return ase_build.bulk("Si", "diamond", a=5.43)  # FCC primitive
    if name == "Si-PBEsol":  # phono3py example: conventional POSCAR, primitive_matrix "F"
        from ase import Atoms
        from phonopy.interface.calculator import read_crystal_structure
        from phonopy.structure.cells import get_primitive
        unit, _ = read_crystal_structure(str(SI_PBESOL / "POSCAR-unitcell"))
        prim = get_primitive(unit, [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
        return Atoms(numbers=prim.numbers, cell=prim.cell,
                     scaled_positions=prim.scaled_positions, pbc=True)
    return ase_build.bulk("GaN", "wurtzite", a=3.19, c=5.19)


@functools.lru_cache(maxsize=None)
def _grids(name, mesh, lang="Rust"):
    atoms = _atoms(name)
    cell = PhonopyAtoms(cell=atoms.cell[:], scaled_positions=atoms.get_scaled_positions(),
                        numbers=atoms.numbers)
    ref = PhonopyBZGrid(list(mesh), lattice=cell.cell, symmetry_dataset=Symmetry(cell).dataset,
                        store_dense_gp_map=True, lang=lang)
    return G.bz_grid(Crystal.from_ase(atoms), mesh), ref


def _q_points(ref, ir):
    """BZ indices of the irreducible q, plus a second image of the first surface one."""
    points = [int(b) for b in ref.grg2bzg[ir]]
    for gr in ir:
        if ref.gp_map[gr + 1] - ref.gp_map[gr] > 1:
            return points + [int(ref.gp_map[gr] + 1)]
    return points


CASES = [("Si", (4, 4, 4)), ("Si", (5, 5, 5)), ("GaN", (5, 5, 3)), ("GaN", (4, 4, 2)),
         ("Si", (9, 9, 9)), ("GaN", (6, 6, 4))]
if SI_PBESOL.is_dir():
    CASES.append(("Si-PBEsol", (5, 5, 5)))


@pytest.mark.parametrize("lang", ["Rust", "C"])
@pytest.mark.parametrize("name,mesh", CASES)
def test_bz_grid_and_ir_points_equal_phonopy(name, mesh, lang):
    mine, ref = _grids(name, mesh, lang)
    np.testing.assert_array_equal(mine.gr_addresses, G.gr_addresses(ref.D_diag))
    np.testing.assert_array_equal(mine.addresses, ref.addresses)
    np.testing.assert_array_equal(mine.gp_map, ref.gp_map)
    np.testing.assert_array_equal(mine.grg2bzg, ref.grg2bzg)
    np.testing.assert_array_equal(mine.bzg2grg, ref.bzg2grg)
    assert {m.tobytes() for m in mine.rotations} == {m.tobytes() for m in ref.rotations}
    ir, weights, grid_map = get_ir_grid_points(ref)
    got = G.ir_grid_points(mine)
    np.testing.assert_array_equal(got.gr_points, ir)
    np.testing.assert_array_equal(got.weights, weights)
    np.testing.assert_array_equal(got.grid_map, grid_map)
    np.testing.assert_array_equal(got.bz_points, ref.grg2bzg[ir])


def _check_triplets(name, mesh, swappable, lang="Rust"):
    mine, ref = _grids(name, mesh, lang)
    ir, _, _ = get_ir_grid_points(ref)
    for q in _q_points(ref, ir):
        triplets, weights, map_triplets, map_q = get_triplets_at_q(
            q, ref, swappable=swappable, lang=lang)
        got = G.triplets_at_q(mine, q, swappable=swappable)
        np.testing.assert_array_equal(got.map_q, map_q)
        np.testing.assert_array_equal(got.map_triplets, map_triplets)
        np.testing.assert_array_equal(got.weights, weights)
        np.testing.assert_array_equal(got.triplets, triplets)


@pytest.mark.parametrize("swappable", [True, False])
@pytest.mark.parametrize("name,mesh", CASES)
def test_triplets_equal_phono3py(name, mesh, swappable):
    _check_triplets(name, mesh, swappable)


def test_triplets_equal_phono3py_c_backend():
    _check_triplets("GaN", (5, 5, 3), True, lang="C")
    _check_triplets("Si", (4, 4, 4), True, lang="C")


def test_si_9_counts_and_triplets():
    """The numbers of docs/phono3py-internals.md: 35 ir q, 765 BZ points, 6 325 triplets."""
    mine, ref = _grids("Si", (9, 9, 9))
    ir = G.ir_grid_points(mine)
    assert (len(ir.gr_points), len(mine.addresses)) == (35, 765)
    total = 0
    for q in ir.bz_points:
        got = G.triplets_at_q(mine, q)
        triplets, weights, _, _ = get_triplets_at_q(int(q), ref)
        np.testing.assert_array_equal(got.triplets, triplets)
        np.testing.assert_array_equal(got.weights, weights)
        total += len(got.triplets)
    assert total == 6325


@pytest.mark.slow
@pytest.mark.parametrize("name,mesh", [("Si", (11, 11, 11))])
def test_triplets_equal_phono3py_big(name, mesh):
    _check_triplets(name, mesh, True)
    _check_triplets(name, mesh, False)


@pytest.mark.slow
@pytest.mark.parametrize("atoms,mesh,counts", [
    (("Si", "diamond"), (19, 19, 19), (220, 6979, 503800)),
    (("GaN", "wurtzite"), (19, 19, 15), (320, 5685, 625624)),
])
def test_large_mesh_counts(atoms, mesh, counts):
    """docs/phono3py-internals.md table (ir q, BZ points, triplets in total); ~17 s."""
    kw = dict(a=5.43) if atoms[0] == "Si" else dict(a=3.19, c=5.19, u=0.377)
    grid = G.bz_grid(Crystal.from_ase(ase_build.bulk(*atoms, **kw)), mesh)
    ir = G.ir_grid_points(grid)
    total = sum(len(G.triplets_at_q(grid, q).triplets) for q in ir.bz_points)
    assert (len(ir.gr_points), len(grid.addresses), total) == counts


def test_mesh_breaking_symmetry_is_refused():
    atoms = _atoms("GaN")
    with pytest.raises(G.GridError):
        G.bz_grid(Crystal.from_ase(atoms), (4, 5, 3))
    with pytest.raises(G.GridError):
        G.bz_grid(Crystal.from_ase(atoms), (0, 4, 3))
