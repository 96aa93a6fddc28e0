"""Modulations: a supercell whose atoms are displaced along chosen phonon modes, as phonopy's
``Phonopy.run_modulations`` / ``phonopy.phonon.modulation.Modulation`` (MODULATION tag).

A *mode* is ``(q, band_index, amplitude, phase_deg)``: q in reduced coordinates of the
primitive reciprocal lattice, ``band_index`` 0-based in ascending frequency (phonopy's API
counts from 0 too; its MODULATION tag and ``modulation.yaml``'s ``band:`` count from 1),
the amplitude in Å·√AMU, the phase in degrees. For supercell atom j (primitive atom p(j),
mass m_j, fractional position x_j in the primitive basis, x_j = s_j·Mᵀ with s_j its
supercell coordinate and M the ``dimension``; N supercell atoms) the complex displacement
(Å) is

    u_j = A · e^{iφ} / c · e_{p(j)} · e^{2πi q·x_j} / √(m_j N)

with e the eigenvector of D(q) (phonopy's phase convention: atom positions) and c = ũ_k/|ũ_k|
the phase of the largest component ũ_k (over all atoms and directions) of ũ = u/(A e^{iφ}/c)
(phonopy's ``_get_phase_factor``: it makes that component real positive before the phase φ is
applied). A modulated supercell is the perfect supercell (phonopy's ``get_supercell`` of the
primitive cell by M, its atom order) with Re u added to the Cartesian positions, fractional
coordinates wrapped into [0, 1): one per mode and one for the sum of all modes (phonopy's
``modulated_supercells`` and ``modulated_supercell``).

With NAC, ``nac_q_direction`` (reduced, as phonopy's) is the direction of q → 0 used at Γ
only; without it Γ has no LO–TO splitting, as in phonopy. ``delta_q`` (phonopy's): inside each
degenerate set of eigenvalues of D (|Δλ| < 1e-4 eV/Å²/AMU, phonopy's ``degenerate_sets`` on
the eigenvalues) the eigenvectors are rotated to diagonalise e†·(Σ_α δ_α ∂D/∂q_α / |δ|)·e
(first derivative, Cartesian, ``anharmonic.velocity.dynamical_matrix_derivatives``; phonopy's
``lift_degeneracy``), which makes a degenerate mode well defined; without it the eigensolver's
choice inside a degenerate set is taken (phonopy's is LAPACK's: not comparable).

Largest component: ties in |ũ| are common (images of one atom, symmetric components); the
first (lowest flat index) of the components within ``TIE_RELATIVE`` of the largest is taken,
which is ``numpy.argmax``'s choice (phonopy's) whenever the tie is exact and never depends on
rounding noise.

Files (``write_modulations``): MPOSCAR (the sum), MPOSCAR-001, … (one per mode), MPOSCAR-orig
(the perfect supercell), in phonopy's POSCAR layout (``write_vasp``), and ``modulation.yaml``
in the layout of phonopy's ``Modulation.write_yaml``.

``instability.modulated`` (the imaginary-mode structures of ``phonjax run``) is not this: it
takes Re[e_j e^{2πi q·x_j} e^{−iφ₀}]/√m_j with φ₀ the phase of the largest component of the
atom with the largest |e/√m| (evaluated at that atom's position in the primitive cell),
chooses its own smallest supercell, and scales the largest displacement to a length in Å.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from phonjax.pipeline.records import Harmonic
from phonjax.structure.crystal import Crystal
from phonjax.units import FORCE_CONSTANT_TO_THZ

TIE_RELATIVE = 1e-9  # |ũ_k| ≥ (1 − this)·max|ũ| counts as the largest
DEGENERACY_CUTOFF = 1e-4  # eigenvalues of D (eV/Å²/AMU): phonopy's degenerate_sets default


@dataclass(frozen=True, eq=False)
class Modulations:
    """Displacements along phonon modes and the modulated supercells (module docstring)."""

    primitive: Crystal
    dimension: np.ndarray  # (3, 3) int M: supercell rows = Mᵀ·primitive rows
    supercell: Crystal  # the perfect supercell, phonopy's atom order
    qpoints: np.ndarray  # (n_modes, 3) reduced
    band_indices: np.ndarray  # (n_modes,) 0-based
    amplitudes: np.ndarray  # (n_modes,) Å·√AMU
    phases_deg: np.ndarray  # (n_modes,)
    frequencies_THz: np.ndarray  # (n_modes,) negative: imaginary
    eigenvectors: np.ndarray  # (n_modes, 3n) complex: the modes used (eigh's global phase)
    displacements_A: np.ndarray  # (n_modes, N, 3) complex, Cartesian Å (Re is applied)
    modulated_supercells: tuple  # (n_modes,) Crystal: one mode each
    modulated_supercell: Crystal  # all modes together


def dimension_matrix(dimension) -> np.ndarray:
    """(3, 3) int from 3 integers (diagonal), 9 or 3×3 (phonopy's ``_get_dimension_3x3``)."""
    d = np.asarray(dimension)
    if d.size not in (3, 9) or not np.isfinite(d.astype(float)).all():
        raise ValueError(f"dimension must be 3 integers or a 3×3 integer matrix, got {d.tolist()}")
    m = np.diag(d.ravel()) if d.size == 3 else d.reshape(3, 3)
    if np.abs(m - np.rint(m)).max() > 0:
        raise ValueError(f"dimension must be integers, got {d.tolist()}")
    m = np.rint(m).astype(np.int64)
    if round(np.linalg.det(m)) <= 0:
        raise ValueError(f"dimension must have a positive determinant, got {m.tolist()}")
    return m


def _checked_modes(modes, n_modes: int) -> list[tuple[np.ndarray, int, float, float]]:
    out = []
    for mode in modes:
        try:
            q, band, amplitude, phase = mode
            q = np.asarray(q, float).reshape(3)
            amplitude, phase = float(amplitude), float(phase)
        except (TypeError, ValueError):
            raise ValueError(f"each mode is (q (3 numbers), band_index, amplitude, phase_deg), "
                             f"got {mode!r}") from None
        if isinstance(band, bool) or not isinstance(band, (int, np.integer)) \
                or not 0 <= band < n_modes:
            raise ValueError(f"band_index must be an integer in 0..{n_modes - 1} (0-based), "
                             f"got {band!r}")
        if not (np.isfinite(q).all() and np.isfinite(amplitude) and np.isfinite(phase)):
            raise ValueError(f"mode {mode!r} has a number that is not finite")
        out.append((q, int(band), amplitude, phase))
    if not out:
        raise ValueError("modulations need at least one mode")
    return out


def degenerate_sets(values, cutoff: float = DEGENERACY_CUTOFF) -> list[list[int]]:
    """Groups of indices whose values chain within ``cutoff`` (phonopy's ``degenerate_sets``:
    a value joins the set of the first earlier value within ``cutoff`` of any member)."""
    values = np.asarray(values, float)
    done: set[int] = set()
    sets = []
    for i in range(len(values)):
        if i in done:
            continue
        members = [i]
        done.add(i)
        for j in range(i + 1, len(values)):
            if j not in done and (np.abs(values[members] - values[j]) < cutoff).any():
                members.append(j)
                done.add(j)
        sets.append(members)
    return sets


def lift_degeneracy(eigenvalues, eigenvectors: np.ndarray, perturbation: np.ndarray
                    ) -> np.ndarray:
    """Eigenvectors (columns) rotated inside each degenerate set of ``eigenvalues`` to
    diagonalise ``perturbation`` there, in ascending order of its eigenvalues (phonopy's
    ``lift_degeneracy``)."""
    v = np.asarray(eigenvectors, complex)
    out = np.zeros_like(v)
    for members in degenerate_sets(eigenvalues):
        block = v[:, members].conj().T @ perturbation @ v[:, members]
        out[:, members] = v[:, members] @ np.linalg.eigh(block)[1]
    return out


def _derivative_along(h: Harmonic, q: np.ndarray, delta_q) -> np.ndarray:
    """Σ_α δ_α ∂D/∂q_α / |δ| (n, n) at q: phonopy's first-order ``dD`` for ``delta_q``."""
    import jax

    from phonjax.anharmonic.velocity import dynamical_matrix_derivatives

    d = np.asarray(delta_q, float).reshape(3)
    norm = np.linalg.norm(d)
    if not np.isfinite(d).all() or norm == 0:
        raise ValueError(f"delta_q must be 3 finite numbers, not all zero, got {d.tolist()}")
    n = 3 * h.system.n_primitive
    solver = h.solver
    with jax.enable_x64(True):
        dd = np.asarray(dynamical_matrix_derivatives(
            q[None], solver.blocks, solver.phases, h.system.primitive.crystal.lattice,
            solver.nac))[0, :, :n, :n]
    return np.einsum("a,aij->ij", d, dd) / norm


def mode_displacements(supercell: Crystal, s2p: np.ndarray, dimension: np.ndarray,
                       eigenvector: np.ndarray, q, amplitude: float, phase_deg: float
                       ) -> np.ndarray:
    """(N, 3) complex Å: one mode's displacements in ``supercell`` (module docstring);
    ``s2p`` (N,): the primitive atom of each supercell atom."""
    masses = supercell.masses
    x = supercell.frac_positions @ np.asarray(dimension).T  # primitive fractional coordinates
    coefficients = np.exp(2j * np.pi * (x @ np.asarray(q, float))) / np.sqrt(masses)
    u = np.asarray(eigenvector).reshape(-1, 3)[s2p] * coefficients[:, None]
    u = u / np.sqrt(len(masses))
    flat = np.abs(u).ravel()
    k = int(np.flatnonzero(flat >= flat.max() * (1 - TIE_RELATIVE))[0])
    largest = u.ravel()[k]
    u *= np.exp(1j * np.pi * phase_deg / 180) / (largest / abs(largest)) * amplitude
    return u


def modulated_crystal(supercell: Crystal, displacements: np.ndarray) -> Crystal:
    """``supercell`` with Re ``displacements`` (N, 3) Å added, fractions wrapped into [0, 1)."""
    positions = supercell.positions + np.real(displacements)
    frac = positions @ np.linalg.inv(supercell.lattice)
    frac = frac - np.floor(frac)
    return Crystal(supercell.lattice, frac, supercell.numbers, supercell.masses)


def modulations(h: Harmonic, dimension, modes: Sequence, *, delta_q=None,
                derivative_order: int | None = None, nac_q_direction=None) -> Modulations:
    """phonopy's ``run_modulations(dimension, phonon_modes, delta_q, derivative_order,
    nac_q_direction)`` for the phonons of ``h`` (module docstring). ``modes``: a sequence of
    ``(q (3,), band_index (0-based), amplitude (Å·√AMU), phase_deg)``; ``dimension``: 3
    integers, 9, or a 3×3 integer matrix, relative to the primitive cell."""
    from phonjax.structure.supercell import build_supercell

    if derivative_order not in (None, 1):
        raise ValueError(f"derivative_order must be None or 1 (the second derivative of D is "
                         f"not available), got {derivative_order!r}")
    primitive = h.system.primitive.crystal
    n = 3 * primitive.n_atoms
    checked = _checked_modes(modes, n)
    m = dimension_matrix(dimension)
    supercell, s2p = build_supercell(primitive, m)
    freqs, vectors, us = [], [], []
    for q, band, amplitude, phase in checked:
        f, v = h.modes_at(q[None], True, q_direction=nac_q_direction)
        f, v = f[0], v[0]
        if delta_q is not None:
            eigenvalues = np.sign(f) * (f / FORCE_CONSTANT_TO_THZ) ** 2
            v = lift_degeneracy(eigenvalues, v, _derivative_along(h, q, delta_q))
        freqs.append(float(f[band]))
        vectors.append(v[:, band])
        us.append(mode_displacements(supercell, s2p, m, v[:, band], q, amplitude, phase))
    u = np.asarray(us)
    return Modulations(
        primitive, m, supercell, np.asarray([c[0] for c in checked]),
        np.asarray([c[1] for c in checked]), np.asarray([c[2] for c in checked]),
        np.asarray([c[3] for c in checked]), np.asarray(freqs), np.asarray(vectors), u,
        tuple(modulated_crystal(supercell, x) for x in u),
        modulated_crystal(supercell, u.sum(axis=0)))


# --------------------------------------------------------------------------- files


def _fixed(x: float, width: int, decimals: int) -> str:
    """``f"{x:z{width}.{decimals}f}"`` (no negative zero) on Python 3.10 too."""
    s = f"{x:{width}.{decimals}f}"
    return f"{0.0:{width}.{decimals}f}" if float(s) == 0 else s


def poscar_text(crystal: Crystal) -> str:
    """VASP 5 POSCAR as phonopy's ``write_vasp`` writes it: runs of one species as one row
    (atom order kept), lattice and direct coordinates in [0, 1) to 16 decimals."""
    symbols, counts = [], []
    for s in crystal.symbols:
        if symbols and symbols[-1] == s:
            counts[-1] += 1
        else:
            symbols.append(s)
            counts.append(1)
    lines = ["generated by phonopy", "   1.0"]
    lines += ["  " + " ".join(_fixed(x, 21, 16) for x in row) for row in crystal.lattice]
    lines += [" ".join(symbols), " ".join(f"{c:4d}" for c in counts), "Direct"]
    frac = crystal.frac_positions - np.floor(crystal.frac_positions)
    frac[frac >= 1.0] = 0.0
    lines += [" " + " ".join(_fixed(x, 19, 16) for x in row) for row in frac]
    return "\n".join(lines + [""])


def _cell_yaml(crystal: Crystal) -> list[str]:
    lattice = crystal.lattice
    lines = ["  atom_info:"]
    lines += [f"  - {{ name: {s:>2s}, mass: {m:10.5f} }}" for s, m in
              zip(crystal.symbols, crystal.masses)]
    lines.append("  reciprocal_lattice:")  # rows of inv(lattice), as phonopy labels them
    lines += ["  - [ %12.8f, %12.8f, %12.8f ] # %2s" % (*row, axis)
              for row, axis in zip(np.linalg.inv(lattice), ("a*", "b*", "c*"))]
    lines.append("  real_lattice:")
    lines += ["  - [ %20.15f, %20.15f, %20.15f ]" % tuple(row) for row in lattice]
    lines.append("  positions:")
    lines += ["  - [ %20.15f, %20.15f, %20.15f ]" % tuple(p) for p in crystal.frac_positions]
    return lines


def _mode_head(m: Modulations, i: int) -> list[str]:
    return ["- q-position: [ %12.7f, %12.7f, %12.7f ]" % tuple(m.qpoints[i]),
            "  band: %d" % (m.band_indices[i] + 1), "  amplitude: %f" % m.amplitudes[i],
            "  phase: %f" % m.phases_deg[i]]


def modulation_yaml_text(m: Modulations) -> str:
    """``modulation.yaml`` in the layout of phonopy's ``Modulation.write_yaml``."""
    lines = ["primitive_cell:"] + _cell_yaml(m.primitive)
    lines += ["supercell:", "  dimension:"]
    lines += ["  - [ %d, %d, %d ]" % tuple(row) for row in m.dimension]
    lines += _cell_yaml(m.supercell)
    inverse = np.linalg.inv(m.supercell.lattice.T)
    lines.append("modulations:")
    for i, u in enumerate(m.displacements_A):
        lines += _mode_head(m, i) + ["  displacements:"]
        for j, p in enumerate(u):
            lines += ["  - [ %20.15f, %20.15f ] # %d %s (%f)" % (p[a].real, p[a].imag, j + 1,
                                                                 "xyz"[a], abs(p[a]))
                      for a in range(3)]
        lines.append("  fractional_displacements:")
        for j, p in enumerate(u @ inverse.T):
            lines += ["  - [ %20.15f, %20.15f ] # %d %s" % (p[a].real, p[a].imag, j + 1, "abc"[a])
                      for a in range(3)]
    lines.append("phonon:")
    for i, (v, f) in enumerate(zip(m.eigenvectors, m.frequencies_THz)):
        lines += _mode_head(m, i) + ["  frequency: %15.10f" % f, "  eigenvector:"]
        for j in range(m.primitive.n_atoms):
            lines.append("  - # atom %d" % (j + 1))
            lines += ["    - [ %17.14f, %17.14f ] # %f" % (x.real, x.imag, np.angle(x, deg=True))
                      for x in v[3 * j:3 * j + 3]]
    return "\n".join(lines) + "\n"


def write_modulations(m: Modulations, folder: str | os.PathLike) -> list[Path]:
    """MPOSCAR (all modes), MPOSCAR-001, … (one mode each), MPOSCAR-orig (no modulation) and
    modulation.yaml in ``folder`` (made if missing), as phonopy's ``write_modulations`` and
    ``write_yaml_modulations``; returns the paths."""
    from phonjax.atomic_write import write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files = [(f"MPOSCAR-{i + 1:03d}", poscar_text(c)) for i, c in
             enumerate(m.modulated_supercells)]
    files += [("MPOSCAR", poscar_text(m.modulated_supercell)),
              ("MPOSCAR-orig", poscar_text(modulated_crystal(
                  m.supercell, np.zeros(m.displacements_A.shape[1:])))),
              ("modulation.yaml", modulation_yaml_text(m))]
    return [write_text(folder / name, text) for name, text in files]
