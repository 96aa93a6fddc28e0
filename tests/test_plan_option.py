"""``--plan`` on every command and ``Phonons(plan=)`` (issue 24): the plan says how the kernels
run, never what they compute; results under a non-default plan are phonopy's, and a plan the
``Plan`` refuses is one line with status 2 before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest

import phonjax
from phonjax.execution.plan import Plan, plan_from_text
from tests.conftest import sample_path


def test_plan_from_text_fields_and_refusals():
    plan = plan_from_text("runner=graph", 3e9)
    assert (plan.runner, plan.eigensolver, plan.memory_bytes) == ("graph", "xla", 3e9)
    assert plan_from_text("eigensolver=lapack,q_chunk_min=16").q_chunk_min == 16
    assert plan_from_text(None) == plan_from_text("default")
    assert plan_from_text("q_workers=3").q_workers == 3
    assert plan_from_text("q_workers=1").q_worker_count() == 1
    for bad, words in [("foo=1", "FIELD=VALUE"), ("runner=x", "runner must be"),
                       ("q_workers=0", "positive integer"), ("q_workers=1.5", "integer"),
                       ("q_chunk_min=1.5", "integer"), ("q_chunk_bytes=abc", "number"),
                       ("runner=graph,eigensolver=lapack", "graph runner")]:
        with pytest.raises(ValueError, match=words):
            plan_from_text(bad)


def test_phonons_cli_plan_gives_phonopys_numbers(capsys):
    from phonjax.cli import main
    from validation.reference import phonopy_reference

    path = str(sample_path("mp-1000"))
    assert main(["phonons", path, "--json", "--plan", "eigensolver=lapack,real_form_tolerance=0"]) == 0
    [record] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    ref = phonopy_reference(path)
    assert abs(record["free_energy_kJmol"] - ref.free_energy_kJmol[0]) <= 1e-8 * abs(
        ref.free_energy_kJmol[0])
    assert main(["phonons", path, "--plan", "runner=x"]) == 2
    err = capsys.readouterr().err
    assert "runner must be" in err and len(err.strip().splitlines()) == 1


def test_run_cli_refuses_a_bad_plan_before_work(tmp_path, capsys):
    from phonjax.single.cli import main

    out = tmp_path / "out"
    assert main([str(sample_path("mp-1000")), "--plan", "eigensolver=none", "--out", str(out)]) == 2
    assert "eigensolver must be" in capsys.readouterr().err
    assert not out.exists()


def test_phonons_plan_reaches_the_kernel_and_the_modes():
    """A ``Phonons`` made with a plan runs its kernel and its mode solver under that plan,
    with phonopy's frequencies at the commensurate points either way."""
    from validation.reference import phonopy_reference

    path = sample_path("mp-1000")
    plan = Plan(eigensolver="lapack", real_form_tolerance=0.0)
    p = phonjax.Phonons.from_dataset(path, plan=plan, mesh=(4, 4, 4), band_points=5)
    p.produce_force_constants()
    assert p.plan == plan and p.harmonic.plan == plan and p.harmonic.solver.plan == plan
    ref = phonopy_reference(path, mesh=None)
    q = np.asarray(p.system.commensurate)
    ref.phonopy.run_qpoints(q)
    theirs = ref.phonopy.qpoints.frequencies
    ours, _ = p.modes_at(q)
    real = np.abs(theirs) >= 0.1  # Γ's acoustic modes are √(round-off): ~1e-8 THz either way
    assert np.abs(ours - theirs)[real].max() <= 1e-8


def test_kernel_without_thermal_keeps_the_commensurate_frequencies():
    """``phonon_properties(thermal=False)`` (what ``phonjax run`` asks: its spectra solve the
    mesh once, with eigenvectors): the same commensurate frequencies and force constants as
    with the mesh, and no F, S, Cv."""
    ds = phonjax.read_dataset(sample_path("mp-1000"))
    system = phonjax.prepare(ds, mesh=(4, 4, 4))
    [full] = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True)
    [bare] = phonjax.phonon_properties([system], [ds.forces], keep_force_constants=True,
                                       thermal=False)
    assert bare.free_energy_kJmol == [] and bare.temperatures_K == []
    assert np.array_equal(bare.force_constants, full.force_constants)
    assert np.abs(bare.commensurate_frequencies_THz - full.commensurate_frequencies_THz).max() \
        <= 1e-12
    assert (bare.stable, bare.omega_max_K) == (full.stable, full.omega_max_K)
