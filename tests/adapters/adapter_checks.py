"""Checks every adapter test runs: finite differences, batching, test structures.

Reference values never come from the adapter under test: forces and stresses
are compared with central finite differences of its own energies (an
independent derivative) and with the package's own ASE calculator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from ase import Atoms
from ase.build import bulk

from phonjax.structure.batch import StructureBatch, pad_structures

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


# How many times its measured float32 noise (Float32Noise) two float32 evaluations of the
# same model on the same structures may differ by. Measured on AMD EPYC (each test's own
# structures, worst of 4-6 seeds of the random orders), the adapter against the package's
# calculator or against itself batched differently was at most: CHGNet 0.86x (forces),
# 0.17x (energy), 0.74x (stress), 1.13x (stress against predict_structure); SevenNet 1.0x;
# MatterSim 0.6x; M3GNet 1.33x (stress, at the float32 floor); MACE and batched CHGNet 0x;
# Nequix float32 0.3x. The noise itself moves by < 1.5x between seeds.
NOISE_FACTOR = 4
FLOAT32_EPS = float(np.finfo(np.float32).eps)


@dataclass(frozen=True)
class Float32Noise:
    """The round-off of one float32 model on given structures, measured on this CPU: the
    largest change of its forces (eV/Å), energy (eV) and stress (eV/Å³) when only the order
    of each structure's atoms changes, and never less than one float32 rounding (FLOAT32_EPS)
    of the largest value. Another evaluation path of the same model (its own calculator,
    another batching) rounds differently by about this much, on whichever CPU runs it."""

    forces_eV_A: float
    energy_eV: float
    stress_eV_A3: float

    def tolerances(self, factor: float = NOISE_FACTOR) -> dict[str, float]:
        """``f_atol``, ``e_atol``, ``s_atol``: ``factor`` times the noise."""
        return {"f_atol": factor * self.forces_eV_A, "e_atol": factor * self.energy_eV,
                "s_atol": factor * self.stress_eV_A3}


def results_of(model, atoms: Sequence[Atoms]) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(energy eV, forces (n, 3) eV/Å, stress (3, 3) eV/Å³) of each structure, from an
    adapter (one ``evaluate`` call) or from an ASE calculator (one call per structure)."""
    if hasattr(model, "evaluate"):
        out = model.evaluate(to_batch(atoms))
        return [(out.energies[b], out.forces[b, : len(a)], out.stresses[b])
                for b, a in enumerate(atoms)]
    results = []
    for a in atoms:
        a = a.copy()
        a.calc = model
        results.append((a.get_potential_energy(), a.get_forces(), a.get_stress(voigt=False)))
    return results


def float32_noise(model, atoms: Sequence[Atoms], n_orders: int = 3, seed: int = 0) -> Float32Noise:
    """Float32Noise of ``model`` (an adapter or an ASE calculator) on ``atoms``, from
    ``n_orders`` random atom orders."""
    reference = results_of(model, atoms)
    rng = np.random.default_rng(seed)
    spread = np.zeros(3)
    for _ in range(n_orders):
        orders = [rng.permutation(len(a)) for a in atoms]
        permuted = results_of(model, [a[order] for a, order in zip(atoms, orders)])
        for (energy, forces, stress), (e0, f0, s0), order in zip(permuted, reference, orders):
            back = np.empty_like(forces)
            back[order] = forces  # to the reference order
            spread = np.maximum(spread, [np.abs(back - f0).max(), abs(energy - e0),
                                         np.abs(stress - s0).max()])
    scale = [max(np.abs(r[i]).max() for r in reference) for i in (1, 0, 2)]
    return Float32Noise(*np.maximum(spread, FLOAT32_EPS * np.asarray(scale)).tolist())


def assert_derivatives_match_energy(adapter, atoms: Atoms, h: float, rtol: float,
                                    noise: Float32Noise | None = None) -> None:
    """Forces and stress of ``adapter`` equal finite differences of its energy.

    The tolerance is ``rtol`` relative to the largest component (the step's truncation
    error), so that it holds for randomly initialised models whose forces are small. With
    ``noise`` (a float32 model) it adds NOISE_FACTOR times the round-off a central
    difference takes from energies that are each off by noise.energy_eV: noise/h in forces,
    noise/(h·V) in stress.
    """
    result = adapter.evaluate(to_batch([atoms])).forces[0, : len(atoms)]
    pairs = [(0, 0), (1, 1), (len(atoms) - 1, 2), (len(atoms) // 2, 0)]
    expected = forces_by_finite_differences(adapter, atoms, pairs, h)
    got = np.array([result[i, k] for i, k in pairs])
    scale = np.abs(result).max()
    assert scale > 0
    rounding = 0.0 if noise is None else NOISE_FACTOR * noise.energy_eV / h
    np.testing.assert_allclose(got, expected, atol=rtol * scale + rounding, rtol=0)

    stress = adapter.evaluate(to_batch([atoms])).stresses[0]
    expected_stress = stress_by_finite_differences(adapter, atoms, h)
    np.testing.assert_allclose(stress, expected_stress,
                               atol=rtol * np.abs(stress).max() + rounding / atoms.get_volume(),
                               rtol=0)


def assert_batched_equals_sequential(adapter, batch: StructureBatch, atol: float,
                                     e_atol: float | None = None,
                                     s_atol: float | None = None) -> None:
    """One model call for the whole batch gives what one call per structure gives: forces to
    ``atol``, energies to ``e_atol`` (default 10·atol, and 1e-7 relative) and stresses to
    ``s_atol`` (default atol)."""
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
    np.testing.assert_allclose(together.energies, alone.energies,
                               atol=atol * 10 if e_atol is None else e_atol, rtol=1e-7)
    np.testing.assert_allclose(together.stresses, alone.stresses,
                               atol=atol if s_atol is None else s_atol, rtol=0)


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
