"""Force constants fitted to displacement–force snapshots by symfc, as phonopy 4 fits them.

phonopy's ``produce_force_constants(fc_calculator="symfc")`` (``phonopy.interface.symfc``,
symfc: A. Seko and A. Togo, Phys. Rev. B 110, 214302 (2024)): the force constants Φ
(N, N, 3, 3) eV/Å² are Φ = Σ_k c_k B_k over a basis B of the matrices that obey the
supercell's space group, the permutation symmetry Φ(i, j) = Φ(j, i)ᵀ and the acoustic
sum rule Σ_j Φ(i, j) = 0, with the coefficients c the least-squares solution of

    F(s, j) = −Σ_i Φ(i, j)ᵀ u(s, i)      for every snapshot s and atom j,

u (n, N, 3) Å the displacements (any: random ones from
``phonjax.harmonic.random_displacements``, or phonopy's type-1 ones as whole-supercell
arrays), F (n, N, 3) eV/Å the forces. phonopy hands symfc the supercell (lattice,
fractional positions, atomic numbers), spglib's operations of the supercell found at
``symprec`` together with ``symprec`` itself, and the options of
``fc_calculator_options``; ``"cutoff = r"`` becomes ``cutoff={2: r}``: pairs farther
apart than r Å (symfc's minimum-image distance ≥ r) are left out of the basis, so their
Φ(i, j) is exactly 0. The forces are used as they are (no drift is removed) and nothing
is symmetrized afterwards. symfc (installed with phonopy 4) is imported only here.
"""

from __future__ import annotations

import numpy as np

from phonjax.structure.crystal import Crystal
from phonjax.structure.symmetry import SYMPREC, space_group


def fit_force_constants(supercell: Crystal, displacements, forces, *, symprec: float = SYMPREC,
                        cutoff_radius_A: float | None = None) -> np.ndarray:
    """Full force constants (N, N, 3, 3) eV/Å², ``fc[i, j, a, b]`` (phonopy's convention),
    fitted by symfc to ``displacements`` (n, N, 3) Å and ``forces`` (n, N, 3) eV/Å on
    ``supercell``; equal to phonopy's ``produce_force_constants(fc_calculator="symfc",
    fc_calculator_options=None or f"cutoff = {cutoff_radius_A}")`` with full force constants.

    ``cutoff_radius_A``: symfc's cutoff of the basis (pairs at ≥ r Å have Φ = 0), None for none.
    For phonopy's compact layout take ``phonjax.harmonic.fc_options.compact_force_constants``.
    """
    u = np.asarray(displacements, dtype=float)
    f = np.asarray(forces, dtype=float)
    n = supercell.n_atoms
    if u.ndim != 3 or u.shape[1:] != (n, 3):
        raise ValueError(f"displacements must have shape (n_snapshots, {n}, 3), got {u.shape}")
    if f.shape != u.shape:
        raise ValueError(f"forces have shape {f.shape}, displacements {u.shape}: they must agree")
    if not (np.isfinite(u).all() and np.isfinite(f).all()):
        raise ValueError("displacements and forces must be finite numbers")
    if cutoff_radius_A is not None and not (np.isfinite(cutoff_radius_A) and cutoff_radius_A > 0):
        raise ValueError(f"cutoff_radius_A must be a positive number of Å or None, "
                         f"got {cutoff_radius_A!r}")
    try:
        from symfc import Symfc
        from symfc.utils.utils import SymfcAtoms
    except ImportError:
        raise ImportError("fitting force constants to random displacements needs symfc "
                          "(pip install symfc; phonopy 4 installs it)") from None
    group = space_group(supercell, symprec)
    fitter = Symfc(SymfcAtoms(cell=supercell.lattice, scaled_positions=supercell.frac_positions,
                              numbers=supercell.numbers),
                   spacegroup_operations={"rotations": group.rotations,
                                          "translations": group.translations},
                   cutoff=None if cutoff_radius_A is None else {2: float(cutoff_radius_A)},
                   use_mkl=False, log_level=0, symprec=symprec)
    fitter.displacements = u
    fitter.forces = f
    fitter.compute_basis_set(orders=[2])
    fitter.solve(orders=[2], is_compact_fc=False)
    return np.asarray(fitter.force_constants[2], dtype=float)


__all__ = ["fit_force_constants"]
