"""Thermal properties over temperature, with the normalisation written into every column name.

phonopy's numbers are per mole of *primitive cells* ("unit cell" in its yaml header), which
differ from per formula unit by Z, the number of formula units in the primitive cell, and from
per atom by n, its number of atoms; tools disagree silently on which one they print. Here a
table holds phonopy's values (F, S, Cv and E = F + T·S, the harmonic internal energy) and
gives all three normalisations, each column named with its unit and its "per mole of what".

F, S and Cv are sums over the modes with ν > 0 (phonopy's ``num_integrated_modes``). When a
mesh was computed and not one of its modes is real (every mode imaginary or zero, e.g. a
crystal that is unstable everywhere), they are undefined, not 0: the table then holds NaN
(null in JSON, "n/a" on the console) and ``undefined_reason`` says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from math import gcd

import numpy as np

NORMALISATIONS = {"cells": "primitive cells", "formula_units": "formula units", "atoms": "atoms"}


def reduced_formula(symbols: list[str]) -> tuple[str, int]:
    """(formula of one formula unit, Z formula units) of a cell's atoms, e.g. ("NaCl", 1)."""
    from ase.formula import Formula

    counts = {s: symbols.count(s) for s in dict.fromkeys(symbols)}
    z = reduce(gcd, counts.values())
    unit = "".join(f"{s}{c // z}" for s, c in counts.items())
    return Formula(unit).format("metal"), z  # metals first, as BaTe, NaCl, SrTiO3


@dataclass(frozen=True, eq=False)
class ThermalTable:
    temperatures_K: np.ndarray  # (n_T,)
    free_energy_kJmol: np.ndarray  # per mole of primitive cells, zero-point energy included
    entropy_JKmol: np.ndarray
    heat_capacity_JKmol: np.ndarray
    n_atoms: int  # atoms in the primitive cell
    formula: str  # one formula unit
    z: int  # formula units in the primitive cell
    zero_point_energy_kJmol: float  # per mole of primitive cells
    num_modes: int = 0  # phonopy's bookkeeping: modes on the mesh (Σw·3n)
    num_integrated_modes: int = 0  # of those, with ν > cutoff (the ones the sums use)
    cutoff_frequency_THz: float = 0.0  # phonopy's cutoff_frequency: modes at or below it skipped
    classical: bool = False  # phonopy's classical=True statistics (no zero-point energy)

    def __post_init__(self):
        if self.undefined_reason is not None:  # sums over no mode: undefined, not 0
            for name in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
                object.__setattr__(self, name, np.full(np.shape(getattr(self, name)), np.nan))
            object.__setattr__(self, "zero_point_energy_kJmol", float("nan"))

    @property
    def undefined_reason(self) -> str | None:
        """Why F, S and Cv are undefined (no real mode on the mesh was integrated), or None."""
        if self.num_modes > 0 and self.num_integrated_modes == 0:
            return (f"no real modes integrated (num_integrated_modes 0 of {self.num_modes}: "
                    "every mode on the mesh is imaginary or zero)")
        return None

    @property
    def energy_kJmol(self) -> np.ndarray:
        """Harmonic internal energy E = F + T·S (kJ/mol of primitive cells), as phonopy."""
        return self.free_energy_kJmol + self.temperatures_K * self.entropy_JKmol / 1000.0

    def divisor(self, per: str) -> int:
        return {"cells": 1, "formula_units": self.z, "atoms": self.n_atoms}[per]

    def columns(self, per: str = "cells") -> dict[str, np.ndarray]:
        """{column name: values} in one normalisation ("cells", "formula_units", "atoms")."""
        if per not in NORMALISATIONS:
            raise ValueError(f"normalisation must be one of {sorted(NORMALISATIONS)}, got {per!r}")
        d = float(self.divisor(per))
        return {f"free_energy_kJ_per_mol_{per}": self.free_energy_kJmol / d,
                f"entropy_J_per_K_per_mol_{per}": self.entropy_JKmol / d,
                f"heat_capacity_J_per_K_per_mol_{per}": self.heat_capacity_JKmol / d,
                f"energy_kJ_per_mol_{per}": self.energy_kJmol / d}

    def all_columns(self) -> dict[str, np.ndarray]:
        out = {"temperature_K": self.temperatures_K}
        for per in NORMALISATIONS:
            out.update(self.columns(per))
        return out

    def at(self, temperature_K: float) -> dict[str, float]:
        """The row at one temperature of the table (exact match), per mole of primitive cells."""
        i = np.flatnonzero(np.isclose(self.temperatures_K, temperature_K, atol=1e-9))
        if not len(i):
            raise KeyError(f"{temperature_K} K is not in the table")
        return {k: float(v[i[0]]) for k, v in self.columns("cells").items()}
