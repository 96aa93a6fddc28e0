"""Checks every adapter test runs: finite differences, batching, test structures.

Reference values never come from the adapter under test: forces and stresses
are compared with central finite differences of its own energies (an
independent derivative) and with the package's own ASE calculator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk

from phonjax.structures import StructureBatch, pad_structures

PHONONDB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "phonondb-pbesol"


def to_batch(atoms: Sequence[Atoms]) -> StructureBatch:
    return pad_structures((a.cell.array, a.positions, a.numbers) for a in atoms)


def phonondb_supercells(mp_id: str) -> list[Atoms]:
    """Displaced supercells of a phonondb material, as phonopy builds them."""
    from phonjax.data import sample_dir
    from validation.reference import phonopy_reference

    # the bundled sample first: CI checkouts need not sit next to ../shared
    paths = [folder / f"{mp_id}.yaml.xz" for folder in (sample_dir(), PHONONDB)]
    path = next((p for p in paths if p.exists()), None)
    if path is None:
        raise FileNotFoundError(f"{mp_id}: in neither the bundled sample nor {PHONONDB}")
    ph = phonopy_reference(path, load_only=True).phonopy
    return [
        Atoms(numbers=s.numbers, positions=s.positions, cell=s.cell, pbc=True)
        for s in ph.supercells_with_displacements
    ]


def small_cells() -> list[Atoms]:
    """Two small rattled and sheared cells of different sizes (Na, Cl, Si only)."""
    rocksalt = bulk("NaCl", "rocksalt", a=5.4) * (2, 1, 1)
    rocksalt.rattle(0.08, seed=1)
    diamond = bulk("Si", "diamond", a=5.43)
    shear = np.array([[0.02, 0.01, 0], [0.01, -0.01, 0.02], [0, 0.02, 0.01]])
    diamond.set_cell(diamond.cell.array @ (np.eye(3) + shear), scale_atoms=True)
    diamond.rattle(0.08, seed=2)
    return [rocksalt, diamond]


def displaced_pairs(atoms: Atoms, pairs, h: float) -> list[Atoms]:
    """For each (atom, direction) of ``pairs``: the structure moved by +h, then by −h (Å)."""
    displaced = []
    for i, k in pairs:
        for sign in (1, -1):
            moved = atoms.copy()
            moved.positions[i, k] += sign * h
            displaced.append(moved)
    return displaced


def forces_by_finite_differences(adapter, atoms: Atoms, pairs, h: float) -> np.ndarray:
    """-dE/dx for (atom, direction) ``pairs`` by central differences, in one batch call."""
    displaced = displaced_pairs(atoms, pairs, h)
    energies = adapter.evaluate(to_batch(displaced), compute_stress=False).energies
    return -(energies[0::2] - energies[1::2]) / (2 * h)


def stress_by_finite_differences(adapter, atoms: Atoms, h: float) -> np.ndarray:
    """σ = (1/V) dE/dε (ASE sign) by central differences in symmetric strains."""
    strained, pairs = [], [(i, j) for i in range(3) for j in range(i, 3)]
    for i, j in pairs:
        for sign in (1, -1):
            eps = np.zeros((3, 3))
            eps[i, j] += sign * h / 2
            eps[j, i] += sign * h / 2
            moved = atoms.copy()
            moved.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            strained.append(moved)
    energies = adapter.evaluate(to_batch(strained), compute_stress=False).energies
    stress = np.zeros((3, 3))
    for n, (i, j) in enumerate(pairs):
        stress[i, j] = stress[j, i] = (energies[2 * n] - energies[2 * n + 1]) / (2 * h)
    return stress / atoms.get_volume()


def assert_derivatives_match_energy(adapter, atoms: Atoms, h: float, rtol: float) -> None:
    """Forces and stress of ``adapter`` equal finite differences of its energy.

    The tolerance is relative to the largest component, so that it holds for
    randomly initialised models whose forces are small.
    """
    result = adapter.evaluate(to_batch([atoms])).forces[0, : len(atoms)]
    pairs = [(0, 0), (1, 1), (len(atoms) - 1, 2), (len(atoms) // 2, 0)]
    expected = forces_by_finite_differences(adapter, atoms, pairs, h)
    got = np.array([result[i, k] for i, k in pairs])
    scale = np.abs(result).max()
    assert scale > 0
    np.testing.assert_allclose(got, expected, atol=rtol * scale, rtol=0)

    stress = adapter.evaluate(to_batch([atoms])).stresses[0]
    expected_stress = stress_by_finite_differences(adapter, atoms, h)
    np.testing.assert_allclose(stress, expected_stress, atol=rtol * np.abs(stress).max(), rtol=0)


def assert_batched_equals_sequential(adapter, batch: StructureBatch, atol: float) -> None:
    """One model call for the whole batch gives what one call per structure gives."""
    saved = adapter.max_atoms
    try:
        adapter.max_atoms = int(batch.n_atoms.sum())
        together = adapter.evaluate(batch)
        adapter.max_atoms = 1
        alone = adapter.evaluate(batch)
    finally:
        adapter.max_atoms = saved
    padding = ~batch.mask
    assert not together.forces[padding].any(), "padding atoms must get zero force"
    np.testing.assert_allclose(together.forces, alone.forces, atol=atol, rtol=0)
    np.testing.assert_allclose(together.energies, alone.energies, atol=atol * 10, rtol=1e-7)
    np.testing.assert_allclose(together.stresses, alone.stresses, atol=atol, rtol=0)


def assert_matches_calculator(
    adapter, calculator, atoms: Sequence[Atoms], f_atol: float, e_atol: float, s_atol: float
) -> None:
    """Adapter results equal the package's own ASE calculator, structure by structure."""
    out = adapter.evaluate(to_batch(atoms))
    for b, structure in enumerate(atoms):
        structure = structure.copy()
        structure.calc = calculator
        n = len(structure)
        np.testing.assert_allclose(out.forces[b, :n], structure.get_forces(), atol=f_atol, rtol=0)
        assert abs(out.energies[b] - structure.get_potential_energy()) <= e_atol
        np.testing.assert_allclose(out.stresses[b], structure.get_stress(voigt=False), atol=s_atol, rtol=0)
