"""Third-order force constants of a JAX energy by automatic differentiation (no displacements).

The third-order force constants (FC3) of a supercell with energy E(positions (N, 3) Å) are

    Φ3[i, j, k, α, β, γ] = ∂³E / ∂u_iα ∂u_jβ ∂u_kγ    (eV/Å³, at the given positions)

in phono3py's index convention: ``fc3[i, j, k]`` with i the first displaced atom, j the
second displaced atom and k the atom whose force is read (−∂F_kγ/∂u_iα∂u_jβ); for an
energy all three orders are the same number (Φ3 is symmetric under any permutation of
the pairs (i, α), (j, β), (k, γ)). The *compact* form, phono3py's ``fc3`` with
``is_compact_fc=True``, keeps the first index on the primitive cell's atoms only:
shape (n_p, N, N, 3, 3, 3), row r for supercell atom ``rows[r]`` (for a
``HarmonicSystem``, ``system.primitive.p2s``, phonopy's ``primitive.p2s_map``); the
*full* form has all N atoms as first index, (N, N, N, 3, 3, 3).

Route: forward-over-reverse differentiation. ∇E is one reverse pass; a Hessian column
H·e_jβ is a ``jax.jvp`` of it (forward over reverse), and the derivative of that column
along a first direction e_iα is one more ``jax.jvp`` (forward over forward over
reverse): ∂³E·e_iα·e_jβ, the (N, 3) slab Φ3[i, j, :, α, β, :]. For each of the 3·n_rows
first directions the 3N columns together are the jvp of the Hessian along e_iα, a
(3N, 3N) matrix; all 3·n_rows·3N third derivatives are exact at the given positions
(no step h, no O(h²) error), in float64.

Cost and memory: 9·n_rows·N third-order directional derivatives, each a few times an
energy evaluation. The result takes ``fc3_bytes`` = N²·27·n_rows·8 bytes and is refused
in one line (``phonjax.resources.ResourceError``) beyond the memory bound. Work is
batched with ``jax.lax.map``: ``batch_size`` first directions and ``column_batch_size``
Hessian columns per vectorized (``vmap``) call; None (the default) runs them one after
the other (a ``lax.scan``), the memory of one energy's derivative at a time. Vectorized,
the energy's intermediates are held batch_size·column_batch_size times over: pair
potentials gain from it, while Nequix (64-atom Si on CPU) asked for ~4 GB per vmapped
third derivative and ran slower vmapped than one at a time.

Hook for symmetry (not implemented here): phono3py computes FC3 rows only for the
symmetry-independent first atoms (and, within a row, for the second atoms independent
under the first atom's site symmetry) and fills the rest by the space group
(``distribute_fc3``). :func:`fc3_rows` takes any list of first atoms, so that step is
``fc3_rows(energy_fn, positions, cell, independent_atoms)`` followed by a distribution
over the supercell's space group (rotating Cartesian indices and permuting atoms);
first directions could likewise be restricted to those the site symmetry does not map
onto each other.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from phonjax.resources import checked_memory_bytes, refuse_if_over

EnergyFn = Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]  # (positions_A, cell_A) -> eV


def fc3_bytes(n_supercell: int, n_rows: int) -> float:
    """Bytes of FC3 for ``n_rows`` first atoms in a supercell of ``n_supercell`` atoms:
    N²·27·n_rows float64 (the compact form has n_rows = n_p, the full form N)."""
    return 8.0 * 27 * float(n_supercell) ** 2 * n_rows


def third_derivative_columns(energy_fn: EnergyFn, positions_A, cell_A):
    """``t(d, c) -> ∂³E·d·c`` (N, 3) eV/Å³: the derivative along ``d`` of the Hessian
    column H·c, both (N, 3), at ``positions_A`` (forward over forward over reverse)."""
    cell = jnp.asarray(cell_A)
    gradient = jax.grad(lambda r: energy_fn(r, cell))

    def column(r, c):
        return jax.jvp(gradient, (r,), (c,))[1]

    def third(d, c):
        return jax.jvp(lambda r: column(r, c), (positions_A,), (d,))[1]

    return third


def fc3_rows(energy_fn: EnergyFn, positions_A, cell_A, rows, *,
             batch_size: int | None = None, column_batch_size: int | None = None,
             memory_bytes: float | None = None) -> jnp.ndarray:
    """Φ3[r, j, k, α, β, γ] (n_rows, N, N, 3, 3, 3) eV/Å³, float64, first atom ``rows[r]``.

    ``energy_fn(positions_A (N, 3), cell_A (3, 3)) -> eV`` (pure JAX, smooth);
    ``positions_A`` (N, 3) Å and ``cell_A`` (3, 3) Å (rows are lattice vectors) the
    geometry at which the derivatives are taken; ``rows`` supercell indices of the
    first atoms (the primitive atoms for the compact form, all N for the full form,
    the symmetry-independent atoms for a later distribution). For each first direction
    e_iα (i in ``rows``) one jvp of the Hessian along it, column by column:
    ``batch_size`` directions and ``column_batch_size`` columns per vectorized call
    (default None: one at a time, sequentially). ``ResourceError`` when the result
    would exceed ``memory_bytes`` (default ``phonjax.resources.DEFAULT_MEMORY_BYTES``).
    Runs in float64 (x64 on inside, the caller's setting restored); differentiable in
    parameters the energy closes over.
    """
    rows = np.asarray(rows, np.int64).reshape(-1)
    n = int(np.shape(positions_A)[0])
    if rows.size == 0 or rows.min() < 0 or rows.max() >= n:
        raise ValueError(f"rows must be supercell indices in [0, {n}), got {rows.tolist()}")
    refuse_if_over("FC3", f"{len(rows)} × {n}² × 27 force constants", fc3_bytes(n, len(rows)),
                   checked_memory_bytes(memory_bytes),
                   "use the compact form, fewer first atoms, or a larger bound (--memory-gb)")
    with jax.enable_x64(True):
        positions = jnp.asarray(positions_A, jnp.float64)
        cell = jnp.asarray(cell_A, jnp.float64)
        eye = np.eye(3 * n).reshape(3 * n, n, 3)
        firsts = jnp.asarray(eye[(3 * rows[:, None] + np.arange(3)).reshape(-1)])
        columns = jnp.asarray(eye)

        @jax.jit
        def compute(positions, cell, firsts, columns):
            third = third_derivative_columns(energy_fn, positions, cell)

            def hessian_jvp(d):  # (3N, N, 3): d(H·e_jβ)/d(e_iα) for every column jβ
                return jax.lax.map(lambda c: third(d, c), columns, batch_size=column_batch_size)

            return jax.lax.map(hessian_jvp, firsts, batch_size=batch_size)

        slabs = compute(positions, cell, firsts, columns)  # (3 n_rows, 3N, N, 3)
        slabs = jnp.asarray(slabs, jnp.float64).reshape(len(rows), 3, n, 3, n, 3)
        return jnp.transpose(slabs, (0, 2, 4, 1, 3, 5))  # [i, α, j, β, k, γ] → [i, j, k, α, β, γ]


def compact_fc3(energy_fn: EnergyFn, positions_A, cell_A, p2s, **options) -> jnp.ndarray:
    """phono3py's compact FC3 (n_p, N, N, 3, 3, 3) eV/Å³: ``fc3_rows`` with the first atom on
    the primitive atoms ``p2s`` (their supercell indices, e.g. ``system.primitive.p2s``)."""
    return fc3_rows(energy_fn, positions_A, cell_A, p2s, **options)


def full_fc3(energy_fn: EnergyFn, positions_A, cell_A, **options) -> jnp.ndarray:
    """Full FC3 (N, N, N, 3, 3, 3) eV/Å³ (small cells: N³·27 doubles)."""
    return fc3_rows(energy_fn, positions_A, cell_A, np.arange(np.shape(positions_A)[0]),
                    **options)


def fc3_from_system(energy_fn: EnergyFn, system, *, compact: bool = True,
                    **options) -> jnp.ndarray:
    """FC3 of ``system.supercell`` (a ``HarmonicSystem``; its supercell serves as the FC3
    supercell), compact on ``system.primitive.p2s`` or full."""
    sc = system.supercell
    if compact:
        return compact_fc3(energy_fn, sc.positions, sc.lattice, system.primitive.p2s, **options)
    return full_fc3(energy_fn, sc.positions, sc.lattice, **options)


def independent_atoms(cells) -> np.ndarray:
    """The primitive atoms (supercell indices, ascending) whose FC3 rows must be computed: those
    that are the lowest-index atom of their orbit under the space group
    (``SpaceGroup.equivalent_atoms``, as ``harmonic.displacements`` picks the atoms it
    displaces; phono3py's first displaced atoms are these)."""
    p2s = np.asarray(cells.primitive.p2s)
    return np.sort(p2s[cells.group.equivalent_atoms[p2s] == p2s]).astype(np.int64)


def compact_fc3_by_symmetry(energy_fn: EnergyFn, cells, **options) -> np.ndarray:
    """Compact FC3 (n_p, N, N, 3, 3, 3) eV/Å³ of the supercell of ``cells``
    (``anharmonic.fc3.fc3_cells(unitcell, S, P)``) with third derivatives taken for the
    symmetry-independent primitive atoms only (``independent_atoms``: silicon 1 of 2,
    rocksalt 2 of 2), the other rows by phono3py's ``distribute_fc3`` (a space-group
    operation, pure translations preferred). Exact where the geometry has the group's
    symmetry (a cell relaxed with FixSymmetry, an ideal one)."""
    from phonjax.anharmonic.fc3 import distribute_fc3

    sc = cells.supercell
    p2s = np.asarray(cells.primitive.p2s)
    done = independent_atoms(cells)
    rows = np.asarray(fc3_rows(energy_fn, sc.positions, sc.lattice, done, **options))
    fc3 = np.zeros((len(p2s), sc.n_atoms, sc.n_atoms, 3, 3, 3))
    row_of = np.full(sc.n_atoms, -1, np.int64)
    row_of[p2s] = np.arange(len(p2s))
    fc3[row_of[done]] = rows
    distribute_fc3(fc3, cells, list(done), [a for a in p2s if a not in set(done.tolist())],
                   row_of)
    return fc3
