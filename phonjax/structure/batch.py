"""Padded batches of periodic structures: the one form adapters consume.

Many materials of different sizes become one set of rectangular arrays so that
a model can evaluate them in one call. Padding atoms carry ``mask == False``,
atomic number 0 and position 0; consumers must ignore them.

Shapes (B structures, N = largest atom count in the batch):
  cells      (B, 3, 3) float64, Å, rows are lattice vectors
  positions  (B, N, 3) float64, Å, Cartesian
  numbers    (B, N)    int64, atomic numbers (0 for padding)
  mask       (B, N)    bool, True for real atoms
  n_atoms    (B,)      int64
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np


@dataclass(frozen=True)
class StructureBatch:
    cells: np.ndarray
    positions: np.ndarray
    numbers: np.ndarray
    mask: np.ndarray

    @property
    def n_atoms(self) -> np.ndarray:
        return self.mask.sum(axis=1).astype(np.int64)

    def __len__(self) -> int:
        return int(self.cells.shape[0])

    def structure(self, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(cell, positions, numbers) of structure ``b`` without padding."""
        n = int(self.mask[b].sum())
        return self.cells[b], self.positions[b, :n], self.numbers[b, :n]

    def split(self, max_atoms: int) -> list[np.ndarray]:
        """Index groups whose total real atom count stays ≤ ``max_atoms``.

        A single structure larger than ``max_atoms`` forms its own group.
        """
        groups: list[list[int]] = []
        current: list[int] = []
        total = 0
        for b, n in enumerate(self.n_atoms):
            if current and total + n > max_atoms:
                groups.append(current)
                current, total = [], 0
            current.append(b)
            total += int(n)
        if current:
            groups.append(current)
        return [np.asarray(g, dtype=np.int64) for g in groups]

    def take(self, indices: Sequence[int]) -> "StructureBatch":
        idx = np.asarray(indices, dtype=np.int64)
        n = int(self.mask[idx].sum(axis=1).max()) if len(idx) else 0
        return StructureBatch(
            self.cells[idx], self.positions[idx, :n], self.numbers[idx, :n], self.mask[idx, :n]
        )


def pad_structures(
    structures: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> StructureBatch:
    """Stack ``(cell Å (3,3), Cartesian positions Å (n,3), atomic numbers (n,))`` triples."""
    items = [
        (np.asarray(c, float), np.asarray(p, float).reshape(-1, 3), np.asarray(z, np.int64))
        for c, p, z in structures
    ]
    if not items:
        raise ValueError("pad_structures needs at least one structure")
    for c, p, z in items:
        if c.shape != (3, 3):
            raise ValueError(f"cell must be (3, 3), got {c.shape}")
        if len(p) != len(z):
            raise ValueError(f"{len(p)} positions but {len(z)} atomic numbers")
    n_max = max(len(z) for _, _, z in items)
    b = len(items)
    cells = np.stack([c for c, _, _ in items])
    positions = np.zeros((b, n_max, 3))
    numbers = np.zeros((b, n_max), np.int64)
    mask = np.zeros((b, n_max), bool)
    for i, (_, p, z) in enumerate(items):
        positions[i, : len(z)] = p
        numbers[i, : len(z)] = z
        mask[i, : len(z)] = True
    return StructureBatch(cells, positions, numbers, mask)
