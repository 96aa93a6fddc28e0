"""``execution.modes``: frequencies and eigenvectors at arbitrary q-points against phonopy, for
every eigensolver (D(q) at fine-ladder padded sizes, solvers on the real modes only)."""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax.execution import Plan
from phonjax.execution.modes import modes
from tests.conftest import sample_path
from validation.reference import phonopy_reference


@pytest.fixture(scope="module", params=["mp-1000", "mp-8710"])
def case(request):
    ref = phonopy_reference(sample_path(request.param), mesh=None)
    system = phonjax.prepare(ref.dataset)
    [res] = phonjax.phonon_properties([system], [ref.dataset.forces], keep_force_constants=True)
    q = np.random.default_rng(0).uniform(-0.6, 0.6, (23, 3))
    ref.phonopy.run_qpoints(q, with_eigenvectors=True)
    d = ref.phonopy.get_qpoints_dict()
    return system, res.force_constants, q, d["frequencies"], d["eigenvectors"]


@pytest.mark.parametrize("eigensolver", ["phonors", "lapack", "xla"])
def test_modes_match_phonopy(case, eigensolver):
    system, fc, q, f_ref, v_ref = case
    f, v = modes(system.tables, fc, q, Plan(eigensolver=eigensolver), eigenvectors=True)
    assert np.abs(f - f_ref).max() <= 1e-8
    # same modes: |⟨e_ours|e_phonopy⟩| = 1 for non-degenerate modes (a phase apart)
    gaps = np.diff(f_ref, axis=1)
    single = np.ones_like(f_ref, bool)
    single[:, 1:] &= gaps > 1e-4
    single[:, :-1] &= gaps > 1e-4
    overlap = np.abs(np.einsum("qim,qim->qm", v.conj(), v_ref))
    assert np.abs(overlap - 1)[single].max() <= 1e-8
    f_only, none = modes(system.tables, fc, q, Plan(eigensolver=eigensolver))
    assert none is None and np.abs(f_only - f).max() <= 1e-10
