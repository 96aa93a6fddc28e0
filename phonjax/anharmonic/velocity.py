"""Phonon group velocities and velocity matrices, as phono3py 4.10 uses them for κ.

Group velocity (phonopy's ``GroupVelocity``, analytic derivative)
    v_ν = ∂ω_ν/∂q = ⟨e_ν| ∂D/∂q |e_ν⟩ / (2 ω_ν): in phonopy's units

        v_να = Re ⟨e_ν| ∂D/∂q_α |e_ν⟩ · c² / (2 f_ν)     THz·Å  (= 100 m/s),

    with D in eV/Å²/AMU, q Cartesian in Å⁻¹ *without* 2π, f in THz and
    c = ``FORCE_CONSTANT_TO_THZ`` (15.6333…, √(eV/Å²/AMU) → THz). v = 0 where
    f ≤ ``cutoff_frequency`` (1e-4 THz).

∂D/∂q (``dynamical_matrix_derivatives``)
    The derivative of the harmonic kernel's D(q) (``phonjax.harmonic.dynamical_matrix``,
    Hermitized, with its non-analytical correction) by forward-mode AD: D is a pure
    ``jnp`` function of reduced q, and with q_red = A·q_cart (A: lattice vectors in rows,
    Å) the Cartesian derivative is ∂D/∂q_cart,α = Σ_i A_iα ∂D/∂q_red,i, one JVP along
    each column of A. This is phonopy's ``DerivativeOfDynamicalMatrix`` (real-space sum
    of 2πi·r·Φ·e^{2πiq·r}), and with Gonze–Lee NAC the derivative of the short-range D
    plus the analytic derivative of the dipole-dipole Ewald sum (only K = q + G is
    differentiated; a K = 0 term is dropped, as in D, when no direction is given).
    Shape (n_q, 3, n_b, n_b) complex, eV/Å²/AMU·Å.

Degenerate modes
    Eigenvectors inside a degenerate set are not unique, and neither is ⟨e|∂D/∂q_α|e⟩.
    As phonopy: bands are sets by chained |Δf| < ``degeneracy_tolerance`` (1e-4 THz:
    a band starts a new set when f_b − f_{b−1} ≥ tol, frequencies ascending), and inside
    each set the eigenvectors are rotated to diagonalise e†·(∂D/∂q·n̂)·e along the fixed
    Cartesian direction n̂ = (1, 2, 3)/√14 (degenerate perturbation theory along n̂), in
    ascending order of its eigenvalues. Batched: that block-diagonal matrix, with its
    sets shifted apart on the diagonal, goes through one ``eigh`` per q-point.

Little-group average (phonopy's ``_symmetrize_group_velocity``)
    v ← (1/|L|) Σ_{R∈L} R_cart·v over the little group L of q: the reciprocal point-group
    operations (q′ = R·q, reduced; time reversal included as −R) that fix q − rint(q)
    itself within 1e-5 — not merely modulo a reciprocal lattice vector —, with
    R_cart = B·R·B⁻¹ and B the reciprocal lattice (columns, inv(A)). As a projector
    P(q) = mean of R_cart (``little_group_projectors``): v ← P·v.

Star sum (phono3py's ``gv_by_gv``)
    gv_by_gv = (1/m) Σ_{R ∈ G} (R_cart v)(R_cart v)ᵀ over all reciprocal operations G,
    with m the size of the little group of the grid point modulo the mesh (the number of
    operations mapping it onto itself): the sum over the star of q. Voigt order xx, yy,
    zz, yz, xz, xy; (THz·Å)².

Velocity matrix (phono3py's ``VelocityMatrix``, for ``SMM19`` and the other Wigner /
inter-band variants)
    V_α,ss′ = c² · ⟨e_s| ∂D/∂q_α |e_s′⟩ / (2 √(f_s f_s′)), with the same degenerate
    rotation, rows and columns of modes with f ≤ cutoff zero, made Hermitian as
    (V + V†)/2. Shape (n_q, 3, n_b, n_b) complex, THz·Å. Its diagonal is Re⟨e|∂D|e⟩·c²/2f,
    the group velocity before the average; phono3py then overwrites that diagonal with
    the little-group-averaged P·Re diag V (``VelocityMatrix.run`` writes the averaged
    velocities into a NumPy view of it), and so does ``velocity_matrices`` when given the
    rotations: only the off-diagonal elements stay unsymmetrized. The diagonal of
    ``vm_by_vm`` is then exactly ``gv_by_gv``. The star product ``vm_by_vm``:
    (1/m) Σ_{R∈G} (R V)_α,ss′ · conj((R V)_β,ss′), (n_q, n_b, n_b, 6) complex.

Which phonons
    phono3py re-solves D(q) with its own ``eigh`` at the BZ-image q of the grid point
    (``BZGrid.addresses[bz] / mesh``), independently of the grid phonons, and so do these
    functions (XLA's ``eigh``; the grid phonons are not reused). The results depend only on
    the degenerate subspaces, not on the eigensolver's basis inside them — except where
    e†·(∂D/∂q·n̂)·e is itself degenerate inside a set (high-symmetry lines): there the
    rotation stays the eigensolver's free choice, in phono3py too, and single elements
    V_ss′ (and unsymmetrized v) differ between LAPACK builds; sums over pairs of
    degenerate sets, and the averaged v, do not. At Γ no NAC direction is used (D is the
    analytic part only) and the grid phonons' Γ acoustic rule does not apply.

Star sums are evaluated as Σ_cd S[k, c, d] x_c y_d with S[k] = Σ_R R_ac R_bd
(``star_tensor``): no (n_q, n_R, …) intermediate.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.anharmonic.degeneracy import (CUTOFF_FREQUENCY_THZ, DEGENERACY_TOLERANCE_THZ,
                                           degenerate_labels, same_set)
from phonjax.anharmonic.grid import BZGrid, little_group
from phonjax.harmonic.dynamical_matrix import dynamical_matrices, eigenvalues_to_thz
from phonjax.harmonic.tables import NACTables, PhaseTables
from phonjax.units import FORCE_CONSTANT_TO_THZ

LITTLE_GROUP_TOLERANCE = 1e-5  # symprec: |q − R q| in reduced coordinates
PERTURBATION_DIRECTION = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)  # Cartesian n̂
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))


# --------------------------------------------------------------------------- ∂D/∂q


def _with_derivatives(qpoints, blocks, phases, lattice, nac):
    """(D (n_q, n_b, n_b), ∂D/∂q_cart (n_q, 3, n_b, n_b)): one linearization, three JVPs."""
    q = jnp.asarray(qpoints, jnp.float64)
    lattice = jnp.asarray(lattice, jnp.float64)
    d, jvp = jax.linearize(lambda x: dynamical_matrices(x, blocks, phases, nac=nac), q)
    tangents = jnp.broadcast_to(lattice.T[:, None, :], (3,) + q.shape)  # row α: A[:, α]
    return d, jnp.swapaxes(jax.vmap(jvp)(tangents), 0, 1)


@jax.jit
def dynamical_matrix_derivatives(qpoints, blocks, phases: PhaseTables, lattice,
                                 nac: NACTables | None = None):
    """∂D/∂q_cart (n_q, 3, n_b, n_b) complex, eV/Å²/AMU·Å, at reduced ``qpoints`` (n_q, 3).

    ``blocks``/``phases``/``nac``: as ``dynamical_matrices`` takes them (short-range blocks
    with Gonze–Lee NAC); ``lattice`` (3, 3) primitive lattice vectors in rows, Å.
    """
    return _with_derivatives(qpoints, blocks, phases, lattice, nac)[1]


# --------------------------------------------------------------------------- modes


def _hermitian(m):
    return 0.5 * (m + jnp.conj(jnp.swapaxes(m, -1, -2)))


def rotated_modes(d, dd, tol: float = DEGENERACY_TOLERANCE_THZ,
                  factor: float = FORCE_CONSTANT_TO_THZ):
    """(frequencies (n_q, n_b) THz, eigenvectors (n_q, n_b, n_b) columns) of D (n_q, n_b, n_b),
    the eigenvectors of each degenerate set rotated to diagonalise e†·(∂D/∂q·n̂)·e, in
    ascending order of its eigenvalues (phonopy's ``_perturb_D``); ``dd`` (n_q, 3, n_b, n_b)."""
    w, e = jnp.linalg.eigh(d)
    f = eigenvalues_to_thz(w, factor)
    label = degenerate_labels(f, tol)
    same = same_set(label)
    dn = jnp.einsum("a,qaij->qij", jnp.asarray(PERTURBATION_DIRECTION), dd)
    m = _hermitian(jnp.where(same, jnp.conj(jnp.swapaxes(e, 1, 2)) @ dn @ e, 0.0))
    # The sets' spectra lie inside ±‖m‖_F: shifting set k by k·s with s > 2‖m‖_F keeps
    # them apart and in band order, so one eigh returns each set's rotation in place.
    s = 3.0 * jnp.sqrt((jnp.abs(m) ** 2).sum(axis=(1, 2))) + 1.0
    shift = label.astype(jnp.float64) * s[:, None]
    _, u = jnp.linalg.eigh(m + jax.vmap(jnp.diag)(shift))
    u = jnp.where(same, u, 0.0)  # exactly block-diagonal (rounding leaks ~1e-16)
    return f, e @ u


def _diagonal_elements(e, dd):
    """Re ⟨e_ν| ∂D/∂q_α |e_ν⟩: (n_q, n_b, 3)."""
    return jnp.einsum("qiv,qaij,qjv->qva", jnp.conj(e), dd, e).real


@partial(jax.jit, static_argnames=("tol", "cutoff"))
def _velocity_kernel(qpoints, blocks, phases, lattice, nac, projectors, tol, cutoff):
    d, dd = _with_derivatives(qpoints, blocks, phases, lattice, nac)
    f, e = rotated_modes(d, dd, tol)
    c2 = FORCE_CONSTANT_TO_THZ ** 2
    scale = jnp.where(f > cutoff, c2 / (2.0 * jnp.where(f > cutoff, f, 1.0)), 0.0)
    v = _diagonal_elements(e, dd) * scale[..., None]
    return jnp.einsum("qab,qvb->qva", projectors, v)


@partial(jax.jit, static_argnames=("tol", "cutoff"))
def _velocity_matrix_kernel(qpoints, blocks, phases, lattice, nac, projectors, tol, cutoff):
    d, dd = _with_derivatives(qpoints, blocks, phases, lattice, nac)
    f, e = rotated_modes(d, dd, tol)
    scale = jnp.where(f > cutoff, 1.0 / jnp.sqrt(2.0 * jnp.where(f > cutoff, f, 1.0)), 0.0)
    es = e * scale[:, None, :]
    vm = _hermitian(jnp.einsum("qiv,qaij,qjw->qavw", jnp.conj(es), dd, es))
    vm = vm * FORCE_CONSTANT_TO_THZ ** 2
    diag = jnp.einsum("qab,qbvv->qav", projectors, vm.real)  # P·Re diag: (n_q, 3, n_b)
    eye = jnp.eye(vm.shape[-1], dtype=bool)
    return jnp.where(eye, diag[..., None].astype(vm.dtype), vm)


# --------------------------------------------------------------------------- symmetry


def cartesian_rotations(reciprocal_rotations, lattice) -> np.ndarray:
    """(n_r, 3, 3) Cartesian B·R·B⁻¹ of reciprocal operations R (reduced, q′ = R·q),
    B = inv(lattice) (reciprocal vectors in columns): phonopy's ``rotations_cartesian``."""
    b = np.linalg.inv(np.asarray(lattice, float))
    r = np.asarray(reciprocal_rotations, float)
    return b @ r @ np.linalg.inv(b)


def reciprocal_operations(grid: BZGrid) -> np.ndarray:
    """(n_r, 3, 3) int reciprocal operations R (q′ = R·q, reduced) of a grid's rotations on
    addresses (D·R·D⁻¹ for the diagonal mesh D)."""
    d = grid.mesh
    return (grid.rotations * d[None, None, :]) // d[None, :, None]


def little_group_projectors(qpoints, reciprocal_rotations, lattice,
                            tol: float = LITTLE_GROUP_TOLERANCE) -> np.ndarray:
    """(n_q, 3, 3) mean of R_cart over the little group of each q: the operations that fix
    q − rint(q) within ``tol`` (reduced), as phonopy's ``_symmetrize_group_velocity``."""
    q = np.asarray(qpoints, float).reshape(-1, 3)
    q = q - np.rint(q)
    r = np.asarray(reciprocal_rotations, float)
    fixed = (np.abs(q[:, None, :] - np.einsum("rij,qj->qri", r, q)) < tol).all(axis=-1)
    r_cart = cartesian_rotations(reciprocal_rotations, lattice)
    return np.einsum("qr,rab->qab", fixed, r_cart) / fixed.sum(axis=1)[:, None, None]


def little_group_sizes(grid: BZGrid, bz_points) -> np.ndarray:
    """(n_q,) int: grid rotations that map each BZ point onto itself modulo the mesh (the
    multiplicity phono3py divides the star sums by)."""
    gr = grid.gr_addresses[grid.bzg2grg[np.asarray(bz_points, np.int64).reshape(-1)]]
    return np.array([len(little_group(grid.rotations, a, grid.mesh)) for a in gr], np.int64)


# --------------------------------------------------------------------------- public


def _chunks(n: int, chunk: int):
    for start in range(0, n, chunk):
        yield start, min(start + chunk, n)


def _padded(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` with its first axis padded to ``size`` by repeating its first entry (one
    compiled shape per chunk size; padded rows are dropped)."""
    if len(x) == size:
        return x
    return np.concatenate([x, np.repeat(x[:1], size - len(x), axis=0)])


def _projectors(qpoints: np.ndarray, reciprocal_rotations, lattice) -> np.ndarray:
    if reciprocal_rotations is None:
        return np.tile(np.eye(3), (len(qpoints), 1, 1))
    return little_group_projectors(qpoints, reciprocal_rotations, lattice)


def _in_chunks(kernel, shape, qpoints, blocks, phases, lattice, reciprocal_rotations, nac,
               degeneracy_tolerance, cutoff_frequency, chunk, dtype=float) -> np.ndarray:
    """``kernel`` (``_velocity_kernel`` or ``_velocity_matrix_kernel``) over ``qpoints`` in
    chunks of one padded size; (n_q, *shape) on the host."""
    q = np.asarray(qpoints, float).reshape(-1, 3)
    if len(q) == 0:
        return np.zeros((0,) + shape, dtype)
    proj = _projectors(q, reciprocal_rotations, lattice)
    out = []
    with jax.enable_x64(True):
        size = max(1, min(chunk, len(q)))
        for a, b in _chunks(len(q), size):
            x = kernel(jnp.asarray(_padded(q[a:b], size)), blocks, phases,
                       jnp.asarray(lattice, jnp.float64), nac,
                       jnp.asarray(_padded(proj[a:b], size)),
                       float(degeneracy_tolerance), float(cutoff_frequency))
            out.append(np.asarray(x)[:b - a])
    return np.concatenate(out)


def group_velocities(qpoints, blocks, phases: PhaseTables, lattice, reciprocal_rotations=None,
                     nac: NACTables | None = None,
                     degeneracy_tolerance: float = DEGENERACY_TOLERANCE_THZ,
                     cutoff_frequency: float = CUTOFF_FREQUENCY_THZ,
                     chunk: int = 256) -> np.ndarray:
    """Group velocities (n_q, n_b, 3) THz·Å at reduced ``qpoints`` (n_q, 3).

    ``reciprocal_rotations`` (n_r, 3, 3) int: the reciprocal point group (q′ = R·q,
    time reversal included) for the little-group average, or None (no average).
    ``lattice``: primitive lattice vectors in rows, Å. See the module docstring.
    """
    n_b = 3 * blocks.shape[0]
    return _in_chunks(_velocity_kernel, (n_b, 3), qpoints, blocks, phases, lattice,
                      reciprocal_rotations, nac, degeneracy_tolerance, cutoff_frequency, chunk)


def velocity_matrices(qpoints, blocks, phases: PhaseTables, lattice, reciprocal_rotations=None,
                      nac: NACTables | None = None,
                      degeneracy_tolerance: float = DEGENERACY_TOLERANCE_THZ,
                      cutoff_frequency: float = CUTOFF_FREQUENCY_THZ,
                      chunk: int = 256) -> np.ndarray:
    """Velocity matrices V (n_q, 3, n_b, n_b) complex THz·Å at reduced ``qpoints`` (n_q, 3).

    As phono3py 4.10's ``VelocityMatrix.velocity_matrices`` after ``run``: with
    ``reciprocal_rotations`` (as ``group_velocities``) the diagonal V_α,ss is the
    little-group-averaged group velocity P·Re diag V (phono3py writes it there through
    a NumPy view), the off-diagonal elements are not symmetrized; None: the plain V.
    """
    n_b = 3 * blocks.shape[0]
    return _in_chunks(_velocity_matrix_kernel, (3, n_b, n_b), qpoints, blocks, phases, lattice,
                      reciprocal_rotations, nac, degeneracy_tolerance, cutoff_frequency, chunk,
                      complex)


def star_tensor(rotations_cartesian) -> np.ndarray:
    """(6, 3, 3) S[k, c, d] = Σ_R R_ac R_bd for the Voigt pairs k = (a, b): the star sum
    Σ_R (R x)_a (R y)_b = Σ_cd S[k, c, d] x_c y_d."""
    r = np.asarray(rotations_cartesian, float)
    return np.stack([np.einsum("rc,rd->cd", r[:, a], r[:, b]) for a, b in VOIGT_PAIRS])


def gv_by_gv(velocities, rotations_cartesian, little_group_sizes_) -> np.ndarray:
    """(n_q, n_b, 6) (THz·Å)²: (1/m) Σ_R (R v)(R v)ᵀ over ``rotations_cartesian``
    (n_r, 3, 3), Voigt xx, yy, zz, yz, xz, xy; ``little_group_sizes_`` (n_q,) m."""
    v = np.asarray(velocities, float)
    out = np.einsum("kcd,qvc,qvd->qvk", star_tensor(rotations_cartesian), v, v)
    return out / np.asarray(little_group_sizes_, float)[:, None, None]


def vm_by_vm(velocity_matrices_, rotations_cartesian, little_group_sizes_) -> np.ndarray:
    """(n_q, n_b, n_b, 6) complex: (1/m) Σ_R (R V)_α,ss′ conj((R V)_β,ss′), Voigt pairs
    (α, β) as ``gv_by_gv`` (phono3py's ``VelocityMatrixSolver`` vm_by_vm)."""
    vm = np.asarray(velocity_matrices_)
    star = star_tensor(rotations_cartesian)
    out = np.zeros(vm.shape[:1] + vm.shape[2:] + (6,), complex)
    for c in range(3):
        for d in range(3):
            out += (vm[:, c] * np.conj(vm[:, d]))[..., None] * star[:, c, d]
    return out / np.asarray(little_group_sizes_, float)[:, None, None, None]


def group_velocities_on_grid(grid: BZGrid, bz_points, blocks, phases: PhaseTables, lattice,
                             nac: NACTables | None = None, **options) -> np.ndarray:
    """Group velocities (n, n_b, 3) THz·Å at BZ points of ``grid`` (e.g. the irreducible
    ``IrGridPoints.bz_points``), little-group averaged with the grid's operations."""
    bz = np.asarray(bz_points, np.int64).reshape(-1)
    return group_velocities(grid.qpoints[bz], blocks, phases, lattice,
                            reciprocal_operations(grid), nac=nac, **options)


def velocity_matrices_on_grid(grid: BZGrid, bz_points, blocks, phases: PhaseTables, lattice,
                              nac: NACTables | None = None, **options) -> np.ndarray:
    """``velocity_matrices`` (n, 3, n_b, n_b) at BZ points of ``grid``, the diagonal
    little-group averaged with the grid's operations (phono3py's smm19 input)."""
    bz = np.asarray(bz_points, np.int64).reshape(-1)
    return velocity_matrices(grid.qpoints[bz], blocks, phases, lattice,
                             reciprocal_operations(grid), nac=nac, **options)


def gv_by_gv_on_grid(grid: BZGrid, bz_points, velocities, lattice) -> np.ndarray:
    """``gv_by_gv`` (n, n_b, 6) of velocities at BZ points of ``grid`` (star sum over the
    grid's operations, divided by each point's little-group size)."""
    rot = cartesian_rotations(reciprocal_operations(grid), lattice)
    return gv_by_gv(velocities, rot, little_group_sizes(grid, bz_points))


def vm_by_vm_on_grid(grid: BZGrid, bz_points, velocity_matrices_, lattice) -> np.ndarray:
    """``vm_by_vm`` (n, n_b, n_b, 6) complex of velocity matrices at BZ points of ``grid``."""
    rot = cartesian_rotations(reciprocal_operations(grid), lattice)
    return vm_by_vm(velocity_matrices_, rot, little_group_sizes(grid, bz_points))
