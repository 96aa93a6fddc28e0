"""Thermal displacements: mean square displacements ⟨u²⟩ and their 3×3 matrices (ADPs).

phonopy's ``ThermalDisplacements`` and ``ThermalDisplacementMatrices``
(``phonopy/phonon/thermal_displacement.py``, ``Phonopy.run_thermal_displacements`` and
``run_thermal_displacement_matrices``). For atom a (mass m_a, AMU) of the primitive cell at
temperature T, over the N points q of a full mesh (no symmetry reduction: phonopy's
``run_mesh(mesh, with_eigenvectors=True, is_mesh_symmetry=False)``, which phonopy requires)
and the modes ν with ν_min < ν < ν_max:

    B_a(T)_αβ = 1/N Σ_qν Q²(ν, T) Re[e_aα(qν) e*_aβ(qν)] / m_a               (Å²)
    Q²(ν, T)  = ħ (n(ν, T) + ½) / (2π ν)                                       (ħ/(2ω)·(2n+1))

with n the Bose–Einstein occupation (0 at T = 0: the zero-point motion) and e phonopy's
eigenvectors (columns; |e_aα|² and e_aα e*_aβ do not depend on its phase convention). Units
and constants are phonopy's (``phonjax.units``: ħ from h in eV·s, eV in J, Å, AMU in kg).

* ⟨u²_aα⟩ = B_a,αα (phonopy's ``thermal_displacements``, x, y, z per atom); along a direction
  d given in reduced coordinates of the primitive lattice (phonopy's ``direction``), made
  Cartesian and unit, ⟨(u·d)²⟩ = dᵀ B_a d.
* CIF's U (``thermal_displacement_matrices_cif``): U = (AN)⁻¹ B (AN)⁻ᵀ with A the lattice
  vectors as columns and N = diag(|a*|, |b*|, |c*|) the reciprocal lengths (no 2π).

Cutoffs: ν_min defaults to 0 THz (phonopy's ``freq_min=None``; it refuses a negative one),
ν_max to none. The three acoustic modes at Γ (on odd axes the mesh holds Γ) are always left
out, phonopy's ``exclude_gamma_acoustic=True`` (phonjax's rule,
``phonjax.harmonic.thermal.GAMMA_ACOUSTIC_RULE``): they should be 0 THz, and one that round-off
puts at +1e-7 THz adds ~10⁵ Å² at 300 K in phonopy's default. The mesh is phonopy's default
(shifted by half a step on even axes, unless ``gamma_centered``), each q-point its image
nearest Γ (``phonjax.harmonic.mesh.irreducible_mesh`` without symmetry).

Eigenvectors are solved in chunks of at most ``spectra.EIGENVECTOR_CHUNK_BYTES`` (with what
the sums need beside them), never for the whole mesh at once. The files are phonopy's:
``thermal_displacements.yaml``, ``thermal_displacement_matrices.yaml`` and ``tdispmat.cif``
(P1, ``_atom_site_aniso_U_11`` …, one temperature).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phonjax.harmonic.mesh import irreducible_mesh, is_gamma
from phonjax.harmonic.thermal import gamma_acoustic_modes
from phonjax.pipeline.records import Harmonic
from phonjax.single.spectra import EIGENVECTOR_CHUNK_BYTES
from phonjax.structure.crystal import Crystal
from phonjax.units import AMU_KG, ANGSTROM_M, EV_J, KB_EV, PLANCK_EV_S, THZ_TO_EV

HBAR_EV_S = PLANCK_EV_S / (2 * np.pi)  # phonopy's Hbar
# Q²·m (Å²·AMU) = Q2_FACTOR · (n + ½) / ν_THz
Q2_FACTOR = HBAR_EV_S * EV_J / ANGSTROM_M ** 2 / (2 * np.pi * 1e12) / AMU_KG


@dataclass(frozen=True, eq=False)
class ThermalDisplacements:
    """⟨u²⟩ per atom of the primitive cell (Å²), phonopy's ``thermal_displacements``."""

    temperatures_K: np.ndarray  # (n_T,)
    msd_A2: np.ndarray  # (n_T, n_atoms, 3) along x, y, z; with a direction (n_T, n_atoms)
    primitive: Crystal
    mesh: tuple[int, int, int]
    freq_min_THz: float
    freq_max_THz: float | None
    direction: np.ndarray | None = None  # (3,) reduced, as given
    direction_cartesian: np.ndarray | None = None  # (3,) unit, Cartesian


@dataclass(frozen=True, eq=False)
class ThermalDisplacementMatrices:
    """B = ⟨u uᵀ⟩ per atom (Å², Cartesian) and CIF's U, phonopy's
    ``thermal_displacement_matrices`` and ``thermal_displacement_matrices_cif``."""

    temperatures_K: np.ndarray  # (n_T,)
    matrices_A2: np.ndarray  # (n_T, n_atoms, 3, 3) Cartesian
    matrices_cif_A2: np.ndarray  # (n_T, n_atoms, 3, 3) U_ij of CIF
    primitive: Crystal
    mesh: tuple[int, int, int]
    freq_min_THz: float
    freq_max_THz: float | None

    @property
    def u_iso_A2(self) -> np.ndarray:
        """(n_T, n_atoms) U_iso = U_eq = trace(B)/3."""
        return np.trace(self.matrices_A2, axis1=-2, axis2=-1) / 3.0


def thermal_displacements(h: Harmonic, mesh, temperatures_K, *, freq_min_THz: float = 0.0,
                          freq_max_THz: float | None = None, direction=None, plan=None,
                          gamma_centered: bool = False) -> ThermalDisplacements:
    """⟨u²⟩ per atom at ``temperatures_K`` on the full ``mesh`` (one or three integers), as
    phonopy's ``run_thermal_displacements(temperatures, direction=, freq_min=, freq_max=,
    exclude_gamma_acoustic=True)`` after ``run_mesh(mesh, with_eigenvectors=True,
    is_mesh_symmetry=False)``. ``direction`` (3,) in reduced coordinates of the primitive
    lattice: ⟨u²⟩ along it; ``plan``: a ``phonjax.Plan`` to solve with (default ``h.plan``)."""
    _direction_cartesian(h.system.primitive.crystal, direction)  # bad input before the mesh
    matrices = thermal_displacement_matrices(h, mesh, temperatures_K, freq_min_THz=freq_min_THz,
                                             freq_max_THz=freq_max_THz, plan=plan,
                                             gamma_centered=gamma_centered)
    return displacements_of(matrices, direction)


def _direction_cartesian(crystal: Crystal, direction) -> np.ndarray | None:
    """The unit Cartesian vector of a reduced ``direction`` (None: None); one-line errors."""
    if direction is None:
        return None
    direction = np.asarray(direction, float)
    if direction.shape != (3,) or not np.isfinite(direction).all():
        raise ValueError(f"direction must be 3 finite numbers, got {direction.tolist()}")
    d_cart = direction @ np.asarray(crystal.lattice)
    if np.linalg.norm(d_cart) < 1e-12:
        raise ValueError(f"direction {direction.tolist()} has zero length")
    return d_cart / np.linalg.norm(d_cart)


def displacements_of(matrices: ThermalDisplacementMatrices, direction=None
                     ) -> ThermalDisplacements:
    """⟨u²⟩ from the matrices B = ⟨u uᵀ⟩ (one pass over the mesh serves both): B's diagonal,
    or dᵀ B d along ``direction`` (3,) reduced (phonopy's projection)."""
    d_cart = _direction_cartesian(matrices.primitive, direction)
    b = matrices.matrices_A2
    if d_cart is None:
        msd = np.diagonal(b, axis1=-2, axis2=-1).copy()  # (n_T, n_atoms, 3)
    else:
        msd = np.einsum("i,taij,j->ta", d_cart, b, d_cart)
    return ThermalDisplacements(matrices.temperatures_K, msd, matrices.primitive, matrices.mesh,
                                matrices.freq_min_THz, matrices.freq_max_THz,
                                None if direction is None else np.asarray(direction, float),
                                d_cart)


def thermal_displacement_matrices(h: Harmonic, mesh, temperatures_K, *,
                                  freq_min_THz: float = 0.0, freq_max_THz: float | None = None,
                                  plan=None, gamma_centered: bool = False
                                  ) -> ThermalDisplacementMatrices:
    """B = ⟨u uᵀ⟩ per atom (Cartesian) and CIF's U at ``temperatures_K`` on the full ``mesh``,
    as phonopy's ``run_thermal_displacement_matrices(temperatures, freq_min=, freq_max=,
    exclude_gamma_acoustic=True)`` after ``run_mesh(mesh, with_eigenvectors=True,
    is_mesh_symmetry=False)``."""
    t, b, grid_mesh, fmin, fmax = _matrix_sums(h, mesh, temperatures_K, freq_min_THz,
                                               freq_max_THz, plan, gamma_centered)
    primitive = h.system.primitive.crystal
    return ThermalDisplacementMatrices(t, b, cif_matrices(b, primitive.lattice), primitive,
                                       grid_mesh, fmin, fmax)


def cif_matrices(matrices_A2, lattice) -> np.ndarray:
    """CIF's U_ij of Cartesian matrices (…, 3, 3): (AN)⁻¹ B (AN)⁻ᵀ, A = ``lattice`` rows as
    columns, N = diag of the reciprocal lengths |a*|, |b*|, |c*| (no 2π)."""
    a = np.asarray(lattice, float).T
    n = np.diag(np.linalg.norm(np.linalg.inv(a), axis=1))
    an_inv = np.linalg.inv(a @ n)
    return np.einsum("ij,...jk,lk->...il", an_inv, np.asarray(matrices_A2, float), an_inv)


def _matrix_sums(h: Harmonic, mesh, temperatures_K, freq_min_THz, freq_max_THz, plan,
                 gamma_centered: bool):
    """(temperatures, B (n_T, n_atoms, 3, 3) Å², mesh, ν_min, ν_max) of the module's sum."""
    from phonjax.options import mesh_numbers

    t = np.asarray(temperatures_K, float).reshape(-1)
    if t.size == 0 or not np.isfinite(t).all() or (t < 0).any():
        raise ValueError(f"temperatures_K must be finite numbers ≥ 0, got {t.tolist()}")
    fmin = float(freq_min_THz)
    if not (np.isfinite(fmin) and fmin >= 0):
        raise ValueError(f"freq_min_THz must be finite and ≥ 0 (thermal displacements are "
                         f"defined for positive frequencies), got {freq_min_THz}")
    fmax = None if freq_max_THz is None else float(freq_max_THz)
    if fmax is not None and not (fmax > fmin):
        raise ValueError(f"freq_max_THz must be larger than freq_min_THz, got {freq_max_THz}")
    mesh = mesh_numbers("mesh", mesh)
    primitive = h.system.primitive.crystal
    grid = irreducible_mesh(mesh, None, gamma_centered=gamma_centered, lattice=primitive.lattice)
    solver = h.solver
    if plan is not None and plan != h.plan:
        from phonjax.execution.modes import ModeSolver

        solver = ModeSolver.build(h.system.tables, h.result.force_constants, plan)
    budget = min(EIGENVECTOR_CHUNK_BYTES, (plan or h.plan).memory_bytes)
    n_atoms = primitive.n_atoms
    n_modes = 3 * n_atoms
    # per q-point: complex eigenvectors, their real outer products per atom, Q² per T
    per_q = 16 * n_modes ** 2 + 8 * n_modes * 9 * n_atoms + 8 * len(t) * n_modes
    chunk = max(1, int(budget // per_q))
    if chunk >= solver.q_chunk:
        chunk -= chunk % solver.q_chunk  # whole solver chunks: no padded q-points solved
    hot = t > 0
    kt = KB_EV * np.where(hot, t, 1.0)[:, None, None]
    b = np.zeros((len(t), n_atoms * 9))
    for start in range(0, len(grid.qpoints), chunk):
        q = grid.qpoints[start:start + chunk]
        f, e = solver.at(q, True)
        valid = (f > fmin) & ~gamma_acoustic_modes(f, is_gamma(q))
        if fmax is not None:
            valid &= f < fmax
        f_safe = np.where(valid, f, 1.0)
        x = f_safe[None] * THZ_TO_EV / kt  # (n_T, n_c, n_modes)
        occupation = np.where(hot[:, None, None], np.exp(-x) / -np.expm1(-x), 0.0)
        q2 = np.where(valid[None], Q2_FACTOR * (occupation + 0.5) / f_safe[None], 0.0)
        er = e.reshape(len(q), n_atoms, 3, n_modes)
        outer = (np.einsum("qaiv,qajv->qvaij", er.real, er.real)
                 + np.einsum("qaiv,qajv->qvaij", er.imag, er.imag))
        b += q2.reshape(len(t), -1) @ outer.reshape(len(q) * n_modes, n_atoms * 9)
    b = b.reshape(len(t), n_atoms, 3, 3) / len(grid.qpoints)
    b /= np.asarray(primitive.masses, float)[None, :, None, None]
    return t.copy(), b, grid.mesh, fmin, fmax


# --- phonopy's files --------------------------------------------------------------------------

def write_thermal_displacements_yaml(td: ThermalDisplacements,
                                     path: str | os.PathLike = "thermal_displacements.yaml"
                                     ) -> Path:
    """phonopy's ``thermal_displacements.yaml`` (``ThermalDisplacements.write_yaml``)."""
    from phonjax.atomic_write import write_text

    n = td.primitive.n_atoms
    lines = ["# Thermal displacements", "natom: %5d" % n, "freq_min: %f" % td.freq_min_THz,
             "thermal_displacements:"]
    for t, u in zip(td.temperatures_K, td.msd_A2):
        lines += ["- temperature:   %15.7f" % t, "  displacements:"]
        for i, row in enumerate(np.reshape(u, (n, -1))):
            lines.append("  - [ " + ", ".join("%10.7f" % x for x in row) + " ] # atom %d" % (i + 1))
    return write_text(path, "\n".join(lines))


def _six(m) -> str:
    """Voigt order of CIF and phonopy's yaml: 11, 22, 33, 23, 13, 12."""
    return "%8.5f, %8.5f, %8.5f, %8.5f, %8.5f, %8.5f" % (
        m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1])


def write_thermal_displacement_matrices_yaml(
        tdm: ThermalDisplacementMatrices,
        path: str | os.PathLike = "thermal_displacement_matrices.yaml") -> Path:
    """phonopy's ``thermal_displacement_matrices.yaml`` (``ThermalDisplacementMatrices.
    write_yaml``): per temperature the Cartesian and CIF matrices as [11, 22, 33, 23, 13, 12]."""
    from phonjax.atomic_write import write_text

    lines = ["# Thermal displacement_matrices", "natom: %5d" % tdm.primitive.n_atoms,
             "freq_min: %f" % tdm.freq_min_THz, "thermal_displacement_matrices:"]
    for t, mats, mats_cif in zip(tdm.temperatures_K, tdm.matrices_A2, tdm.matrices_cif_A2):
        lines += ["- temperature:   %15.7f" % t, "  displacement_matrices:"]
        lines += ["  - [ %s ] # atom %d" % (_six(m), j + 1) for j, m in enumerate(mats)]
        lines.append("  displacement_matrices_cif:")
        lines += ["  - [ %s ] # atom %d" % (_six(m), j + 1) for j, m in enumerate(mats_cif)]
    return write_text(path, "\n".join(lines))


def adp_cif_text(crystal: Crystal, u_cif_A2) -> str:
    """phonopy's P1 CIF (``interface.cif.get_cif_P1``) of ``crystal`` with its anisotropic
    U_ij (n_atoms, 3, 3) in CIF's convention."""
    lattice = np.asarray(crystal.lattice, float)
    lengths = np.sqrt(np.diag(lattice @ lattice.T))

    def angle(i, j, k):
        return np.degrees(np.arccos(np.vdot(lattice[i], lattice[j]) / lengths[i] / lengths[j]))

    cell = (*lengths, angle(1, 2, 0), angle(2, 0, 1), angle(0, 1, 2), np.linalg.det(lattice))
    names = ("length_a", "length_b", "length_c", "angle_alpha", "angle_beta", "angle_gamma",
             "volume")
    out = ["data_crystal_structure_P1", "", "_symmetry_space_group_name_H-M     'P 1'",
           "_symmetry_Int_Tables_number        1", ""]
    out += ["%-35s%.5f" % (f"_cell_{name}", value) for name, value in zip(names, cell)]
    out += ["_cell_formula_units_Z              1", "", "loop_",
            "_space_group_symop_operation_xyz", "x,y,z", "", "loop_", "_atom_site_label",
            "_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y",
            "_atom_site_fract_z", "_atom_site_occupancy"]
    labels, seen = [], {}
    for s in crystal.symbols:
        seen[s] = seen.get(s, 0) + 1
        labels.append(f"{s}{seen[s]}")
    for label, s, p in zip(labels, crystal.symbols, np.asarray(crystal.frac_positions)):
        out.append("%-7s%2s %10.5f%10.5f%10.5f   1.00000" % (label, s, *p))
    out += ["loop_", "_atom_site_aniso_label"] + [
        f"_atom_site_aniso_U_{ij}" for ij in ("11", "22", "33", "23", "13", "12")]
    for label, m in zip(labels, np.asarray(u_cif_A2, float)):
        out.append("%6s %10.5f %10.5f %10.5f %10.5f %10.5f %10.5f"
                   % (label, m[0, 0], m[1, 1], m[2, 2], m[1, 2], m[0, 2], m[0, 1]))
    return "\n".join(out) + "\n"


def write_adp_cif(tdm: ThermalDisplacementMatrices, path: str | os.PathLike = "tdispmat.cif",
                  temperature_K: float | None = None) -> Path:
    """phonopy's ``tdispmat.cif`` (``write_thermal_displacement_matrix_to_cif``): the primitive
    cell in P1 with CIF's U_ij at ``temperature_K``, one of ``tdm.temperatures_K`` (None:
    the only one)."""
    from phonjax.atomic_write import write_text

    temps = np.asarray(tdm.temperatures_K, float)
    if temperature_K is None:
        if len(temps) != 1:
            raise ValueError(f"temperature_K must be one of {temps.tolist()} K")
        index = 0
    else:
        match = np.flatnonzero(np.abs(temps - float(temperature_K)) <= 1e-9)
        if not len(match):
            raise ValueError(f"temperature_K {temperature_K} is not one of {temps.tolist()} K")
        index = int(match[0])
    return write_text(path, adp_cif_text(tdm.primitive, tdm.matrices_cif_A2[index]))


# --- plot ------------------------------------------------------------------------------------

def plot_thermal_displacements(td: ThermalDisplacements | ThermalDisplacementMatrices,
                               path: str | os.PathLike = "thermal_displacements.png") -> Path:
    """PNG of ⟨u²⟩ per atom vs T (x, y, z as solid, dashed, dotted lines; one line per atom
    with a direction), or of U_iso per atom for ``ThermalDisplacementMatrices``. Agg backend,
    written atomically; returns the path."""
    from phonjax.figure_files import pyplot, save_png

    plt = pyplot()
    labels, seen = [], {}
    for s in td.primitive.symbols:
        seen[s] = seen.get(s, 0) + 1
        labels.append(f"{s}{seen[s]}")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    t = td.temperatures_K
    if isinstance(td, ThermalDisplacementMatrices):
        for i, label in enumerate(labels):
            ax.plot(t, td.u_iso_A2[:, i], color=colors[i % len(colors)], label=label)
        ax.set_ylabel(r"$U_\mathrm{iso}$ (Å$^2$)")
    elif td.msd_A2.ndim == 2:
        for i, label in enumerate(labels):
            ax.plot(t, td.msd_A2[:, i], color=colors[i % len(colors)], label=label)
        d = td.direction_cartesian
        ax.set_ylabel(r"$\langle (u\cdot d)^2\rangle$ (Å$^2$), d = [%.3f %.3f %.3f]" % tuple(d))
    else:
        for i, label in enumerate(labels):
            for k, (axis, style) in enumerate(zip("xyz", ("-", "--", ":"))):
                ax.plot(t, td.msd_A2[:, i, k], color=colors[i % len(colors)], ls=style,
                        label=f"{label} {axis}")
        ax.set_ylabel(r"$\langle u^2\rangle$ (Å$^2$)")
    ax.set_xlabel("Temperature (K)")
    ax.set_xlim(float(t.min()), float(t.max()) if t.max() > t.min() else float(t.min()) + 1)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, ncol=3 if len(ax.lines) > 12 else 1, frameon=False)
    ax.set_title("×".join(map(str, td.mesh)) + " mesh", fontsize=9)
    return save_png(fig, path, bbox_inches="tight", dpi=150)
