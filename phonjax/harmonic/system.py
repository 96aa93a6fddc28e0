"""Host-side preparation of one material: every index array the kernels need.

From a unit cell, supercell matrix S and primitive matrix P (and optionally
the displacements already in a dataset) this builds, with numpy and spglib:
the supercell and primitive cell in phonopy's order, the supercell's space
group, the displacements, the gather/rotation tables of the force-constant
solve and distribution, the lattice-sum tables of the dynamical matrix, the
irreducible q-mesh and the commensurate q-points, and for a polar crystal with
Born charges the tables of the non-analytical correction (``phonjax.harmonic.nac``).
Nothing here depends on forces, so one ``HarmonicSystem`` serves the DFT
reference and every model (a model's force constants with DFT Born charges:
``prepare(crystal, S, P, nac=NACParams(...))``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from phonjax.structure.supercell import Primitive, build_primitive, build_supercell
from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.harmonic.displacements import generate_displacements
from phonjax.io.dataset import PhononDataset
from phonjax.harmonic.mesh import QMesh, commensurate_qpoints, irreducible_mesh
from phonjax.harmonic.nac import NACParams, nac_tables
from phonjax.options import (DisplacementWarning, displacement_distance, displacement_warning,
                             mesh_numbers)
from phonjax.resources import (DEFAULT_MEMORY_BYTES, MATCH_CHUNK_POSITIONS, mesh_bytes,
                               refuse_if_over, supercell_bytes)
from phonjax.structure.shortest_vectors import shortest_vectors
from phonjax.structure.symmetry import (SYMPREC, PositionMatcher, SpaceGroup,
                                        cartesian_rotations, group_permutations,
                                        inversion_permutation, point_group_rotations,
                                        site_symmetry, space_group)
from phonjax.harmonic.tables import FCTables, MaterialTables, PhaseTables, QSet


@dataclass(frozen=True, eq=False)
class HarmonicSystem:
    """One prepared material: its cells and symmetry (host objects) and its kernel tables."""

    id: str
    unitcell: Crystal
    supercell_matrix: np.ndarray
    primitive_matrix: np.ndarray
    supercell: Crystal
    primitive: Primitive
    group: SpaceGroup
    displaced_atoms: np.ndarray  # (n_disp,)
    mesh: QMesh  # the sampling (numbers, shift, group); its q-points are ``tables.mesh``'s
    tables: MaterialTables  # everything the kernels read, unpadded
    nac: NACParams | None = None  # the non-analytical correction applied, if any

    @property
    def displacements(self) -> np.ndarray:
        """(n_disp, 3) Å, of atom ``displaced_atoms[i]`` (the kernel's table, not a copy)."""
        return self.tables.fc.displacements

    @property
    def commensurate(self) -> np.ndarray:
        """(n_c, 3) commensurate q-points, Γ first (the kernel's table, not a copy)."""
        return self.tables.commensurate.qpoints

    @property
    def n_supercell(self) -> int:
        return self.supercell.n_atoms

    @property
    def n_primitive(self) -> int:
        return self.primitive.crystal.n_atoms

    def displacement_vectors(self) -> np.ndarray:
        """(n_disp, N, 3) Å: displacement i as a vector of the whole supercell (atom a = u_i)."""
        v = np.zeros((len(self.displacements), self.n_supercell, 3))
        v[np.arange(len(v)), self.displaced_atoms] = self.displacements
        return v

    def displaced_supercells(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(cell, Cartesian positions, numbers) of each displaced supercell."""
        base = self.supercell.positions
        return [(self.supercell.lattice, base + v, self.supercell.numbers)
                for v in self.displacement_vectors()]


def _solve_tables(supercell: Crystal, group: SpaceGroup, displaced_atoms: np.ndarray,
                  displacements: np.ndarray, symprec: float) -> tuple[np.ndarray, dict]:
    """The solved atoms and the ``solve_*`` fields of ``FCTables``."""
    solved = np.unique(displaced_atoms)
    rot_cart = cartesian_rotations(supercell.lattice, group.rotations)
    rows = []
    for d in solved:
        ops = site_symmetry(supercell, group, d, symprec)
        centred = Crystal(supercell.lattice, supercell.frac_positions - supercell.frac_positions[d],
                          supercell.numbers, supercell.masses)
        matcher = PositionMatcher(centred, symprec)
        # image[s, j]: where site rotation s sends atom j; the force on atom i in the
        # rotated picture is R·F(j) with image[s, j] = i
        image = matcher.match(np.einsum("sab,nb->sna", group.rotations[ops], centred.frac_positions),
                              np.broadcast_to(supercell.numbers, (len(ops), supercell.n_atoms)))
        source = np.empty_like(image)
        np.put_along_axis(source, image, np.arange(supercell.n_atoms)[None, :], axis=1)
        disp_ids = np.flatnonzero(displaced_atoms == d)
        rows.append((np.repeat(disp_ids, len(ops)), np.tile(rot_cart[ops], (len(disp_ids), 1, 1)),
                     np.tile(source, (len(disp_ids), 1))))
    k_max = max(len(r[0]) for r in rows)
    n = supercell.n_atoms
    rotations = np.zeros((len(solved), k_max, 3, 3))
    disp_index = np.zeros((len(solved), k_max), np.int64)
    atom_map = np.zeros((len(solved), k_max, n), np.int64)
    op_mask = np.zeros((len(solved), k_max), bool)
    for d, (ids, rots, src) in enumerate(rows):
        k = len(ids)
        rotations[d, :k], disp_index[d, :k], atom_map[d, :k], op_mask[d, :k] = rots, ids, src, True
    # pinv of the stacked, site-rotated displacements (zero rows of padding give zero columns)
    u = np.einsum("dkab,dkb->dka", rotations, displacements[disp_index]) * op_mask[..., None]
    return solved, dict(solve_rotations=rotations, solve_disp_index=_index(disp_index),
                        solve_atom_map=_index(atom_map), solve_op_mask=op_mask,
                        solve_u_pinv=np.linalg.pinv(u))


def _distribute_tables(supercell: Crystal, group: SpaceGroup, solved: np.ndarray,
                       matcher: PositionMatcher) -> dict:
    """The ``dist_*`` fields of ``FCTables``: for each atom, the first operation (spglib
    order) that sends it onto a solved atom, as phonopy's full-force-constant
    distribution chooses it."""
    n, n_ops = supercell.n_atoms, len(group.rotations)
    frac = supercell.frac_positions
    # the atoms that operation s sends onto solved atom d are g_s⁻¹(x_d): matching those
    # n_ops·n_d points instead of the images of all N atoms
    inverse_rotations = np.rint(np.linalg.inv(group.rotations)).astype(np.int64)
    pre = np.einsum("sab,sdb->sda", inverse_rotations,
                    frac[solved][None, :, :] - group.translations[:, None, :])
    pre_idx = matcher.match(pre, np.broadcast_to(supercell.numbers[solved], pre.shape[:-1]))
    # op[i]: the first operation that sends atom i onto a solved atom (n_ops: none), found
    # from the n_ops·n_d matches alone (an (n_ops, N) table would take ~48·N²/n_p bytes)
    op = np.full(n, n_ops)
    np.minimum.at(op, pre_idx.ravel(), np.repeat(np.arange(n_ops), len(solved)))
    if (op == n_ops).any():
        raise CrystalError("the displacements do not determine the force constants of every atom "
                           "(not enough displaced atoms for this symmetry)")
    # which solved atom g_op(i) is: operation op[i] sends exactly one atom onto each
    source = (pre_idx[op] == np.arange(n)[:, None]).argmax(axis=1)
    ops, inverse = np.unique(op, return_inverse=True)
    # by cosets (rotation, then pure translation), a few operations per matcher call: its
    # work arrays (~2.7 kB per position) stay near MATCH_CHUNK_POSITIONS positions
    perms = _index(group_permutations(matcher, group.rotations[ops], group.translations[ops],
                                      chunk_positions=MATCH_CHUNK_POSITIONS))
    rots = cartesian_rotations(supercell.lattice, group.rotations[ops])
    return dict(dist_source=_index(source), dist_rotations=rots[inverse],
                dist_perm=perms[inverse])


def phase_tables(supercell: Crystal, primitive: Primitive, symprec: float,
                  inversion: np.ndarray | None = None) -> PhaseTables:
    """Supercell atoms k(j, t) of each primitive atom, and the phase tables of D(q);
    ``inversion``: the supercell atom map of an inversion, or None.

    Each shortest vector is v = x_k − x_i + I (positions in primitive fractional
    coordinates, I an integer lattice vector), so exp(2πi q·v) factors exactly
    into position phases and the phases of a few distinct I.
    """
    p2s, s2pp = primitive.p2s, primitive.s2pp
    vectors, multiplicity = shortest_vectors(supercell.lattice, supercell.frac_positions,
                                             supercell.frac_positions[p2s],
                                             primitive.crystal.lattice, symprec)
    n_p = len(p2s)
    image_atoms = np.stack([np.flatnonzero(s2pp == j) for j in range(n_p)])  # (n_p, n_t)
    to_primitive = np.rint(supercell.lattice @ np.linalg.inv(primitive.crystal.lattice))
    x = supercell.frac_positions @ to_primitive  # (N, 3) primitive fractional
    v = np.transpose(vectors[image_atoms], (2, 0, 1, 3, 4))  # (n_p(i), n_p(j), n_t, M, 3)
    m = multiplicity[image_atoms].transpose(2, 0, 1)  # (n_p, n_p, n_t)
    valid = np.arange(v.shape[3]) < m[..., None]
    weights = np.where(valid, 1.0 / m[..., None], 0.0)
    shift = x[image_atoms][None, :, :, None, :] - x[p2s][:, None, None, None, :]
    lattice = v - shift
    lattice_int = np.rint(lattice)
    if np.abs(np.where(valid[..., None], lattice - lattice_int, 0)).max() > 1e-8:
        raise CrystalError("shortest vectors are not lattice translations of supercell atoms")
    lattice_int = np.where(valid[..., None], lattice_int, 0).astype(np.int64)
    vecs, inverse = unique_rows(lattice_int.reshape(-1, 3))
    table = np.zeros((len(vecs),) + m.shape)
    idx = np.nonzero(valid)
    np.add.at(table, (inverse.reshape(valid.shape)[idx],) + idx[:3], weights[idx])
    return PhaseTables(p2s=_index(p2s), image_atoms=_index(image_atoms),
                       masses=primitive.crystal.masses,
                       primitive_mask=np.ones(n_p, bool), lattice_vectors=vecs.astype(float),
                       lattice_weights=table, image_positions=x[image_atoms],
                       primitive_positions=x[p2s],
                       inversion_partner=_index(-np.ones(n_p) if inversion is None
                                                else s2pp[inversion[p2s]]))


def refuse_large_supercell(name: str, n_unitcell: int, supercell_matrix, primitive_matrix,
                           memory_bytes: float, advice: str) -> None:
    """``ResourceError`` (one line: atoms, estimate, bound, ``advice``) when the supercell of
    S (from a unit cell of ``n_unitcell`` atoms) would need more than ``memory_bytes``
    (``resources.supercell_bytes``): from the matrices alone, before anything is built."""
    det_s = abs(round(float(np.linalg.det(np.asarray(supercell_matrix, float)))))
    n_supercell = n_unitcell * det_s
    n_primitive = max(1, round(n_unitcell * abs(float(np.linalg.det(
        np.asarray(primitive_matrix, float))))))
    atoms = f"{n_supercell}" if n_supercell < 10 ** 9 else f"{float(n_supercell):.3g}"
    refuse_if_over(name, f"a supercell of {atoms} atoms",
                   supercell_bytes(n_supercell, n_primitive), memory_bytes, advice)


def _index(a: np.ndarray) -> np.ndarray:
    """Index tables as int32: the same in every JAX precision mode (int64 indices meet
    int32 sizes where x64 is off, e.g. under a caller's jit), and half the memory."""
    return np.asarray(a, np.int32)


def unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(rows, axis=0, return_inverse=True)`` for small integer rows (n, 3),
    through one int64 key per row (same lexicographic order; numpy's row-wise unique
    sorts a void view, 10× slower for the 10⁴-10⁵ rows of large cells)."""
    lo = rows.min(axis=0)
    span = rows.max(axis=0) - lo + 1
    keys = ((rows[:, 0] - lo[0]) * span[1] + rows[:, 1] - lo[1]) * span[2] + rows[:, 2] - lo[2]
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    representative = np.zeros(len(unique_keys), np.int64)
    representative[inverse] = np.arange(len(rows))  # any row of a group: they are equal
    return rows[representative], inverse


def prepare(source: PhononDataset | Crystal, supercell_matrix=None, primitive_matrix=None, *,
            mesh=(20, 20, 20), gamma_centered: bool = False, mesh_symmetry: bool = True,
            phonopy_mesh_fallback: bool = False,
            distance: float = 0.01, is_plusminus="auto", is_diagonal: bool = True,
            use_dataset_displacements: bool = True, commensurate: str = "primitive",
            symprec: float = SYMPREC, id: str | None = None,
            memory_bytes: float = DEFAULT_MEMORY_BYTES,
            nac: NACParams | bool | None = None) -> HarmonicSystem:
    """Prepare one material.

    ``source``: a ``PhononDataset`` (its S, P and, if ``use_dataset_displacements``,
    its displacements are used) or a ``Crystal`` with explicit matrices.
    ``commensurate``: "primitive" (q commensurate with the supercell, in the
    primitive basis: inv(P)·S) or "supercell_matrix" (the published benchmark
    code's choice, S itself, which samples wrong points for centred cells).
    ``phonopy_mesh_fallback``: reduce the mesh by time reversal alone wherever the
    shifted grid breaks a rotation, exactly as phonopy 4 (default: keep every
    rotation the grid allows, fewer q-points, equal sums).
    ``memory_bytes``: a supercell (``resources.supercell_bytes``, checked before anything is
    built) or a mesh whose reduction would need more raises ``ResourceError``.
    ``nac``: the non-analytical correction: ``NACParams`` (Born charges and ε∞, e.g.
    from DFT next to a model's forces), False (none), or None: the dataset's own
    (a BORN file or the file's ``nac`` section), none for a ``Crystal``.
    ``mesh``: one or three integers ≥ 1 (``options.mesh_numbers``: 2.5 or True is a
    ``ValueError``, never truncated). ``distance`` (Å): ``options.DISPLACEMENT_RULE`` (a
    ``ValueError`` above 0.2 Å; a ``DisplacementWarning`` above 0.05 Å when it is used).
    """
    mesh = mesh_numbers("mesh", mesh)
    distance = displacement_distance("distance", distance)
    if isinstance(source, PhononDataset):
        unitcell, smat, pmat = source.unitcell, source.supercell_matrix, source.primitive_matrix
        id = id or source.id
    else:
        from phonjax.io.dataset import checked_primitive_matrix, checked_supercell_matrix

        unitcell = source
        smat = checked_supercell_matrix(supercell_matrix)
        pmat = checked_primitive_matrix(primitive_matrix)
    if nac is None or nac is True:
        nac = source.nac if isinstance(source, PhononDataset) else None
    elif nac is False:
        nac = None
    elif not isinstance(nac, NACParams):
        raise TypeError(f"nac must be NACParams, True/None (the dataset's) or False, got {nac!r}")
    refuse_large_supercell(id or "crystal", unitcell.n_atoms, smat, pmat, memory_bytes,
                           "use a smaller supercell or raise the memory bound "
                           "(memory_bytes, --memory-gb)")
    supercell, s2u = build_supercell(unitcell, smat, symprec)
    primitive = build_primitive(supercell, smat, pmat, symprec)
    group = space_group(supercell, symprec)
    if (isinstance(source, PhononDataset) and use_dataset_displacements
            and source.displacements is not None):
        atoms, disps = source.displaced_atoms, source.displacements
    else:
        if displacement_warning(distance):
            warnings.warn(displacement_warning(distance), DisplacementWarning, stacklevel=2)
        atoms, disps = generate_displacements(supercell, group, distance, is_plusminus, is_diagonal)
    disps = np.asarray(disps, float)
    matcher = PositionMatcher(supercell, symprec)
    solved, solve = _solve_tables(supercell, group, atoms, disps, symprec)
    fc = FCTables(displacements=disps, **solve, **_distribute_tables(supercell, group, solved, matcher),
                  atom_mask=np.ones(supercell.n_atoms, bool))
    rotations = (np.transpose(point_group_rotations(primitive.crystal, symprec), (0, 2, 1))
                 if mesh_symmetry else None)
    refuse_if_over(id or "crystal", f"the {'×'.join(map(str, np.ravel(mesh)))} q-mesh",
                   mesh_bytes(np.ravel(mesh), 1 if rotations is None else len(rotations)),
                   memory_bytes, "use a smaller mesh or raise the memory bound "
                   "(memory_bytes, --memory-gb)")
    qmesh = irreducible_mesh(mesh, rotations, gamma_centered, primitive.crystal.lattice,
                             phonopy_mesh_fallback)
    if commensurate == "primitive":
        comm = commensurate_qpoints(primitive.supercell_in_primitive)
    elif commensurate == "supercell_matrix":
        comm = commensurate_qpoints(smat)
    else:
        raise ValueError("commensurate must be 'primitive' or 'supercell_matrix'")
    nac_table = None
    if nac is not None:
        nac_table = nac_tables(nac, primitive, s2u, unitcell.n_atoms,
                               commensurate_qpoints(primitive.supercell_in_primitive), symprec,
                               supercell=supercell)
    tables = MaterialTables(
        fc=fc, phases=phase_tables(supercell, primitive, symprec,
                                    inversion_permutation(group, matcher)),
        mesh=QSet(qmesh.qpoints, qmesh.weights.astype(float)),
        commensurate=QSet(comm, np.ones(len(comm))), nac=nac_table)
    return HarmonicSystem(
        id=id or "crystal", unitcell=unitcell, supercell_matrix=smat, primitive_matrix=pmat,
        supercell=supercell, primitive=primitive, group=group, displaced_atoms=atoms,
        mesh=qmesh, tables=tables, nac=nac)
