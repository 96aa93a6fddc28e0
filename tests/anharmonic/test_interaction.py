"""|Φ(λ, λ′, λ″)|² (``phonjax.anharmonic.interaction``) against phono3py 4.10's
``Interaction.interaction_strength`` (Rust backend, every element: ``run()`` with no g_zero),
computed here on the same FC3, the same triplets and phono3py's own eigenvectors.

Crystals: Si-PBEsol (the example's FC3, 2×2×2 conventional supercell, mesh 9³, every triplet
of every irreducible q: 6325, Γ and BZ-surface images of q0 included) and wurtzite GaN
(3×3×2 supercell of the hexagonal cell: non-orthogonal, multiplicities up to 6; a random
compact FC3, FC2 of longitudinal + transverse springs, mesh 5×5×3, 188 triplets, 69 Umklapp),
both with ``make_r0_average`` True (phono3py's default) and False.

Contract: max |Δ| ≤ 1e-12 × max |Φ|². Measured: ≤ 6e-15 (Si), ≤ 1.2e-15 (GaN).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np
import pytest

from phonjax.anharmonic import interaction as itx
from phonjax.anharmonic.fc3 import fc3_cells
from phonjax.structure.crystal import Crystal

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phono3py-examples"
SI = DATA / "Si-PBEsol"
RELATIVE = 1e-12
CHUNK = 256  # triplets per call (one compilation per test)

pytestmark = pytest.mark.skipif(not SI.is_dir(), reason="phono3py examples not in shared/data")


@dataclasses.dataclass
class Reference:
    """phono3py's |Φ|² at every triplet of every irreducible q, and what produced it."""

    ph: object  # phono3py.Phono3py
    tables: itx.InteractionTables
    triplets: np.ndarray  # (n_t, 3) BZ-grid indices
    strength: np.ndarray  # (n_t, n_b0, n_b, n_b) eV²
    qpoints: np.ndarray  # (n_bz, 3) BZ addresses / mesh
    n_grid: int
    band_indices: np.ndarray | None
    counts: np.ndarray  # triplets of each irreducible q, in order

    @property
    def interaction(self):
        return self.ph.phph_interaction


def _cells(ph):
    u = ph.unitcell
    crystal = Crystal(u.cell, u.scaled_positions, u.numbers, u.masses)
    cells = fc3_cells(crystal, ph.supercell_matrix, ph.primitive_matrix)
    np.testing.assert_array_equal(cells.primitive.p2s, ph.primitive.p2s_map)
    return cells


def _reference(ph, r0: bool, band_indices=None) -> Reference:
    """Runs phono3py's interaction at every irreducible grid point of ``ph``'s mesh."""
    from phonopy.phonon.grid import get_ir_grid_points

    ph.init_phph_interaction()
    ph.run_phonon_solver()
    itr = ph.phph_interaction
    assert itr.make_r0_average == r0
    bz = itr.bz_grid
    ir_points, _, _ = get_ir_grid_points(bz)
    triplets, strength = [], []
    for gp in bz.grg2bzg[ir_points]:
        itr.set_grid_point(gp)
        itr.run()
        triplets.append(itr.get_triplets_at_q()[0].copy())
        strength.append(itr.interaction_strength.copy())
    return Reference(ph, itx.interaction_tables(_cells(ph), r0), np.concatenate(triplets),
                     np.concatenate(strength), bz.addresses / bz.D_diag,
                     int(np.prod(bz.D_diag)),
                     None if band_indices is None else np.asarray(band_indices),
                     np.array([len(t) for t in triplets]))


def _si(r0: bool) -> Reference:
    import phono3py

    ph = phono3py.load(SI / "phono3py_disp.yaml", forces_fc3_filename=SI / "FORCES_FC3",
                       make_r0_average=r0)
    ph.mesh_numbers = [9, 9, 9]
    return _reference(ph, r0)


def _spring_fc2(supercell, cutoff=3.5, k_long=5.0, k_trans=1.0) -> np.ndarray:
    """Full FC2 (N, N, 3, 3) eV/Å² of springs between atoms closer than ``cutoff`` (Å, below
    half the supercell: one image per pair): positive off Γ, translation invariant."""
    lattice, frac = supercell.cell, supercell.scaled_positions
    shifts = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)])
    d = (frac[None, :, None] - frac[:, None, None] + shifts[None, None]) @ lattice  # (N,N,27,3)
    dist = np.linalg.norm(d, axis=-1)
    near = (dist < cutoff) & (dist > 1e-8)
    unit = np.where(near[..., None], d / np.where(near, dist, 1)[..., None], 0)
    long = np.einsum("absi,absj->abij", unit, unit)
    trans = near.sum(axis=2)[..., None, None] * np.eye(3) - long
    fc2 = -(k_long * long + k_trans * trans)
    idx = np.arange(len(frac))
    fc2[idx, idx] = -fc2.sum(axis=1)
    return fc2


def _gan(r0: bool, band_indices=None) -> Reference:
    import phono3py
    from ase.build import bulk
    from phonopy.structure.atoms import PhonopyAtoms

    atoms = bulk("GaN", "wurtzite", a=3.19, c=5.19)
    unitcell = PhonopyAtoms(symbols=atoms.get_chemical_symbols(), cell=atoms.cell[:],
                            scaled_positions=atoms.get_scaled_positions())
    ph = phono3py.Phono3py(unitcell, supercell_matrix=[3, 3, 2], primitive_matrix="auto",
                           make_r0_average=r0)
    if band_indices is not None:
        ph.band_indices = band_indices
    n = len(ph.supercell)
    ph.fc2 = _spring_fc2(ph.supercell)
    ph.fc3 = np.random.default_rng(7).standard_normal((len(ph.primitive), n, n, 3, 3, 3))
    ph.mesh_numbers = [5, 5, 3]
    return _reference(ph, r0, band_indices)


@pytest.fixture(scope="module", params=[True, False], ids=["r0", "no-r0"])
def si(request):
    return _si(request.param)


@pytest.fixture(scope="module", params=[(True, None), (False, None), (True, [1, 6, 11])],
                ids=["r0", "no-r0", "r0-bands"])
def gan(request):
    return _gan(*request.param)


def _chunked(fn, triplets: np.ndarray) -> np.ndarray:
    """fn(triplets chunk) over fixed-size chunks (the last padded with its first row)."""
    pad = (-len(triplets)) % CHUNK
    padded = np.concatenate([triplets, np.repeat(triplets[:1], pad, axis=0)])
    parts = [np.asarray(fn(chunk)) for chunk in np.split(padded, len(padded) // CHUNK)]
    return np.concatenate(parts)[:len(triplets)]


def _direct(ref: Reference, tables=None) -> np.ndarray:
    tables = ref.tables if tables is None else tables
    phonons = ref.interaction.phonons
    with jax.enable_x64(True):
        return _chunked(lambda t: itx.interaction_strength(
            tables, ref.ph.fc3, ref.qpoints[t], phonons.eigenvectors[t], phonons.frequencies[t],
            ref.band_indices, n_grid=ref.n_grid), ref.triplets)


def _indexed(ref: Reference) -> np.ndarray:
    phonons = ref.interaction.phonons
    with jax.enable_x64(True):
        halves = itx.half_transforms(ref.tables, ref.ph.fc3, ref.qpoints)
        return _chunked(lambda t: itx.interaction_strength_indexed(
            ref.tables, halves, t, phonons.eigenvectors[t], phonons.frequencies[t],
            ref.band_indices, n_grid=ref.n_grid), ref.triplets)


def _at_q(ref: Reference, indexed: bool) -> np.ndarray:
    """``interaction_strength_at_q`` over the triplets of each irreducible q (their q0 are
    images of one grid point), in chunks of ``CHUNK`` padded with the chunk's first row."""
    phonons = ref.interaction.phonons
    parts = []
    with jax.enable_x64(True):
        q0w = itx.q0_weighted_fc3(ref.tables, ref.ph.fc3)
        halves = (itx.half_transforms(ref.tables, ref.ph.fc3, ref.qpoints, first_weight=True)
                  if indexed else None)
        for group in np.split(ref.triplets, np.cumsum(ref.counts)[:-1]):
            for a in range(0, len(group), CHUNK):
                t = group[a:a + CHUNK]
                t = np.concatenate([t, np.repeat(t[:1], CHUNK - len(t), axis=0)])
                e, f = phonons.eigenvectors[t], phonons.frequencies[t]
                if indexed:
                    out = itx.interaction_strength_at_q(
                        ref.tables, q0w, t, e, f, ref.band_indices, n_grid=ref.n_grid,
                        halves=halves)
                else:
                    out = itx.interaction_strength_at_q(
                        ref.tables, q0w, None, e, f, ref.band_indices, n_grid=ref.n_grid,
                        fc3=ref.ph.fc3, qpoints=ref.qpoints[t])
                parts.append(np.asarray(out)[:len(group[a:a + CHUNK])])
    return np.concatenate(parts)


def _assert_close(got: np.ndarray, ref: Reference):
    assert got.shape == ref.strength.shape
    scale = np.abs(ref.strength).max()
    assert scale > 0
    assert np.abs(got - ref.strength).max() <= RELATIVE * scale


def _assert_tables_match(ref: Reference):
    """all_shortest, shortest-vector images, masses and U equal phono3py's."""
    tables, itr = ref.tables, ref.interaction
    np.testing.assert_array_equal(tables.all_shortest, itr.all_shortest.astype(bool))
    assert tables.all_shortest.any()
    # the image sets of phonopy's shortest vectors, in this module's (o, p, c) order
    svecs, multi = ref.ph.primitive.get_smallest_vectors()
    for o in range(tables.n_primitive):
        for p in range(tables.n_primitive):
            for c, atom in enumerate(tables.cell_atoms[p]):
                count, start = multi[atom, o]
                assert tables.multiplicity[o, p, c] == count
                ours = tables.image_vectors[o, p, c, :count]
                np.testing.assert_allclose(np.sort(ours, axis=0),
                                           np.sort(svecs[start:start + count], axis=0),
                                           atol=1e-10)
    np.testing.assert_allclose(tables.masses, ref.ph.primitive.masses)
    assert itx.unit_conversion(ref.n_grid) == itr.unit_conversion_factor


def test_tables_match_phono3py_si(si):
    _assert_tables_match(si)


def test_tables_match_phono3py_gan(gan):
    _assert_tables_match(gan)


def test_si_against_phono3py(si):
    _assert_close(_direct(si), si)
    _assert_close(_indexed(si), si)


def test_gan_against_phono3py(gan):
    _assert_close(_direct(gan), gan)
    _assert_close(_indexed(gan), gan)


def test_si_at_q_against_phono3py(si):
    """Legs 2 and 3 from half transforms at q0 (the q0 of a q's triplets: images of one
    point, BZ-surface images included via χ), H_A(q2) from the table or per triplet."""
    _assert_close(_at_q(si, indexed=True), si)
    _assert_close(_at_q(si, indexed=False), si)


def test_gan_at_q_against_phono3py(gan):
    _assert_close(_at_q(gan, indexed=True), gan)
    _assert_close(_at_q(gan, indexed=False), gan)


def test_at_q_needs_one_q0(si):
    t = si.triplets[[0, -1]]  # triplets of the first and the last irreducible q
    phonons = si.interaction.phonons
    with jax.enable_x64(True), pytest.raises(ValueError, match="one grid point"):
        itx.interaction_strength_at_q(
            si.tables, itx.q0_weighted_fc3(si.tables, si.ph.fc3), None,
            phonons.eigenvectors[t], phonons.frequencies[t], n_grid=si.n_grid,
            fc3=si.ph.fc3, qpoints=si.qpoints[t])


def test_weights_resolved():
    """The tolerance resolves the r0 average's all_shortest rule (×3 in leg 1, skipped in
    legs 2, 3): ignoring the flags moves |Φ|² by far more than it (GaN, random FC3)."""
    ref = _gan(True)
    flagless = dataclasses.replace(ref.tables, leg_weights=np.ones_like(ref.tables.leg_weights))
    wrong = _direct(ref, flagless)
    assert np.abs(wrong - ref.strength).max() > 1e6 * RELATIVE * np.abs(ref.strength).max()


def test_memory_estimate_bounds_xla(si):
    """``bytes_per_triplet`` is an upper bound of XLA's compiled temporaries + output, for
    every kernel κ may run: ``interaction_strength`` (direct, indexed) and
    ``interaction_strength_at_q`` (indexed on first-weight halves, direct)."""
    ref, n_t = si, 64
    tr = ref.triplets[:n_t]
    phonons = ref.interaction.phonons
    e, f = phonons.eigenvectors[tr], phonons.frequencies[tr]
    group = max(np.split(ref.triplets, np.cumsum(ref.counts)[:-1]), key=len)[:n_t]
    assert len(group) == n_t  # the triplets of one q (the at_q kernels' precondition)
    eq, fq = phonons.eigenvectors[group], phonons.frequencies[group]
    with jax.enable_x64(True):
        direct = jax.jit(lambda q, e, f: itx.interaction_strength(
            ref.tables, ref.ph.fc3, q, e, f, n_grid=ref.n_grid))
        halves = itx.half_transforms(ref.tables, ref.ph.fc3, ref.qpoints)
        indexed = jax.jit(lambda h, t, e, f: itx.interaction_strength_indexed(
            ref.tables, h, t, e, f, n_grid=ref.n_grid))
        q0w = itx.q0_weighted_fc3(ref.tables, ref.ph.fc3)
        first = itx.half_transforms(ref.tables, ref.ph.fc3, ref.qpoints, first_weight=True)
        at_q_indexed = jax.jit(lambda h, t, e, f: itx.interaction_strength_at_q(
            ref.tables, q0w, t, e, f, n_grid=ref.n_grid, halves=h))
        at_q_direct = jax.jit(lambda q, e, f: itx.interaction_strength_at_q(
            ref.tables, q0w, None, e, f, n_grid=ref.n_grid, fc3=ref.ph.fc3, qpoints=q))
        cases = ((direct.lower(ref.qpoints[tr], e, f), False),
                 (indexed.lower(halves, tr, e, f), True),
                 (at_q_indexed.lower(first, group, eq, fq), True),
                 (at_q_direct.lower(ref.qpoints[group], eq, fq), False))
        for lowered, is_indexed in cases:
            memory = lowered.compile().memory_analysis()
            used = (memory.temp_size_in_bytes + memory.output_size_in_bytes) / n_t
            assert used <= itx.bytes_per_triplet(ref.tables, indexed=is_indexed)
    assert itx.bytes_per_qpoint(ref.tables) * len(ref.qpoints) >= halves.transforms.nbytes
    assert (itx.bytes_per_qpoint(ref.tables, first_weight=True) * len(ref.qpoints)
            >= first.transforms.nbytes)


def test_needs_float64(si):
    tr = si.triplets[:2]
    phonons = si.interaction.phonons
    with jax.enable_x64(False), pytest.raises(ValueError, match="float64"):
        itx.interaction_strength(si.tables, si.ph.fc3, si.qpoints[tr], phonons.eigenvectors[tr],
                                 phonons.frequencies[tr], n_grid=si.n_grid)
