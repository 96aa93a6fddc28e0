"""The real symmetric form of D(q) for centrosymmetric crystals (``phonjax.harmonic.real_form``).

Its eigenvalues against NumPy's complex Hermitian solver on matrices built with the
symmetry Π D Π = D*; the inversion maps ``prepare`` finds, checked on the D(q) of
real materials; and the runner's check that turns the form off where D(q) lacks
the symmetry. (The runners against phonopy with and without the form:
tests/test_plans_agree.py.)
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import phonjax
from phonjax.data import sample_dir
from phonjax.execution import default_plan, stages
from phonjax.execution.chunked import real_form_holds
from phonjax.execution.padding import own_sizes
from phonjax.harmonic.real_form import mode_partners, real_form, symmetry_residual
from phonjax.harmonic.tables import pad, sizes_of

# atoms 0↔1 and 3↔4 swap, 2 sits on the centre, 5 is padding (no partner)
PARTNER = np.array([1, 0, 2, 4, 3, -1])


def _symmetric_hermitian(rng, n_q: int, partner) -> np.ndarray:
    """Random Hermitian (n_q, m, m) with Π D Π = D* (m = 3·len(partner))."""
    pm = mode_partners(partner)
    m = len(pm)
    x = rng.normal(size=(n_q, m, m)) + 1j * rng.normal(size=(n_q, m, m))
    x = x + np.conj(np.swapaxes(x, 1, 2))
    return x + np.conj(x[:, pm][:, :, pm])


def test_real_form_has_the_complex_eigenvalues():
    rng = np.random.default_rng(0)
    d = _symmetric_hermitian(rng, 4, PARTNER)
    assert symmetry_residual(d, PARTNER) < 1e-15
    with jax.enable_x64(True):
        a = np.asarray(jax.jit(real_form)(d, PARTNER))
    assert a.dtype == np.float64 and np.abs(a - np.swapaxes(a, 1, 2)).max() < 1e-13
    expected = np.linalg.eigvalsh(d)
    np.testing.assert_allclose(np.linalg.eigvalsh(a), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())


def test_residual_sees_a_matrix_without_the_symmetry():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 18, 18)) + 1j * rng.normal(size=(2, 18, 18))
    assert symmetry_residual(x + np.conj(np.swapaxes(x, 1, 2)), PARTNER) > 0.1


# mp-3248: D(q) inversion-symmetric to rounding; mp-11583: inversion found, but its
# positions carry ~1e-9 noise that phonopy keeps (D's residual 2e-9): the runner must
# keep the complex form; mp-10851 (P6_422), mp-673245 (P1): no inversion
@pytest.mark.parametrize("mp_id,centrosymmetric,holds", [
    ("mp-3248", True, True), ("mp-11583", True, False),
    ("mp-10851", False, False), ("mp-673245", False, False)])
def test_prepare_finds_the_inversion_of_d(mp_id, centrosymmetric, holds):
    """The atom map from ``prepare`` is an involution under which real D(q) (force
    constants from the file's forces) has the symmetry (to rounding, or to the file's
    position noise), at generic q; the runner's check takes the real form only there."""
    ds = phonjax.read_dataset(sample_dir() / f"{mp_id}.yaml.xz")
    system = phonjax.prepare(ds)
    partner = np.asarray(system.tables.phases.inversion_partner)
    if not centrosymmetric:
        assert (partner == -1).all()
        return
    assert (partner[partner] == np.arange(len(partner))).all()
    fc = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True)[0]
    plan = default_plan()
    tables = system.tables
    own, n_modes = own_sizes(tables, plan), 3 * sizes_of(tables).np
    q = np.random.default_rng(2).uniform(-0.5, 0.5, size=(8, 3))
    with jax.enable_x64(True):
        phases = pad(tables.phases, own)  # padded atoms image atom 0 at weight 0
        blocks = stages.material_blocks_jit(fc.force_constants, phases, None)
        d = np.asarray(stages.chunk_matrices_jit(q, blocks, phases, None, n_modes=n_modes))
        assert symmetry_residual(d, partner) < (1e-13 if holds else 1e-8)
        assert real_form_holds(tables, blocks, phases, None, n_modes, 8, 1e-12) == holds
        # a wrong map (atoms 0 and 1 on the centre: they are not) fails the runner's check
        assert partner[0] != 0
        wrong = partner.copy()
        wrong[:2] = [0, 1]
        bad = dataclasses.replace(tables, phases=dataclasses.replace(
            tables.phases, inversion_partner=wrong))
        assert not real_form_holds(bad, blocks, pad(bad.phases, own), None, n_modes, 8, 1e-12)
