"""Phonon group velocities of a harmonic model, as phonopy 4.10's ``Phonopy`` computes them.

Group velocity
    v_ν(q) = ∂ω_ν/∂q = Re ⟨e_ν| ∂D/∂q |e_ν⟩ · c² / (2 f_ν)     THz·Å  (1 THz·Å = 100 m/s),

    D in eV/Å²/AMU, q Cartesian in Å⁻¹ without 2π, f_ν in THz, c = ``FORCE_CONSTANT_TO_THZ``;
    v = 0 where f_ν ≤ ``cutoff_frequency_THz`` (1e-4). This is phonopy's ``GroupVelocity``
    as ``Phonopy.run_qpoints / run_mesh / run_band_structure(..., with_group_velocities=True)``
    and ``get_group_velocity_at_q`` build it by default (``group_velocity_delta_q=None``):

    * ∂D/∂q analytic (``DerivativeOfDynamicalMatrix``), not a finite difference; with Born
      charges (Gonze–Lee) the short-range part plus the analytic dipole-dipole derivative.
      phonjax's ∂D/∂q is the forward-mode derivative of its own D(q)
      (``phonjax.anharmonic.velocity.dynamical_matrix_derivatives``).
    * D(q) and ∂D/∂q *without* a q → 0 direction, always: at Γ with NAC the velocity is
      that of the analytic-only D (the K = 0 dipole term dropped), even in ``run_qpoints(...,
      nac_q_direction=)`` and on a band segment through Γ, where phonopy's frequencies do
      carry the direction. Velocities come in the order of that D's own ascending modes and
      are paired index-wise with the reported frequencies, as phonopy writes them; the two
      orders can differ only at Γ with a direction, where the average below makes every
      velocity zero anyway (time reversal −1 fixes Γ).
    * Degenerate bands (chained |Δf| < ``degeneracy_tolerance_THz``, 1e-4: phonopy's
      ``degenerate_sets``): each set's eigenvectors rotated to diagonalise e†·(∂D/∂q·n̂)·e,
      n̂ the Cartesian (1, 2, 3)/√14 — or, when ``q_direction`` is given (phonopy's
      ``run_qpoints(nac_q_direction=)`` passes it as ``perturbation``), n̂ ∥ B·q_direction
      (B the reciprocal basis in columns), at every q-point, with or without NAC.
    * Little-group average (``_symmetrize_group_velocity``): v ← (1/|L|) Σ_{R∈L} B R B⁻¹ v,
      L the reciprocal operations of the *primitive cell's* point group (spglib at
      ``symprec``, transposed rotations, −R added for time reversal when inversion is absent:
      ``Symmetry.reciprocal_operations``) that fix q − rint(q) itself within ``symprec``
      (not modulo G). This is the phono3py average of ``phonjax.anharmonic.velocity``, with
      the primitive point group instead of the grid's and the tolerance taken from ``symprec``.
      phonopy always averages (its ``Phonopy`` passes the primitive symmetry); ``symmetrize=
      False`` gives ``GroupVelocity(symmetry=None)``.

Where the velocities are basis-dependent
    Inside a degenerate set whose e†·(∂D/∂q·n̂)·e is itself degenerate (high-symmetry lines,
    n̂ along a symmetry direction), the rotation is the eigensolver's free choice in phonopy
    too; single unaveraged velocities may then differ between LAPACK builds, sums over a
    degenerate set do not (see ``phonjax.anharmonic.velocity``).

Which q-points
    ``group_velocities``: any reduced q-points (``run_qpoints``); ``mesh_group_velocities``:
    the irreducible points of phonopy's mesh (``phonjax.single.dos.phonopy_mesh``, as
    ``run_mesh`` with ``is_mesh_symmetry=True``: its ``mesh.group_velocities``);
    ``band_group_velocities``: every point of a ``BandStructure``, per segment
    (``run_band_structure``'s ``group_velocities``; no band connection).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic import velocity as V
from phonjax.anharmonic.degeneracy import CUTOFF_FREQUENCY_THZ, DEGENERACY_TOLERANCE_THZ
from phonjax.anharmonic.grid import reciprocal_rotations
from phonjax.harmonic.dynamical_matrix import dynamical_matrices
from phonjax.structure.symmetry import SYMPREC, point_group_rotations
from phonjax.units import FORCE_CONSTANT_TO_THZ

if TYPE_CHECKING:  # types only
    from phonjax.pipeline.records import Harmonic

THZ_A_TO_M_S = 100.0  # 1 THz·Å = 1e12 s⁻¹ · 1e-10 m
MIN_CHUNK, MAX_CHUNK = 16, 256  # q-points per compiled call: fewer are padded up to a power
# of two (at least MIN_CHUNK), so that calls of similar size share one compiled kernel


@dataclass(frozen=True, eq=False)
class GroupVelocities:
    """Group velocities at q-points, with the frequencies phonopy reports beside them."""

    qpoints: np.ndarray  # (n_q, 3) reduced, primitive reciprocal basis
    frequencies_THz: np.ndarray  # (n_q, n_b) ascending
    velocities_THz_A: np.ndarray  # (n_q, n_b, 3) Cartesian, THz·Å

    @property
    def speeds_THz_A(self) -> np.ndarray:
        """|v| (n_q, n_b) THz·Å."""
        return np.linalg.norm(self.velocities_THz_A, axis=-1)

    @property
    def speeds_m_s(self) -> np.ndarray:
        """|v| (n_q, n_b) m/s."""
        return self.speeds_THz_A * THZ_A_TO_M_S


@dataclass(frozen=True, eq=False)
class _Model:
    blocks: object  # (n_p, n_p, n_t, 3, 3), unpadded (every band a real one)
    phases: object
    nac: object | None
    lattice: np.ndarray  # (3, 3) primitive, rows, Å
    rotations: np.ndarray  # (n_r, 3, 3) int reciprocal point group, time reversal included


def _model(h: Harmonic, symprec: float) -> _Model:
    from phonjax.execution.stages import material_blocks_jit

    tables = h.system.tables
    crystal = h.system.primitive.crystal
    with jax.enable_x64(True):
        blocks = material_blocks_jit(jnp.asarray(h.result.force_constants, jnp.float64),
                                     tables.phases, tables.nac)
    return _Model(blocks, tables.phases, tables.nac, np.asarray(crystal.lattice, float),
                  reciprocal_rotations(point_group_rotations(crystal, symprec)))


def _qpoints(qpoints_reduced) -> np.ndarray:
    q = np.asarray(qpoints_reduced, float)
    if q.ndim not in (1, 2) or q.shape[-1] != 3 or q.size == 0:
        raise ValueError(f"q-points must be (3,) or (n_q, 3) reduced coordinates, got shape "
                         f"{q.shape}")
    if not np.isfinite(q).all():
        raise ValueError("q-points must be finite")
    return q.reshape(-1, 3)


def _perturbation(model: _Model, q_direction) -> np.ndarray | None:
    """n̂ (3,) Cartesian of a reduced ``q_direction``, or None (phonopy's (1, 2, 3)/√14)."""
    if q_direction is None:
        return None
    d = np.asarray(q_direction, float)
    if d.shape != (3,) or not np.isfinite(d).all():
        raise ValueError(f"q_direction must be 3 finite numbers, got {d.tolist()}")
    cart = np.linalg.inv(model.lattice) @ d
    norm = np.linalg.norm(cart)
    if norm < 1e-12:
        raise ValueError(f"q_direction {d.tolist()} has (almost) zero length")
    return cart / norm


@partial(jax.jit, static_argnames=("tol", "cutoff"))
def _directed_kernel(qpoints, blocks, phases, lattice, nac, direction, tol, cutoff):
    """Unaveraged velocities (n_q, n_b, 3) with the degenerate sets rotated along the
    Cartesian ``direction`` n̂. ``rotated_modes`` rotates along its fixed n̂₀; it is handed
    ∂D̃_α = n̂₀_α (n̂·∂D), whose n̂₀-component is n̂·∂D, and the diagonal elements are then
    taken with the true ∂D."""
    d = dynamical_matrices(qpoints, blocks, phases, nac=nac)
    dd = V.dynamical_matrix_derivatives(qpoints, blocks, phases, lattice, nac)
    dn = jnp.einsum("a,qaij->qij", direction, dd)
    n0 = jnp.asarray(V.PERTURBATION_DIRECTION)
    f, e = V.rotated_modes(d, n0[None, :, None, None] * dn[:, None], tol)
    diag = jnp.einsum("qiv,qaij,qjv->qva", jnp.conj(e), dd, e).real
    c2 = FORCE_CONSTANT_TO_THZ ** 2
    scale = jnp.where(f > cutoff, c2 / (2.0 * jnp.where(f > cutoff, f, 1.0)), 0.0)
    return diag * scale[..., None]


def _padded_size(n: int) -> int:
    """Chunk size for n q-points: the next power of two in [MIN_CHUNK, MAX_CHUNK]."""
    return min(MAX_CHUNK, max(MIN_CHUNK, 1 << max(0, int(n - 1).bit_length())))


def _velocities(model: _Model, q: np.ndarray, direction, tol: float, cutoff: float
                ) -> np.ndarray:
    """Unaveraged velocities (n_q, n_b, 3) THz·Å, in padded chunks."""
    size = _padded_size(len(q))
    out = []
    for a in range(0, len(q), size):
        part = q[a:a + size]
        padded = np.concatenate([part, np.repeat(part[:1], size - len(part), axis=0)])
        if direction is None:
            v = V.group_velocities(padded, model.blocks, model.phases, model.lattice, None,
                                   nac=model.nac, degeneracy_tolerance=tol,
                                   cutoff_frequency=cutoff, chunk=size)
        else:
            with jax.enable_x64(True):
                v = np.asarray(_directed_kernel(
                    jnp.asarray(padded), model.blocks, model.phases,
                    jnp.asarray(model.lattice), model.nac, jnp.asarray(direction),
                    float(tol), float(cutoff)))
        out.append(v[:len(part)])
    return np.concatenate(out)


def _compute(h: Harmonic, model: _Model, q: np.ndarray, frequencies, *, q_direction,
             symmetrize: bool, symprec: float, degeneracy_tolerance_THz: float,
             cutoff_frequency_THz: float) -> GroupVelocities:
    for name, x in (("degeneracy_tolerance_THz", degeneracy_tolerance_THz),
                    ("cutoff_frequency_THz", cutoff_frequency_THz), ("symprec", symprec)):
        if not (np.isfinite(x) and x >= 0):
            raise ValueError(f"{name} must be a finite number ≥ 0, got {x!r}")
    v = _velocities(model, q, _perturbation(model, q_direction), degeneracy_tolerance_THz,
                    cutoff_frequency_THz)
    if symmetrize:
        p = V.little_group_projectors(q, model.rotations, model.lattice, tol=symprec)
        v = np.einsum("qab,qvb->qva", p, v)
    if frequencies is None:
        frequencies = h.modes_at(q, q_direction=q_direction)[0]
    return GroupVelocities(q, np.asarray(frequencies, float), np.ascontiguousarray(v))


def group_velocities(h: Harmonic, qpoints_reduced, *, q_direction=None, symmetrize: bool = True,
                     symprec: float = SYMPREC,
                     degeneracy_tolerance_THz: float = DEGENERACY_TOLERANCE_THZ,
                     cutoff_frequency_THz: float = CUTOFF_FREQUENCY_THZ) -> GroupVelocities:
    """Group velocities at reduced ``qpoints_reduced`` ((3,) or (n_q, 3)): phonopy's
    ``run_qpoints(q, nac_q_direction=q_direction, with_group_velocities=True)`` (and
    ``get_group_velocity_at_q``). Frequencies: ``h.modes_at(q, q_direction=q_direction)``;
    ``q_direction`` (3,) reduced also sets the degenerate-set perturbation direction, as in
    phonopy. ``symprec``: the primitive cell's symmetry tolerance (phonopy's ``symprec``)."""
    q = _qpoints(qpoints_reduced)
    return _compute(h, _model(h, symprec), q, None, q_direction=q_direction,
                    symmetrize=symmetrize, symprec=symprec,
                    degeneracy_tolerance_THz=degeneracy_tolerance_THz,
                    cutoff_frequency_THz=cutoff_frequency_THz)


def mesh_group_velocities(h: Harmonic, grid, *, symmetrize: bool = True,
                          symprec: float = SYMPREC,
                          degeneracy_tolerance_THz: float = DEGENERACY_TOLERANCE_THZ,
                          cutoff_frequency_THz: float = CUTOFF_FREQUENCY_THZ
                          ) -> GroupVelocities:
    """Group velocities at the irreducible points of phonopy's mesh ``grid`` (a
    ``phonjax.single.dos.MeshGrid``: ``phonopy_mesh`` or ``spectra.mesh_grid``), equal to
    ``run_mesh(mesh, with_group_velocities=True)``'s ``group_velocities``; frequencies
    without a q → 0 direction, as phonopy's mesh. Options: as ``group_velocities``."""
    return group_velocities(h, grid.qpoints, symmetrize=symmetrize, symprec=symprec,
                            degeneracy_tolerance_THz=degeneracy_tolerance_THz,
                            cutoff_frequency_THz=cutoff_frequency_THz)


def band_group_velocities(h: Harmonic, band, *, symmetrize: bool = True,
                          symprec: float = SYMPREC,
                          degeneracy_tolerance_THz: float = DEGENERACY_TOLERANCE_THZ,
                          cutoff_frequency_THz: float = CUTOFF_FREQUENCY_THZ
                          ) -> list[GroupVelocities]:
    """Group velocities along a ``phonjax.single.spectra.BandStructure``, one
    ``GroupVelocities`` per segment, equal to ``run_band_structure(paths,
    with_group_velocities=True)``'s ``group_velocities`` (no band connection); frequencies:
    the band structure's (with NAC a segment through Γ takes its direction for them; the
    velocities never do, as in phonopy). Options: as ``group_velocities``."""
    segments = [np.asarray(q, float).reshape(-1, 3) for q in band.sampling.qpoints]
    if len(segments) != len(band.frequencies_THz):
        raise ValueError("band structure has different numbers of q-point and frequency "
                         "segments")
    whole = _compute(h, _model(h, symprec), np.concatenate(segments),
                     np.concatenate(band.frequencies_THz), q_direction=None,
                     symmetrize=symmetrize, symprec=symprec,
                     degeneracy_tolerance_THz=degeneracy_tolerance_THz,
                     cutoff_frequency_THz=cutoff_frequency_THz)
    cuts = np.cumsum([len(q) for q in segments])[:-1]
    return [GroupVelocities(q, f, v) for q, f, v in
            zip(np.split(whole.qpoints, cuts), np.split(whole.frequencies_THz, cuts),
                np.split(whole.velocities_THz_A, cuts))]


def plot_group_velocities(velocities, frequencies, path: str | os.PathLike, *,
                          title: str | None = None) -> str:
    """Scatter of |v| (THz·Å, phonopy's unit; right axis m/s) against frequency (THz), one
    colour per branch index, written as PNG (Agg) to ``path``; returns the path.
    ``velocities`` (…, n_b, 3) THz·Å and ``frequencies`` (…, n_b) THz: arrays, or lists of
    arrays (band segments), or a ``GroupVelocities`` (or a list of them) with
    ``frequencies=None``."""
    from phonjax.figure_files import pyplot, save_png

    plt = pyplot()
    if frequencies is None:
        parts = velocities if isinstance(velocities, (list, tuple)) else [velocities]
        velocities = [p.velocities_THz_A for p in parts]
        frequencies = [p.frequencies_THz for p in parts]
    if isinstance(velocities, (list, tuple)):
        velocities = np.concatenate([np.asarray(v, float) for v in velocities])
        frequencies = np.concatenate([np.asarray(f, float) for f in frequencies])
    v = np.asarray(velocities, float)
    f = np.asarray(frequencies, float)
    if v.shape[-1:] != (3,) or v.shape[:-1] != f.shape or f.ndim < 1:
        raise ValueError(f"velocities (…, n_b, 3) and frequencies (…, n_b) do not fit: "
                         f"{v.shape} and {f.shape}")
    speed = np.linalg.norm(v, axis=-1).reshape(-1, f.shape[-1])
    f = f.reshape(-1, f.shape[-1])
    n_b = f.shape[-1]
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    try:
        cmap = plt.get_cmap("viridis", max(n_b, 2))
        for b in range(n_b):
            ax.scatter(f[:, b], speed[:, b], s=6, color=cmap(b), linewidths=0,
                       label=f"{b + 1}" if n_b <= 12 else None)
        ax.set_xlabel("Frequency (THz)")
        ax.set_ylabel("|group velocity| (THz·Å)")
        ax.set_ylim(bottom=0.0)
        right = ax.secondary_yaxis("right", functions=(lambda x: x * THZ_A_TO_M_S,
                                                       lambda x: x / THZ_A_TO_M_S))
        right.set_ylabel("|group velocity| (m/s)")
        if n_b <= 12:
            ax.legend(title="branch", fontsize=7, markerscale=2, ncol=2)
        else:
            sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(1, n_b))
            fig.colorbar(sm, ax=ax, pad=0.2, label="branch index")
        if title:
            ax.set_title(title)
    except BaseException:
        plt.close(fig)
        raise
    return str(save_png(fig, path, dpi=150, bbox_inches="tight"))
