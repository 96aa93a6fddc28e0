"""Third-order force constants (FC3) from displaced supercells, as phono3py 4.10 builds them.

Φ3(iα, jβ, kγ) = ∂³E/∂u_iα∂u_jβ∂u_kγ in eV/Å³, index order phono3py's: i the first displaced
atom, j the second, k the atom the force acts on. Compact form (n_p, N, N, 3, 3, 3) keeps the
rows of the primitive atoms (``Primitive.p2s``); full form (N, N, N, 3, 3, 3) all of them.

Type-1 datasets (one or two displaced atoms per supercell, ``phono3py_files.PairDisplacements``)
are solved by phono3py's "traditional" finite differences (``phono3py/phonon3/fc3.py``):

1. full FC2 Φ2 from the first displacements alone (phonopy's solve + distribution);
2. for each first displacement u1 of atom i, the FC2 of the displaced supercell from
   F(u1, u2) − F(u1): solved for each second atom under its *bond* symmetry (the site
   operations of i that keep u1 and the second atom), distributed about i by the *reduced*
   site symmetry (those that keep u1); ΔΦ2(u1) = Φ2(u1) − Φ2;
3. ΔΦ2_jk(u1) = Σ_α u1_α Φ3(iα, j, k): stacked over every site operation R of i (rows R·u1
   against R ΔΦ2(R⁻¹j, R⁻¹k) Rᵀ) and solved by ``numpy.linalg.pinv``;
4. the rows of the other primitive atoms by a space-group operation (pure translations
   first): Φ3[t] = Rᵀ⊗Rᵀ⊗Rᵀ Φ3[d, perm j, perm k].

Symmetrization (``symmetrize_traditional``): phono3py's ``symmetrize_fc3`` (level 3: three
times translational invariance along each index, then the average over the six index
permutations), or symfc's projector onto the space-group + translation + permutation
invariant subspace (``symmetrize_by_projector``), what ``phono3py.load`` applies by default.
Type-2 (random) datasets go through symfc's fit (``fit_symfc``), as
``phono3py.load(..., fc_calculator="symfc")``. symfc is called directly with the supercell's
spglib operations (the ones phono3py passes it).

Pair cutoff (``cutoff_distance``): the pairs beyond it carry zero forces and are solved
like the others, always in full form (N, N, N, …). An atom pair (a, b) is *done* when a space-
group operation g sends some first atom f and a second atom j of an included pair of f onto
it, (a, b) = (g f, g j), for every third atom. Each element is then re-set to the average
of its six index permutations (atoms and Cartesian axes together) over the done ones only,
zero where none is done (``cutoff_pair_average``, phono3py's
``_cutoff_fc3_for_cutoff_pairs``), and the compact form keeps the primitive atoms' rows.
The symmetrizations that follow are the ones without a cutoff (``phono3py.load`` passes no
cutoff to the projector; only the CLI's ``--symfc-projector`` does).

The solve is NumPy on the host (a few pinv of (n_u·n_site, 3) matrices and gathers of
O(N²) tensors); FC2's traditional symmetrization reuses ``harmonic.force_constants.symmetrize``
(JAX, float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import permutations as index_permutations

import numpy as np

from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.structure.supercell import Primitive, build_primitive, build_supercell
from phonjax.structure.symmetry import (SYMPREC, PositionMatcher, SpaceGroup, cartesian_rotations,
                                        group_permutations, permutations, site_symmetry,
                                        space_group)

FC3_LEVEL = 3  # phono3py's default number of translational + permutation passes
FC2_LEVEL = 3


class FC3Error(ValueError):
    """A dataset the FC3 solver cannot use, with the reason (one line)."""


@dataclass(frozen=True, eq=False)
class FC3Cells:
    """The supercell, its primitive cell and space group, and the atom maps the solver reads.

    ``permutations[s, a]``: the atom operation s sends atom a to. ``translation_perm[a]``:
    the pure-translation permutation that sends atom a onto its primitive representative
    ``p2s[s2pp[a]]`` (a row of the compact array holds the full row of every image)."""

    supercell: Crystal
    primitive: Primitive
    group: SpaceGroup
    permutations: np.ndarray  # (n_ops, N)
    translation_perm: np.ndarray  # (N, N)
    symprec: float

    @property
    def n_atoms(self) -> int:
        return self.supercell.n_atoms


@dataclass(frozen=True, eq=False)
class ForceConstants3:
    """FC2 and FC3 of one crystal. ``fc2`` (n_p or N, N, 3, 3) eV/Å², ``fc3`` (n_p or N, N,
    N, 3, 3, 3) eV/Å³; ``compact``: first axes over the primitive atoms (``cells.primitive.p2s``);
    ``symmetrization``: "none", "traditional", "symfc-projector" or "symfc-fit"."""

    fc2: np.ndarray
    fc3: np.ndarray
    cells: FC3Cells  # the FC3 supercell
    fc2_cells: FC3Cells  # the FC2 supercell (``phonon_supercell_matrix``'s, else ``cells``)
    compact: bool
    symmetrization: str


def fc3_cells(unitcell: Crystal, supercell_matrix, primitive_matrix,
              symprec: float = SYMPREC) -> FC3Cells:
    """Supercell (phonopy's order), primitive cell and space group of a crystal."""
    supercell, _ = build_supercell(unitcell, np.asarray(supercell_matrix, np.int64), symprec)
    primitive = build_primitive(supercell, supercell_matrix, primitive_matrix, symprec)
    group = space_group(supercell, symprec)
    matcher = PositionMatcher(supercell, symprec)
    perms = group_permutations(matcher, group.rotations, group.translations)
    return FC3Cells(supercell, primitive, group, perms,
                    _translation_permutations(supercell, primitive, perms, group), symprec)


def _translation_permutations(supercell: Crystal, primitive: Primitive, perms: np.ndarray,
                              group: SpaceGroup) -> np.ndarray:
    pure = np.flatnonzero((group.rotations == np.eye(3, dtype=np.int64)).all(axis=(1, 2)))
    target = primitive.p2s[primitive.s2pp]  # (N,) representative of each atom
    hits = perms[pure][:, np.arange(supercell.n_atoms)] == target[None, :]  # (n_t, N)
    if not hits.any(axis=0).all():
        raise CrystalError("the supercell's pure translations do not reach every primitive atom")
    return perms[pure[hits.argmax(axis=0)]]


# --- FC2 pieces: phonopy's solve and distribution, for any set of operations -----------------


def _centred_maps(cells: FC3Cells, center: int, rotations: np.ndarray) -> np.ndarray:
    """``image[s, a]``: the atom at R_s·(x_a − x_c) + x_c (rotations about atom ``center``,
    no translation, as phono3py's site and bond symmetries act)."""
    sc = cells.supercell
    centred = Crystal(sc.lattice, sc.frac_positions - sc.frac_positions[center], sc.numbers,
                      sc.masses)
    matcher = PositionMatcher(centred, cells.symprec)
    return permutations(matcher, rotations, np.zeros((len(rotations), 3)))


def _inverse_maps(image: np.ndarray) -> np.ndarray:
    source = np.empty_like(image)
    np.put_along_axis(source, image, np.arange(image.shape[1])[None, :], axis=1)
    return source


def solve_fc2_row(cells: FC3Cells, atom: int, displacements, forces, rotations) -> np.ndarray:
    """Φ2(atom, :) (N, 3, 3) from the atom's displacements (n, 3) and the forces (n, N, 3)
    by phonopy's ``solve_force_constants``: rows R·u and R·F(R⁻¹j) for every rotation R
    (fractional, about the atom), Φ = −pinv(U)·F."""
    rot_cart = cartesian_rotations(cells.supercell.lattice, rotations)  # (s, 3, 3)
    source = _inverse_maps(_centred_maps(cells, atom, rotations))  # (s, N)
    u = np.einsum("sab,nb->nsa", rot_cart, np.asarray(displacements, float)).reshape(-1, 3)
    f = np.asarray(forces, float)[:, source]  # (n, s, N, 3)
    f = np.einsum("sab,nsjb->nsja", rot_cart, f).reshape(-1, cells.n_atoms, 3)
    return -np.einsum("ak,kjb->jab", np.linalg.pinv(u), f)


def distribute_fc2(fc2: np.ndarray, done, rotations_cart: np.ndarray, perms: np.ndarray) -> None:
    """phonopy's ``distribute_force_constants`` in place: each atom a gets, from the first
    operation s with perm[s, a] a solved atom d ≠ a, Φ(a, j) = Rᵀ Φ(d, perm[s, j]) R."""
    done = np.asarray(done)
    hit = np.isin(perms, done)  # (s, N)
    if not hit.any(axis=0).all():
        raise FC3Error("the displacements do not determine every row of the force constants")
    op = hit.argmax(axis=0)
    source = perms[op, np.arange(perms.shape[1])]
    for a in np.flatnonzero(source != np.arange(perms.shape[1])):
        r = rotations_cart[op[a]]
        fc2[a] = np.einsum("ba,jbc,cd->jad", r, fc2[source[a]][perms[op[a]]], r)


def fc2_from_first_displacements(cells: FC3Cells, atoms, displacements, forces) -> np.ndarray:
    """Full Φ2 (N, N, 3, 3), unsymmetrized, from type-1 single displacements: phonopy's
    traditional ``get_fc2`` (site symmetry of the supercell's space group)."""
    atoms = np.asarray(atoms)
    n = cells.n_atoms
    fc2 = np.zeros((n, n, 3, 3))
    for d in np.unique(atoms):
        ops = site_symmetry(cells.supercell, cells.group, int(d), cells.symprec)
        pick = atoms == d
        fc2[d] = solve_fc2_row(cells, int(d), np.asarray(displacements)[pick],
                               np.asarray(forces)[pick], cells.group.rotations[ops])
    distribute_fc2(fc2, np.unique(atoms),
                   cartesian_rotations(cells.supercell.lattice, cells.group.rotations),
                   cells.permutations)
    return fc2


# --- FC3: the traditional solve ---------------------------------------------------------------


def _site_rotations(cells: FC3Cells, atom: int) -> np.ndarray:
    return cells.group.rotations[site_symmetry(cells.supercell, cells.group, atom, cells.symprec)]


def reduced_site_symmetry(rotations: np.ndarray, direction_frac: np.ndarray,
                          symprec: float) -> np.ndarray:
    """The site rotations that keep a displacement direction (fractional), in order."""
    keep = (np.abs(direction_frac[None, :] - rotations @ direction_frac) < symprec).all(axis=1)
    return rotations[keep]


def bond_symmetry(cells: FC3Cells, rotations: np.ndarray, center: int, other: int) -> np.ndarray:
    """The rotations about ``center`` that also keep atom ``other`` in place (mod lattice)."""
    x = cells.supercell.frac_positions
    moved = (x[other] - x[center]) @ np.transpose(rotations, (0, 2, 1)) + x[center]
    diff = x[other] - moved
    diff -= np.rint(diff)
    return rotations[np.linalg.norm(diff @ cells.supercell.lattice, axis=1) < cells.symprec]


def displaced_fc2(cells: FC3Cells, first_atom: int, first_displacement, first_forces,
                  second_atoms, second_displacements, second_forces) -> np.ndarray:
    """Φ2 (N, N, 3, 3) of the supercell with u1 on ``first_atom``: phono3py's constrained
    FC2 (each second atom solved under its bond symmetry, the rows distributed about the
    first atom by the site operations that keep u1)."""
    sc = cells.supercell
    direction = np.asarray(first_displacement, float) @ np.linalg.inv(sc.lattice)
    reduced = reduced_site_symmetry(_site_rotations(cells, first_atom), direction, cells.symprec)
    n = cells.n_atoms
    fc2 = np.zeros((n, n, 3, 3))
    second_atoms = np.asarray(second_atoms)
    solved = np.unique(second_atoms)
    for a2 in solved:
        pick = second_atoms == a2
        bond = bond_symmetry(cells, reduced, first_atom, int(a2))
        fc2[a2] = solve_fc2_row(cells, int(a2), np.asarray(second_displacements)[pick],
                                np.asarray(second_forces)[pick] - first_forces[None], bond)
    distribute_fc2(fc2, solved, cartesian_rotations(sc.lattice, reduced),
                   _centred_maps(cells, first_atom, reduced))
    return fc2


def solve_fc3_row(cells: FC3Cells, atom: int, displacements, delta_fc2s) -> np.ndarray:
    """Φ3(atom, :, :) (N, N, 3, 3, 3) from ΔΦ2 (n_u, N, N, 3, 3) of the atom's first
    displacements (n_u, 3): rows R·u1 and R ΔΦ2(R⁻¹j, R⁻¹k) Rᵀ over the site rotations R,
    solved by ``numpy.linalg.pinv`` (phono3py's ``_solve_fc3``)."""
    rotations = _site_rotations(cells, atom)
    rot_cart = cartesian_rotations(cells.supercell.lattice, rotations)
    source = _inverse_maps(_centred_maps(cells, atom, rotations))  # (s, N): R⁻¹j
    u = np.einsum("sab,nb->nsa", rot_cart, np.asarray(displacements, float)).reshape(-1, 3)
    inv_u = np.linalg.pinv(u)  # (3, n_u·s)
    n = cells.n_atoms
    out = np.zeros((n, n, 3, 3, 3))
    for m, dfc2 in enumerate(delta_fc2s):
        for s, r in enumerate(rot_cart):
            rotated = np.einsum("bm,jkmn,cn->jkbc", r, dfc2[np.ix_(source[s], source[s])], r)
            out += inv_u[:, m * len(rotations) + s][None, None, :, None, None] * rotated[:, :, None]
    return out


def distribute_fc3(fc3: np.ndarray, cells: FC3Cells, done, targets, row_of) -> None:
    """phono3py's ``distribute_fc3`` in place: for each target atom, the first solved atom d
    some operation sends it onto (pure translations preferred, else the first such
    operation), Φ3[t, j, k] = Rᵀ⊗Rᵀ⊗Rᵀ Φ3[d, perm j, perm k]; ``row_of[a]``: the first-axis
    index of atom a (identity for full arrays, the primitive index for compact)."""
    perms, rotations = cells.permutations, cells.group.rotations
    pure = (rotations == np.eye(3, dtype=np.int64)).all(axis=(1, 2))
    lattice_cols = cells.supercell.lattice.T
    for t in targets:
        for d in done:
            ops = np.flatnonzero(perms[:, t] == d)
            if len(ops):
                break
        else:
            raise FC3Error(f"no symmetry operation sends atom {t + 1} onto a solved atom")
        op = next((o for o in ops if pure[o]), ops[0])
        r_inv = (lattice_cols @ rotations[op] @ np.linalg.inv(lattice_cols)).T
        p = perms[op]
        rotated = fc3[row_of[d]][np.ix_(p, p)] @ r_inv.T  # one Cartesian axis at a time
        rotated = np.einsum("mj,abijn->abimn", r_inv, rotated)
        fc3[row_of[t]] = np.einsum("li,abimn->ablmn", r_inv, rotated)


def _pair_sets(pairs):
    """(first index, its pair rows) for every first displacement."""
    return [(f, np.flatnonzero(pairs.first_of_pair == f)) for f in range(len(pairs.first_atoms))]


def solve_traditional(cells: FC3Cells, pairs, forces, compact: bool = True) -> ForceConstants3:
    """Unsymmetrized FC2 and FC3 from a type-1 pair dataset (``pairs``: a
    ``phono3py_files.PairDisplacements``) and its forces (n_first + n_pairs, N, 3) eV/Å in
    dataset order (the first displacements, then every pair), as phono3py's ``get_fc3``.
    With a pair cutoff (``cutoff_distance``) the solve runs in full form, then
    ``cutoff_pair_average``, then the compact form takes the primitive atoms' rows."""
    cutoff = pairs.cutoff_distance is not None
    forces = np.asarray(forces, float)
    n1 = len(pairs.first_atoms)
    if forces.shape != (n1 + len(pairs.second_atoms), cells.n_atoms, 3):
        raise FC3Error(f"forces of shape {forces.shape}, expected "
                       f"({n1 + len(pairs.second_atoms)}, {cells.n_atoms}, 3)")
    first_forces, pair_forces = forces[:n1], forces[n1:]
    fc2 = fc2_from_first_displacements(cells, pairs.first_atoms, pairs.first_displacements,
                                       first_forces)
    prim = cells.primitive
    first_atoms = np.unique(pairs.first_atoms)
    n = cells.n_atoms
    if not np.isin(first_atoms, prim.p2s).all():
        raise FC3Error("a first displaced atom is not an atom of the primitive cell "
                       "(phono3py's solve needs it)")
    if compact and not cutoff:
        row_of = prim.s2pp
        fc3 = np.zeros((len(prim.p2s), n, n, 3, 3, 3))
    else:
        row_of = np.arange(n)
        fc3 = np.zeros((n, n, n, 3, 3, 3))
    by_first = _pair_sets(pairs)
    for atom in first_atoms:
        mine = np.flatnonzero(pairs.first_atoms == atom)
        deltas = []
        for f in mine:
            rows = by_first[f][1]
            deltas.append(displaced_fc2(cells, int(atom), pairs.first_displacements[f],
                                        first_forces[f], pairs.second_atoms[rows],
                                        pairs.second_displacements[rows], pair_forces[rows]) - fc2)
        fc3[row_of[atom]] = solve_fc3_row(cells, int(atom), pairs.first_displacements[mine],
                                          deltas)
    targets = [a for a in prim.p2s if a not in first_atoms]
    distribute_fc3(fc3, cells, first_atoms, targets, row_of)
    if not compact or cutoff:
        done = np.unique(np.concatenate([first_atoms, prim.p2s]))
        distribute_fc3(fc3, cells, done, [a for a in range(n) if a not in done], row_of)
    if cutoff:
        fc3 = cutoff_pair_average(fc3, done_pairs(cells, pairs),
                                  prim.p2s if compact else None)
    fc2 = fc2[prim.p2s] if compact else fc2
    return ForceConstants3(fc2, fc3, cells, cells, compact, "none")


# --- pair cutoff --------------------------------------------------------------------------------


def done_pairs(cells: FC3Cells, pairs) -> np.ndarray:
    """(N, N) bool: atom pairs (g f, g j) for every space-group operation g, first atom f and
    second atom j of an included pair of f (phono3py's ``fc3_done``, there set for every
    third atom k). phono3py first maps the second atoms by one operation of f's reduced site
    symmetry; g∘R runs over the group as g does, so the set is the same without it."""
    n = cells.n_atoms
    first = pairs.first_atoms[pairs.first_of_pair[pairs.included]]
    second = pairs.second_atoms[pairs.included]
    done = np.zeros((n, n), bool)
    perms = cells.permutations
    done[perms[:, first].ravel(), perms[:, second].ravel()] = True
    return done


def cutoff_pair_average(fc3: np.ndarray, done: np.ndarray, rows=None) -> np.ndarray:
    """phono3py's ``_cutoff_fc3_for_cutoff_pairs`` on a full Φ3 (N, N, N, 3, 3, 3): every
    element the mean of its six index permutations (atoms with their Cartesian axes) over
    those whose first two atoms are a done pair (``done``, (N, N) bool), zero where none
    is. ``rows``: the first-axis atoms to return (all when None)."""
    rows = np.arange(fc3.shape[0]) if rows is None else np.asarray(rows)
    weight = np.broadcast_to(done[:, :, None], fc3.shape[:3]).astype(float)
    weighted = fc3 * weight[..., None, None, None]
    num = np.zeros((len(rows),) + fc3.shape[1:])
    den = np.zeros((len(rows),) + fc3.shape[1:3])
    for order in index_permutations(range(3)):
        num += np.transpose(weighted, tuple(order) + tuple(3 + o for o in order))[rows]
        den += np.transpose(weight, tuple(order))[rows]
    out = np.zeros_like(num)
    hit = den > 0
    out[hit] = num[hit] / den[hit][:, None, None, None]
    return out


# --- layouts ----------------------------------------------------------------------------------


def full_entries(fc3c: np.ndarray, cells: FC3Cells, i, j, k) -> np.ndarray:
    """Full Φ3[i, j, k] (supercell atoms, broadcast together) read from compact ``fc3c``:
    Φ3[i, j, k] = fc3c[s2pp i, T_i j, T_i k] with T_i the translation taking i home."""
    i, j, k = np.broadcast_arrays(i, j, k)
    tj = np.take_along_axis(cells.translation_perm[i], j[..., None], axis=-1)[..., 0]
    tk = np.take_along_axis(cells.translation_perm[i], k[..., None], axis=-1)[..., 0]
    return fc3c[cells.primitive.s2pp[i], tj, tk]


def compact_to_full(fc3c: np.ndarray, cells: FC3Cells) -> np.ndarray:
    """Full (N, N, N, 3, 3, 3) from compact FC3 by pure translations."""
    t = cells.translation_perm  # (N, N)
    return fc3c[cells.primitive.s2pp[:, None, None], t[:, :, None], t[:, None, :]]


def fc2_compact_to_full(fc2c: np.ndarray, cells: FC3Cells) -> np.ndarray:
    """Full (N, N, 3, 3) from compact FC2 by pure translations."""
    return fc2c[cells.primitive.s2pp[:, None], cells.translation_perm]


def _compact_permuted(fc3c: np.ndarray, cells: FC3Cells, order) -> np.ndarray:
    """Compact array of Φ3 with its atom indices (and Cartesian axes) taken in ``order``:
    out[p, j, k] = Φ3[(P, j, k)[order]] with the Cartesian axes following their atoms."""
    n = cells.n_atoms
    p2s = cells.primitive.p2s
    idx = [np.broadcast_to(p2s[:, None, None], (len(p2s), n, n)),
           np.broadcast_to(np.arange(n)[None, :, None], (len(p2s), n, n)),
           np.broadcast_to(np.arange(n)[None, None, :], (len(p2s), n, n))]
    g = full_entries(fc3c, cells, idx[order[0]], idx[order[1]], idx[order[2]])
    axes = np.argsort(order)
    return np.transpose(g, (0, 1, 2) + tuple(3 + a for a in axes))


def swap_first_two_compact(fc3c: np.ndarray, cells: FC3Cells) -> np.ndarray:
    """phono3py's ``transpose_compact_fc3(..., 0)`` (first two atom indices and their
    Cartesian axes exchanged), including its in-place swap order: a row (p, j) whose partner
    (s2pp j, T_j p2s[p]) is itself, with j not the primitive atom, is swapped twice and
    comes back unchanged (for a translation T_j of order 2, e.g. half a face diagonal
    of a 2×2×2 conventional supercell). Elsewhere this is the exact transposition."""
    out = _compact_permuted(fc3c, cells, (1, 0, 2))
    prim = cells.primitive
    home = prim.p2s[:, None]  # (n_p, 1)
    j = np.arange(cells.n_atoms)[None, :]
    own = (prim.s2pp[j] == np.arange(len(prim.p2s))[:, None]) & (j != home)
    partner = cells.translation_perm[np.broadcast_to(j, own.shape), np.broadcast_to(home, own.shape)]
    self_paired = own & (partner == j)
    out[self_paired] = fc3c[self_paired]
    return out


def _permutation_average_compact(fc3c: np.ndarray, cells: FC3Cells) -> np.ndarray:
    total = np.zeros_like(fc3c)
    for order in index_permutations(range(3)):
        total += _compact_permuted(fc3c, cells, order)
    return total / 6


def _permutation_average_full(fc3: np.ndarray) -> np.ndarray:
    total = np.zeros_like(fc3)
    for order in index_permutations(range(3)):
        total += np.transpose(fc3, tuple(order) + tuple(3 + o for o in order))
    return total / 6


def symmetrize_fc3_traditional(fc3: np.ndarray, cells: FC3Cells, level: int = FC3_LEVEL
                               ) -> np.ndarray:
    """phono3py's ``Phono3py.symmetrize_fc3()`` (compact or full): ``level`` times, the mean
    over each atom index removed in turn (translational invariance), then the average over
    the six index permutations."""
    fc3 = np.array(fc3, float)
    compact = fc3.shape[0] != fc3.shape[1]
    for _ in range(level):
        if compact:
            swapped = swap_first_two_compact(fc3, cells)
            swapped -= swapped.mean(axis=1, keepdims=True)
            fc3 = swap_first_two_compact(swapped, cells)
            fc3 -= fc3.mean(axis=1, keepdims=True)
            fc3 -= fc3.mean(axis=2, keepdims=True)
            fc3 = _permutation_average_compact(fc3, cells)
        else:
            for axis in range(3):
                fc3 -= fc3.mean(axis=axis, keepdims=True)
            fc3 = _permutation_average_full(fc3)
    return fc3


def symmetrize_fc2_traditional(fc2: np.ndarray, cells: FC3Cells, level: int = FC2_LEVEL
                               ) -> np.ndarray:
    """phono3py's ``Phono3py.symmetrize_fc2()``: ``level`` passes of phonopy's translational +
    permutation symmetrization (``phonjax.harmonic.force_constants.symmetrize``)."""
    import jax.numpy as jnp

    from phonjax import float64
    from phonjax.harmonic.force_constants import symmetrize

    compact = fc2.shape[0] != fc2.shape[1]
    full = fc2_compact_to_full(fc2, cells) if compact else np.asarray(fc2, float)
    mask = np.ones(cells.n_atoms, bool)
    with float64():
        out = jnp.asarray(full)
        for _ in range(level):
            out = symmetrize(out, jnp.asarray(mask))
        out = np.asarray(out)
    return out[cells.primitive.p2s] if compact else out


# --- symfc ------------------------------------------------------------------------------------


def _symfc(cells: FC3Cells, displacements=None, forces=None):
    from symfc import Symfc
    from symfc.utils.utils import SymfcAtoms

    sc = cells.supercell
    atoms = SymfcAtoms(cell=sc.lattice, scaled_positions=sc.frac_positions, numbers=sc.numbers)
    ops = {"rotations": cells.group.rotations, "translations": cells.group.translations}
    solver = Symfc(atoms, spacegroup_operations=ops, symprec=cells.symprec, log_level=0)
    if displacements is not None:
        solver.displacements = np.asarray(displacements, float)
        solver.forces = np.asarray(forces, float)
    return solver


def _same_primitive(cells: FC3Cells, symfc_p2s) -> bool:
    p2s = cells.primitive.p2s
    return symfc_p2s is not None and len(symfc_p2s) == len(p2s) and (symfc_p2s == p2s).all()


def symmetrize_by_projector(fc: np.ndarray, cells: FC3Cells, order: int) -> np.ndarray:
    """Φ ← P·Φ with symfc's projector P onto the force constants of order 2 or 3 invariant
    under the space group, translations and index permutations (compact or full), as
    phonopy's ``symmetrize_by_projector`` applies it."""
    solver = _symfc(cells)
    try:
        solver.compute_basis_set(orders=[order])
    except AssertionError:  # symfc asserts a non-empty basis (as phono3py.load fails there)
        raise FC3Error(f"symfc finds no order-{order} force constants that this "
                       f"{cells.supercell.n_atoms}-atom supercell's symmetry allows (they "
                       "vanish by symmetry here); use a larger supercell, or "
                       "symmetrization='traditional'") from None
    basis = solver.basis_set[order]
    fc = np.asarray(fc, float)
    compact = fc.shape[0] != fc.shape[1]
    if compact and not _same_primitive(cells, solver.p2s_map):
        full = (compact_to_full(fc, cells) if order == 3 else fc2_compact_to_full(fc, cells))
        return symmetrize_by_projector(full, cells, order)[cells.primitive.p2s]
    compression = (basis.compact_compression_matrix if compact
                   else basis.compression_matrix).tocsc()
    out = fc.ravel() @ compression
    out = basis.blocked_basis_set.T @ out.T
    out = basis.blocked_basis_set @ out
    out = compression @ out
    if compact:
        out *= len(basis.translation_permutations)
    return np.asarray(out).reshape(fc.shape)


def fit_symfc(cells: FC3Cells, displacements, forces, orders=(2, 3), compact: bool = True
              ) -> dict[int, np.ndarray]:
    """Force constants of ``orders`` fitted by symfc to displacements and forces (n, N, 3)
    each (every atom displaced: a type-2 dataset, or a type-1 one written out as such), as
    phono3py's ``fc_calculator="symfc"`` (no cutoff): {order: array}, compact by default."""
    solver = _symfc(cells, displacements, forces)
    solver.compute_basis_set(orders=list(orders))
    use_compact = compact and _same_primitive(cells, solver.p2s_map)
    solver.solve(orders=list(orders), is_compact_fc=use_compact)
    out = {o: np.asarray(solver.force_constants[o]) for o in orders}
    if compact and not use_compact:
        out = {o: fc[cells.primitive.p2s] for o, fc in out.items()}
    return out


# --- front --------------------------------------------------------------------------------------


SYMMETRIZATIONS = ("symfc-projector", "traditional", "none")


def symmetrized(result: ForceConstants3, how: str) -> ForceConstants3:
    """``result`` symmetrized by ``how`` (``SYMMETRIZATIONS``): FC3 and FC2 alike, each in
    its own supercell."""
    if how == "none":
        return result
    if how == "traditional":
        fc3 = symmetrize_fc3_traditional(result.fc3, result.cells)
        fc2 = symmetrize_fc2_traditional(result.fc2, result.fc2_cells)
    elif how == "symfc-projector":
        fc3 = symmetrize_by_projector(result.fc3, result.cells, 3)
        fc2 = symmetrize_by_projector(result.fc2, result.fc2_cells, 2)
    else:
        raise ValueError(f"symmetrization must be one of {SYMMETRIZATIONS}, got {how!r}")
    return ForceConstants3(fc2, fc3, result.cells, result.fc2_cells, result.compact, how)


def _type2_arrays(displacements, forces):
    """(displacements, forces) (n, N, 3) of a type-2 record, or of a type-1 one written
    out with every atom (as phono3py's ``get_displacements_and_forces_fc3``)."""
    if hasattr(displacements, "first_of_pair"):  # PairDisplacements
        n = forces.shape[1]
        out = np.zeros((displacements.n_supercells, n, 3))
        n1 = len(displacements.first_atoms)
        out[np.arange(n1), displacements.first_atoms] = displacements.first_displacements
        rows = n1 + np.arange(len(displacements.second_atoms))
        out[rows, displacements.first_atoms[displacements.first_of_pair]] = \
            displacements.first_displacements[displacements.first_of_pair]
        out[rows, displacements.second_atoms] = displacements.second_displacements
        return out, forces
    if hasattr(displacements, "atoms"):  # SingleDisplacements
        out = np.zeros((len(displacements.atoms), forces.shape[1], 3))
        out[np.arange(len(out)), displacements.atoms] = displacements.displacements
        return out, forces
    return displacements.displacements, forces


def force_constants(dataset, symmetrization: str = "symfc-projector", compact: bool = True,
                    symprec: float = SYMPREC) -> ForceConstants3:
    """FC2 and FC3 of a ``phono3py_files.FC3Dataset`` as ``phono3py.load`` gives them.

    Type-1 FC3 datasets: the traditional solve, then ``symmetrization`` ("symfc-projector":
    ``phono3py.load``'s default; "traditional": ``symmetrize_fc3()``/``symmetrize_fc2()``,
    the CLI's; "none"); with a pair cutoff, solved in full form and re-averaged first
    (``cutoff_pair_average``). Type-2: symfc's fit of FC2 and FC3 together
    (``fc_calculator="symfc"``; ``symmetrization`` is not applied, the fit is symmetric).
    A separate FC2 supercell gets its FC2 from its own dataset, by the same route."""
    if dataset.fc3_forces is None:
        raise FC3Error(f"{dataset.id}: no FC3 forces")
    cells = fc3_cells(dataset.unitcell, dataset.supercell_matrix, dataset.primitive_matrix,
                      symprec)
    separate = dataset.phonon_supercell_matrix is not None
    fc2_cells = (fc3_cells(dataset.unitcell, dataset.phonon_supercell_matrix,
                           dataset.primitive_matrix, symprec) if separate else cells)
    if separate and dataset.fc2_forces is None:
        raise FC3Error(f"{dataset.id}: no forces for the separate FC2 supercell")
    if dataset.is_random:
        # FC2 and FC3 fitted together even when FC2 has its own cell (phono3py's
        # FC3Solver, orders [2, 3]); the FC3 cell's FC2 is then dropped
        fit = fit_symfc(cells, dataset.fc3_displacements.displacements, dataset.fc3_forces,
                        (2, 3), compact)
        fc2 = fit[2] if not separate else _fc2_of(dataset, fc2_cells, "symfc-fit", compact)
        return ForceConstants3(fc2, fit[3], cells, fc2_cells, compact, "symfc-fit")
    result = solve_traditional(cells, dataset.fc3_displacements, dataset.fc3_forces, compact)
    if separate:
        result = ForceConstants3(_fc2_of(dataset, fc2_cells, "none", compact), result.fc3,
                                 cells, fc2_cells, compact, "none")
    return symmetrized(result, symmetrization)


def _fc2_of(dataset, cells: FC3Cells, route: str, compact: bool) -> np.ndarray:
    """FC2 of the separate FC2 supercell: symfc's fit for type 2 (or when ``route`` asks
    for it), else phonopy's traditional solve (unsymmetrized)."""
    disps = dataset.fc2_displacements
    if route == "symfc-fit" or not hasattr(disps, "atoms"):
        d, f = _type2_arrays(disps, dataset.fc2_forces)
        return fit_symfc(cells, d, f, (2,), compact)[2]
    fc2 = fc2_from_first_displacements(cells, disps.atoms, disps.displacements,
                                       dataset.fc2_forces)
    return fc2[cells.primitive.p2s] if compact else fc2
