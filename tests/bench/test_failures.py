"""Models that return NaN, raise or never converge give recorded failures, never a crash."""

from __future__ import annotations

from phonjax.bench import protocols
from phonjax.bench.executors import InProcess
from phonjax.bench.inputs import list_materials
from phonjax.bench.runner import run
from phonjax.bench.store import Store
from tests.bench.conftest import FAST


def test_broken_models_are_recorded_failures(small_files, tmp_path):
    _, materials, problems = list_materials(small_files[:2], "small")
    assert not problems
    protocol = protocols.resolve("loew2024", {**FAST, "relax_steps": "15", "relax_rounds": "2"})
    broken = ["toy:nan", "toy:raise", "toy:stuck", "toy:nan-supercell"]
    with Store(tmp_path / "s.sqlite") as store:
        tallies = run(materials, broken, protocol, store, InProcess(), chunk_size=2)
        rows = store.rows()
    by_model = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    assert {r["status"] for r in by_model["dft"]} == {"ok"}
    expected = {"toy:nan": ("relax", "NaN"), "toy:raise": ("relax", "toy model failure"),
                "toy:stuck": ("relax", "not converged"),
                "toy:nan-supercell": ("forces", "NaN")}
    for model, (stage, words) in expected.items():
        assert len(by_model[model]) == 2
        for r in by_model[model]:
            assert r["status"] == "failed" and r["stage"] == stage, r
            assert words in r["error"], r["error"]
            assert r.get("omega_max_K") is None
        assert tallies[model].failed == 2
    # "stuck" ran its full budget: 2 rounds of 15 steps
    assert all(r["relax_steps"] == 30 for r in by_model["toy:stuck"])


def test_failures_are_scored_as_failed(small_files, tmp_path):
    from phonjax.bench.scoring import compare, summary

    _, materials, _ = list_materials(small_files[:2], "small")
    protocol = protocols.resolve("loew2024", {**FAST, "relax_steps": "5", "relax_rounds": "1"})
    with Store(tmp_path / "s.sqlite") as store:
        run(materials, ["toy:nan"], protocol, store, InProcess())
        df = store.frame()
    s = summary(compare(df[df.model == "toy:nan"], df[df.model == "dft"]), "toy:nan")
    assert s["failed_pct"] == 100.0 and s["n"] == 2 and s["n stability"] == 0
