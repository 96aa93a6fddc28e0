"""Three-phonon interaction strength |Φ(λ, λ′, λ″)|² from third-order force constants, as
phono3py 4.10 computes it (``Interaction.interaction_strength``: ``real_to_reciprocal`` then
``reciprocal_to_normal``, ``make_r0_average=True`` by default).

**Triplet.** Three q-points (q0, q1, q2) in reduced coordinates of the primitive reciprocal
lattice, q_a = BZ-grid address_a / mesh, with q0 + q1 + q2 = G (a reciprocal lattice vector,
≠ 0 for Umklapp). Bands j0, j1, j2; frequencies f in THz; eigenvectors e (columns = modes,
rows (atom, Cartesian), phonopy's atomic-position gauge).

**Phases.** For a primitive atom o (the *origin*, supercell atom p2s[o]) and a supercell atom
s, v runs over the M(o, s) shortest supercell images of the vector from p2s[o] to s
(primitive fractional coordinates, phonopy's ``ShortestPairs``):

    φ_q(o, s) = (1/M) Σ_v exp(2πi q·v),        pre(o) = exp(2πi (q0+q1+q2)·v₀(o)),

v₀(o) the shortest vector from primitive atom 0 to p2s[o] (pre ≠ 1 only for Umklapp).

**Fourier transform, one leg** with origin o and the other two slots (b, c) over primitive
atoms, fc3 compact (n_p, N, N, 3, 3, 3) in eV/Å³, weights w[o, s_b, s_c]:

    L_o(b, c; q_b, q_c)[x] = pre(o) Σ_{s_b→b, s_c→c} w fc3[o,s_b,s_c,x] φ_qb(o,s_b) φ_qc(o,s_c).

``r0_average=False`` (phono3py's ``--v2``): Φ(i l, j m, k n) = L_i(j, k; q1, q2)[l m n], w = 1.
``r0_average=True`` (default): the mean of three legs, one per origin,

    Φ(i l, j m, k n) = ⅓ [ L_i(j, k; q1, q2)[l m n] + L_j(i, k; q0, q2)[m l n]
                          + L_k(j, i; q1, q0)[n m l] ],

where ``all_shortest[o, s_b, s_c]`` (the three pair vectors unique and mutually consistent,
tolerance symprec) weighs the term ×3 in leg 1 (w_A = 1 + 2·flag) and drops it from legs 2
and 3 (w_B = 1 − flag), the flag read with each leg's own (origin, second, third) atoms.

**Factorisation.** Each leg is two successive contractions. The inner one (over the third
slot) depends on a single q-point, so it is a *half transform*, computed once per q-point:

    H_w(q)[o, s_b, c, x] = Σ_{s_c → c} w fc3[o, s_b, s_c, x] φ_q(o, s_c)     (real GEMM)

and the three legs need only H_A(q2), H_B(q2), H_B(q0): L_i(j,k) = pre(i) Σ_{s_b→j}
H_A(q2)[i, s_b, k] φ_q1(i, s_b), L_j(i,k) from H_B(q2) with φ_q0, L_k(j,i) from H_B(q0) with
φ_q1. The per-triplet work is then 27·n_p²·N complex multiply-adds per leg, against the
27·n_p·N² of the direct sum. ``interaction_strength`` computes the half transforms of its
triplets' own q-points (same cost as the direct sum, no tables); ``half_transforms`` +
``interaction_strength_indexed`` compute them once per BZ-grid point and gather them.
``interaction_strength_at_q`` (κ's path) is for the triplets of one q: legs 2 and 3 from
half transforms at q0 only (leg 2 summed the other way round), as GEMMs over the triplets,
and per triplet only H_A(q2) (gathered, or transformed directly): see the section at the end.

**Normal coordinates.** With ẽ_a = e_a/√m (m the mass of the row's atom, amu), no complex
conjugation anywhere (phono3py's convention q+q′+q″ = G):

    S(j0, j1, j2) = Σ_{abc} Φ(a, b, c) ẽ0(a, j0) ẽ1(b, j1) ẽ2(c, j2),
    |Φ|²(j0, j1, j2) = U |S|² / (f0 f1 f2)   in eV²,   0 unless f0, f1, f2 > cutoff,

U = (ħ eV)³/(36·8) · eV²/Å⁶ / (2π THz)³ / amu³ / n_grid / eV² (phonopy's constants,
U·n_grid = 0.003585491184882004), n_grid = the number of q-points of the mesh.

All device code is pure ``jax.numpy``, float64/complex128 (call it inside
``jax.enable_x64(True)``), batched over triplets; the public entry points are jitted with
the tables (hashed by identity) and band indices static. The tables are host NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from phonjax import units
from phonjax.anharmonic.degeneracy import CUTOFF_FREQUENCY_THZ  # |Φ|² = 0 unless every f > it
from phonjax.anharmonic.fc3 import FC3Cells
from phonjax.structure.crystal import CrystalError
from phonjax.structure.shortest_vectors import shortest_vectors

CPU_BLOCK_BYTES = 1.6e7  # half-transform bytes per inner block of the direct path on CPU


@dataclass(frozen=True, eq=False)
class InteractionTables:
    """Host tables of one crystal (FC3 supercell + primitive cell), built once.

    Supercell atoms are regrouped by primitive atom: ``cell_atoms[p, c]`` is the c-th
    supercell atom (increasing index) that images primitive atom p; every array with
    (p, c) axes uses this order.

    ``image_vectors[o, p, c, m]`` (n_p, n_p, n_c, M, 3): the shortest vectors from p2s[o] to
    cell_atoms[p, c] in primitive fractional coordinates, padded with 0 where
    ``image_mask`` is 0; ``multiplicity`` (n_p, n_p, n_c) their number (float).
    Each image is v = d(o, p) + J with d(o, p) = x(p2s[p]) − x(p2s[o]) (``site_shifts``
    (n_p, n_p, 3)) and J one of the n_J integer vectors ``translations`` (n_J, 3);
    ``translation_weights`` (n_J, n_p, n_p, n_c) counts the images with each J, divided by
    the multiplicity, so φ_q = exp(2πi q·d) Σ_J weight·exp(2πi q·J) (n_J sines instead of
    one per image: 99 against 1024 in Si).
    ``origin_vectors`` (n_p, 3): the first shortest vector from primitive atom 0 to p2s[o].
    ``all_shortest`` (n_p, N, N) bool in supercell order (phono3py's array).
    ``leg_weights`` (n_w, n_p, n_p, n_c, n_p, n_c) over (o, p_b, c_b, p_c, c_c):
    n_w = 2 with the r0 average (w_A = 1 + 2·flag, w_B = 1 − flag), else 1 (w = 1).
    ``masses`` (n_p,) amu."""

    r0_average: bool
    p2s: np.ndarray  # (n_p,) supercell index of each primitive atom
    s2pp: np.ndarray  # (N,) primitive index of each supercell atom
    cell_atoms: np.ndarray  # (n_p, n_c)
    image_vectors: np.ndarray  # (n_p, n_p, n_c, M, 3)
    image_mask: np.ndarray  # (n_p, n_p, n_c, M) 1.0 / 0.0
    multiplicity: np.ndarray  # (n_p, n_p, n_c) float
    site_shifts: np.ndarray  # (n_p, n_p, 3)
    translations: np.ndarray  # (n_J, 3) integer-valued float
    translation_weights: np.ndarray  # (n_J, n_p, n_p, n_c)
    origin_vectors: np.ndarray  # (n_p, 3)
    all_shortest: np.ndarray  # (n_p, N, N) bool
    leg_weights: np.ndarray  # (n_w, n_p, n_p, n_c, n_p, n_c)
    masses: np.ndarray  # (n_p,) amu
    symprec: float

    @property
    def n_primitive(self) -> int:
        return len(self.p2s)

    @property
    def n_atoms(self) -> int:
        return len(self.s2pp)

    @property
    def n_cells(self) -> int:
        return self.cell_atoms.shape[1]

    @property
    def n_bands(self) -> int:
        return 3 * len(self.p2s)

    @property
    def n_weights(self) -> int:
        return self.leg_weights.shape[0]


class HalfTransforms(NamedTuple):
    """Per-q-point tables of ``half_transforms`` (a JAX pytree).

    ``qpoints`` (n_q, 3) reduced; ``phases`` (n_q, n_p, n_p, n_c) complex φ_q(o, p, c);
    ``transforms`` (n_p, n_p, n_q, n_w, n_p, n_c, 27) complex H_w(q)[o, p_c, q, w, p_b, c_b, x],
    eV/Å³ (x = the three Cartesian indices of fc3, row-major)."""

    qpoints: jnp.ndarray
    phases: jnp.ndarray
    transforms: jnp.ndarray


# --- host tables --------------------------------------------------------------------------


def interaction_tables(cells: FC3Cells, r0_average: bool = True) -> InteractionTables:
    """The phase, weight and index tables of |Φ|² for the crystal of ``cells``."""
    supercell, primitive = cells.supercell, cells.primitive
    p2s = np.asarray(primitive.p2s, np.int64)
    s2pp = np.asarray(primitive.s2pp, np.int64)
    n_p, n_atoms = len(p2s), len(s2pp)
    prim_lattice = np.asarray(primitive.crystal.lattice, float)
    vectors, multiplicity = shortest_vectors(supercell.lattice, supercell.frac_positions,
                                             supercell.frac_positions[p2s], prim_lattice,
                                             cells.symprec)  # (N, n_p, M, 3), (N, n_p)
    cell_atoms = np.stack([np.flatnonzero(s2pp == p) for p in range(n_p)])  # (n_p, n_c)
    m_max = vectors.shape[2]
    # (o, p, c, ...) order
    image_vectors = np.transpose(vectors[cell_atoms], (2, 0, 1, 3, 4))
    multi = np.transpose(multiplicity[cell_atoms], (2, 0, 1))
    image_mask = (np.arange(m_max) < multi[..., None]).astype(float)
    site_shifts, translations, translation_weights = _split_images(
        image_vectors, image_mask, multi, supercell, p2s, prim_lattice)
    flags = all_shortest(vectors, multiplicity, p2s, s2pp, cells.translation_perm,
                         prim_lattice, cells.symprec)
    grouped = flags[:, cell_atoms][:, :, :, cell_atoms]  # (o, p_b, c_b, p_c, c_c)
    if r0_average:
        leg_weights = np.stack([1.0 + 2.0 * grouped, 1.0 - grouped])
    else:
        leg_weights = np.ones((1,) + grouped.shape)
    return InteractionTables(
        r0_average=bool(r0_average), p2s=p2s, s2pp=s2pp, cell_atoms=cell_atoms,
        image_vectors=np.ascontiguousarray(image_vectors), image_mask=image_mask,
        multiplicity=multi.astype(float), site_shifts=site_shifts, translations=translations,
        translation_weights=translation_weights, origin_vectors=vectors[p2s, 0, 0].copy(),
        all_shortest=flags, leg_weights=leg_weights,
        masses=np.asarray(primitive.crystal.masses, float), symprec=float(cells.symprec))


def _split_images(image_vectors, image_mask, multiplicity, supercell, p2s, prim_lattice):
    """(site_shifts (n_p, n_p, 3), translations (n_J, 3), weights (n_J, n_p, n_p, n_c)) with
    every image v = site_shift[o, p] + J."""
    to_primitive = np.rint(supercell.lattice @ np.linalg.inv(prim_lattice))
    x = supercell.frac_positions[p2s] @ to_primitive  # (n_p, 3) primitive fractional
    shifts = x[None, :, :] - x[:, None, :]  # (o, p, 3)
    valid = image_mask.astype(bool)
    lattice = image_vectors - shifts[:, :, None, None, :]
    integer = np.rint(lattice)
    if np.abs(np.where(valid[..., None], lattice - integer, 0)).max() > 1e-8:
        raise CrystalError("shortest vectors are not lattice translations of supercell atoms")
    translations, inverse = np.unique(integer[valid], axis=0, return_inverse=True)
    weights = np.zeros((len(translations),) + multiplicity.shape)
    o, p, c, _ = np.nonzero(valid)
    np.add.at(weights, (inverse.reshape(-1), o, p, c), 1.0)
    return shifts, translations, weights / multiplicity[None]


def all_shortest(vectors: np.ndarray, multiplicity: np.ndarray, p2s: np.ndarray,
                 s2pp: np.ndarray, translation_perm: np.ndarray, primitive_lattice: np.ndarray,
                 symprec: float) -> np.ndarray:
    """phono3py's ``all_shortest[i, j, k]`` (n_p, N, N) bool: the vectors p2s[i]→j and
    p2s[i]→k are unique shortest ones, and so is the vector from p2s[s2pp[j]] to the image of
    k under the lattice translation that takes j there (``translation_perm[j]``), and its
    length equals |v(i→k) − v(i→j)| within symprec.

    ``vectors`` (N, n_p, M, 3) primitive fractional, ``multiplicity`` (N, n_p)."""
    n_atoms, n_p = multiplicity.shape
    first = vectors[:, :, 0]  # (N, n_p, 3)
    single = multiplicity == 1  # (N, n_p)
    k_mapped = translation_perm  # (N_j, N_k): image of k by the translation j → p2s[s2pp[j]]
    j_p = s2pp[:, None]  # (N_j, 1)
    mapped_length = np.linalg.norm(first[k_mapped, j_p] @ primitive_lattice, axis=-1)
    mapped_single = single[k_mapped, j_p]  # (N_j, N_k)
    flags = np.zeros((n_p, n_atoms, n_atoms), bool)
    for i in range(n_p):
        diff = first[None, :, i] - first[:, None, i]  # (N_j, N_k) v(i→k) − v(i→j)
        length = np.linalg.norm(diff @ primitive_lattice, axis=-1)
        flags[i] = (single[:, None, i] & single[None, :, i] & mapped_single
                    & (np.abs(mapped_length - length) < symprec))
    return flags


def unit_conversion(n_grid: int) -> float:
    """U in eV²·THz³ per (eV/Å³)²·amu⁻³: |Φ|² = U |S|²/(f0 f1 f2), n_grid mesh points
    (phonopy's constants, evaluated in phono3py's order)."""
    hbar = units.PLANCK_EV_S / (2 * np.pi)
    return float((hbar * units.EV_J) ** 3 / 36 / 8 * units.EV_J ** 2 / units.ANGSTROM_M ** 6
                 / (2 * np.pi * 1.0e12) ** 3 / units.AMU_KG ** 3 / n_grid / units.EV_J ** 2)


def bytes_per_triplet(tables: InteractionTables, n_b0: int | None = None,
                      indexed: bool = False) -> int:
    """Upper estimate of the device bytes per triplet of one call of
    ``interaction_strength`` (``indexed=False``) or ``interaction_strength_indexed`` (the
    ``HalfTransforms`` not included: ``bytes_per_qpoint`` each), n_b0 bands at q0 (all by
    default), for choosing a chunk size. It assumes nothing is fused: the half transforms of
    the batch (n_w + 1 rows of n_p·N·n_p·27 complex with the r0 average, 1 without) held as
    the GEMM's real output and as complex (direct) or gathered (indexed), plus the small
    per-triplet arrays, ×1.25. XLA on CPU needs ≈0.4× (direct) and 0.03–0.05× (indexed: the
    gathers fuse into the reductions) of it (Si, wurtzite GaN), and on CPU the direct path
    runs in inner blocks of ~``CPU_BLOCK_BYTES``, so its use stops growing with the chunk."""
    n_p, n_atoms, n_b = tables.n_primitive, tables.n_atoms, tables.n_bands
    n_b0 = n_b if n_b0 is None else n_b0
    half = 27 * n_p * n_atoms * n_p * 16  # one H_w(q) row, complex128
    rows = tables.n_weights + (1 if tables.r0_average else 0)  # H_A, H_B at q2; H_B at q0
    transform = rows * half * (1 if indexed else 2)
    legs = 2 * 3 * 27 * n_p ** 3 * 16  # leg sums and Φ
    normal = (3 * n_b * n_b + n_b ** 3 + 3 * n_b0 * n_b * n_b) * 16 + 3 * n_b0 * n_b * n_b * 8
    phases = 3 * n_p * n_atoms * tables.image_vectors.shape[3] * 8 * 3  # angles, cos, sin
    return int(1.25 * (transform + legs + normal + phases))


def bytes_per_qpoint(tables: InteractionTables, first_weight: bool = False) -> int:
    """Device bytes of one q-point's ``HalfTransforms`` row (tables + phases); with
    ``first_weight`` the rows of ``half_transforms(..., first_weight=True)``."""
    n_p, n_atoms = tables.n_primitive, tables.n_atoms
    n_w = 1 if first_weight else tables.n_weights
    return int((n_w * 27 * n_p * n_atoms * n_p + n_p * n_atoms + 3) * 16)


# --- device functions -----------------------------------------------------------------------


def phase_factors(tables: InteractionTables, qpoints) -> jnp.ndarray:
    """φ_q(o, p, c) (..., n_p, n_p, n_c) complex for qpoints (..., 3) reduced."""
    q = jnp.asarray(qpoints, jnp.float64)
    angle = 2 * np.pi * (q @ tables.translations.T)  # (..., n_J)
    weights = tables.translation_weights
    summed = (jnp.einsum("...j,jopc->...opc", jnp.cos(angle), weights)
              + 1j * jnp.einsum("...j,jopc->...opc", jnp.sin(angle), weights))
    shift = 2 * np.pi * jnp.einsum("...k,opk->...op", q, tables.site_shifts)
    return summed * (jnp.cos(shift) + 1j * jnp.sin(shift))[..., None]


def pre_phase_factors(tables: InteractionTables, qpoints) -> jnp.ndarray:
    """pre(o) (n_t, n_p) complex for triplets qpoints (n_t, 3, 3)."""
    q_sum = jnp.sum(jnp.asarray(qpoints, jnp.float64), axis=-2)  # (n_t, 3)
    angle = 2 * np.pi * q_sum @ tables.origin_vectors.T
    return jnp.cos(angle) + 1j * jnp.sin(angle)


def weighted_fc3(tables: InteractionTables, fc3) -> jnp.ndarray:
    """The leg-weighted compact fc3, regrouped for the half transforms:
    (n_p(o), n_p(p_c), n_c(c_c), n_w·n_p(p_b)·n_c(c_b)·27) real, eV/Å³."""
    n_p, n_c = tables.n_primitive, tables.n_cells
    order = tables.cell_atoms.reshape(-1)
    fc3 = jnp.asarray(fc3, jnp.float64)
    if fc3.shape != (n_p, tables.n_atoms, tables.n_atoms, 3, 3, 3):
        raise ValueError(f"fc3 must be compact (n_p={n_p}, N={tables.n_atoms}, N, 3, 3, 3), "
                         f"got {fc3.shape}")
    grouped = fc3[:, order][:, :, order].reshape(n_p, n_p, n_c, n_p, n_c, 27)
    weighted = grouped[None] * tables.leg_weights[..., None]  # (w, o, pb, cb, pc, cc, x)
    return jnp.transpose(weighted, (1, 4, 5, 0, 2, 3, 6)).reshape(n_p, n_p, n_c, -1)


def half_transform(tables: InteractionTables, fc3_weighted, phases) -> jnp.ndarray:
    """H_w(q)[o, p_c, q, w, p_b, c_b, x] (n_p, n_p, n_q, n_w', n_p, n_c, 27) complex from
    ``weighted_fc3`` (or a slice of its w axis, n_w' weights) and phases φ_q
    (n_q, n_p, n_p, n_c): one real GEMM (2 n_q, n_c) × (n_c, n_w'·n_p·n_c·27) per (o, p_c).
    The q axis sits third so that gathering q-points reads contiguous rows."""
    n_p, n_c = tables.n_primitive, tables.n_cells
    n_q = phases.shape[0]
    lhs = jnp.concatenate([jnp.real(phases), jnp.imag(phases)], axis=0)  # (2q, o, pc, cc)
    out = jnp.einsum("qolc,olcm->olqm", lhs, fc3_weighted)  # (o, pc, 2q, m)
    out = out[:, :, :n_q] + 1j * out[:, :, n_q:]
    return out.reshape(n_p, n_p, n_q, -1, n_p, n_c, 27)


def _contract_second(h, phases, pre) -> jnp.ndarray:
    """pre(o) Σ_c h[o, p_c, t, w, p_b, c, x] φ[t, w, o, p_b, c] → (o, p_c, t, w, p_b, x).
    A fused multiply-reduce: XLA's CPU dot for these tiny complex batches is ~5× slower."""
    psi = jnp.transpose(phases, (2, 0, 1, 3, 4))[:, None, :, :, :, :, None]
    summed = jnp.sum(h * psi, axis=5)
    return summed * jnp.transpose(pre)[:, None, :, None, None, None]


def fc3_reciprocal(tables: InteractionTables, h2, h0, phases0, phases1, pre) -> jnp.ndarray:
    """Φ(q0, q1, q2) (n_t, n_b, n_b, n_b) complex, eV/Å³, from the half transforms of the
    triplets' q2 (h2: (n_p(o), n_p(p_c), n_t, n_w, n_p(p_b), n_c, 27)) and q0 (h0: the same
    with n_w = 1, the w_B table; None without the r0 average), the phases at q0 and q1
    (n_t, n_p, n_p, n_c) and pre(o) (n_t, n_p)."""
    n_t, n_p = pre.shape[0], tables.n_primitive
    n_b = 3 * n_p
    shape = (n_p, n_p, n_t, n_p, 3, 3, 3)
    if not tables.r0_average:
        leg1 = _contract_second(h2, phases1[:, None], pre)[:, :, :, 0]  # (i, k, t, j, lmn)
        phi = jnp.transpose(leg1.reshape(shape), (2, 0, 4, 3, 5, 1, 6))
    else:
        legs12 = _contract_second(h2, jnp.stack([phases1, phases0], axis=1), pre)
        leg3 = _contract_second(h0, phases1[:, None], pre)[:, :, :, 0]  # (k, i, t, j, nml)
        phi = (jnp.transpose(legs12[:, :, :, 0].reshape(shape), (2, 0, 4, 3, 5, 1, 6))
               + jnp.transpose(legs12[:, :, :, 1].reshape(shape), (2, 3, 5, 0, 4, 1, 6))
               + jnp.transpose(leg3.reshape(shape), (2, 1, 6, 3, 5, 0, 4))) / 3.0
    return phi.reshape(n_t, n_b, n_b, n_b)


def normal_squared(tables: InteractionTables, phi, eigenvectors, frequencies, band_indices,
                   cutoff_frequency: float, n_grid: int) -> jnp.ndarray:
    """|Φ|² (n_t, n_b0, n_b, n_b) eV² from Φ (n_t, n_b, n_b, n_b), eigenvectors
    (n_t, 3, n_b, n_b) (columns = modes) and frequencies (n_t, 3, n_b) THz."""
    inv_sqrt_m = jnp.asarray(np.repeat(1.0 / np.sqrt(tables.masses), 3))
    e = jnp.asarray(eigenvectors) * inv_sqrt_m[None, None, :, None]
    f = jnp.asarray(frequencies, jnp.float64)
    e0, f0 = e[:, 0], f[:, 0]
    if band_indices is not None:
        idx = np.asarray(band_indices, np.int64)
        e0, f0 = e0[:, :, idx], f0[:, idx]
    s = jnp.einsum("tabc,taj->tjbc", phi, e0)
    s = jnp.einsum("tjbc,tbk->tjkc", s, e[:, 1])
    s = jnp.einsum("tjkc,tcl->tjkl", s, e[:, 2])
    fff = f0[:, :, None, None] * f[:, 1, None, :, None] * f[:, 2, None, None, :]
    ok = ((f0 > cutoff_frequency)[:, :, None, None]
          & (f[:, 1] > cutoff_frequency)[:, None, :, None]
          & (f[:, 2] > cutoff_frequency)[:, None, None, :])
    value = (jnp.real(s) ** 2 + jnp.imag(s) ** 2) / jnp.where(ok, fff, 1.0)
    return jnp.where(ok, value, 0.0) * unit_conversion(n_grid)


def _require_x64() -> None:
    if not jax.config.jax_enable_x64:
        raise ValueError("|Φ|² needs float64: call it inside `with jax.enable_x64(True):`")


def _static_bands(band_indices):
    return None if band_indices is None else tuple(int(b) for b in np.asarray(band_indices))


def interaction_strength(tables: InteractionTables, fc3, qpoints, eigenvectors, frequencies,
                         band_indices=None, cutoff_frequency: float = CUTOFF_FREQUENCY_THZ,
                         *, n_grid: int) -> jnp.ndarray:
    """|Φ(q0 j0, q1 j1, q2 j2)|² (n_t, n_b0, n_b, n_b) in eV² for triplets of q-points.

    ``fc3`` compact (n_p, N, N, 3, 3, 3) eV/Å³; ``qpoints`` (n_t, 3, 3) reduced coordinates of
    (q0, q1, q2) = BZ addresses / mesh; ``eigenvectors`` (n_t, 3, n_b, n_b) complex, columns
    = modes; ``frequencies`` (n_t, 3, n_b) THz; ``band_indices`` (n_b0,) the bands at q0
    (all when None); ``n_grid`` the number of mesh points (U's 1/n_grid). Compiled once per
    (tables, band_indices, n_grid, shapes); may be called inside another jit.

    The half transforms are computed here for every triplet: H_A, H_B at q2 and H_B at q0
    (H at q2 only without the r0 average), as costly as phono3py's direct sum.
    ``interaction_strength_indexed`` computes them once per BZ-grid point instead (much
    faster when triplets outnumber grid points). Even the triplets of one grid point do not
    share q0: at BZ-surface points phono3py picks the image of q0 per triplet."""
    _require_x64()
    return _interaction_strength(tables, fc3, qpoints, eigenvectors, frequencies,
                                 _static_bands(band_indices), cutoff_frequency, n_grid)


@partial(jax.jit, static_argnums=(0, 5, 7))
def _interaction_strength(tables, fc3, qpoints, eigenvectors, frequencies, band_indices,
                          cutoff_frequency, n_grid):
    fc3w = weighted_fc3(tables, fc3)

    def block(args):
        q, e, f = args
        phases = phase_factors(tables, q)  # (t, 3, o, p, c)
        h2 = half_transform(tables, fc3w, phases[:, 2])
        h0 = None
        if tables.r0_average:
            n_rest = fc3w.shape[-1] // tables.n_weights
            h0 = half_transform(tables, fc3w[..., n_rest:], phases[:, 0])  # w_B only
        phi = fc3_reciprocal(tables, h2, h0, phases[:, 0], phases[:, 1],
                             pre_phase_factors(tables, q))
        return normal_squared(tables, phi, e, f, band_indices, cutoff_frequency, n_grid)

    args = (jnp.asarray(qpoints, jnp.float64), jnp.asarray(eigenvectors),
            jnp.asarray(frequencies, jnp.float64))
    return _in_blocks(block, args, _block_size(tables))


def _block_size(tables: InteractionTables, first_weight: bool = False) -> int | None:
    """Triplets per inner block of the direct path on CPU, so that its working set stays
    ~``CPU_BLOCK_BYTES`` whatever the caller's chunk (speed is insensitive to it, ±5%);
    None (one block) on accelerators. ``first_weight``: only H_A per triplet."""
    if jax.default_backend() != "cpu":
        return None
    rows = 1 if first_weight else tables.n_weights + 1
    per_triplet = 2 * rows * 27 * tables.n_primitive ** 2 * tables.n_atoms * 8
    return max(8, int(CPU_BLOCK_BYTES // per_triplet) // 8 * 8)


def _in_blocks(fn, args, size):
    """fn over the leading axis of args in blocks of ``size`` (a sequential ``lax.map``;
    the last block padded with copies of the first row)."""
    n = args[0].shape[0]
    if size is None or n <= size:
        return fn(args)
    n_blocks = -(-n // size)
    pad = n_blocks * size - n
    blocks = tuple(jnp.concatenate([a, jnp.repeat(a[:1], pad, axis=0)]).reshape(
        (n_blocks, size) + a.shape[1:]) for a in args)
    out = jax.lax.map(fn, blocks)
    return out.reshape((n_blocks * size,) + out.shape[2:])[:n]


def _first_weight(tables: InteractionTables, fc3_weighted) -> jnp.ndarray:
    """The w_A slice of ``weighted_fc3`` (its last axis is w-major): H_A's input."""
    return fc3_weighted[..., :fc3_weighted.shape[-1] // tables.n_weights]


def half_transforms(tables: InteractionTables, fc3, qpoints,
                    first_weight: bool = False) -> HalfTransforms:
    """The half transforms H_w(q) of fc3 (compact, eV/Å³) at qpoints (n_q, 3) reduced (e.g.
    every BZ-grid point: addresses / mesh). Memory: ``bytes_per_qpoint(tables)`` each, and
    about twice that again while they are computed. Built in q-chunks, the parts join along
    axis 0 of ``qpoints`` and ``phases`` and axis 2 of ``transforms``. ``first_weight``: only
    H_A (the w axis of length 1; ``bytes_per_qpoint(tables, first_weight=True)``), all that
    ``interaction_strength_at_q`` reads."""
    _require_x64()
    return _half_transforms(tables, fc3, qpoints, bool(first_weight))


@partial(jax.jit, static_argnums=(0, 3))
def _half_transforms(tables, fc3, qpoints, first_weight):
    qpoints = jnp.asarray(qpoints, jnp.float64)
    phases = phase_factors(tables, qpoints)
    fc3w = weighted_fc3(tables, fc3)
    if first_weight:
        fc3w = _first_weight(tables, fc3w)
    return HalfTransforms(qpoints, phases, half_transform(tables, fc3w, phases))


def interaction_strength_indexed(tables: InteractionTables, halves: HalfTransforms, triplets,
                                 eigenvectors, frequencies, band_indices=None,
                                 cutoff_frequency: float = CUTOFF_FREQUENCY_THZ,
                                 *, n_grid: int) -> jnp.ndarray:
    """|Φ|² (n_t, n_b0, n_b, n_b) eV² like ``interaction_strength``, for ``triplets``
    (n_t, 3) int: rows of ``halves`` (e.g. BZ-grid indices) of (q0, q1, q2)."""
    _require_x64()
    return _interaction_strength_indexed(tables, halves, triplets, eigenvectors, frequencies,
                                         _static_bands(band_indices), cutoff_frequency, n_grid)


@partial(jax.jit, static_argnums=(0, 5, 7))
def _interaction_strength_indexed(tables, halves, triplets, eigenvectors, frequencies,
                                  band_indices, cutoff_frequency, n_grid):
    triplets = jnp.asarray(triplets)
    qpoints = halves.qpoints[triplets]  # (t, 3, 3)
    h2 = halves.transforms[:, :, triplets[:, 2]]
    h0 = halves.transforms[:, :, triplets[:, 0], 1:] if tables.r0_average else None
    phi = fc3_reciprocal(tables, h2, h0, halves.phases[triplets[:, 0]],
                         halves.phases[triplets[:, 1]], pre_phase_factors(tables, qpoints))
    return normal_squared(tables, phi, eigenvectors, frequencies, band_indices,
                          cutoff_frequency, n_grid)


# --- triplets of one q: legs 2 and 3 from half transforms at q0 -----------------------------
#
# All the triplets of one grid point q share q0 up to a reciprocal lattice vector (phono3py
# may pick another BZ image of q per triplet). Legs 2 and 3 of the r0 average then need
# half transforms at q0 only, the same for every triplet: leg 3 as above, H_B(q0) over the
# third slot contracted with φ_q1, and leg 2 summed the other way round, H'_B(q0) over the
# *second* slot (origin j, slot of i, at q0) contracted with φ_q2 over the third:
#
#     H'_w(q)[o, p_b, q, p_c, c_c, x] = Σ_{s_b → p_b} w fc3[o, s_b, s_c, x] φ_q(o, s_b),
#     L_j(i, k; q0, q2) = pre(j) Σ_{s_k → k} H'_B(q0)[j, i, s_k] φ_q2(j, s_k).
#
# For a triplet whose q0 is the reference q0_ref + G, φ_{q0}(o, p, c) = φ_{q0_ref}(o, p, c)
# · exp(2πi G·d(o, p)) (every image vector is d(o, p) + an integer J), so both tables are
# those of q0_ref times χ(o, p) = exp(2πi G·d(o, p)) on their (origin, summed-slot) atoms.
# Per triplet, these two legs are small real GEMMs over the triplets of a chunk
# (M = 2 n_t, K = 2 n_c, N = 27 n_p), and only H_A(q2) is read per triplet (leg 1), a third
# of the bytes of ``interaction_strength_indexed`` (and a third of the transforms of the
# direct ``interaction_strength``).


class Q0Weights(NamedTuple):
    """The w_B-weighted compact fc3 (w = 1 without the r0 average) in the two layouts of the
    q0 half transforms (a JAX pytree, ``q0_weighted_fc3``): ``third`` (n_p(o), n_p(p_c),
    n_c(c_c), n_p(p_b)·n_c(c_b)·27) for H_B over the third slot, ``second`` (n_p(o),
    n_p(p_b), n_c(c_b), n_p(p_c)·n_c(c_c)·27) for H'_B over the second; real, eV/Å³."""

    third: jnp.ndarray
    second: jnp.ndarray


def q0_weighted_fc3(tables: InteractionTables, fc3) -> Q0Weights:
    """``Q0Weights`` of compact fc3 (n_p, N, N, 3, 3, 3) eV/Å³."""
    _require_x64()
    return _q0_weighted_fc3(tables, fc3)


@partial(jax.jit, static_argnums=(0,))
def _q0_weighted_fc3(tables, fc3):
    n_p, n_c = tables.n_primitive, tables.n_cells
    order = tables.cell_atoms.reshape(-1)
    fc3 = jnp.asarray(fc3, jnp.float64)
    grouped = fc3[:, order][:, :, order].reshape(n_p, n_p, n_c, n_p, n_c, 27)
    weighted = grouped * tables.leg_weights[-1][..., None]  # (o, pb, cb, pc, cc, x)
    third = jnp.transpose(weighted, (0, 3, 4, 1, 2, 5)).reshape(n_p, n_p, n_c, -1)
    return Q0Weights(third, weighted.reshape(n_p, n_p, n_c, -1))


def _q0_leg(tables, h_ref, phases, pre, chi) -> jnp.ndarray:
    """pre(o) χ(o, a) Σ_c H(q0_ref)[o, a, b, c, x] φ[t, o, b, c] → (o, a, t, b, x) complex:
    one real GEMM per (o, b), (2 n_t, 2 n_c) × (2 n_c, n_p·27). ``h_ref`` (n_p(o), n_p(a),
    1, 1, n_p(b), n_c, 27) complex (``half_transform`` of one q-point)."""
    n_p, n_c = tables.n_primitive, tables.n_cells
    n_t = phases.shape[0]
    h = jnp.transpose(h_ref[:, :, 0, 0], (0, 2, 3, 1, 4)).reshape(n_p, n_p, n_c, n_p * 27)
    rhs = jnp.concatenate([jnp.real(h), jnp.imag(h)], axis=2)  # (o, b, 2c, a·x)
    pr, pi = jnp.real(phases), jnp.imag(phases)  # (t, o, b, c)
    lhs = jnp.concatenate([jnp.concatenate([pr, -pi], axis=3),
                           jnp.concatenate([pi, pr], axis=3)], axis=0)  # (2t, o, b, 2c)
    out = jnp.einsum("tobc,obcm->obtm", lhs, rhs)  # (o, b, 2t, a·x)
    out = (out[:, :, :n_t] + 1j * out[:, :, n_t:]).reshape(n_p, n_p, n_t, n_p, 27)
    out = jnp.transpose(out, (0, 3, 2, 1, 4))  # (o, a, t, b, x)
    factor = jnp.transpose(pre)[:, None, :] * jnp.transpose(chi, (1, 2, 0))  # (o, a, t)
    return out * factor[..., None, None]


def _q0_shift_phases(tables, q0, q0_ref) -> jnp.ndarray:
    """χ_t(o, p) = exp(2πi G_t·d(o, p)) (n_t, n_p, n_p), G_t = q0_t − q0_ref (integers)."""
    g = jnp.rint(q0 - q0_ref[None])
    angle = 2 * np.pi * jnp.einsum("tk,opk->top", g, tables.site_shifts)
    return jnp.cos(angle) + 1j * jnp.sin(angle)


def fc3_reciprocal_at_q(tables: InteractionTables, h2, q0w: Q0Weights, qpoints, q0_ref,
                        phases1, phases2) -> jnp.ndarray:
    """Φ(q0, q1, q2) (n_t, n_b, n_b, n_b) complex, eV/Å³, for triplets whose q0 are images of
    ``q0_ref`` (3,) reduced: h2 the H_A (H without the r0 average) of the triplets' q2
    (n_p(o), n_p(p_c), n_t, 1, n_p(p_b), n_c, 27); qpoints (n_t, 3, 3); φ at q1 and q2
    (n_t, n_p, n_p, n_c)."""
    n_t, n_p = qpoints.shape[0], tables.n_primitive
    n_b = 3 * n_p
    pre = pre_phase_factors(tables, qpoints)
    shape = (n_p, n_p, n_t, n_p, 3, 3, 3)
    leg1 = _contract_second(h2, phases1[:, None], pre)[:, :, :, 0]  # (i, k, t, j, lmn)
    # materialized before its transpose: fused into it, XLA reads H_A(q2) strided (~1.5×)
    leg1 = jax.lax.optimization_barrier(leg1)
    phi = jnp.transpose(leg1.reshape(shape), (2, 0, 4, 3, 5, 1, 6))
    if tables.r0_average:
        chi = _q0_shift_phases(tables, qpoints[:, 0], q0_ref)
        ref = phase_factors(tables, q0_ref[None])  # (1, o, p, c)
        h3 = half_transform(tables, q0w.third, ref)  # (k, i, 1, 1, j, c_j, x): H_B(q0)
        h2p = half_transform(tables, q0w.second, ref)  # (j, i, 1, 1, k, c_k, x): H'_B(q0)
        leg2 = _q0_leg(tables, h2p, phases2, pre, chi)  # (j, i, t, k, mln)
        leg3 = _q0_leg(tables, h3, phases1, pre, chi)  # (k, i, t, j, nml)
        phi = (phi + jnp.transpose(leg2.reshape(shape), (2, 1, 5, 0, 4, 3, 6))
               + jnp.transpose(leg3.reshape(shape), (2, 1, 6, 3, 5, 0, 4))) / 3.0
    return phi.reshape(n_t, n_b, n_b, n_b)


def _check_one_q0(qpoints0) -> None:
    """The q0 of the triplets differ by reciprocal lattice vectors (host arrays only)."""
    if isinstance(qpoints0, jax.core.Tracer):
        return
    q0 = np.asarray(qpoints0, float)
    if len(q0) and np.abs(np.rint(q0 - q0[:1]) - (q0 - q0[:1])).max() > 1e-8:
        raise ValueError("interaction_strength_at_q: the triplets' q0 must be images of one "
                         "grid point (the triplets of one q)")


def interaction_strength_at_q(tables: InteractionTables, q0w: Q0Weights, triplets,
                              eigenvectors, frequencies, band_indices=None,
                              cutoff_frequency: float = CUTOFF_FREQUENCY_THZ, *, n_grid: int,
                              halves: HalfTransforms | None = None, fc3=None,
                              qpoints=None) -> jnp.ndarray:
    """|Φ|² (n_t, n_b0, n_b, n_b) eV² like ``interaction_strength``, for triplets whose q0
    are images of one grid point (e.g. ``grid.triplets_at_q``), legs 2 and 3 from half
    transforms at q0 (see above; ``q0w = q0_weighted_fc3(tables, fc3)``).

    Either ``halves`` (``half_transforms``, ``first_weight`` or not) and ``triplets`` (n_t, 3)
    int rows of it; or ``fc3`` (compact) and ``qpoints`` (n_t, 3, 3) reduced (``triplets``
    then unused: None), H_A(q2) computed per triplet. The other arguments as in
    ``interaction_strength``."""
    _require_x64()
    bands = _static_bands(band_indices)
    if halves is not None:
        t = jnp.asarray(triplets)
        _check_one_q0(halves.qpoints[t[:, 0]])  # the chunk's rows only, not the whole table
        return _strength_at_q_indexed(tables, q0w, halves, t, eigenvectors, frequencies,
                                      bands, cutoff_frequency, n_grid)
    _check_one_q0(qpoints[:, 0])
    return _strength_at_q_direct(tables, q0w, fc3, qpoints, eigenvectors, frequencies, bands,
                                 cutoff_frequency, n_grid)


@partial(jax.jit, static_argnums=(0, 6, 8))
def _strength_at_q_indexed(tables, q0w, halves, triplets, eigenvectors, frequencies,
                           band_indices, cutoff_frequency, n_grid):
    qpoints = halves.qpoints[triplets]  # (t, 3, 3)
    h2 = halves.transforms[:, :, triplets[:, 2], :1]
    phi = fc3_reciprocal_at_q(tables, h2, q0w, qpoints, halves.qpoints[triplets[0, 0]],
                              halves.phases[triplets[:, 1]], halves.phases[triplets[:, 2]])
    return normal_squared(tables, phi, eigenvectors, frequencies, band_indices,
                          cutoff_frequency, n_grid)


@partial(jax.jit, static_argnums=(0, 6, 8))
def _strength_at_q_direct(tables, q0w, fc3, qpoints, eigenvectors, frequencies, band_indices,
                          cutoff_frequency, n_grid):
    fc3w = weighted_fc3(tables, fc3)
    fc3a = _first_weight(tables, fc3w)
    qpoints = jnp.asarray(qpoints, jnp.float64)
    q0_ref = qpoints[0, 0]

    def block(args):
        q, e, f = args
        phases = phase_factors(tables, q)  # (t, 3, o, p, c)
        h2 = half_transform(tables, fc3a, phases[:, 2])
        phi = fc3_reciprocal_at_q(tables, h2, q0w, q, q0_ref, phases[:, 1], phases[:, 2])
        return normal_squared(tables, phi, e, f, band_indices, cutoff_frequency, n_grid)

    args = (qpoints, jnp.asarray(eigenvectors), jnp.asarray(frequencies, jnp.float64))
    return _in_blocks(block, args, _block_size(tables, first_weight=True))
