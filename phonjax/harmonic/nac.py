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

``with_full_terms`` (Gonze–Lee only, off by default as in phonopy) adds phonopy's
``DynamicalMatrixGL(..., with_full_terms=True)``: the real-space Ewald sum over the
supercell's shortest vectors and the limiting term, with their q = 0 sums (the
"drift") subtracted, in D(q) and in the short-range force constants alike
(``full_terms_tables``; phonopy offers it only through that class's argument).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from phonjax.structure.supercell import Primitive, build_supercell
from phonjax.structure.shortest_vectors import shortest_vectors
from phonjax.structure.symmetry import SYMPREC
from phonjax.structure.crystal import Crystal, CrystalError
from phonjax.harmonic.tables import NACFullTerms, NACTables
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
    ``with_full_terms``: Gonze–Lee with phonopy's real-space and limiting terms
    (``DynamicalMatrixGL(..., with_full_terms=True)``; phonopy's default, and this one's,
    is the reciprocal sum alone).
    """

    born: np.ndarray
    dielectric: np.ndarray
    factor: float = NAC_FACTOR_EV_ANGSTROM
    method: str = "gonze"
    g_cutoff: float | None = None
    lambda_: float | None = None
    symmetrize: bool = True  # by the primitive cell's symmetry + charge sum rule, as phonopy
    with_full_terms: bool = False  # Gonze–Lee: phonopy's real-space and limiting terms too
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
        if not isinstance(self.with_full_terms, (bool, np.bool_)):
            raise NACError(f"with_full_terms must be True or False, got {self.with_full_terms!r}")
        if self.with_full_terms and self.method != "gonze":
            raise NACError("with_full_terms is a Gonze–Lee option (method 'gonze'), "
                           f"not {self.method!r}'s")
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


def real_space_h(cart: np.ndarray, dielectric: np.ndarray, lam: float) -> np.ndarray:
    """(..., 3, 3) phonopy's ``DynamicalMatrixGL._get_H`` of Cartesian vectors (..., 3):
    x xᵀ A(y) − ε⁻¹ B(y), x = Λ ε⁻¹ r, y = Λ √(r·ε⁻¹·r); 0 where y < 1e-10."""
    from scipy.special import erfc

    eps_inv = np.linalg.inv(dielectric)
    delta = cart @ eps_inv.T
    y = lam * np.sqrt((cart * delta).sum(axis=-1))
    x = lam * delta
    small = y < 1e-10
    y = np.where(small, 1.0, y)  # a dummy, as phonopy's, against the division
    y2, y3, exp_y2, erfc_y = y ** 2, y ** 3, np.exp(-y ** 2), erfc(y)
    a = np.where(small, 0, (3 * erfc_y / y3 + 2 / np.sqrt(np.pi) * exp_y2 * (3 / y2 + 2)) / y2)
    b = np.where(small, 0, erfc_y / y3 + 2 / np.sqrt(np.pi) * exp_y2 / y2)
    return (x[..., :, None] * x[..., None, :] * a[..., None, None]
            - eps_inv * b[..., None, None])


def full_terms_tables(primitive: Primitive, dielectric: np.ndarray, lam: float,
                      supercell: Crystal | None = None,
                      symprec: float = SYMPREC) -> NACFullTerms:
    """The ``NACFullTerms`` of phonopy 4.10's ``DynamicalMatrixGL(with_full_terms=True)``,
    its arithmetic kept as it is:

    * the real-space term of row atom a and column atom b at q is
      Σ_t (V + Vᴴ)/2 / m with V = c·H(r)·exp(2πi q·v), c = −Λ³/√det ε, for the images t of
      a in the supercell, v phonopy's *first* shortest vector from b to image t (of its m
      equally short ones) and H of r = v (primitive fractional) times the *supercell*
      lattice (phonopy's ``_get_H``); split here into the q-independent c(H ± Hᵀ)/2m, so
      that the term is Σ_t [c(H+Hᵀ)/2m cos + i c(H−Hᵀ)/2m sin](2π q·v);
    * the limiting term −4Λ³ ε⁻¹ / (3√π √det ε), added to each diagonal block;
    * the drift subtracted from each diagonal block besides phonopy's (unscaled) reciprocal
      q = 0 sum: n_p times the limiting term plus the real-space term at q = 0 summed over
      b.

    ``supercell``: the material's supercell (lattice and positions; atoms of the primitive
    atom ``primitive.s2pp``); None: the supercell M·primitive rebuilt from the primitive
    cell (M = ``primitive.supercell_in_primitive``), which differs from the material's by
    the positions' noise at most (phonopy's choice among equally short vectors does not
    depend on which image of an atom the cell lists)."""
    n_p = len(primitive.p2s)
    if supercell is None:
        supercell, s2pp = build_supercell(primitive.crystal, primitive.supercell_in_primitive,
                                          symprec)
        p2s = np.array([np.flatnonzero(s2pp == a)[0] for a in range(n_p)])
    else:
        s2pp, p2s = primitive.s2pp, primitive.p2s
    lattice = supercell.lattice
    vectors, multiplicity = shortest_vectors(lattice, supercell.frac_positions,
                                             supercell.frac_positions[p2s],
                                             primitive.crystal.lattice, symprec)
    first = vectors[:, :, 0]  # (N, n_p(b), 3): phonopy takes the first of the m vectors only
    # phonopy 4.10's _get_H: the primitive-fractional vectors times the supercell lattice
    h = real_space_h(first @ lattice, dielectric, lam)  # (N, n_p, 3, 3)
    v = -(lam ** 3) * h * np.linalg.det(dielectric) ** (-0.5)
    m = multiplicity[..., None, None]
    sym = (v + np.swapaxes(v, -1, -2)) / 2 / m
    anti = (v - np.swapaxes(v, -1, -2)) / 2 / m
    images = np.stack([np.flatnonzero(s2pp == a) for a in range(n_p)])  # (n_p(a), n_t)
    real_sym = np.swapaxes(sym[images], 1, 2)  # (a, b, t, 3, 3)
    limiting = (-4.0 / 3 / np.sqrt(np.pi) * np.linalg.inv(dielectric)
                / np.sqrt(np.linalg.det(dielectric)) * lam ** 3)
    return NACFullTerms(vectors=np.swapaxes(first[images], 1, 2),
                        real_sym=real_sym, real_anti=np.swapaxes(anti[images], 1, 2),
                        limiting=np.broadcast_to(limiting, (n_p, 3, 3)).copy(),
                        drift=limiting * n_p + real_sym.sum(axis=(1, 2)))


def nac_tables(params: NACParams, primitive: Primitive, s2u: np.ndarray, n_unit: int,
               commensurate_qpoints: np.ndarray, symprec: float = SYMPREC,
               supercell: Crystal | None = None) -> NACTables:
    """The ``NACTables`` of a prepared material. ``commensurate_qpoints`` (n_c, 3): the
    q-points commensurate with the supercell (inv(P)·S), n_c = N/n_p. ``supercell``: read
    by ``with_full_terms`` only (``full_terms_tables``; None: rebuilt)."""
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
        comm_weights=np.full(n_c, 1.0 / n_c), cells=np.array(float(n_c)), method=params.method,
        full_terms=(full_terms_tables(primitive, eps, lam, supercell, symprec)
                    if params.with_full_terms else None))
