"""How a pair's second-order force constants are made: phonopy's choices of ``fc_calculator``,
displacements and post-processing, as one frozen record.

``FCRoute``
    ``calculator``: ``"finite"`` (phonopy's default: one atom displaced at a time, the
    finite-difference solve of ``phonjax.harmonic.force_constants``, batched in the kernel)
    or ``"symfc"`` (phonopy 4's ``fc_calculator="symfc"``: a symfc least-squares fit,
    ``phonjax.harmonic.symfc_fit``, of whatever displacements there are);
    ``random_snapshots`` N: instead of phonopy's one-atom displacements, N supercells with
    every atom displaced at random (phonopy's ``generate_displacements(distance,
    number_of_snapshots=N, random_seed=S)``, ``phonjax.harmonic.random_displacements``,
    identical arrays for the same seed), which only a fit can use (so ``"symfc"``);
    ``symfc_cutoff_A``: symfc's pair cutoff (phonopy's ``--fc-calc-opt "cutoff = r"``);
    ``symmetrize``: False is phonopy's ``symmetrize_fc=False`` (``--no-sym-fc``) for the
    finite route; ``cutoff_radius_A``: phonopy's ``set_force_constants_zero_with_radius``
    (``--cutoff-radius``), applied last, to the force constants as produced.

The default route is the kernel's own (finite, symmetrized, no cutoff): ``phonjax run``
and ``Phonons`` then take the batched kernel path unchanged. Any other route makes the
force constants here, on the host, and the commensurate frequencies from them
(``harmonic.properties.properties_from_force_constants``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FCRoute:
    calculator: str = "finite"  # "finite" | "symfc"
    random_snapshots: int | None = None  # N random-displacement supercells (symfc only)
    random_seed: int | None = None  # phonopy's random_seed (None: a fresh one, recorded)
    symfc_cutoff_A: float | None = None  # symfc pair cutoff, Å
    symmetrize: bool = True  # phonopy's symmetrize_fc (finite route)
    cutoff_radius_A: float | None = None  # zero Φ(i, j) beyond this distance, Å

    def __post_init__(self):
        if self.calculator not in ("finite", "symfc"):
            raise ValueError(f"fc_calculator must be 'finite' or 'symfc', got {self.calculator!r}")
        if self.random_snapshots is not None:
            n = self.random_snapshots
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"random_snapshots must be a positive integer, got {n!r}")
            if self.calculator != "symfc":
                raise ValueError("random displacements need a fit: fc_calculator='symfc'")
        if self.calculator == "symfc" and not self.symmetrize:
            raise ValueError("symmetrize_fc=False applies to the finite route; symfc's force "
                             "constants are symmetric by construction")
        for name in ("symfc_cutoff_A", "cutoff_radius_A"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and
                                          not isinstance(value, bool) and np.isfinite(value)
                                          and value > 0):
                raise ValueError(f"{name} must be a positive number of Å, got {value!r}")
        if self.symfc_cutoff_A is not None and self.calculator != "symfc":
            raise ValueError("symfc_cutoff_A needs fc_calculator='symfc'")
        seed = self.random_seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or not 0 <= seed < 2 ** 32):
            raise ValueError(f"random_seed must be an integer in [0, 2**32), got {seed!r}")

    @property
    def is_kernel(self) -> bool:
        """The kernel's own route: finite differences, symmetrized, no cutoff."""
        return self == FCRoute(random_seed=self.random_seed)

    def describe(self, n_file_snapshots: int | None = None) -> str:
        """One line for the outputs: which of phonopy's rules made the force constants
        (``n_file_snapshots``: a force-set file's type-2 displacements were fitted)."""
        if n_file_snapshots is not None:
            how = f"symfc fit of the file's {n_file_snapshots} type-2 displacement set(s)"
        elif self.random_snapshots is not None:
            how = (f"symfc fit of {self.random_snapshots} random-displacement supercell(s) "
                   f"(phonopy's number_of_snapshots, random_seed {self.random_seed})")
        elif self.calculator == "symfc":
            how = "symfc fit of phonopy's one-atom displacements"
        else:
            how = "finite differences" + ("" if self.symmetrize else
                                          ", not symmetrized (phonopy's symmetrize_fc=False)")
        if self.symfc_cutoff_A is not None:
            how += f", symfc pair cutoff {self.symfc_cutoff_A:g} Å"
        if self.cutoff_radius_A is not None:
            how += f", zero beyond {self.cutoff_radius_A:g} Å (phonopy's --cutoff-radius)"
        return how


def with_seed(route: FCRoute) -> FCRoute:
    """``route`` with a seed drawn now when random displacements have none (so that it can be
    recorded and the run repeated)."""
    if route.random_snapshots is None or route.random_seed is not None:
        return route
    from dataclasses import replace

    return replace(route, random_seed=int(np.random.SeedSequence().entropy % (2 ** 32)))


def one_atom_fields(system) -> np.ndarray:
    """(n_disp, N, 3) Å: a prepared system's one-atom displacements as whole-supercell fields
    (what a fit reads)."""
    fields = np.zeros((len(system.displacements), system.n_supercell, 3))
    fields[np.arange(len(fields)), np.asarray(system.displaced_atoms)] = np.asarray(
        system.displacements, float)
    return fields


def displacement_fields(system, route: FCRoute, distance_A: float) -> np.ndarray | None:
    """The random-displacement fields (n, N, 3) Å of ``route`` for ``system``'s supercell,
    or None when the route uses the system's one-atom displacements."""
    if route.random_snapshots is None:
        return None
    from phonjax.harmonic.random_displacements import random_displacements

    return random_displacements(system.supercell, route.random_snapshots, distance_A,
                                route.random_seed)


def force_constants(system, forces: np.ndarray, route: FCRoute, *, fields=None,
                    produced=None, subtract_drift: bool = False,
                    symprec: float | None = None) -> np.ndarray:
    """(N, N, 3, 3) eV/Å² by ``route``: ``forces`` (n, N, 3) eV/Å on the displaced
    supercells — the system's one-atom ones, or ``fields`` (n, N, 3) Å. The finite,
    symmetrized force constants are the kernel's: given as ``produced`` (this function then
    applies the route's cutoff radius only)."""
    import jax

    from phonjax.harmonic import fc_cutoff
    from phonjax.structure.symmetry import SYMPREC

    symprec = SYMPREC if symprec is None else symprec
    if route.calculator == "symfc":
        from phonjax.harmonic.symfc_fit import fit_force_constants

        u = one_atom_fields(system) if fields is None else np.asarray(fields, float)
        fc = fit_force_constants(system.supercell, u, forces, symprec=symprec,
                                 cutoff_radius_A=route.symfc_cutoff_A)
    elif not route.symmetrize:
        from phonjax.harmonic.fc_options import unsymmetrized_force_constants

        with jax.enable_x64(True):
            fc = np.asarray(unsymmetrized_force_constants(system, forces,
                                                          subtract_drift=subtract_drift))
    elif produced is not None:
        fc = np.asarray(produced, float)
    else:
        raise ValueError("the finite, symmetrized force constants are the kernel's: give "
                         "them as produced=")
    if route.cutoff_radius_A is not None:
        fc = fc_cutoff.zero_beyond_radius(fc, system.supercell, route.cutoff_radius_A,
                                          symprec=symprec)
    return np.asarray(fc, float)
