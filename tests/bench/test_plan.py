"""``phonjax bench --plan``: the plan (how the kernel runs) travels with each chunk to the
kernel and to prepare's bound; the stored rows and the protocol key are the same under
every plan, and a plan the command refuses is one line with status 2 before any work."""

from __future__ import annotations

import importlib
import pickle

import pytest

from phonjax.bench import protocols
from phonjax.bench.executors import InProcess
from phonjax.bench.inputs import list_materials
from phonjax.bench.runner import run
from phonjax.bench.store import Store
from phonjax.execution.plan import Plan, default_plan
from tests.bench.conftest import FAST, stored

NOISE_K = ("gamma_acoustic_min_K", "omega_min_K")  # ~1e-6 K at Γ: not the contract's modes


def test_the_plan_reaches_the_kernel_and_the_rows_do_not_change(small_files, tmp_path,
                                                                monkeypatch):
    properties = importlib.import_module("phonjax.harmonic.properties")
    original, seen = properties.phonon_properties, []

    def spy(systems, forces, settings, plan=None):
        seen.append(plan)
        return original(systems, forces, settings, plan)

    monkeypatch.setattr(properties, "phonon_properties", spy)
    _, materials, _ = list_materials(small_files[:2], "small")
    protocol = protocols.resolve("loew2024", FAST)
    lapack = Plan(eigensolver="lapack", memory_bytes=3e9)
    for name, plan in (("default", None), ("lapack", lapack)):
        with Store(tmp_path / f"{name}.sqlite") as store:
            run(materials, ["toy:morse"], protocol, store, InProcess(), chunk_size=1, plan=plan)
    default = default_plan()
    assert seen and {p.eigensolver for p in seen} == {default.eigensolver, "lapack"}
    assert {p.memory_bytes for p in seen if p.eigensolver == "lapack"} == {3e9}
    assert pickle.loads(pickle.dumps(lapack)) == lapack  # as a dask task carries it
    a, b = stored(tmp_path / "default.sqlite"), stored(tmp_path / "lapack.sqlite")
    assert a.keys() == b.keys() and len(a) == 2 * len(materials)  # the same protocol keys
    for key in a:
        assert a[key][0] == b[key][0] == "ok"
        assert a[key][1].keys() == b[key][1].keys()
        for field, value in a[key][1].items():
            if field in NOISE_K:  # Γ acoustic ω: rounding noise, different for each solver
                assert abs(b[key][1][field] - value) < 1e-3, (key, field)
            elif isinstance(value, float):
                assert b[key][1][field] == pytest.approx(value, rel=1e-8, abs=1e-9), (key, field)
            else:
                assert b[key][1][field] == value, (key, field)


@pytest.mark.parametrize("plan", ["runner=x", "eigensolver=magic", "memory=3",
                                  "runner=graph,eigensolver=lapack", "q_chunk_min=2.5"])
def test_a_refused_plan_is_one_line_before_any_work(plan, tmp_path, capsys):
    from phonjax.bench.cli import main

    out = tmp_path / "o"
    assert main(["--reference-only", "--limit", "1", "--plan", plan, "--out", str(out),
                 "--no-figures", "--no-progress"]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "--plan" in lines[0] and "Traceback" not in captured.err
    assert not out.exists()  # no store, no tables: nothing ran


def test_help_shows_the_plan():
    from phonjax.bench.cli import run_parser

    text = run_parser().format_help()
    assert "--plan" in text and "--memory-gb" in text
