"""Element symbols by atomic number, without importing ASE at start-up.

``SYMBOLS[Z]`` is the symbol of atomic number Z (``SYMBOLS[0]`` is ASE's "X",
no element); the same list as ``ase.data.chemical_symbols`` (tested), kept
here because importing ASE costs more than a small CLI run's whole kernel.
Masses are ASE's (``atomic_masses``), loaded on first use only; ``phonopy_masses`` are
phonopy's own table (what phonopy and phono3py use for a cell given without masses; it
differs from ASE's by up to ~1e-4 relative, e.g. Li 6.941 vs 6.94).
"""

from __future__ import annotations

import numpy as np

SYMBOLS = (
    "X", "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P",
    "S", "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
    "Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh",
    "Pd", "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd",
    "Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re",
    "Os", "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac",
    "Th", "Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf",
    "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"
)
NUMBERS = {symbol: z for z, symbol in enumerate(SYMBOLS)}


def standard_masses(numbers: np.ndarray) -> np.ndarray:
    """ASE's standard atomic masses (AMU) of atomic numbers."""
    from ase.data import atomic_masses

    return np.asarray(atomic_masses)[numbers]


def phonopy_masses(numbers) -> np.ndarray:
    """phonopy's standard atomic masses (AMU) of atomic numbers
    (``phonopy.structure.atomic_data``; ValueError for an element without one)."""
    from phonopy.structure.atomic_data import get_atomic_data

    table = {row[0]: row[3] for row in get_atomic_data().atom_data}
    out = []
    for z in np.asarray(numbers, int).ravel():
        if table.get(int(z)) is None:
            raise ValueError(f"phonopy has no standard mass for {SYMBOLS[int(z)]}")
        out.append(float(table[int(z)]))
    return np.array(out)
