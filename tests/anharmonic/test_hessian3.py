"""FC3 of a JAX energy by automatic differentiation (``phonjax.anharmonic.hessian3``).

On the ``jnp`` Morse pair potential (``validation/pair_potential.py``) on the 8-atom
conventional cells of diamond Si and rocksalt NaCl (F-centred: 2 primitive atoms),
at a rattled geometry (no accidental zeros of symmetry): the compact and full FC3
against ``jax.jacfwd(jax.hessian(E))``, against central differences of the Hessian
(O(h²)), their index symmetry and translational invariance, and the memory refusal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import phonjax
from phonjax.anharmonic.hessian3 import (compact_fc3, fc3_bytes, fc3_from_system, fc3_rows,
                                         full_fc3)
from phonjax.resources import ResourceError
from phonjax.structure.crystal import Crystal
from validation.pair_potential import morse_energy

F_CENTRED = [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
CRYSTALS = {
    "Si-diamond": (5.43, np.vstack([FCC, FCC + 0.25]), [14] * 8),
    "NaCl-rocksalt": (5.64, np.vstack([FCC, FCC + [0.5, 0, 0]]), [11] * 4 + [17] * 4),
}


def _case(name: str):
    a, frac, numbers = CRYSTALS[name]
    system = phonjax.prepare(Crystal(np.eye(3) * a, frac, numbers), np.eye(3, dtype=int),
                             F_CENTRED, mesh=1)
    sc = system.supercell
    energy = morse_energy(sc.numbers, sc.positions, sc.lattice)
    rattled = sc.positions + np.random.default_rng(7).normal(scale=0.03, size=sc.positions.shape)
    return system, energy, rattled


@pytest.fixture(scope="module", params=sorted(CRYSTALS))
def case(request):
    system, energy, positions = _case(request.param)
    cell = system.supercell.lattice
    p2s = np.asarray(system.primitive.p2s)
    with phonjax.float64():
        full = np.asarray(full_fc3(energy, positions, cell))
        compact = np.asarray(compact_fc3(energy, positions, cell, p2s, batch_size=2,
                                         column_batch_size=5))
        r = jnp.asarray(positions)
        nested = jax.jacfwd(jax.hessian(lambda x: energy(x, jnp.asarray(cell))))(r)
        reference = np.transpose(np.asarray(nested), (4, 0, 2, 5, 1, 3))  # → [i, j, k, α, β, γ]
    return system, energy, positions, p2s, full, compact, reference


def test_equals_jacfwd_of_hessian(case):
    system, _, _, p2s, full, compact, reference = case
    n = system.supercell.n_atoms
    assert len(p2s) == 2 and compact.shape == (2, n, n, 3, 3, 3)
    assert full.shape == (n, n, n, 3, 3, 3)
    scale = np.abs(reference).max()
    assert scale > 1.0  # eV/Å³: a real test, not zeros
    assert np.abs(full - reference).max() <= 1e-10 * scale
    assert np.abs(compact - reference[p2s]).max() <= 1e-10 * scale
    assert np.abs(compact - full[p2s]).max() <= 1e-12 * scale  # batched (vmap) = sequential


def test_central_differences_of_the_hessian_converge_as_h_squared(case):
    system, energy, positions, p2s, _, compact, _ = case
    cell = jnp.asarray(system.supercell.lattice)
    n = system.supercell.n_atoms
    with phonjax.float64():
        hessian = jax.jit(jax.hessian(lambda x: energy(x, cell)))
        errors = []
        for h in (0.01, 0.005):
            fd = np.zeros_like(compact)
            for row, i in enumerate(p2s):
                for alpha in range(3):
                    step = np.zeros((n, 3))
                    step[i, alpha] = h
                    diff = (np.asarray(hessian(jnp.asarray(positions + step)))
                            - np.asarray(hessian(jnp.asarray(positions - step)))) / (2 * h)
                    fd[row, :, :, alpha] = np.transpose(diff, (0, 2, 1, 3))  # [j, β, k, γ]
            errors.append(np.abs(fd - compact).max() / np.abs(compact).max())
    assert errors[0] < 1e-3
    assert 3.5 < errors[0] / errors[1] < 4.5, errors


def test_index_symmetry(case):
    _, _, _, p2s, full, compact, _ = case
    scale = np.abs(full).max()
    # second and third index pairs (j, β) ↔ (k, γ) in the compact form
    assert np.abs(compact - np.transpose(compact, (0, 2, 1, 3, 5, 4))).max() <= 1e-12 * scale
    # all six permutations on the full form, and where i, j, k are all primitive rows
    for perm in ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)):
        axes = perm + tuple(p + 3 for p in perm)
        assert np.abs(full - np.transpose(full, axes)).max() <= 1e-12 * scale
        block = compact[:, p2s][:, :, p2s]
        assert np.abs(block - np.transpose(block, axes)).max() <= 1e-12 * scale


def test_translational_invariance(case):
    _, _, _, _, full, compact, _ = case
    scale = np.abs(full).max()
    assert np.abs(compact.sum(axis=2)).max() <= 1e-12 * scale * full.shape[0]
    assert np.abs(compact.sum(axis=1)).max() <= 1e-12 * scale * full.shape[0]
    assert np.abs(full.sum(axis=0)).max() <= 1e-12 * scale * full.shape[0]


def test_from_system_and_refusal():
    system, energy, _ = _case("Si-diamond")
    sc = system.supercell
    with phonjax.float64():
        compact = np.asarray(fc3_from_system(energy, system))
        direct = np.asarray(fc3_rows(energy, sc.positions, sc.lattice, system.primitive.p2s))
    assert np.array_equal(compact, direct)
    assert fc3_bytes(64, 2) == 64 ** 2 * 27 * 2 * 8
    with pytest.raises(ResourceError, match=r"^FC3: 8 × 8² × 27 .* memory bound"):
        fc3_from_system(energy, system, compact=False, memory_bytes=1e5)
    with pytest.raises(ValueError, match="rows"):
        fc3_rows(energy, sc.positions, sc.lattice, [8])


def test_differentiable_in_the_energy_parameters():
    system, energy, positions = _case("Si-diamond")
    cell, p2s = system.supercell.lattice, system.primitive.p2s
    stiffness = jnp.full((1, 1), 1.3)

    def norm2(depth):  # Σ Φ3² ∝ depth², so d/d(depth) = 2 Σ Φ3² / depth
        fc3 = compact_fc3(lambda r, c: energy(r, c, {"depth": depth, "stiffness": stiffness}),
                          positions, cell, p2s)
        return jnp.sum(fc3 ** 2)

    with phonjax.float64():
        depth = jnp.full((1, 1), 0.2)
        grad = float(jax.grad(norm2)(depth)[0, 0])
        assert grad == pytest.approx(2 * float(norm2(depth)) / 0.2, rel=1e-10)


def test_symmetry_reduced_rows_equal_all_rows():
    """Si (diamond, its 8-atom conventional cell as supercell, ideal geometry): the second
    primitive atom's FC3 row from the first one by phono3py's distribution equals its own
    third derivatives."""
    from ase.build import bulk

    from phonjax.anharmonic.fc3 import fc3_cells
    from phonjax.anharmonic.hessian3 import (compact_fc3, compact_fc3_by_symmetry,
                                             independent_atoms)
    from phonjax.structure.crystal import Crystal
    from validation.pair_potential import morse_energy

    si = Crystal.from_ase(bulk("Si", "diamond", a=5.43, cubic=True))
    cells = fc3_cells(si, np.eye(3, dtype=int), [[0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    sc = cells.supercell
    energy = morse_energy(sc.numbers, sc.positions, sc.lattice)
    assert len(independent_atoms(cells)) == 1 < len(cells.primitive.p2s) == 2
    reduced = compact_fc3_by_symmetry(energy, cells)
    every = np.asarray(compact_fc3(energy, cells.supercell.positions, cells.supercell.lattice,
                                   cells.primitive.p2s))
    assert np.abs(every).max() > 0.1
    assert np.abs(reduced - every).max() <= 1e-10 * np.abs(every).max()
