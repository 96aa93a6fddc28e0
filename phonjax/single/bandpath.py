"""Band paths: seekpath's standard path, mapped to the primitive cell actually used, and checked.

seekpath (HPKOT convention) gives its labelled points in the reciprocal basis of *its*
standardized primitive cell, which differs from the primitive cell a calculation uses whenever
the input is conventional, rotated, or in a non-standard setting (phonopy's
``get_band_qpoints_by_seekpath`` takes the coordinates as they are, so its labels are wrong
then). Here the path is mapped: seekpath's primitive lattice rotated into our frame is
``L_sp·R = M·L_p`` (M integer and unimodular when our cell is primitive; its inverse integer
when our cell is a supercell of it), and a point q_sp of seekpath becomes ``q = q_sp·M⁻ᵀ`` in
our basis, exactly.

``check_points`` then confirms every labelled point three ways, each able to fail on its own:
our M satisfies the lattice relation, the point is in the star (point group and time reversal,
modulo G) of the point seekpath's ``get_path_orig_cell`` computes independently (Cartesian
rotation), and its little group in our cell has the order seekpath's point has in seekpath's cell.

A user path (``user_path``): segments of labelled points, in the reciprocal basis of the
primitive cell (default) or of the unit cell; a YAML file holds the same (``read_path_file``).
Sampling (``sample``) is phonopy's: the longest segment gets ``n_points`` points, the others the
same spacing (``get_band_qpoints``), distances accumulated along the path in Å⁻¹ (no 2π).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import SYMPREC, spglib_dataset

_GREEK = {"GAMMA": r"\Gamma", "SIGMA": r"\Sigma", "DELTA": r"\Delta", "LAMBDA": r"\Lambda"}


class BandPathError(ValueError):
    """A band path that cannot be built or read (one line)."""


@dataclass(frozen=True)
class Segment:
    start: str
    end: str
    q_start: np.ndarray  # (3,) reduced coordinates of the primitive reciprocal lattice
    q_end: np.ndarray


@dataclass(frozen=True)
class PointCheck:
    label: str
    q: np.ndarray  # our coordinates
    lattice_ok: bool  # M relates the two lattices
    in_star: bool  # equivalent to seekpath's get_path_orig_cell point
    little_group: int  # order in our cell (point group × time reversal)
    little_group_seekpath: int  # order of seekpath's point in seekpath's cell

    @property
    def ok(self) -> bool:
        return self.lattice_ok and self.in_star and self.little_group == self.little_group_seekpath


@dataclass(frozen=True)
class BandPath:
    segments: list[Segment]
    connections: list[bool]  # segment i continues into segment i+1
    source: str  # where the path came from, for the report
    checks: list[PointCheck] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool | None:
        """True when every labelled point passed, None for a user path (nothing to check)."""
        return all(c.ok for c in self.checks) if self.checks else None

    @property
    def labels(self) -> list[str]:
        """Labels of the path's end points in phonopy's order (a break repeats none)."""
        out: list[str] = []
        for i, seg in enumerate(self.segments):
            if i == 0 or not self.connections[i - 1]:
                out.append(seg.start)
            out.append(seg.end)
        return out


def pretty_label(label: str) -> str:
    """Matplotlib mathtext of a seekpath label: GAMMA → Γ, X_1 → X₁, SIGMA_0 → Σ₀."""
    base, _, sub = label.partition("_")
    head = _GREEK.get(base.upper(), r"\mathrm{%s}" % base)
    return f"${head}_{{{sub}}}$" if sub else f"${head}$"


def phonopy_label(label: str) -> str:
    """The label as phonopy writes it to band.yaml (``$\\Gamma$``, ``$\\mathrm{X}$``)."""
    for name, tex in _GREEK.items():
        if name in label:
            return "$" + label.replace(name, tex) + "$"
    return r"$\mathrm{%s}$" % label


def _cell_tuple(crystal: Crystal):
    return (np.asarray(crystal.lattice), np.asarray(crystal.frac_positions),
            np.asarray(crystal.numbers))


def _rotations(cell, symprec: float) -> np.ndarray:
    """Point group of a cell (fractional, its own basis) with time reversal: ±W, unique."""
    ds = spglib_dataset(cell, symprec, required=False)
    rots = np.asarray(ds.rotations, np.int64) if ds is not None else np.eye(3, dtype=np.int64)[None]
    both = np.concatenate([rots, -rots]).reshape(-1, 9)
    return np.unique(both, axis=0).reshape(-1, 3, 3)


def _integral(d: np.ndarray, modulus: np.ndarray, atol: float = 1e-6) -> np.ndarray:
    """Rows of ``d`` that are reciprocal lattice vectors of the lattice whose reduced
    coordinates are ``d·modulus`` (the primitive cell's, also when ours is a supercell)."""
    d = d @ modulus
    return (np.abs(d - np.rint(d)) < atol).all(axis=-1)


def _little_group(q: np.ndarray, rotations: np.ndarray, modulus: np.ndarray) -> int:
    return int(_integral(np.einsum("a,sab->sb", q, rotations) - q, modulus).sum())


def _in_star(q: np.ndarray, reference: np.ndarray, rotations: np.ndarray,
             modulus: np.ndarray) -> bool:
    return bool(_integral(np.einsum("a,sab->sb", reference, rotations) - q, modulus).any())


@dataclass(frozen=True, eq=False)
class _Seekpath:
    """seekpath's answers for one cell: its path, its standardized primitive cell, the
    independent ``get_path_orig_cell`` coordinates, and M with L_sp·R = M·L_p."""

    res: dict
    orig: dict
    m: np.ndarray
    warnings: list[str]

    @property
    def lattice_ok(self) -> bool:  # our cell is seekpath's primitive or a supercell of it
        m_inv = np.linalg.inv(self.m)
        return bool(np.abs(m_inv - np.rint(m_inv)).max() < 1e-5)

    @property
    def is_supercell(self) -> bool:
        return abs(np.linalg.det(self.m)) < 0.75

    @property
    def exact_m_inv(self) -> np.ndarray:
        """M⁻¹, rounded to integers when our cell is seekpath's primitive or a supercell of it
        (spglib's rotation comes from its idealized cell, a symprec-sized step from ours:
        unrounded, the labelled points would sit ~1e-7 off)."""
        m_inv = np.linalg.inv(self.m)
        return np.rint(m_inv) if self.lattice_ok else m_inv

    def ours(self, q_sp) -> np.ndarray:
        """seekpath's reduced coordinates → ours: q = q_sp·M⁻ᵀ."""
        return np.asarray(q_sp, float) @ self.exact_m_inv.T


def _seekpath(primitive: Crystal, symprec: float) -> _Seekpath:
    import seekpath

    cell = _cell_tuple(primitive)
    try:
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            res = seekpath.get_path(cell, with_time_reversal=True, symprec=symprec)
            orig = seekpath.get_path_orig_cell(cell, with_time_reversal=True, symprec=symprec)
    except Exception as exc:  # seekpath raises its own types for odd cells
        raise BandPathError(f"seekpath could not build a path: {type(exc).__name__}: {exc}"
                            ) from None
    m = (np.asarray(res["primitive_lattice"], float) @ np.asarray(res["rotation_matrix"], float)
         @ np.linalg.inv(primitive.lattice))
    return _Seekpath(res, orig, m, sorted({str(w.message).splitlines()[0] for w in record}))


def check_path(path: BandPath, primitive: Crystal, symprec: float = SYMPREC) -> list[PointCheck]:
    """Checks of every labelled point of ``path`` that seekpath knows, for the cell
    ``primitive`` whose reciprocal basis the path's coordinates are in (module docstring)."""
    sk = _seekpath(primitive, symprec)
    ours = _rotations(_cell_tuple(primitive), symprec)
    res = sk.res
    theirs = _rotations((np.asarray(res["primitive_lattice"], float),
                         np.asarray(res["primitive_positions"], float),
                         np.asarray(res["primitive_types"])), symprec)
    # equivalence modulo seekpath's primitive reciprocal lattice: our coordinates times Mᵀ
    # (a unimodular basis change when our cell is primitive, a coarser one for a supercell)
    modulus = np.linalg.inv(sk.exact_m_inv).T
    points = {s.start: s.q_start for s in path.segments} | {s.end: s.q_end for s in path.segments}
    checks = []
    for label, q in points.items():
        if label not in res["point_coords"]:
            continue
        checks.append(PointCheck(
            label, q, sk.lattice_ok,
            _in_star(q, np.asarray(sk.orig["point_coords"][label], float), ours, modulus),
            _little_group(q, ours, modulus),
            _little_group(np.asarray(res["point_coords"][label], float), theirs, np.eye(3))))
    return checks


def seekpath_path(primitive: Crystal, symprec: float = SYMPREC) -> BandPath:
    """seekpath's standard path for ``primitive``, mapped to its basis and checked."""
    sk = _seekpath(primitive, symprec)
    res = sk.res
    coords = {k: sk.ours(v) for k, v in res["point_coords"].items()}
    segments = [Segment(a, b, coords[a], coords[b]) for a, b in res["path"]]
    connections = [res["path"][i][1] == res["path"][i + 1][0] for i in range(len(segments) - 1)]
    kind = ("a supercell of the primitive cell (folded bands)" if sk.is_supercell
            else "the primitive cell")
    source = (f"seekpath (HPKOT) {res['bravais_lattice_extended']}, "
              f"{res['spacegroup_international']}, mapped to {kind} used")
    path = BandPath(segments, connections + [False], source, [], sk.warnings)
    return BandPath(segments, path.connections, source, check_path(path, primitive, symprec),
                    sk.warnings)


def naive_path(primitive: Crystal, symprec: float = SYMPREC) -> BandPath:
    """seekpath's coordinates used as they are (phonopy's ``get_band_qpoints_by_seekpath``):
    right only when ``primitive`` is seekpath's standardized primitive. For comparisons."""
    import seekpath

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = seekpath.get_path(_cell_tuple(primitive), with_time_reversal=True, symprec=symprec)
    coords = {k: np.asarray(v, float) for k, v in res["point_coords"].items()}
    segments = [Segment(a, b, coords[a], coords[b]) for a, b in res["path"]]
    connections = [res["path"][i][1] == res["path"][i + 1][0] for i in range(len(segments) - 1)]
    return BandPath(segments, connections + [False], "seekpath coordinates as given (unmapped)")


def user_path(spec, primitive_matrix: np.ndarray | None = None) -> BandPath:
    """A path from segments of labelled points.

    ``spec``: a list of polylines, each a list of ``(label, (q1, q2, q3))``; or a mapping
    ``{"path": [...], "basis": "primitive" | "unitcell"}``. With ``basis: unitcell`` the
    coordinates are in the reciprocal basis of the unit cell and are converted with P.
    """
    basis = "primitive"
    if isinstance(spec, dict):
        basis = str(spec.get("basis", "primitive")).lower()
        spec = spec.get("path")
    if basis not in ("primitive", "unitcell"):
        raise BandPathError(f"band path basis must be 'primitive' or 'unitcell', got {basis!r}")
    if not isinstance(spec, (list, tuple)) or not spec:
        raise BandPathError("a band path needs 'path': a list of polylines of [label, [q1, q2, q3]]")
    convert = np.eye(3) if basis == "primitive" else np.asarray(primitive_matrix, float)
    segments, connections = [], []
    for line in spec:
        points = []
        for item in line if isinstance(line, (list, tuple)) else []:
            try:
                label, q = item
                q = np.asarray(q, float).reshape(3)
            except (TypeError, ValueError):
                raise BandPathError(f"each band path point is [label, [q1, q2, q3]], got {item!r}"
                                    ) from None
            if not np.isfinite(q).all():
                raise BandPathError(f"band path point {label!r} is not finite")
            points.append((str(label), q @ convert))
        if len(points) < 2:
            raise BandPathError("each polyline of a band path needs at least two points")
        for (a, qa), (b, qb) in zip(points[:-1], points[1:]):
            segments.append(Segment(a, b, qa, qb))
            connections.append(True)
        connections[-1] = False
    return BandPath(segments, connections, f"user-given ({basis} reciprocal basis), not checked")


def read_path_file(path: str | os.PathLike, primitive_matrix: np.ndarray | None = None) -> BandPath:
    import yaml

    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise BandPathError(f"{path}: band path file not found") from None
    except yaml.YAMLError as exc:
        raise BandPathError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None
    try:
        return user_path(data if isinstance(data, dict) else {"path": data}, primitive_matrix)
    except BandPathError as exc:
        raise BandPathError(f"{path}: {exc}") from None


def build_path(spec, primitive: Crystal, primitive_matrix: np.ndarray, symprec: float = SYMPREC
               ) -> BandPath:
    """The path of a run: ``"auto"`` (seekpath, mapped, checked), a file, or segments."""
    if isinstance(spec, str) and spec == "auto":
        return seekpath_path(primitive, symprec)
    if isinstance(spec, (str, os.PathLike)):
        return read_path_file(spec, primitive_matrix)
    if isinstance(spec, BandPath):
        return spec
    return user_path(spec, primitive_matrix)


@dataclass(frozen=True)
class PathSampling:
    """q-points along a path, per segment, with phonopy's distances."""

    qpoints: list[np.ndarray]  # per segment (n_i, 3)
    distances: list[np.ndarray]  # per segment (n_i,), Å⁻¹ without 2π, cumulative
    path: BandPath

    @property
    def all_qpoints(self) -> np.ndarray:
        return np.concatenate(self.qpoints)

    @property
    def tick_positions(self) -> list[float]:
        """Distances of the labelled points (a break puts two labels on one tick)."""
        ticks = [float(self.distances[0][0])]
        for d in self.distances:
            ticks.append(float(d[-1]))
        return ticks

    @property
    def tick_labels(self) -> list[str]:
        segs, conn = self.path.segments, self.path.connections
        labels = [pretty_label(segs[0].start)]
        for i, seg in enumerate(segs):
            end = pretty_label(seg.end)
            if i + 1 < len(segs) and not conn[i]:
                end = f"{end}|{pretty_label(segs[i + 1].start)}"
            labels.append(end)
        return labels


def sample(path: BandPath, primitive_lattice: np.ndarray, n_points: int = 101,
           per_segment: bool = False) -> PathSampling:
    """phonopy's constant-interval sampling (``get_band_qpoints`` with the reciprocal lattice:
    ``n_points`` on the longest segment, the others at the same spacing), or with
    ``per_segment`` phonopy's default (its CLI's BAND_POINTS, ``get_band_qpoints`` without it):
    ``n_points`` on every segment, both ends included."""
    from phonopy.phonon.band_structure import get_band_qpoints

    n = n_points
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"band points must be an integer ≥ 2, got {n!r}")
    reciprocal = np.linalg.inv(np.asarray(primitive_lattice, float))  # columns b*_i, no 2π
    pieces = get_band_qpoints([[s.q_start, s.q_end] for s in path.segments], npoints=n_points,
                              rec_lattice=None if per_segment else reciprocal)
    distances, total = [], 0.0
    for q in pieces:  # phonopy adds no distance across a break
        steps = np.linalg.norm(np.diff(np.asarray(q, float), axis=0) @ reciprocal.T, axis=1)
        distances.append(total + np.concatenate([[0.0], np.cumsum(steps)]))
        total = float(distances[-1][-1])
    return PathSampling([np.asarray(q, float) for q in pieces], distances, path)
