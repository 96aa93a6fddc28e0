"""Kernel tables: what the kernels read about one material, as typed pytrees.

A *table* is a frozen dataclass of arrays, registered with JAX as a pytree, so
that ``jit``, ``vmap`` and ``grad`` take it as it is. Each array field declares
once which of its axes are *size axes*: named sizes (``Sizes``) that differ
between materials. Padding a table to a group's sizes, stacking the tables of
many materials and mapping over them all follow from that one declaration;
nothing between ``prepare`` and the kernels is a string-keyed dict or a
positional tuple. A new table is one more class here and one more field of
``MaterialTables``: ``NACTables`` (Born charges and the dipole-dipole sums of
the non-analytical correction) is such a field, ``None`` for a material
without Born charges. A field declared ``static()`` is not an array but a
choice fixed at compile time (part of the pytree's structure: tables with
different static values are never stacked together).

Size axes (``Sizes`` fields):

====== ===============================================================
disp   displaced supercells
N      supercell atoms
nd     symmetry-independent displaced atoms
K      (displacement, site operation) pairs of one displaced atom
np     primitive atoms (modes = 3·np)
nt     images of one primitive atom in the supercell (N / np)
nI     distinct integer lattice vectors among the shortest vectors
nq     q-points of the mesh
nc     commensurate q-points
nG     reciprocal lattice vectors of the dipole-dipole (Ewald) sum
====== ===============================================================

Padding is exact, never approximate: padded atoms have zero force-constant
rows and columns and mask 0, padded q-points weight 0, padded masses 1
(never divided by zero), padded Born charges and G-vector weights 0; the
kernels mask them out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """Sizes of the size axes of one material or of a padded group (0: not used)."""

    disp: int = 0
    N: int = 0
    nd: int = 0
    K: int = 0
    np: int = 0
    nt: int = 0
    nI: int = 0
    nq: int = 0
    nc: int = 0
    nG: int = 0

    def max(self, other: Sizes) -> Sizes:
        return Sizes(**{k: max(v, getattr(other, k)) for k, v in dataclasses.asdict(self).items()})

    def replace(self, **sizes: int) -> Sizes:
        return dataclasses.replace(self, **sizes)

    @property
    def modes(self) -> int:
        return 3 * self.np


_AXIS_NAMES = frozenset(f.name for f in dataclasses.fields(Sizes))


def axes(*names: str | None, fill: float = 0) -> Any:
    """Field declaration: the size axis of each array axis (None: fixed size)."""
    unknown = {n for n in names if n is not None} - _AXIS_NAMES
    if unknown:
        raise TypeError(f"unknown size axes {sorted(unknown)}")
    return field(metadata={"axes": names, "fill": fill})


def nested(optional: bool = False, **rename: str) -> Any:
    """Field declaration for a table inside a table, its size axes renamed (e.g. nq→nc);
    ``optional``: the field may be None (default None)."""
    if optional:
        return field(default=None, metadata={"rename": rename})
    return field(metadata={"rename": rename})


def static(default: Any = dataclasses.MISSING) -> Any:
    """Field declaration for a hashable choice fixed at compile time (a pytree meta field)."""
    return field(default=default, metadata={"static": True})


def table(cls: type[T]) -> type[T]:
    """Class decorator: a frozen dataclass registered as a JAX pytree (fields declared
    ``static()`` are meta fields, every other field is data)."""
    cls = dataclass(frozen=True, eq=False)(cls)
    fields = dataclasses.fields(cls)
    data = [f.name for f in fields if not f.metadata.get("static")]
    meta = [f.name for f in fields if f.metadata.get("static")]
    return jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)


def _renamed(axes_: tuple, rename: dict[str, str]) -> tuple:
    return tuple(rename.get(a, a) if a is not None else None for a in axes_)


def _walk(tbl, rename: dict[str, str] | None = None):
    """(field name, value, axes or None for a nested table, fill, rename) of each data
    field (static fields are not walked: ``pad`` copies them)."""
    rename = rename or {}
    for f in dataclasses.fields(tbl):
        value = getattr(tbl, f.name)
        if f.metadata.get("static"):
            continue
        if "axes" in f.metadata:
            yield f.name, value, _renamed(f.metadata["axes"], rename), f.metadata["fill"], None
        else:
            inner = {k: rename.get(v, v) for k, v in f.metadata.get("rename", {}).items()}
            yield f.name, value, None, 0, {**rename, **inner}


def sizes_of(tbl, rename: dict[str, str] | None = None) -> Sizes:
    """The sizes of a table's size axes (unpadded arrays give the material's own sizes)."""
    out: dict[str, int] = {}
    if tbl is None:  # an absent optional table
        return Sizes()
    for _, value, ax, _, inner in _walk(tbl, rename):
        if ax is None:
            for k, v in dataclasses.asdict(sizes_of(value, inner)).items():
                out[k] = max(out.get(k, 0), v)
            continue
        for axis, name in enumerate(ax):
            if name is not None:
                out[name] = max(out.get(name, 0), np.shape(value)[axis])
    return Sizes(**out)


def pad_array(a: np.ndarray, axes_: tuple, sizes: Sizes, fill: float = 0) -> np.ndarray:
    """``a`` padded at the end of each size axis to ``sizes`` (host, NumPy)."""
    a = np.asarray(a)
    widths = [(0, 0 if name is None else getattr(sizes, name) - a.shape[i])
              for i, name in enumerate(axes_)]
    if not any(w for _, w in widths):
        return a
    if any(w < 0 for _, w in widths):
        raise ValueError(f"cannot pad shape {a.shape} to {sizes}")
    return np.pad(a, widths, constant_values=fill)


def pad(tbl: T, sizes: Sizes, rename: dict[str, str] | None = None) -> T:
    """The table with every array padded to ``sizes`` (host, NumPy); None stays None."""
    if tbl is None:
        return None
    values = {f.name: getattr(tbl, f.name) for f in dataclasses.fields(tbl)
              if f.metadata.get("static")}
    for name, value, ax, fill, inner in _walk(tbl, rename):
        values[name] = pad(value, sizes, inner) if ax is None else pad_array(value, ax, sizes, fill)
    return type(tbl)(**values)


def stack(tables: list[T]) -> T:
    """Tables of equal (padded) sizes and equal structure (the same optional tables
    present, the same static choices) stacked along a new leading axis (host, NumPy)."""
    return jax.tree_util.tree_map(lambda *leaves: np.stack(leaves), *tables)


def take(tbl: T, index: int) -> T:
    """Entry ``index`` of a stacked table."""
    return jax.tree_util.tree_map(lambda leaf: leaf[index], tbl)


# --- the tables --------------------------------------------------------------------------


@table
class FCTables:
    """phonopy's finite-difference force-constant solve and distribution of one material.

    Solve (per displaced atom d, pairs k of one displacement and one site operation):
    Φ(d, :) = −pinv(U_d) · F_d with U_d the stacked rotated displacements.
    Distribution: Φ(i, j) = Rᵢᵀ Φ(source_i, perm[i, j]) Rᵢ.
    """

    displacements: np.ndarray = axes("disp", None)  # (n_disp, 3) Å, of atom displaced_atoms[i]
    solve_rotations: np.ndarray = axes("nd", "K", None, None)  # Cartesian R of pair k
    solve_disp_index: np.ndarray = axes("nd", "K")  # displacement of pair k
    solve_atom_map: np.ndarray = axes("nd", "K", "N")  # [d,k,j]: the atom whose force lands on j
    solve_op_mask: np.ndarray = axes("nd", "K")  # real pairs
    solve_u_pinv: np.ndarray = axes("nd", None, "K")  # pinv(U_d), Å⁻¹
    dist_source: np.ndarray = axes("N")  # solved row (index into nd) of each atom
    dist_rotations: np.ndarray = axes("N", None, None)  # Cartesian R_i
    dist_perm: np.ndarray = axes("N", "N")  # atom permutation of R_i
    atom_mask: np.ndarray = axes("N")  # real supercell atoms


@table
class PhaseTables:
    """What D(q) needs besides the force constants (see ``phonjax.harmonic.dynamical_matrix``)."""

    p2s: np.ndarray = axes("np")  # supercell index of each primitive atom
    image_atoms: np.ndarray = axes("np", "nt")  # supercell atoms k(j, t) imaging primitive atom j
    masses: np.ndarray = axes("np", fill=1.0)  # AMU
    primitive_mask: np.ndarray = axes("np")  # real primitive atoms
    lattice_vectors: np.ndarray = axes("nI", None)  # integer lattice vectors I (primitive basis)
    lattice_weights: np.ndarray = axes("nI", "np", "np", "nt")  # Σ 1/M over images with that I
    image_positions: np.ndarray = axes("np", "nt", None)  # x_k(j,t), primitive fractional
    primitive_positions: np.ndarray = axes("np", None)  # x_i, primitive fractional
    # primitive atom that inversion maps each atom onto (-1: no inversion, or padding)
    inversion_partner: np.ndarray = axes("np", fill=-1)

    @property
    def mode_mask(self):
        """(3·np,) real modes."""
        return jnp.repeat(self.primitive_mask, 3, total_repeat_length=3 * self.primitive_mask.shape[-1])


@table
class QSet:
    """q-points (reduced coordinates of the primitive reciprocal lattice) and their weights."""

    qpoints: np.ndarray = axes("nq", None)
    weights: np.ndarray = axes("nq")  # integer multiplicities as floats; 0 for padding


FORCES_AXES = ("disp", "N", None)  # forces (n_disp, N, 3) eV/Å on the displaced supercells


@table
class NACFullTerms:
    """Gonze–Lee's real-space and limiting terms (phonopy's ``DynamicalMatrixGL(...,
    with_full_terms=True)``; see ``phonjax.harmonic.dipole_dipole``): for row atom a,
    column atom b and image t of a in the supercell, phonopy's first shortest vector from
    b to that image and its real-space Ewald term, already divided by the vector's
    multiplicity. Like phonopy, these terms carry neither Born charges nor the unit factor
    (Å⁻³ added to eV/Å²: phonopy 4.10's formulas, reproduced as they are). Zero padding
    contributes nothing."""

    vectors: np.ndarray = axes("np", "np", "nt", None)  # primitive fractional; 0 for padding
    real_sym: np.ndarray = axes("np", "np", "nt", None, None)  # c(H+Hᵀ)/2m, c = −Λ³/√det ε
    real_anti: np.ndarray = axes("np", "np", "nt", None, None)  # c(H−Hᵀ)/2m
    limiting: np.ndarray = axes("np", None, None)  # the limiting term, added to block (a, a)
    drift: np.ndarray = axes("np", None, None)  # n_p·limiting + Σ_b,t real_sym: q = 0 sums


@table
class NACTables:
    """The non-analytical correction (NAC) of a polar material: Born charges, ε∞ and the
    fixed parts of phonopy's dipole-dipole sums (see ``phonjax.harmonic.dipole_dipole``).

    ``method`` "gonze" (phonopy's default, Gonze & Lee: an Ewald-summed dipole-dipole
    term added to D(q) of the short-range force constants) or "wang" (Wang et al.: a
    q-direction-dependent constant added to the force constants). ``full_terms``
    (Gonze–Lee only; None: phonopy's default, the reciprocal sum alone): the real-space
    and limiting terms of phonopy's ``with_full_terms=True``; being None or not is part of
    the table's structure, as ``method`` is.
    """

    born: np.ndarray = axes("np", None, None)  # Z*[i, α, β] (e), phonopy's born; 0 for padding
    dielectric: np.ndarray = axes(None, None)  # ε∞
    factor: np.ndarray = axes()  # unit conversion × 4π / V_primitive (phonopy's nac_factor)
    reciprocal_lattice: np.ndarray = axes(None, None)  # columns b_a (Å⁻¹, no 2π): q_cart = B q
    g_vectors: np.ndarray = axes("nG", None)  # Cartesian G (Å⁻¹, no 2π) with |G| < G_cutoff
    g_weights: np.ndarray = axes("nG")  # 1; 0 for padding
    g_cos: np.ndarray = axes("nG", "np", "np")  # cos 2π G·(r_i − r_j), Cartesian positions
    g_sin: np.ndarray = axes("nG", "np", "np")  # sin 2π G·(r_i − r_j)
    ewald: np.ndarray = axes()  # 4Λ² (Å⁻²): terms damped by exp(−K·ε·K / 4Λ²)
    comm_qpoints: np.ndarray = axes("nt", None)  # q commensurate with the supercell, first BZ
    comm_weights: np.ndarray = axes("nt")  # 1/n_c; 0 for padding
    cells: np.ndarray = axes()  # N / np: primitive cells in the supercell (Wang's division)
    method: str = static("gonze")
    full_terms: NACFullTerms | None = nested(optional=True)  # None: reciprocal sum only


@table
class ModeTables:
    """What D(q) of one material needs besides its force constants: the phase tables and,
    for a polar material, the non-analytical correction (``execution.modes.ModeSolver``
    takes these or a whole ``MaterialTables``)."""

    phases: PhaseTables = nested()
    nac: NACTables | None = nested(optional=True)  # None: no NAC


@table
class MaterialTables:
    """Every kernel table of one material: its force constants, D(q), two q-sets and,
    for a polar material with Born charges, its non-analytical correction."""

    fc: FCTables = nested()
    phases: PhaseTables = nested()
    mesh: QSet = nested()  # irreducible mesh, weighted
    commensurate: QSet = nested(nq="nc")  # commensurate q-points (ω_max, stability), weight 1
    nac: NACTables | None = nested(optional=True)  # None: no NAC
