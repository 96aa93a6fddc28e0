"""Every execution plan against phonopy, on real phonondb materials.

One test per valid ``Plan`` (chunked + phonors / LAPACK / XLA eigensolver,
graph + XLA): force constants, F/S/Cv, commensurate frequencies and the
stability verdict at the contract's tolerances, on six materials of four crystal
systems, two with more than 32 modes (where cuSOLVER switches algorithms on a
GPU). A plan must use the eigensolver it names: the XLA plans run with the
host solvers disabled, the host plans must call theirs, and the real symmetric
form of centrosymmetric crystals (``phonjax.harmonic.real_form``) must be used exactly
where the plan allows it. With the non-analytical
correction (phonopy's example folders, ``phonopy_example``): Gonze–Lee NaCl, Wang
Al2O3 and NaCl without NAC in one call (one size bucket split by NAC method),
through the runners and through ``modes`` (mesh points, Γ along [100]).
"""

from __future__ import annotations

import numpy as np
import pytest

import phonjax
from phonjax.execution import ALL_PLANS, host_eigen
from phonjax.execution.modes import modes
from phonjax.harmonic.stability import stability

PLAN_IDS = ["mp-1000", "mp-361", "mp-14006", "mp-3248", "mp-8710", "mp-673245"]


@pytest.fixture(scope="module")
def cases(kernel_cases):
    chosen = [c for c in kernel_cases if c[0].dataset.id in PLAN_IDS]
    assert len(chosen) == len(PLAN_IDS)
    assert max(3 * s.n_primitive for _, s, _ in chosen) > 32
    return chosen


def _spy_or_forbid(monkeypatch, plan):
    calls = {"n": 0, "real": 0}
    for name, solver in list(host_eigen.SOLVERS.items()):
        def wrapped(d, _solver=solver, _name=name):
            if not plan.host_solver:
                raise AssertionError(f"the {plan.eigensolver} plan called the host solver {_name}")
            calls["n"] += 1
            return _solver(d)
        monkeypatch.setitem(host_eigen.SOLVERS, name, wrapped)
    real_solver = host_eigen.real_eigvalsh

    def real_wrapped(d):
        if not (plan.host_solver and plan.real_form_tolerance > 0):
            raise AssertionError(f"{_plan_id(plan)} solved a real symmetric form")
        calls["real"] += 1
        return real_solver(d)
    monkeypatch.setattr(host_eigen, "real_eigvalsh", real_wrapped)
    return calls


def _plan_id(p) -> str:
    return f"{p.runner}-{p.eigensolver}" + ("" if p.real_form_tolerance else "-complex")


@pytest.mark.parametrize("plan", ALL_PLANS, ids=_plan_id)
def test_plan_matches_phonopy(cases, plan, monkeypatch):
    calls = _spy_or_forbid(monkeypatch, plan)
    systems = [s for _, s, _ in cases]
    results = phonjax.phonon_properties(systems, [ref.dataset.forces for ref, _, _ in cases],
                                        plan=plan, keep_force_constants=True)
    assert (calls["n"] + calls["real"] > 0) == plan.host_solver
    # mp-1000 (Fm-3m) and others are centrosymmetric
    assert (calls["real"] > 0) == (plan.host_solver and plan.real_form_tolerance > 0)
    for (ref, system, _), r in zip(cases, results):
        name = ref.dataset.id
        assert np.abs(r.force_constants - ref.phonopy.force_constants).max() <= 1e-10, name
        for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            ours, theirs = getattr(r, key)[0], getattr(ref, key)[0]
            assert abs(ours - theirs) <= 1e-8 * abs(theirs), (name, key, ours, theirs)
        theirs = np.sort(ref.commensurate_frequencies_THz, axis=1)
        ours = np.sort(r.commensurate_frequencies_THz, axis=1)
        real = np.abs(theirs) >= 0.1  # the contract's modes; Γ acoustic ones are noise
        np.testing.assert_allclose(ours[real], theirs[real], atol=1e-8, rtol=0, err_msg=name)
        assert r.stable == stability(ref.commensurate_qpoints, theirs).stable, name


NAC_CASES = [("NaCl", "gonze"), ("Al2O3", "wang"), ("NaCl", None)]
# the XLA-eigensolver plans compile their own NAC graphs (~35-50 s on 2 CPU cores): slow
NAC_PLANS = [p if p.host_solver else pytest.param(p, marks=pytest.mark.slow) for p in ALL_PLANS]


@pytest.mark.parametrize("plan", NAC_PLANS, ids=_plan_id)
def test_plan_matches_phonopy_with_nac(phonopy_example, plan, monkeypatch):
    cases = [phonopy_example(*c) for c in NAC_CASES]
    systems = [phonjax.prepare(ds) for _, ds, _ in cases]
    calls = _spy_or_forbid(monkeypatch, plan)
    results = phonjax.phonon_properties(systems, [ds.forces for _, ds, _ in cases], plan=plan,
                                        keep_force_constants=True)
    assert (calls["n"] + calls["real"] > 0) == plan.host_solver
    # NaCl (Fm-3m) and Al2O3 (R-3c) are centrosymmetric, with NAC too
    assert (calls["real"] > 0) == (plan.host_solver and plan.real_form_tolerance > 0)
    for case, (ref, _, directions), system, r in zip(NAC_CASES, cases, systems, results):
        assert np.abs(r.force_constants - ref.force_constants).max() <= 1e-10, case
        for key in ("free_energy_kJmol", "entropy_JKmol", "heat_capacity_JKmol"):
            ours, theirs = getattr(r, key)[0], getattr(ref, key)[0]
            assert abs(ours - theirs) <= 1e-8 * abs(theirs), (case, key, ours, theirs)
        theirs = np.sort(ref.commensurate_frequencies_THz, axis=1)
        real = np.abs(theirs) >= 0.1
        np.testing.assert_allclose(np.sort(r.commensurate_frequencies_THz, axis=1)[real],
                                   theirs[real], atol=1e-8, rtol=0, err_msg=str(case))
        some = slice(0, None, 97)  # a few dozen of phonopy's mesh points
        ours = modes(system.tables, r.force_constants, ref.mesh_qpoints[some], plan)[0]
        np.testing.assert_allclose(ours, ref.mesh_frequencies_THz[some], atol=1e-8, rtol=0,
                                   err_msg=str(case))
        if case[1] is not None:
            ours = modes(system.tables, r.force_constants, [[0.0, 0.0, 0.0]], plan,
                         q_direction=directions[0])[0][0]
            theirs = ref.gamma_frequencies_THz[0]
            real = np.abs(theirs) >= 0.1
            np.testing.assert_allclose(ours[real], theirs[real], atol=1e-8, rtol=0)


def test_host_consistency_check_catches_wrong_eigenvalues():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(5, 6, 6)) + 1j * rng.normal(size=(5, 6, 6))
    h = a + np.conj(np.swapaxes(a, 1, 2))
    e = np.linalg.eigvalsh(h)
    assert host_eigen.consistent(h, e).all()
    e[2, 4] += 1e-6
    assert host_eigen.consistent(h, e).tolist() == [True, True, False, True, True]


def test_phonors_equals_lapack_in_a_fresh_process():
    """Regression: phonors' worker pool created from a non-main thread once returned wrong
    eigenvalues; here the pool is created on first use, in a fresh interpreter."""
    import subprocess
    import sys

    script = ("import numpy as np; from phonjax.execution.host_eigen import phonors_eigvalsh\n"
              "rng = np.random.default_rng(0); a = rng.normal(size=(300, 24, 24)) * (1 + 1j)\n"
              "h = a + np.conj(np.swapaxes(a, 1, 2))\n"
              "print(np.abs(phonors_eigvalsh(h) - np.linalg.eigvalsh(h)).max())")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.split()[-1]) < 1e-10
