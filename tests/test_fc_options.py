"""phonopy's force-constant options against phonopy 4.10, run here on the example folders.

``phonjax.harmonic.fc_options``: ``symmetrize_fc=False`` (phonopy's finite-difference solve
and distribution without ``symmetrize_force_constants``) in full and compact
(``is_compact_fc=True``) layout. ``phonjax.harmonic.fc_cutoff``: phonopy's
``set_force_constants_zero_with_radius`` on full and compact force constants.
"""

from __future__ import annotations

import numpy as np
import phonopy
import pytest

import phonjax
from phonjax.harmonic.fc_cutoff import pair_distances, zero_beyond_radius
from phonjax.harmonic.fc_options import compact_force_constants, unsymmetrized_force_constants
from phonjax.harmonic.force_constants import force_constants
from tests.conftest import EXAMPLES

# measured max |phonjax − phonopy| of the unsymmetrized force constants: 0 (NaCl),
# 7.1e-15 eV/Å² (MgB2, Al2O3; |Φ| up to 21 eV/Å²), full and compact alike
UNSYMMETRIZED_TOL = 1e-12


@pytest.fixture(scope="module")
def example():
    """``example(name)`` → (phonopy with the example's forces and no force constants yet,
    phonjax's system and forces), once per module and material."""
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
                              produce_fc=False, log_level=0)
            assert np.allclose(ph.primitive_matrix, system.primitive_matrix)
            assert (ph.primitive.p2s_map == system.primitive.p2s).all()
            cache[name] = (ph, system, ds.forces)
        return cache[name]

    return load


@pytest.mark.parametrize("name", ["NaCl", "MgB2", "Al2O3"])
def test_unsymmetrized_equals_phonopy(example, name):
    """``phonopy.load(..., symmetrize_fc=False)`` is ``produce_force_constants()`` with no
    symmetrization after it: full, and compact (``is_compact_fc=True``)."""
    ph, system, forces = example(name)
    with phonjax.float64():
        ours = np.asarray(unsymmetrized_force_constants(system, forces))
        symmetrized = np.asarray(force_constants(forces, system.tables.fc))
    ph.produce_force_constants(show_drift=False)
    assert np.abs(ours - ph.force_constants).max() <= UNSYMMETRIZED_TOL
    # the symmetrization is really left out (it moves the NaCl example by ~1e-3 eV/Å²)
    assert np.abs(ours - symmetrized).max() > 1e-5
    ph.produce_force_constants(calculate_full_force_constants=False, show_drift=False)
    compact = compact_force_constants(ours, system.primitive.p2s)
    assert compact.shape == ph.force_constants.shape
    assert np.abs(compact - ph.force_constants).max() <= UNSYMMETRIZED_TOL


@pytest.mark.parametrize("name", ["NaCl", "Al2O3"])
@pytest.mark.parametrize("radius_A", [3.0, 4.5])
def test_zero_beyond_radius_equals_phonopy(example, name, radius_A):
    """The same force constants in, phonopy's zeroing out: identical, full and compact."""
    ph, system, _ = example(name)
    p2s = system.primitive.p2s
    for layout in ("full", "compact"):
        ph.produce_force_constants(calculate_full_force_constants=layout == "full",
                                   show_drift=False)
        before = ph.force_constants.copy()
        ours = zero_beyond_radius(before, system.supercell, radius_A,
                                  p2s=None if layout == "full" else p2s)
        ph.set_force_constants_zero_with_radius(radius_A)
        assert np.array_equal(ours, ph.force_constants)
        zeroed = (ours == 0).all(axis=(2, 3)) & (before != 0).any(axis=(2, 3))
        assert zeroed.any() and not zeroed.all()  # the radius cuts inside the supercell


def test_pair_distances_are_minimum_images(example):
    _, system, _ = example("NaCl")
    sc = system.supercell
    d = pair_distances(sc)
    assert np.allclose(d, d.T, atol=1e-12) and np.allclose(np.diag(d), 0)
    # brute force over the 27 neighbouring images (NaCl's cubic supercell needs no more)
    shifts = np.stack(np.meshgrid(*[np.arange(-1, 2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    diff = sc.frac_positions[None, :, None] - sc.frac_positions[:, None, None] + shifts
    assert np.allclose(d, np.linalg.norm(diff @ sc.lattice, axis=-1).min(axis=-1), atol=1e-12)
    assert np.allclose(pair_distances(sc, [5, 0]), d[[5, 0]])


def test_bad_inputs_are_one_line_value_errors(example):
    _, system, forces = example("NaCl")
    full = np.zeros((system.n_supercell, system.n_supercell, 3, 3))
    with pytest.raises(ValueError, match="need p2s"):
        zero_beyond_radius(full[:2], system.supercell, 4.0)
    with pytest.raises(ValueError, match="cutoff_radius_A"):
        zero_beyond_radius(full, system.supercell, 0.0)
    with pytest.raises(ValueError, match="forces have shape"):
        unsymmetrized_force_constants(system, forces[:, :3])
    with pytest.raises(ValueError, match="full force constants"):
        compact_force_constants(full[:2], [0, 1])
