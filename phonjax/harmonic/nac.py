"""Non-analytical correction (NAC) parameters of a polar crystal, and their kernel table.

``NACParams`` is what a user or a file gives: Born effective charges Z* (e), the
high-frequency dielectric tensor ε∞, the unit factor of the dipole-dipole term
(phonopy's ``factor``: 14.39965… = Hartree·Bohr for eV and Å) and the method
("gonze", phonopy's default, or "wang"). ``nac_tables`` turns them, with the
prepared cells, into the ``NACTables`` the kernels read, exactly as phonopy 4.10
sets up ``DynamicalMatrixGL``: Born charges and ε∞ symmetrized by the primitive
cell's space group with the charge sum rule imposed (``Phonopy``'s default,
``symmetrize=True``), its G-vector list (300 G-points' worth of cutoff, or
``g_cutoff``), its Ewald parameter Λ (damping 1e-10 at the cutoff, or
``lambda_``), and its commensurate q-points moved into the first Brillouin zone.
The symmetrization and the zone are phonopy's own functions, imported here only
when a material has NAC.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from phonjax.structure.supercell import Primitive
from phonjax.structure.symmetry import SYMPREC
from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.harmonic.tables import NACTables
from phonjax.units import NAC_FACTOR_EV_ANGSTROM

NUM_G_POINTS = 300  # phonopy's default number of G-points behind the cutoff
EXP_CUTOFF = 1e-10  # phonopy's damping of the Ewald sum at the cutoff


class NACError(ValueError):
    """NAC parameters that cannot be used, with the reason."""


@dataclass(frozen=True, eq=False)
class NACParams:
    """Born charges and ε∞ of a polar crystal (phonopy's ``nac_params``).

    ``born``: (n, 3, 3) e, phonopy's convention (Z*[i, α, β]: α the field, β the
    displacement), for the n atoms of the primitive cell in phonjax's (= phonopy's)
    order, or for the n atoms of the unit cell (mapped onto the primitive atoms).
    ``dielectric``: ε∞ (3, 3). ``factor``: the unit conversion of the dipole-dipole
    term (e²/(4πε₀) in eV·Å: phonopy's default for eV/Å/AMU inputs).
    ``g_cutoff`` (Å⁻¹, no 2π) and ``lambda_`` (Å⁻¹): phonopy's optional overrides.
    """

    born: np.ndarray
    dielectric: np.ndarray
    factor: float = NAC_FACTOR_EV_ANGSTROM
    method: str = "gonze"
    g_cutoff: float | None = None
    lambda_: float | None = None
    symmetrize: bool = True  # by the primitive cell's symmetry + charge sum rule, as phonopy
    source: str | None = field(default=None, compare=False)  # the file they came from

    def __post_init__(self):
        born = np.array(self.born, dtype=float)
        eps = np.array(self.dielectric, dtype=float)
        if born.ndim != 3 or born.shape[1:] != (3, 3) or len(born) == 0:
            raise NACError(f"Born charges must have shape (n_atoms, 3, 3), got {born.shape}")
        if eps.shape != (3, 3):
            raise NACError(f"the dielectric tensor must be 3x3, got shape {eps.shape}")
        if not (np.isfinite(born).all() and np.isfinite(eps).all()):
            raise NACError("Born charges and the dielectric tensor must be finite numbers")
        if np.linalg.det(eps) <= 0 or np.trace(eps) <= 0:
            raise NACError(f"the dielectric tensor {eps.tolist()} is not positive definite")
        if self.method not in ("gonze", "wang"):
            raise NACError(f"NAC method must be 'gonze' or 'wang', got {self.method!r}")
        for name in ("factor", "g_cutoff", "lambda_"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise NACError(f"NAC {name} must be a positive number, got {value}")
        for name, value in (("born", born), ("dielectric", eps)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    def replace(self, **changes) -> NACParams:
        from dataclasses import replace

        return replace(self, **changes)

    def primitive_born(self, primitive: Primitive, s2u: np.ndarray, n_unit: int) -> np.ndarray:
        """(n_p, 3, 3) Born charges of the primitive atoms (from primitive- or unit-cell ones)."""
        n_p = len(primitive.p2s)
        if len(self.born) == n_p:
            return self.born
        if len(self.born) == n_unit:
            return self.born[s2u[primitive.p2s]]
        raise NACError(f"{len(self.born)} Born charges, but the primitive cell has {n_p} atoms "
                       f"(and the unit cell {n_unit})")


def g_vectors(reciprocal_lattice: np.ndarray, g_cutoff: float, g_rad: int = 100) -> np.ndarray:
    """Cartesian G (n_G, 3) with |G| < ``g_cutoff``, in phonopy's order (``_get_G_list``);
    ``reciprocal_lattice``: columns b_a (Å⁻¹, no 2π)."""
    for radius in range(g_rad, 0, -1):
        if any(np.linalg.norm(reciprocal_lattice @ np.array(abc)) * radius < g_cutoff
               for abc in itertools.product((-1, 0, 1), repeat=3) if abc != (0, 0, 0)):
            g_rad = radius + 1
            break
    n = 2 * g_rad + 1
    grid = np.array(list(np.ndindex((n, n, n)))) - g_rad
    g = grid @ reciprocal_lattice.T
    return g[(g ** 2).sum(axis=1) < g_cutoff ** 2]


def brillouin_zone_points(reciprocal_lattice: np.ndarray, qpoints: np.ndarray) -> np.ndarray:
    """Each q-point's image in the first Brillouin zone (the first of equals on its
    surface), by phonopy's ``BrillouinZone`` as ``make_Gonze_nac_dataset`` uses it."""
    from phonopy.structure.brillouin_zone import BrillouinZone

    bz = BrillouinZone(reciprocal_lattice)
    bz.run(qpoints)
    return np.array([points[0] for points in bz.shortest_qpoints], dtype=float)


def symmetrized(born: np.ndarray, dielectric: np.ndarray, crystal: Crystal,
                symprec: float) -> tuple[np.ndarray, np.ndarray]:
    """(Born charges, ε∞) averaged over the crystal's space group, Σ_i Z_i = 0 imposed:
    phonopy's ``symmetrize_borns_and_epsilon``, as ``Phonopy`` applies it to the
    primitive cell before every NAC calculation."""
    import warnings

    from phonopy.structure.atoms import PhonopyAtoms
    from phonopy.structure.symmetry import symmetrize_borns_and_epsilon

    cell = PhonopyAtoms(cell=crystal.lattice, scaled_positions=crystal.frac_positions,
                        numbers=crystal.numbers, masses=crystal.masses)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        born, dielectric = symmetrize_borns_and_epsilon(born, dielectric, cell, symprec=symprec)
    if any("largely broken" in str(w.message) for w in caught):
        warnings.warn("the Born charges break the crystal's symmetry by more than 0.1 e "
                      "(symmetrized as phonopy does)", RuntimeWarning, stacklevel=3)
    return np.asarray(born, float), np.asarray(dielectric, float)


def nac_tables(params: NACParams, primitive: Primitive, s2u: np.ndarray, n_unit: int,
               commensurate_qpoints: np.ndarray, symprec: float = SYMPREC) -> NACTables:
    """The ``NACTables`` of a prepared material. ``commensurate_qpoints`` (n_c, 3): the
    q-points commensurate with the supercell (inv(P)·S), n_c = N/n_p."""
    born = params.primitive_born(primitive, s2u, n_unit)
    eps = params.dielectric
    if params.symmetrize:
        born, eps = symmetrized(born, eps, primitive.crystal, symprec)
    lattice = primitive.crystal.lattice
    volume = primitive.crystal.volume
    reciprocal = np.linalg.inv(lattice)  # columns b_a
    g_cutoff = params.g_cutoff or (3 * NUM_G_POINTS / (4 * np.pi) / volume) ** (1 / 3)
    if params.lambda_ is None:
        lam = np.sqrt(-(g_cutoff ** 2 * np.trace(eps) / 3) / 4 / np.log(EXP_CUTOFF))
    else:
        lam = params.lambda_
    g = g_vectors(reciprocal, g_cutoff)
    if len(g) == 0:
        raise NACError(f"no G-vector within the cutoff {g_cutoff:g} Å⁻¹")
    r = primitive.crystal.positions  # Cartesian (Å)
    angle = 2 * np.pi * np.einsum("gc,ijc->gij", g, r[:, None, :] - r[None, :, :])
    n_c = len(commensurate_qpoints)
    if n_c * len(born) != len(primitive.s2p):
        raise CrystalError(f"{n_c} commensurate q-points for {len(primitive.s2p)} supercell "
                           f"and {len(born)} primitive atoms")
    return NACTables(
        born=born, dielectric=eps, factor=np.array(params.factor * 4 * np.pi / volume),
        reciprocal_lattice=reciprocal, g_vectors=g, g_weights=np.ones(len(g)),
        g_cos=np.cos(angle), g_sin=np.sin(angle), ewald=np.array(4 * lam ** 2),
        comm_qpoints=brillouin_zone_points(reciprocal, commensurate_qpoints),
        comm_weights=np.full(n_c, 1.0 / n_c), cells=np.array(float(n_c)), method=params.method)
