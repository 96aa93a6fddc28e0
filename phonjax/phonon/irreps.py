"""Irreducible representations of the phonon modes at one q-point, as phonopy's ``IrReps``.

The little group of q is the set of space-group operations {R|t} of the primitive cell
(spglib, in its order) with q·R ≡ q modulo a reciprocal-lattice vector (|·| < symprec per
component). Each operation acts on the 3n mass-weighted displacements by the ground
matrix Γ(R|t) = P(R|t) ⊗ R_c (n atoms, R_c = L R L⁻¹ the Cartesian rotation, L the lattice
vectors as columns), where P[j, i] = exp(2πi q·(R⁻¹(x_j − t) − x_j)) for the atom j that
{R|t} sends atom i to (R x_i + t ≡ x_j), zero otherwise; with ``is_little_cogroup`` the
phase is exp(2πi q·t) instead (phonopy's ``_get_modified_permutation_matrix``). A
translation component within symprec of 1 is taken as 0 first, as phonopy does.

The frequencies (THz) and eigenvectors at q (phonopy's phase convention, ``Harmonic.
modes_at``) are grouped into degenerate sets by a chained tolerance (bands sorted; a new set
starts where f_b − f_{b−1} ≥ tolerance, phonopy's ``degenerate_sets``). For a set of bands
B with eigenvectors E_B (3n, d) the representation of each operation is the d×d matrix
D(R|t) = E_B† Γ(R|t) E_B, its character χ = tr D (phonopy's ``_get_irreps`` and
``_get_characters``); χ does not depend on the basis the eigensolver picks inside the set.

At Γ (|q_i| < symprec, not modulo the reciprocal lattice, as phonopy) each set gets its
Mulliken label: the rotations, taken to spglib's conventional setting (R' = T R T⁻¹ with the
dataset's ``transformation_matrix``), are named by phonopy's character-table data
(``phonopy.phonon.character_table``: its first table of the point group whose mapping names
every rotation), the characters are averaged per class and matched to a row of the table
within 1e-5 (``IrRepLabels``); a set with no row (an accidental degeneracy, a symmetry
broken by the NAC direction) has label None. Away from Γ there are no labels.

Also at Γ, not in phonopy: which sets the symmetry lets be infrared or Raman active. With
χ_v(R) = tr R (the polar vector x, y, z) and χ_s(R) = (χ_v(R)² + χ_v(R²))/2 (the symmetric
rank-2 tensor, the polarizability), a set is IR-active when n_v = (1/|G|) Σ_R χ*(R) χ_v(R)
> 1/4 and Raman-active when n_s = (1/|G|) Σ_R χ*(R) χ_s(R) > 1/4: its irrep appears in the
vector or tensor representation. For an irrep n is a whole number (0 or ≥ 1); for a set whose
symmetry the NAC direction breaks (LO or TO part of a polar irrep of dimension d ≤ 3, label
None) n = (bands of the set)/d ≥ 1/3, and the set is active as its parent irrep.
``acoustic`` marks the sets that hold the three uniform translations (Σ over the set and
x, y, z of |⟨T_α|e_b⟩|² > 0.5, T_α ∝ √m_i δ_α): they transform like a vector too, but are
no optical IR absorption. symprec is in Å (phonopy's ``symprec``, 1e-5 by default).

``write_irreps_yaml`` writes phonopy's ``irreps.yaml`` (``Phonopy.write_yaml_irreps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import spglib

from phonjax.anharmonic.degeneracy import degenerate_labels
from phonjax.atomic_write import write_text
from phonjax.structure.symmetry import SYMPREC, spglib_dataset

if TYPE_CHECKING:
    from phonjax.pipeline.records import Harmonic
    from phonjax.structure.crystal import Crystal

IRREPS_DEGENERACY_TOLERANCE_THZ = 1e-5  # phonopy's IrReps default (run_irreps(..., None))
LABEL_TOLERANCE = 1e-5  # phonopy's IrRepLabels: class characters equal to a table row
ACTIVITIES = ("IR", "Raman", "IR+Raman", "silent")
ACTIVITY_THRESHOLD = 0.25  # n_v, n_s above it: active (module docstring)


@dataclass(frozen=True, eq=False)
class Irreps:
    """The irreducible representations of the modes at one q-point (module docstring).

    Operations are those of the little group of q, in spglib's order; sets in order of
    frequency. ``labels``, ``rotation_symbols``, ``classes``, ``character_table``,
    ``activities`` and ``acoustic`` are None away from Γ."""

    qpoint: np.ndarray  # (3,) reduced, primitive reciprocal basis
    point_group: str  # Hermann–Mauguin symbol of the crystal's point group ("m-3m")
    point_group_at_q: str  # of the little group of q
    rotations: np.ndarray  # (n_ops, 3, 3) int, fractional, primitive basis
    translations: np.ndarray  # (n_ops, 3) fractional
    transformation_matrix: np.ndarray  # (3, 3) spglib's, primitive → conventional
    conventional_rotations: np.ndarray  # (n_ops, 3, 3) int, T R T⁻¹
    frequencies_THz: np.ndarray  # (3n,)
    eigenvectors: np.ndarray  # (3n, 3n) complex, columns are modes
    degenerate_sets: tuple[tuple[int, ...], ...]  # band indices (0-based) of each set
    representations: tuple[np.ndarray, ...]  # per set (n_ops, d, d) complex
    characters: np.ndarray  # (n_sets, n_ops) complex
    labels: tuple[str | None, ...] | None  # Mulliken label per set (None: not found)
    rotation_symbols: tuple[str, ...] | None  # class symbol of each operation ("C4", "i")
    classes: tuple[str, ...] | None  # the character table's classes, in its order
    character_table: dict[str, tuple[int, ...]] | None  # label → character per class
    activities: tuple[str, ...] | None  # per set, one of ACTIVITIES
    acoustic: tuple[bool, ...] | None  # per set: holds the uniform translations

    @property
    def dimensions(self) -> tuple[int, ...]:
        """The dimension of each set's representation (its number of bands)."""
        return tuple(len(s) for s in self.degenerate_sets)


def irreps(h: Harmonic, q_reduced, *,
           degeneracy_tolerance_THz: float = IRREPS_DEGENERACY_TOLERANCE_THZ,
           is_little_cogroup: bool = False, q_direction=None, symprec: float = SYMPREC
           ) -> Irreps:
    """phonopy's ``Phonopy.run_irreps(q, is_little_cogroup, nac_q_direction,
    degeneracy_tolerance)`` on a ``Harmonic``: its primitive cell, its modes at ``q_reduced``
    (3,) (with NAC, ``q_direction`` (3,) reduced: the direction of q → 0 at Γ)."""
    q = np.asarray(q_reduced, float)
    if q.shape != (3,) or not np.isfinite(q).all():
        raise ValueError(f"q_reduced must be 3 finite numbers, got {np.shape(q_reduced)}")
    if not degeneracy_tolerance_THz > 0:
        raise ValueError(f"degeneracy_tolerance_THz must be > 0, got {degeneracy_tolerance_THz}")
    f, e = h.modes_at(q[None], eigenvectors=True, q_direction=q_direction)
    return irreps_of_modes(h.system.primitive.crystal, q, np.asarray(f)[0], np.asarray(e)[0],
                           degeneracy_tolerance_THz=degeneracy_tolerance_THz,
                           is_little_cogroup=is_little_cogroup, symprec=symprec)


def irreps_of_modes(crystal: Crystal, q_reduced, frequencies_THz, eigenvectors, *,
                    degeneracy_tolerance_THz: float = IRREPS_DEGENERACY_TOLERANCE_THZ,
                    is_little_cogroup: bool = False, symprec: float = SYMPREC) -> Irreps:
    """``irreps`` from given modes at ``q_reduced`` of the primitive ``crystal``: frequencies
    (3n,) THz ascending, eigenvectors (3n, 3n) with modes as columns (phonopy's layout)."""
    q = np.asarray(q_reduced, float)
    freqs = np.asarray(frequencies_THz, float)
    vecs = np.asarray(eigenvectors, complex)
    n3 = 3 * crystal.n_atoms
    if freqs.shape != (n3,) or vecs.shape != (n3, n3):
        raise ValueError(f"expected frequencies ({n3},) and eigenvectors ({n3}, {n3}), got "
                         f"{freqs.shape} and {vecs.shape}")
    ds = spglib_dataset(crystal, symprec)
    rotations = np.asarray(ds.rotations, np.int64)
    if len(np.unique(rotations.reshape(len(rotations), 9), axis=0)) != len(rotations):
        raise ValueError("the cell is not primitive (a rotation appears with several "
                         "translations); use its primitive cell")
    point_group = _point_group_symbol(rotations)
    rots, trans = little_group(q, rotations, np.asarray(ds.translations, float), symprec)
    tmat = np.asarray(ds.transformation_matrix, float)
    conventional = np.rint(tmat @ rots @ np.linalg.inv(tmat)).astype(np.int64)

    ground = ground_matrices(crystal, q, rots, trans, is_little_cogroup, symprec)
    labels_of_band = degenerate_labels(freqs, degeneracy_tolerance_THz)
    sets = tuple(tuple(int(b) for b in np.flatnonzero(labels_of_band == k))
                 for k in range(int(labels_of_band[-1]) + 1))
    reps = tuple(np.einsum("ai,sab,bj->sij", vecs[:, s].conj(), ground, vecs[:, s])
                 for s in sets)
    chars = np.array([np.trace(r, axis1=1, axis2=2) for r in reps], complex)

    at_gamma = bool((np.abs(q) < symprec).all())
    labels = symbols = classes = table = activities = acoustic = None
    if at_gamma:
        symbols, classes, table, sizes = _class_symbols(conventional, point_group)
        labels = tuple(_label(c, symbols, classes, sizes, table) for c in chars)
        activities = tuple(_activity(c, rots) for c in chars)
        acoustic = _acoustic(vecs, sets, np.asarray(crystal.masses, float))
    return Irreps(q, point_group, _point_group_symbol(rots), rots, trans, tmat, conventional,
                  freqs, vecs, sets, reps, chars, labels, symbols, classes, table, activities,
                  acoustic)


def little_group(q_reduced, rotations, translations, symprec: float = SYMPREC
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(rotations (m, 3, 3), translations (m, 3)) of the operations with q·R ≡ q, in the
    given order; translation components within symprec of 1 set to 0 (phonopy's
    ``_get_rotations_at_q``)."""
    q = np.asarray(q_reduced, float)
    diff = np.einsum("a,sab->sb", q, rotations) - q
    keep = (np.abs(diff - np.rint(diff)) < symprec).all(axis=1)
    trans = np.array(translations, float)[keep]
    trans[np.abs(trans - 1) < symprec] = 0.0
    return np.asarray(rotations, np.int64)[keep], trans


def ground_matrices(crystal: Crystal, q_reduced, rotations, translations,
                    is_little_cogroup: bool = False, symprec: float = SYMPREC) -> np.ndarray:
    """(n_ops, 3n, 3n) complex: Γ(R|t) = P(R|t) ⊗ R_c of each operation (module docstring),
    phonopy's ``_get_ground_matrix``."""
    q = np.asarray(q_reduced, float)
    rotations = np.asarray(rotations, np.int64)
    translations = np.asarray(translations, float)
    x = crystal.frac_positions
    lattice = crystal.lattice
    n = len(x)
    diff = np.einsum("sab,ib->sia", rotations, x)[:, :, None, :] + translations[:, None, None, :]
    diff = diff - x[None, None, :, :]  # (s, i, j, 3): R x_i + t − x_j
    diff -= np.rint(diff)
    dist = np.linalg.norm(diff @ lattice, axis=-1)
    image = dist.argmin(axis=-1)  # (s, i)
    if not (np.take_along_axis(dist, image[..., None], -1) < symprec).all():
        raise ValueError("a symmetry operation maps an atom onto no atom of the primitive cell")
    n_ops = len(rotations)
    perm = np.zeros((n_ops, n, n), complex)
    s_idx, i_idx = np.meshgrid(np.arange(n_ops), np.arange(n), indexing="ij")
    xj = x[image]  # (s, i, 3)
    if is_little_cogroup:
        phase = np.broadcast_to((translations @ q)[:, None], (n_ops, n))
    else:
        inv = np.linalg.inv(np.asarray(rotations, float))
        back = np.einsum("sab,sib->sia", inv, xj - translations[:, None, :]) - xj
        phase = back @ q
    perm[s_idx, image, i_idx] = np.exp(2j * np.pi * phase)
    lt = lattice.T
    r_cart = lt @ rotations @ np.linalg.inv(lt)
    return np.einsum("sij,sab->siajb", perm, r_cart).reshape(n_ops, 3 * n, 3 * n)


def _point_group_symbol(rotations: np.ndarray) -> str:
    """spglib's Hermann–Mauguin point-group symbol of a set of rotations."""
    unique = np.unique(np.asarray(rotations).reshape(len(rotations), 9), axis=0)
    return spglib.get_pointgroup(unique.reshape(-1, 3, 3).astype(np.intc))[0].strip()


def _class_symbols(conventional: np.ndarray, point_group: str):
    """(class symbol of each rotation, the table's classes, label → characters per class,
    rotations per class): the first of phonopy's tables for the point group that names
    every rotation."""
    from phonopy.phonon.character_table import character_table

    candidates = character_table.get(point_group)
    if not candidates:
        raise ValueError(f"phonopy has no character table of point group {point_group}")
    for ct in candidates:
        symbols = [_symbol_of(r, ct["mapping_table"]) for r in conventional]
        if None not in symbols:
            classes = ct["rotation_list"]
            classes = (classes,) if isinstance(classes, str) else tuple(classes)
            table = {label: tuple(np.atleast_1d(v).tolist())
                     for label, v in ct["character_table"].items()}
            sizes = np.array([len(ct["mapping_table"][c]) for c in classes], float)
            return tuple(symbols), classes, table, sizes
    raise ValueError(f"the rotations of point group {point_group} are in no setting of "
                     "phonopy's character table")


def _symbol_of(rotation: np.ndarray, mapping: dict) -> str | None:
    for symbol, matrices in mapping.items():
        if any((np.array(m) == rotation).all() for m in matrices):
            return symbol
    return None


def _label(chars: np.ndarray, symbols, classes, sizes, table) -> str | None:
    """The label of the table row equal (within 1e-5) to the class-averaged characters."""
    per_class = np.zeros(len(classes), complex)
    for s, c in zip(symbols, chars):
        per_class[classes.index(s)] += c
    per_class /= sizes
    for label, row in table.items():
        if (np.abs(per_class - np.array(row)) < LABEL_TOLERANCE).all():
            return label
    return None


def _activity(chars: np.ndarray, rotations: np.ndarray) -> str:
    """IR / Raman / IR+Raman / silent of a set with characters ``chars`` (module docstring)."""
    vector = np.trace(rotations, axis1=1, axis2=2).astype(float)
    squared = np.trace(rotations @ rotations, axis1=1, axis2=2).astype(float)
    tensor = (vector ** 2 + squared) / 2
    ir = (chars.conj() @ vector).real / len(rotations) > ACTIVITY_THRESHOLD
    raman = (chars.conj() @ tensor).real / len(rotations) > ACTIVITY_THRESHOLD
    return ACTIVITIES[3] if not (ir or raman) else (
        ACTIVITIES[2] if ir and raman else ACTIVITIES[0] if ir else ACTIVITIES[1])


def _acoustic(vecs: np.ndarray, sets, masses: np.ndarray) -> tuple[bool, ...]:
    """Per set: whether it holds (more than half of) the three uniform translations."""
    w = np.sqrt(masses / masses.sum())
    translations = np.kron(w[:, None], np.eye(3))  # (3n, 3), orthonormal columns
    overlap = np.abs(translations.T @ vecs) ** 2  # (3, 3n)
    return tuple(bool(overlap[:, list(s)].sum() > 0.5) for s in sets)


def write_irreps_yaml(ir: Irreps, path="irreps.yaml", show_irreps: bool = False) -> Path:
    """phonopy's ``irreps.yaml`` (``IrReps.write_yaml``, its layout and number formats):
    q-position, point_group, transformation_matrix, the conventional rotations (with their
    class symbols at Γ), and per set its 1-based band indices, frequency of its first band,
    ``ir_label`` (at Γ; ``None`` where none was found, as phonopy writes it) and characters
    as [|χ| rounded, phase in degrees]; with ``show_irreps`` the representation matrices.
    Phases are written in [0, 360) and as 0 for |χ| < 1e-5 (phonopy's screen output rule),
    where phonopy's file can say 360.0 for a phase a rounding error below 0. Returns the path."""
    lines = ["q-position: [ %12.7f, %12.7f, %12.7f ]" % tuple(ir.qpoint),
             f"point_group: {ir.point_group}", "transformation_matrix:"]
    lines += ["- [ %10.7f, %10.7f, %10.7f ]" % tuple(v) for v in ir.transformation_matrix]
    lines.append("rotations:")
    for i, r in enumerate(ir.conventional_rotations):
        lines.append("- matrix:")
        lines += ["  - [ %2d, %2d, %2d ]" % tuple(v) for v in r]
        if ir.rotation_symbols:
            lines.append(f"  symbol: {ir.rotation_symbols[i]}")
    lines.append("normal_modes:")
    for i, bands in enumerate(ir.degenerate_sets):
        lines.append("- band_indices: [ %s ]" % ", ".join(str(b + 1) for b in bands))
        lines.append("  frequency: %-15.10f" % ir.frequencies_THz[bands[0]])
        if ir.labels:
            lines.append(f"  ir_label: {ir.labels[i]}")
        pairs = ", ".join("[ %2d, %5.1f ]" % (m, p) for m, p in zip(*_polar(ir.characters[i])))
        lines.append(f"  characters: [ {pairs} ]")
    if show_irreps:
        lines += ["", "irreps:"]
        for i, (bands, rep) in enumerate(zip(ir.degenerate_sets, ir.representations)):
            lines.append("- # %d" % (i + 1))
            for j, matrix in enumerate(rep):
                symbol = ir.rotation_symbols[j] if ir.rotation_symbols else ""
                if len(bands) == 1:
                    x = matrix[0, 0]
                    lines.append("  - [ [ %10.7f, %10.7f ] ] # (%3.0f) %d %s"
                                 % (x.real, x.imag, _degrees(x), j + 1, symbol))
                    continue
                lines.append("  - # %d %s" % (j + 1, symbol))
                for row in matrix:
                    values = ",   ".join("%10.7f, %10.7f" % (x.real, x.imag) for x in row)
                    angles = "".join("%5.0f" % _degrees(x) for x in row)
                    lines.append(f"    - [ {values} ] # ({angles})")
    return write_text(path, "\n".join(lines) + "\n")


def _degrees(x: complex) -> float:
    return (np.angle(x) / np.pi * 180) % 360


def _polar(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(|χ| rounded to a whole number, phase in degrees in [0, 360), 0 where |χ| < 1e-5)."""
    modulus = np.abs(chars)
    phase = np.round(np.angle(chars) / np.pi * 180, 1) % 360
    phase[modulus < 1e-5] = 0.0
    return np.rint(modulus), phase
