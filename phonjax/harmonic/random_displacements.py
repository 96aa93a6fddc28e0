"""Random displacements: every atom of a supercell displaced at once, as phonopy 4 draws them.

phonopy's ``Phonopy.generate_displacements(distance, number_of_snapshots=n,
random_seed=s)`` (``phonopy.harmonic.displacement.get_random_displacements_dataset``):
a type-2 dataset of n snapshots, each an (N, 3) array of Cartesian displacements (Å)
of all N supercell atoms. Directions are uniform on the unit sphere: numpy's
``default_rng(seed)`` draws a (3, 2·n·N) block of standard normal numbers at once,
columns of norm ≤ 1e-10 are dropped and the first n·N columns, normalised, are the
directions of atom j of snapshot k at column k·N + j. The length is

* ``distance`` for every atom (``max_distance`` None), or
* with ``max_distance``: one ``rng.random()`` per snapshot (drawn after all the
  directions) times ``max_distance``, raised to ``distance`` where smaller
  ("supercell" sampling), or one per atom uniform over [distance, max_distance)
  ("atom" sampling).

``is_plusminus``: the n snapshots negated follow the n drawn ones (2n in all).
The same seed gives the same numbers bit for bit: the draws, their order and the
arithmetic (norm over the three rows, division, scaling) are phonopy's. Only the
number of atoms is used, never their positions or symmetry. The forces on these
supercells give force constants by a symmetry-adapted least-squares fit
(``phonjax.harmonic.symfc_fit``).
"""

from __future__ import annotations

import numpy as np

from phonjax.structure.crystal import Crystal

DEFAULT_DISTANCE_A = 0.01  # phonopy's default displacement distance
SEED_BOUND = 2**32  # phonopy uses a seed only in [0, 2³²)
DISTANCE_SAMPLINGS = ("supercell", "atom")


def _unit_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 3) directions uniform on the unit sphere: 2n normal 3-vectors drawn as one (3, 2n)
    block, the (near-)zero ones skipped, the first n normalised (phonopy's stream)."""
    draws = rng.standard_normal(size=(3, 2 * n))
    norms = np.linalg.norm(draws, axis=0)
    usable = norms > 1e-10
    directions = draws[:, usable][:, :n] / norms[usable][:n]
    if directions.shape[1] != n:  # needs more than n of 2n normal vectors at the origin
        raise ValueError(f"could not draw {n} random directions")
    return directions.T


def _length(name: str, value) -> float:
    """``value`` as a finite float, else a one-line ``ValueError`` naming ``name``."""
    try:
        length = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number of Å, got {value!r}") from None
    if isinstance(value, bool) or not np.isfinite(length):
        raise ValueError(f"{name} must be a finite number of Å, got {value!r}")
    return length


def random_displacements(supercell: Crystal | int, n_snapshots: int,
                         distance_A: float = DEFAULT_DISTANCE_A, random_seed: int | None = None,
                         *, is_plusminus: bool | str = False, max_distance_A: float | None = None,
                         distance_sampling: str = "supercell") -> np.ndarray:
    """Cartesian displacements (n_snapshots, N, 3) Å of every atom of ``supercell`` (a
    ``Crystal`` or its number of atoms N), identical to phonopy's
    ``generate_displacements(distance_A, number_of_snapshots=n_snapshots,
    random_seed=random_seed, is_plusminus=..., max_distance=max_distance_A,
    distance_sampling=...)`` on the same supercell.

    ``random_seed``: an integer in [0, 2³²) (phonopy ignores any other; here it is a
    ``ValueError``), or None for fresh entropy (not reproducible). ``is_plusminus``: True
    appends the negated snapshots (2·n_snapshots in all); False or phonopy's default
    "auto" do not (for random displacements phonopy treats "auto" as False).
    """
    n_atoms = supercell.n_atoms if isinstance(supercell, Crystal) else supercell
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer)) or n_atoms < 1:
        raise ValueError("supercell must be a Crystal or a number of atoms ≥ 1, "
                         f"got {supercell!r}")
    if (isinstance(n_snapshots, bool) or not isinstance(n_snapshots, (int, np.integer))
            or n_snapshots < 1):
        raise ValueError(f"n_snapshots must be an integer ≥ 1, got {n_snapshots!r}")
    distance_A = _length("distance_A", distance_A)
    if max_distance_A is not None:
        max_distance_A = _length("max_distance_A", max_distance_A)
    if not distance_A > 0:
        raise ValueError(f"distance_A must be a positive number of Å, got {distance_A!r}")
    if random_seed is not None and (isinstance(random_seed, bool)
                                    or not isinstance(random_seed, (int, np.integer))
                                    or not 0 <= random_seed < SEED_BOUND):
        raise ValueError("random_seed must be an integer in [0, 2**32) or None, "
                         f"got {random_seed!r}")
    if is_plusminus not in (True, False, "auto"):
        raise ValueError(f"is_plusminus must be True, False or 'auto', got {is_plusminus!r}")
    if distance_sampling not in DISTANCE_SAMPLINGS:
        raise ValueError("distance_sampling must be 'supercell' or 'atom', "
                         f"got {distance_sampling!r}")
    if max_distance_A is None and distance_sampling == "atom":
        raise ValueError("distance_sampling='atom' needs max_distance_A")
    if max_distance_A is not None and not max_distance_A >= distance_A:
        raise ValueError(f"max_distance_A must be at least distance_A ({distance_A} Å), "
                         f"got {max_distance_A!r}")
    rng = np.random.default_rng(None if random_seed is None else int(random_seed))
    directions = _unit_directions(int(n_atoms) * int(n_snapshots), rng)
    if max_distance_A is None:
        shifted = (directions * distance_A).reshape(n_snapshots, n_atoms, 3)
    elif distance_sampling == "atom":
        lengths = distance_A + rng.random((n_snapshots, n_atoms)) * (max_distance_A - distance_A)
        shifted = directions.reshape(n_snapshots, n_atoms, 3) * lengths[:, :, None]
    else:
        lengths = rng.random((n_snapshots, 1)) * max_distance_A
        lengths[lengths < distance_A] = distance_A
        shifted = directions.reshape(n_snapshots, n_atoms, 3) * lengths[:, :, None]
    if is_plusminus is True:
        shifted = np.concatenate((shifted, -shifted), axis=0)
    return np.ascontiguousarray(shifted, dtype=float)


def displaced_positions(supercell: Crystal, displacements) -> np.ndarray:
    """Cartesian positions (n_snapshots, N, 3) Å of the displaced supercells (the
    supercell's positions plus ``displacements``, unwrapped), to hand to a force model."""
    u = np.asarray(displacements, float)
    if u.ndim != 3 or u.shape[1:] != (supercell.n_atoms, 3):
        raise ValueError(f"displacements must have shape (n_snapshots, {supercell.n_atoms}, 3), "
                         f"got {u.shape}")
    return supercell.positions[None] + u


__all__ = ["random_displacements", "displaced_positions", "DEFAULT_DISTANCE_A"]
