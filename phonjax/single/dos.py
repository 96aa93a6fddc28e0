"""Phonon densities of states on a q-mesh: total, per element and per atom.

The mesh is phonopy's (``phonopy_mesh``): the same ``BZGrid`` (half-shifted on even axes),
irreducible points, weights and grid map that ``Phonopy.run_mesh`` builds for the primitive
cell, including its fallback to time reversal alone when the shift breaks a rotation.
Frequencies at its irreducible points come from phonjax's kernel; the DOS from them is:

* ``"tetrahedron"`` (default, phonopy's): the linear tetrahedron method of phonopy 4
  (``TetrahedronDOSAccumulator``, phonors' kernels), on phonopy's default frequency points
  (``frequency_points``);
* ``"gaussian"``: Σ_q w_q Σ_ν g(f − ν_qν) / Σw with g a normal distribution of width σ
  (phonopy's default σ: 1/100 of the frequency span).

States per THz per primitive cell (the total integrates to 3·n_atoms). Partial DOS weight each
mode by its eigenvector's share on a group of atoms, Σ_α |e_{aα}|², summed over atoms of one
element, or averaged over each set of symmetry-equivalent atoms for the per-atom PDOS (so that
the shares are invariant over a star and the irreducible mesh serves; within degenerate modes
they are averaged, so that the result does not depend on the eigensolver's basis). Element
PDOS add up to the total to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import SYMPREC, spglib_dataset

DEGENERACY_THZ = 1e-6  # modes closer than this share their projections


@dataclass(frozen=True, eq=False)
class MeshGrid:
    """phonopy's q-mesh for one primitive cell."""

    bz_grid: object  # phonopy.phonon.grid.BZGrid
    mesh: tuple[int, int, int]  # mesh numbers (a generalized grid's D_diag)
    ir_grid_points: np.ndarray  # (n_ir,) GR-grid indices
    weights: np.ndarray  # (n_ir,) int, sum prod(mesh)
    grid_map: np.ndarray  # (prod(mesh),) irreducible representative of each grid point
    qpoints: np.ndarray  # (n_ir, 3) reduced coordinates of the primitive reciprocal lattice
    symmetry_fallback: bool  # phonopy's time-reversal-only fallback was taken
    gamma_center: bool = False  # no half shift on any axis
    length_A: float | None = None  # the mesh was given as a length (phonopy's run_mesh(float))
    generalized: bool = False  # phonopy's generalized regular grid (length input only)

    @property
    def rule(self) -> str:
        """How the mesh was chosen, in phonopy's words (for the outputs)."""
        if self.length_A is None:
            how = f"{'×'.join(map(str, self.mesh))}, " + (
                "Γ-centred" if self.gamma_center else "half-shifted on even axes")
        else:
            how = (f"length {self.length_A:g} Å → {'×'.join(map(str, self.mesh))} "
                   "(phonopy's length2mesh, Γ-centred")
            how += ", generalized regular grid)" if self.generalized else ")"
        return how + (", time reversal only" if self.symmetry_fallback else "")


def _point_group(dataset) -> np.ndarray | None:
    """The distinct rotations of a spglib dataset (phonopy's ``pointgroup_operations``)."""
    if dataset is None:
        return None
    seen = []
    for r in np.asarray(dataset.rotations, np.int64):
        if not any((r == s).all() for s in seen):
            seen.append(r)
    return np.array(seen)


def phonopy_mesh(primitive: Crystal, mesh=None, symprec: float = SYMPREC, *,
                 gamma_center: bool = False, length_A: float | None = None) -> MeshGrid:
    """The mesh ``Phonopy.run_mesh`` builds for ``primitive`` (is_mesh_symmetry=True).

    ``mesh``: three mesh numbers, half-shifted on even axes (phonopy's default) or, with
    ``gamma_center``, unshifted. ``length_A`` instead: phonopy 4.10's length input
    (``run_mesh(length)``): ``length2mesh`` with the primitive cell's point group, Γ-centred,
    and where that regular grid breaks the point group, phonopy's generalized regular grid of
    the same length (``BZGrid(length, use_grg=True)``; its D_diag are the mesh numbers).
    Where neither keeps the point group: time reversal only, as phonopy."""
    from phonopy.phonon.grid import BZGrid, get_ir_grid_points, length2mesh

    dataset = spglib_dataset(primitive, symprec)  # phonopy's Symmetry(cell, symprec).dataset
    if length_A is not None:
        mesh = length2mesh(float(length_A), primitive.lattice, rotations=_point_group(dataset))
        gamma_center = True  # forced for a length, as phonopy
    mesh = np.asarray(mesh, np.int64).reshape(3)
    shift = np.zeros(3, np.int64) if gamma_center else (mesh % 2 == 0).astype(np.int64)
    fallback = generalized = False
    try:
        grid = BZGrid(mesh, lattice=primitive.lattice, symmetry_dataset=dataset, is_shift=shift,
                      is_time_reversal=True)
    except RuntimeError as exc:
        if "Grid symmetry is broken" not in str(exc):
            raise
        grid = None
        if length_A is not None and dataset is not None:
            try:  # phonopy's first fallback for a length: a generalized regular grid
                grid = BZGrid(float(length_A), lattice=primitive.lattice,
                              symmetry_dataset=dataset, is_shift=shift,
                              is_time_reversal=True, use_grg=True)
                generalized = True
            except RuntimeError:
                grid = None
        if grid is None:
            fallback = True  # as phonopy: keep time reversal only
            grid = BZGrid(mesh, lattice=primitive.lattice, is_shift=shift,
                          is_time_reversal=True)
    ir_points, weights, grid_map = get_ir_grid_points(grid)
    addresses = np.asarray(grid.addresses)[np.asarray(grid.grg2bzg)]
    q = (addresses[ir_points] + 0.5 * np.asarray(grid.PS, float)) @ np.asarray(grid.QDinv).T
    numbers = np.asarray(grid.D_diag if generalized else mesh, np.int64)
    return MeshGrid(grid, tuple(int(m) for m in numbers), np.asarray(ir_points, np.int64),
                    np.asarray(weights, np.int64), np.asarray(grid_map, np.int64),
                    np.ascontiguousarray(q, float), fallback, bool(gamma_center),
                    None if length_A is None else float(length_A), generalized)


def frequency_points(frequencies_THz: np.ndarray, sigma_THz: float | None = None,
                     f_min: float | None = None, f_max: float | None = None,
                     pitch: float | None = None) -> tuple[np.ndarray, float]:
    """(points, σ): phonopy's default frequency points (``Dos.set_draw_area``): the span of
    the mesh frequencies widened by 10σ each side (σ = span/100 unless given), 200 steps."""
    lo, hi = float(np.min(frequencies_THz)), float(np.max(frequencies_THz))
    sigma = (hi - lo) / 100.0 if sigma_THz is None else float(sigma_THz)
    lo = lo - 10 * sigma if f_min is None else f_min
    hi = hi + 10 * sigma if f_max is None else f_max
    step = (hi - lo) / 200.0 if pitch is None else pitch
    return np.arange(lo, hi + step * 0.1, step, dtype=float), sigma


def tetrahedron(frequencies_THz: np.ndarray, grid: MeshGrid, points: np.ndarray,
                shares: np.ndarray | None = None, chunk_bytes: float = 2e8
                ) -> tuple[np.ndarray, np.ndarray | None]:
    """(DOS (n_points,), partial DOS (n_groups, n_points) or None) by phonopy's linear
    tetrahedron method: phonopy's integration weights (``get_integration_weights``, phonors'
    kernel) at the irreducible points, times their weights (and ``shares`` (n_ir, n_modes,
    n_groups), which must be invariant over each star), over the grid size, as phonopy's
    ``TetrahedronDOSAccumulator`` sums them. One weight computation serves DOS and PDOS;
    the irreducible points go in chunks of ``chunk_bytes`` of weights."""
    from phonopy.phonon.tetrahedron_method import get_integration_weights

    f = np.ascontiguousarray(frequencies_THz, dtype=float)
    points = np.ascontiguousarray(points, dtype=float)
    bz = grid.bz_grid
    # each BZ-grid point → the index (into the irreducible list) of its representative
    to_ir = np.searchsorted(grid.ir_grid_points, grid.grid_map[np.asarray(bz.bzg2grg)])
    bz_points = np.asarray(bz.grg2bzg)[grid.ir_grid_points]
    total = np.zeros(len(points))
    partial = None if shares is None else np.zeros((shares.shape[-1], len(points)))
    chunk = max(1, int(chunk_bytes // (8 * len(points) * f.shape[1])))
    for start in range(0, len(bz_points), chunk):
        sl = slice(start, start + chunk)
        iw = get_integration_weights(points, f, bz, grid_points=bz_points[sl],
                                     bzgp2irgp_map=to_ir, function="I")
        w = grid.weights[sl].astype(float)
        total += np.einsum("isb,i->s", iw, w)
        if partial is not None:
            partial += np.einsum("isb,i,ibg->gs", iw, w, shares[sl])
    norm = float(np.prod(grid.mesh))
    return total / norm, (None if partial is None else partial / norm)


def gaussian(frequencies_THz: np.ndarray, weights: np.ndarray, points: np.ndarray,
             sigma_THz: float, shares: np.ndarray | None = None) -> np.ndarray:
    """Gaussian-smeared DOS (n_points,), or partial DOS (n_groups, n_points) with ``shares``."""
    f = np.asarray(frequencies_THz, float)
    w = np.asarray(weights, float) / np.sum(weights)
    s = np.ones(f.shape + (1,)) if shares is None else np.asarray(shares, float)
    out = np.zeros((s.shape[-1], len(points)))
    norm = 1.0 / (np.sqrt(2 * np.pi) * sigma_THz)
    for start in range(0, len(points), 64):  # bounded memory: (64, n_q, n_modes) at a time
        x = f[None] - np.asarray(points[start:start + 64])[:, None, None]
        g = norm * np.exp(-0.5 * (x / sigma_THz) ** 2)
        out[:, start:start + 64] = np.einsum("pqm,q,qmg->gp", g, w, s)
    return out[0] if shares is None else out


def atom_shares(eigenvectors: np.ndarray, frequencies_THz: np.ndarray) -> np.ndarray:
    """Σ_α |e_{aα}|² per atom (n_q, n_modes, n_atoms), averaged within degenerate modes.

    ``eigenvectors`` (n_q, 3·n_atoms, n_modes) as phonopy's (columns are modes)."""
    n_q, n_comp, n_modes = eigenvectors.shape
    e2 = np.abs(eigenvectors.reshape(n_q, n_comp // 3, 3, n_modes)) ** 2
    shares = e2.sum(axis=2).transpose(0, 2, 1)  # (n_q, n_modes, n_atoms)
    f = np.asarray(frequencies_THz, float)
    new_group = np.concatenate([np.ones((n_q, 1), bool),
                                np.diff(f, axis=1) > DEGENERACY_THZ], axis=1)
    group = np.cumsum(new_group, axis=1) - 1  # (n_q, n_modes) group index per q
    if (group == np.arange(n_modes)).all():
        return shares
    out = np.empty_like(shares)
    for q in np.flatnonzero((group != np.arange(n_modes)).any(axis=1)):
        sums = np.zeros((n_modes, shares.shape[2]))
        np.add.at(sums, group[q], shares[q])
        counts = np.bincount(group[q], minlength=n_modes)[:, None]
        out[q] = (sums / np.maximum(counts, 1))[group[q]]
    plain = ~(group != np.arange(n_modes)).any(axis=1)
    out[plain] = shares[plain]
    return out


def grouped(shares: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Shares summed over atoms of each group (n_q, n_modes, n_groups)."""
    onehot = np.zeros((shares.shape[-1], n_groups))
    onehot[np.arange(shares.shape[-1]), groups] = 1.0
    return shares @ onehot


@dataclass(frozen=True, eq=False)
class DensityOfStates:
    """A DOS and its partial DOS on common frequency points (states/THz per primitive cell)."""

    frequency_points_THz: np.ndarray  # (n_f,)
    total: np.ndarray  # (n_f,)
    elements: dict[str, np.ndarray] = field(default_factory=dict)  # symbol -> (n_f,)
    atoms: np.ndarray | None = None  # (n_atoms, n_f), primitive-cell order
    atom_symbols: list[str] = field(default_factory=list)
    method: str = "tetrahedron"
    sigma_THz: float | None = None
    mesh: tuple[int, int, int] | None = None
    n_irreducible_q: int = 0


def equivalent_atoms(primitive: Crystal, symprec: float = SYMPREC) -> np.ndarray:
    """Representative of each atom's set of symmetry-equivalent atoms (spglib)."""
    ds = spglib_dataset(primitive, symprec, required=False)
    return (np.asarray(ds.equivalent_atoms, np.int64) if ds is not None
            else np.arange(primitive.n_atoms))


def density_of_states(frequencies_THz: np.ndarray, shares_by_atom: np.ndarray | None,
                      grid: MeshGrid, primitive: Crystal, method: str = "tetrahedron",
                      sigma_THz: float | None = None, symprec: float = SYMPREC, *,
                      freq_min_THz: float | None = None, freq_max_THz: float | None = None,
                      freq_pitch_THz: float | None = None) -> DensityOfStates:
    """Total DOS and (with ``shares_by_atom`` from ``atom_shares``) PDOS per element and atom,
    on phonopy's frequency points (``freq_min/max/pitch_THz``: phonopy's ``run_total_dos``
    options of the same names; None: its defaults)."""
    points, sigma = frequency_points(frequencies_THz, sigma_THz if method == "gaussian" else None,
                                     freq_min_THz, freq_max_THz, freq_pitch_THz)
    symbols = primitive.symbols
    projections = None
    if shares_by_atom is not None:
        orbit = equivalent_atoms(primitive, symprec)
        _, orbit_index, orbit_size = np.unique(orbit, return_inverse=True, return_counts=True)
        elements = list(dict.fromkeys(symbols))
        element_index = np.array([elements.index(s) for s in symbols])
        by_orbit = grouped(shares_by_atom, orbit_index, len(orbit_size))
        by_element = grouped(shares_by_atom, element_index, len(elements))
        projections = np.concatenate([by_element, by_orbit], axis=-1)
    if method == "tetrahedron":
        total, partial = tetrahedron(frequencies_THz, grid, points, projections)
    else:
        total = gaussian(frequencies_THz, grid.weights, points, sigma)
        partial = None if projections is None else gaussian(frequencies_THz, grid.weights,
                                                            points, sigma, projections)
    if partial is None:
        return DensityOfStates(points, total, method=method, mesh=grid.mesh,
                               sigma_THz=sigma if method == "gaussian" else None,
                               n_irreducible_q=len(grid.qpoints), atom_symbols=symbols)
    n_el = len(elements)
    per_atom = partial[n_el:][orbit_index] / orbit_size[orbit_index][:, None]
    return DensityOfStates(points, total, dict(zip(elements, partial[:n_el])), per_atom, symbols,
                           method, sigma if method == "gaussian" else None, grid.mesh,
                           len(grid.qpoints))
