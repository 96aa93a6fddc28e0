"""Imaginary modes: where they are, which atoms move, the verdict, and the distorted structures.

A mode is *imaginary* when ν < −tolerance (phonopy writes imaginary frequencies as negative
numbers). The verdict looks at every q-point computed: the band path, the DOS mesh and the
q-points commensurate with the supercell (the only ones the force constants determine
exactly); the three acoustic modes at Γ (smallest |ν|) are not counted, since the acoustic
sum rule puts them at zero up to numerical noise (reported separately).

Each *unstable branch* is one band index on one path segment, or one band index on the mesh
or the commensurate points: its most negative frequency, where, how many q-points, and which
elements move (each element's share of Σ|u|² with u = e/√m). For each unstable band the
*modulated structure* follows: atoms displaced along the mode's eigenvector at the worst
q-point that a small supercell can hold (phonopy's MODULATION: u_j(l) ∝ Re[e_j e^{2πi q·x_jl}]
/ √m_j), scaled so the largest displacement is ``amplitude_A`` — the usual next step, to
relax into the lower-symmetry structure.

A *near-Γ acoustic dip* (``ACOUSTIC_DIP_RULE``) is an imaginary mode that is most likely
numerical: one of the three lowest bands, mostly a rigid translation of the cell (acoustic
character ≥ ``ACOUSTIC_CHARACTER_MIN``), at a q ≠ Γ closer to Γ than the nearest other
commensurate q-point (inside that radius the supercell's force constants determine no
frequency exactly: every value there is interpolated, and force-constant noise or a supercell
too small for the long-range forces bends the acoustic branches below zero), and small
(|ν| ≤ ``ACOUSTIC_DIP_MAX_THZ``). The verdict keeps its meaning (``stable`` is False whenever
any counted mode is below −tolerance) and says separately whether every imaginary mode is
such a dip (``acoustic_dip_only``, ``kind`` "acoustic_dip_near_gamma").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.harmonic.mesh import is_gamma
from phonjax.harmonic.thermal import gamma_acoustic_modes

ACOUSTIC_DIP_MAX_THZ = 0.5  # |ν| of a near-Γ acoustic dip at most (larger: an instability)
ACOUSTIC_CHARACTER_MIN = 0.5  # share of a mode in rigid translations to count as acoustic
ACOUSTIC_DIP_RULE = (
    f"a near-Γ acoustic dip is an imaginary mode of the three lowest bands, mostly a rigid "
    f"translation (acoustic character ≥ {ACOUSTIC_CHARACTER_MIN:g}), at q ≠ Γ closer to Γ than the "
    f"nearest other commensurate q-point (where the supercell determines no frequency), with "
    f"|ν| ≤ {ACOUSTIC_DIP_MAX_THZ:g} THz")
ACOUSTIC_DIP_ADVICE = ("likely numerical (supercell too small / force-constant noise); try a "
                       "larger --min-length or --supercell")
STABLE, UNSTABLE, ACOUSTIC_DIP = "stable", "unstable", "acoustic_dip_near_gamma"  # Verdict.kind


@dataclass(frozen=True)
class UnstableBranch:
    where: str  # "path", "mesh" or "commensurate"
    band: int  # 0-based index in ascending order
    segment: str | None  # "GAMMA-X" on the path
    q: tuple[float, float, float]  # reduced coordinates of the primitive reciprocal lattice
    frequency_THz: float  # most negative
    n_qpoints: int  # q-points of this branch below −tolerance
    element_shares: dict[str, float]  # Σ|u|² share per element at q
    near_gamma_acoustic_dip: bool = False  # every one of its imaginary modes is a near-Γ
    #   acoustic dip (ACOUSTIC_DIP_RULE): likely numerical


@dataclass(frozen=True)
class Verdict:
    stable: bool
    rule: str
    tolerance_THz: float
    min_frequency_THz: float  # lowest counted frequency
    min_where: str
    gamma_acoustic_max_abs_THz: float  # the excluded modes' size (ASR noise)
    kind: str = STABLE  # STABLE, UNSTABLE, or ACOUSTIC_DIP: not stable, and every imaginary
    #   mode is a near-Γ acoustic dip (ACOUSTIC_DIP_RULE), likely numerical
    acoustic_dip_only: bool = False  # kind == ACOUSTIC_DIP
    n_acoustic_dip_modes: int = 0  # counted imaginary modes that are near-Γ acoustic dips
    near_gamma_radius_per_A: float | None = None  # |q| (1/Å, no 2π) of the nearest
    #   commensurate q-point other than Γ: the dips' region
    acoustic_dip_rule: str = ACOUSTIC_DIP_RULE
    advice: str | None = None  # ACOUSTIC_DIP_ADVICE for an acoustic dip only


@dataclass(frozen=True, eq=False)
class Modulation:
    band: int
    q: tuple[float, float, float]
    frequency_THz: float
    supercell: tuple  # (3, 3) M: supercell rows = Mᵀ·primitive rows
    crystal: Crystal
    amplitude_A: float


@dataclass(frozen=True, eq=False)
class InstabilityReport:
    verdict: Verdict
    branches: list[UnstableBranch]
    modulations: list[Modulation] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # unstable modes with no small supercell


def _counted(q: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mask (n_q, n_modes) of the modes that count: all but Γ's three smallest |ν|
    (``thermal.gamma_acoustic_modes``)."""
    return ~gamma_acoustic_modes(np.asarray(f, float), is_gamma(q, 1e-8))


def element_shares(eigenvector: np.ndarray, primitive: Crystal) -> dict[str, float]:
    """Each element's share of Σ|u|² (u = e/√m) for one eigenvector (3·n_atoms,)."""
    e2 = (np.abs(np.asarray(eigenvector).reshape(-1, 3)) ** 2).sum(axis=1) / primitive.masses
    shares: dict[str, float] = {}
    for s, v in zip(primitive.symbols, e2 / e2.sum()):
        shares[s] = shares.get(s, 0.0) + float(v)
    return {s: round(v, 4) for s, v in shares.items()}


def gamma_distance(q, lattice) -> np.ndarray:
    """(n,) 1/Å (no 2π): the distance of each reduced q (n, 3) of the primitive reciprocal
    lattice (``lattice``: primitive lattice rows, Å) to the nearest reciprocal lattice
    vector, i.e. to Γ or one of its images."""
    b = np.linalg.inv(np.asarray(lattice, float)).T  # reciprocal rows, a_i·b_j = δ_ij
    d = np.atleast_2d(np.asarray(q, float))
    d = d - np.rint(d)
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    return np.linalg.norm((d[:, None, :] + shifts[None]) @ b, axis=-1).min(axis=1)


def near_gamma_radius(commensurate_q, lattice) -> float:
    """1/Å (no 2π): distance from Γ to the nearest commensurate q-point other than Γ (half
    the shortest reciprocal vector when Γ is the only one). Inside it the supercell's force
    constants fix no frequency exactly: everything there is interpolated."""
    d = gamma_distance(commensurate_q, lattice)
    d = d[d > 1e-8]
    if len(d):
        return float(d.min())
    return float(0.5 * np.linalg.norm(np.linalg.inv(np.asarray(lattice, float)).T, axis=1).min())


def acoustic_character(eigenvectors: np.ndarray, masses) -> np.ndarray:
    """(..., n_modes): each mode's share in the rigid translations of the cell,
    Σ_α |⟨t_α|e⟩|² with t_α(j) = √(m_j/M) x̂_α (M = Σm): 1 for a translation, 0 for any mode
    orthogonal to all three (every optical mode at Γ). ``eigenvectors`` (..., 3n, n_modes):
    mass-weighted, columns are modes (phonopy's layout)."""
    m = np.asarray(masses, float)
    e = np.asarray(eigenvectors)
    e = e.reshape(e.shape[:-2] + (len(m), 3, e.shape[-1]))
    proj = np.einsum("j,...jam->...am", np.sqrt(m / m.sum()), e)
    return (np.abs(proj) ** 2).sum(axis=-2)


def dip_candidates(q, f, tolerance_THz: float, lattice, radius_per_A: float) -> np.ndarray:
    """(n_q, n_modes) bool: imaginary (ν < −tolerance), counted modes of the three lowest
    bands at q ≠ Γ within ``radius_per_A`` of Γ with |ν| ≤ ``ACOUSTIC_DIP_MAX_THZ``: near-Γ
    acoustic dips once their acoustic character is checked (``acoustic_dips``)."""
    f = np.asarray(f, float)
    out = (f < -tolerance_THz) & (f >= -ACOUSTIC_DIP_MAX_THZ) & _counted(q, f)
    out[:, 3:] = False
    if len(q):
        d = gamma_distance(q, lattice)
        out &= ((d > 1e-8) & (d < radius_per_A))[:, None]
    return out


def acoustic_dips(candidates: np.ndarray, character: np.ndarray) -> np.ndarray:
    """``dip_candidates`` whose acoustic character (``acoustic_character``, same shape)
    is at least ``ACOUSTIC_CHARACTER_MIN``: the near-Γ acoustic dips (``ACOUSTIC_DIP_RULE``)."""
    return candidates & (np.asarray(character) >= ACOUSTIC_CHARACTER_MIN)


def verdict(sets: dict[str, tuple[np.ndarray, np.ndarray]], tolerance_THz: float,
            mesh_label: str, dips: dict[str, np.ndarray] | None = None,
            radius_per_A: float | None = None) -> Verdict:
    """``sets``: {where: (q (n, 3), frequencies (n, n_modes))}; ``dips``: {where: mask
    (n, n_modes) of the near-Γ acoustic dips (``acoustic_dips``)} (None: none)."""
    lowest, where, noise = np.inf, "", 0.0
    n_bad = n_dips = 0
    for name, (q, f) in sets.items():
        if not len(q):
            continue
        mask = _counted(q, f)
        if (~mask).any():
            noise = max(noise, float(np.abs(f[~mask]).max()))
        bad = mask & (f < -tolerance_THz)
        n_bad += int(bad.sum())
        if dips is not None and name in dips:
            n_dips += int((bad & dips[name]).sum())
        if mask.any():
            i = np.unravel_index(np.argmin(np.where(mask, f, np.inf)), f.shape)
            if f[i] < lowest:
                lowest = float(f[i])
                where = f"{name} q=({', '.join(f'{x:.4f}' for x in q[i[0]])}), band {i[1] + 1}"
    rule = (f"stable when no frequency is below −{tolerance_THz:g} THz on the band path, the "
            f"{mesh_label} mesh or the commensurate q-points; the three acoustic modes at Γ "
            f"(smallest |ν|) are not counted")
    stable = bool(lowest >= -tolerance_THz)
    dip_only = not stable and n_bad > 0 and n_dips == n_bad
    kind = STABLE if stable else ACOUSTIC_DIP if dip_only else UNSTABLE
    return Verdict(stable, rule, float(tolerance_THz), lowest, where, noise, kind, dip_only,
                   n_dips, radius_per_A, ACOUSTIC_DIP_RULE,
                   ACOUSTIC_DIP_ADVICE if dip_only else None)


def branches(where: str, q: np.ndarray, f: np.ndarray, tolerance_THz: float,
             shares_at, segments: list[tuple[str, slice]] | None = None,
             dips: np.ndarray | None = None) -> list[UnstableBranch]:
    """Unstable branches of one q-set; ``shares_at(q_index, band)`` gives element shares;
    ``segments``: (name, slice of q) pieces of a path (None: the whole set is one piece);
    ``dips``: mask (n_q, n_modes) of the near-Γ acoustic dips (``acoustic_dips``)."""
    out = []
    bad = (f < -tolerance_THz) & _counted(q, f)
    dips = np.zeros_like(bad) if dips is None else dips
    for name, sl in segments or [(None, slice(0, len(q)))]:
        part = bad[sl]
        for band in np.flatnonzero(part.any(axis=0)):
            rows = np.flatnonzero(part[:, band])
            i = rows[np.argmin(f[sl][rows, band])] + (sl.start or 0)
            out.append(UnstableBranch(where, int(band), name, _tidy(q[i]),
                                      float(f[i, band]), int(len(rows)), shares_at(i, band),
                                      bool(dips[sl][rows, band].all())))
    return out


def _tidy(q) -> tuple[float, float, float]:
    """q rounded to 1e-10 (no −0.0, no 1e-49 noise) for reports."""
    return tuple(float(x) + 0.0 for x in np.round(np.asarray(q, float), 10))


def commensurate_supercell(q, max_denominator: int = 12) -> tuple[int, int, int] | None:
    """Smallest diagonal multiples n of the primitive cell with q·n integer, or None."""
    n = []
    for x in np.asarray(q, float):
        frac = Fraction(float(x)).limit_denominator(max_denominator)
        if abs(float(frac) - x) > 1e-6:
            return None
        n.append(frac.denominator)
    return tuple(n)


def modulation_cell(q, n_primitive: int, max_atoms: int, calculation_cell=None
                    ) -> np.ndarray | None:
    """The smallest supercell matrix M (rows = Mᵀ·primitive rows) whose lattice q is periodic
    on (q·M integer): diagonal denominators of q, or the calculation's own supercell
    ``calculation_cell`` (which holds every commensurate q); None above ``max_atoms``."""
    options = []
    n = commensurate_supercell(q)
    if n is not None:
        options.append(np.diag(n))
    if calculation_cell is not None:
        m = np.asarray(calculation_cell, np.int64)
        qm = np.asarray(q, float) @ m
        if np.abs(qm - np.rint(qm)).max() < 1e-6:
            options.append(m)
    options = [m for m in options if n_primitive * abs(round(np.linalg.det(m))) <= max_atoms]
    return min(options, key=lambda m: abs(round(np.linalg.det(m))), default=None)


def modulated(primitive: Crystal, q, eigenvector: np.ndarray, frequency_THz: float, band: int,
              amplitude_A: float, max_atoms: int, calculation_cell=None) -> Modulation | None:
    """The primitive cell's supercell displaced along one mode (module docstring), or None
    when no supercell of at most ``max_atoms`` atoms holds q."""
    from phonjax.structure.supercell import build_supercell

    cell = modulation_cell(q, primitive.n_atoms, max_atoms, calculation_cell)
    if cell is None:
        return None
    supercell, s2u = build_supercell(primitive, cell)
    x = supercell.frac_positions @ cell.T  # primitive fractional coordinates
    e = np.asarray(eigenvector).reshape(-1, 3)
    amplitude = e / np.sqrt(primitive.masses)[:, None]
    k = int(np.argmax(np.linalg.norm(amplitude, axis=1)))
    phase0 = np.angle(amplitude[k][np.argmax(np.abs(amplitude[k]))]
                      * np.exp(2j * np.pi * np.dot(q, primitive.frac_positions[k])))
    u = np.real(amplitude[s2u] * np.exp(2j * np.pi * (x @ np.asarray(q, float)) - 1j * phase0)
                [:, None])
    largest = np.linalg.norm(u, axis=1).max()
    if largest < 1e-12:
        return None
    cart = supercell.positions + u * (amplitude_A / largest)
    crystal = Crystal(supercell.lattice, cart @ np.linalg.inv(supercell.lattice), supercell.numbers,
                      supercell.masses)
    return Modulation(band, _tidy(q), float(frequency_THz), tuple(map(tuple, cell.tolist())),
                      crystal, amplitude_A)
