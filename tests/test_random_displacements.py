"""Random displacements and their symfc fit against phonopy 4.10, run here on the same inputs.

``phonjax.harmonic.random_displacements``: the displacements of phonopy's
``generate_displacements(distance, number_of_snapshots, random_seed, ...)``, bit for bit.
``phonjax.harmonic.symfc_fit``: the force constants of phonopy's
``produce_force_constants(fc_calculator="symfc")`` (with and without its ``cutoff``), from
forces of a known model: the example's own force constants (a harmonic force field,
F = −Φᵀu) plus seeded noise, so that the fit is a genuine least-squares projection that
depends on the symmetry basis, not an exact recovery of Φ.
"""

from __future__ import annotations

import numpy as np
import phonopy
import pytest

import phonjax
from phonjax.harmonic.fc_cutoff import pair_distances
from phonjax.harmonic.fc_options import compact_force_constants
from phonjax.harmonic.random_displacements import displaced_positions, random_displacements
from phonjax.harmonic.symfc_fit import fit_force_constants
from tests.conftest import EXAMPLES

# measured max |phonjax − phonopy| of the symfc fits (NaCl, Al2O3; with and without cutoff):
# 0.0 eV/Å² full, 8.9e-16 eV/Å² compact (phonopy's compact fit is symfc's own compact solve);
# the contract is 1e-10
FIT_TOL = 1e-10
NOISE_EV_A = 0.01  # eV/Å of seeded noise on the harmonic forces


@pytest.fixture(scope="module")
def example():
    """``example(name)`` → (phonopy with the example's full force constants, phonjax's
    supercell and primitive atoms p2s), once per module and material."""
    cache = {}

    def load(name: str):
        if name not in cache:
            folder = EXAMPLES / name
            if not folder.is_dir():
                pytest.skip(f"phonopy example {name} not found")
            ds = phonjax.read_input(folder, nac=False)
            system = phonjax.prepare(ds, mesh=1)
            ph = phonopy.load(folder / "phonopy_disp.yaml",
                              force_sets_filename=folder / "FORCE_SETS",
                              primitive_matrix=ds.primitive_matrix.tolist(), is_nac=False,
                              is_compact_fc=False, log_level=0)
            # the same supercell and primitive cell, atom by atom
            assert np.allclose(ph.primitive_matrix, system.primitive_matrix)
            assert np.allclose(ph.supercell.cell, system.supercell.lattice)
            assert np.allclose(ph.supercell.scaled_positions, system.supercell.frac_positions)
            assert (ph.primitive.p2s_map == system.primitive.p2s).all()
            cache[name] = (ph, system.supercell, system.primitive.p2s)
        return cache[name]

    return load


def phonopy_displacements(ph, **kwargs) -> np.ndarray:
    """phonopy's random displacements for ``ph``'s supercell."""
    fresh = phonopy.Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix,
                            primitive_matrix=ph.primitive_matrix, log_level=0)
    fresh.generate_displacements(**kwargs)
    return np.asarray(fresh.displacements)


GENERATION_CASES = {  # ours (n, distance, seed, keywords) → phonopy's keywords
    "seed0": ((2, 0.01, 0, {}), dict(distance=0.01, number_of_snapshots=2, random_seed=0)),
    "seed-max": ((3, 0.03, 2**32 - 1, {}),
                 dict(distance=0.03, number_of_snapshots=3, random_seed=2**32 - 1)),
    "auto-is-single": ((2, 0.02, 42, {"is_plusminus": "auto"}),
                       dict(distance=0.02, number_of_snapshots=2, random_seed=42)),
    "plusminus-max": ((3, 0.01, 5, {"is_plusminus": True, "max_distance_A": 0.05}),
                      dict(distance=0.01, number_of_snapshots=3, random_seed=5, is_plusminus=True,
                           max_distance=0.05)),
    "per-atom": ((2, 0.01, 9, {"max_distance_A": 0.04, "distance_sampling": "atom"}),
                 dict(distance=0.01, number_of_snapshots=2, random_seed=9, max_distance=0.04,
                      distance_sampling="atom")),
}


@pytest.mark.parametrize("name", ["NaCl", "Al2O3"])
@pytest.mark.parametrize("case", list(GENERATION_CASES))
def test_displacements_identical_to_phonopy(example, name, case):
    ph, supercell, _ = example(name)
    (n, distance, seed, kwargs), theirs = GENERATION_CASES[case]
    ours = random_displacements(supercell, n, distance, seed, **kwargs)
    expected = phonopy_displacements(ph, **theirs)
    assert ours.shape == expected.shape
    assert np.array_equal(ours, expected)  # bit for bit
    by_count = random_displacements(supercell.n_atoms, n, distance, seed, **kwargs)
    assert np.array_equal(by_count, ours)


def test_distances_and_positions(example):
    _, supercell, _ = example("NaCl")
    u = random_displacements(supercell, 3, 0.02, 1)
    assert np.allclose(np.linalg.norm(u, axis=-1), 0.02, rtol=0, atol=1e-15)
    assert not np.array_equal(u, random_displacements(supercell, 3, 0.02, 2))
    assert np.allclose(displaced_positions(supercell, u), supercell.positions + u)
    u = random_displacements(supercell, 4, 0.01, 3, max_distance_A=0.05)
    lengths = np.linalg.norm(u, axis=-1)
    assert np.allclose(lengths, lengths[:, :1]) and (lengths >= 0.01 - 1e-15).all()


def harmonic_forces(ph, u: np.ndarray) -> np.ndarray:
    """F(s, j) = −Σ_i Φ(i, j)ᵀ u(s, i) with the example's force constants, plus seeded
    noise."""
    forces = -np.einsum("ijab,sia->sjb", ph.force_constants, u)
    return forces + NOISE_EV_A * np.random.default_rng(17).standard_normal(u.shape)


@pytest.mark.parametrize("name", ["NaCl", "Al2O3"])
@pytest.mark.parametrize("cutoff_A", [None, 4.0])
def test_symfc_fit_equals_phonopy(example, name, cutoff_A):
    ph, supercell, p2s = example(name)
    u = random_displacements(supercell, 3, 0.03, 11)
    forces = harmonic_forces(ph, u)
    fitted = phonopy.Phonopy(ph.unitcell, supercell_matrix=ph.supercell_matrix,
                             primitive_matrix=ph.primitive_matrix, log_level=0)
    fitted.dataset = {"displacements": u, "forces": forces}
    options = None if cutoff_A is None else f"cutoff = {cutoff_A}"
    fitted.produce_force_constants(fc_calculator="symfc", fc_calculator_options=options,
                                   show_drift=False)
    ours = fit_force_constants(supercell, u, forces, cutoff_radius_A=cutoff_A)
    assert ours.shape == (supercell.n_atoms,) * 2 + (3, 3)
    assert np.abs(ours - fitted.force_constants).max() <= FIT_TOL
    # the noise makes it a projection, not the model itself
    assert np.abs(ours - ph.force_constants).max() > 1e-4
    if cutoff_A is None and name == "NaCl":  # (one material: each symfc run costs seconds)
        fitted.produce_force_constants(fc_calculator="symfc", show_drift=False,
                                       calculate_full_force_constants=False)
        compact = compact_force_constants(ours, p2s)
        assert np.abs(compact - fitted.force_constants).max() <= FIT_TOL
    if cutoff_A is not None:  # symfc's cutoff: pairs at ≥ r Å are out of the basis
        far = pair_distances(supercell) >= cutoff_A
        assert far.any() and (ours[far] == 0).all() and np.abs(ours[~far]).max() > 0


def test_bad_inputs_are_one_line_value_errors(example):
    _, supercell, _ = example("NaCl")
    bad_generation = [dict(n_snapshots=0), dict(distance_A=0.0), dict(random_seed=-1),
                      dict(random_seed=2**32), dict(is_plusminus="yes"),
                      dict(max_distance_A=0.001), dict(distance_sampling="atom"),
                      dict(distance_sampling="cell", max_distance_A=0.1)]
    for change in bad_generation:
        args = dict(n_snapshots=2, distance_A=0.01, random_seed=1) | change
        with pytest.raises(ValueError):
            random_displacements(supercell, **args)
    u = random_displacements(supercell, 2, 0.01, 1)
    with pytest.raises(ValueError, match="forces have shape"):
        fit_force_constants(supercell, u, u[:1])
    with pytest.raises(ValueError, match="displacements must have shape"):
        fit_force_constants(supercell, u[:, :3], u[:, :3])
    with pytest.raises(ValueError, match="cutoff_radius_A"):
        fit_force_constants(supercell, u, u, cutoff_radius_A=-1.0)
