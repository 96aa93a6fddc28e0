"""A bench killed (SIGKILL) at random moments and restarted ends with exactly the rows of an
uninterrupted run, repeats at most one material's finished work per kill, and leaves every
committed row in bench.sqlite itself; a finished bench run again computes nothing."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

import pytest

from phonjax.bench.cli import main
from tests.bench.conftest import FAST_ARGS, ROOT, stored


def _args(files, out, *extra):
    return ["--plugin", "tests.bench.fakes", "--model", "toy:morse", "--dataset", *files,
            "--dataset-label", "small", "--out", str(out), "--no-figures", "--no-progress",
            *FAST_ARGS, *extra]


def _forces_lines(log, pid=None) -> list[str]:
    if not log.exists():
        return []
    lines = log.read_text().splitlines()
    return [l for l in lines if pid is None or l.split()[0] == str(pid)]


def _rows_in_main_file_alone(store, tmp_path) -> int:
    """Rows a copy of bench.sqlite alone holds (no -wal/-journal beside it)."""
    copy = tmp_path / "copy" / "bench.sqlite"
    shutil.rmtree(copy.parent, ignore_errors=True)
    copy.parent.mkdir()
    shutil.copy(store, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # no results table: every row was still in the -wal
        return 0
    finally:
        conn.close()


def test_killed_runs_equal_uninterrupted(small_files, tmp_path):
    assert main(_args(small_files, tmp_path / "ref")) == 0
    reference = stored(tmp_path / "ref" / "bench.sqlite")
    assert len(reference) == 2 * len(small_files)  # dft + toy for every material
    assert {v[0] for v in reference.values()} == {"ok"}
    from ase.formula import Formula

    n_disp = {Formula(data["formula"]).reduce()[0].format("metal"): data["n_displacements"]
              for (_, _, model, _), (_, data) in reference.items() if model == "dft"}

    out = tmp_path / "killed"
    log = tmp_path / "forces.log"
    cmd = [sys.executable, "-m", "phonjax", "bench", *_args(small_files, out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PHONJAX_TOY_LOG": str(log)}
    rng = random.Random(4)
    kills = 0
    # the random moments fall within a run: a fraction of how long one whole run takes here
    # (fixed seconds stopped killing anything once the kernel got faster)
    t0 = time.monotonic()
    whole = subprocess.run([sys.executable, "-m", "phonjax", "bench",
                            *_args(small_files, tmp_path / "timed")],
                           cwd=ROOT, env={**env, "PHONJAX_TOY_LOG": str(tmp_path / "timed.log")},
                           capture_output=True, timeout=300)
    assert whole.returncode == 0, whole.stderr[-2000:]
    run_seconds = time.monotonic() - t0
    # two kills at random moments, then three just after a run has computed its first
    # material's forces (its rows are being written: the moment a run that writes a
    # chunk's rows together throws the chunk's finished work away)
    for targeted in (False, False, True, True, True):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        if targeted:
            deadline = time.monotonic() + 120
            while (proc.poll() is None and not _forces_lines(log, proc.pid)
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            time.sleep(rng.uniform(0.3, 0.7) * run_seconds)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
        if (out / "bench.sqlite").exists():  # the main file alone holds every committed row
            alone = _rows_in_main_file_alone(out / "bench.sqlite", tmp_path)  # copied first:
            conn = sqlite3.connect(out / "bench.sqlite")  # opening a WAL store checkpoints it
            committed = conn.execute("SELECT count(*) FROM results").fetchone()[0]
            conn.close()
            assert alone == committed
    assert kills >= 2
    final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    got = stored(out / "bench.sqlite")
    assert got.keys() == reference.keys()
    for key, (status, data) in reference.items():
        assert got[key][0] == status
        for field, value in data.items():
            if isinstance(value, float):
                assert abs(got[key][1][field] - value) <= 1e-9 * max(1.0, abs(value)), (key, field)
            else:
                assert got[key][1][field] == value, (key, field)
    # each material's forces were computed once, plus at most one material per kill
    supercells = Counter(line.split()[1] for line in _forces_lines(log))
    runs = {formula: count / n_disp[formula] for formula, count in supercells.items()}
    assert set(runs) == set(n_disp) and all(r == int(r) for r in runs.values()), runs
    assert sum(r - 1 for r in runs.values()) <= kills, (runs, kills)


def test_second_run_computes_nothing(small_files, tmp_path, monkeypatch):
    from tests.bench.fakes import ToyAdapter

    args = _args(small_files[:1], tmp_path, "--chunk-size", "1")
    assert main(args) == 0
    before = stored(tmp_path / "bench.sqlite")
    calls = ToyAdapter.calls
    assert main(args) == 0
    assert ToyAdapter.calls == calls  # the model was not called again
    assert stored(tmp_path / "bench.sqlite") == before


@pytest.mark.slow
def test_two_runs_on_one_store_compute_each_material_once(small_files, tmp_path):
    """Two runs started together on one --out both computed everything and both said
    "3 computed"; with claims each material's forces are computed once in all."""
    out, log = tmp_path / "shared", tmp_path / "forces.log"
    cmd = [sys.executable, "-m", "phonjax", "bench", *_args(small_files, out, "--chunk-size", "1")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PHONJAX_TOY_LOG": str(log)}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results)[0] == 0, results  # the other may leave some
    got = stored(out / "bench.sqlite")
    assert len(got) == 2 * len(small_files)
    counts = Counter(line.split()[1] for line in _forces_lines(log))
    n_disp = {k: 2 for k in counts}  # each small material has 2 displacements
    assert counts == Counter({k: n_disp[k] for k in counts}) and len(counts) == len(small_files)
    final = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0 and "toy:morse: 0 computed" in final.stderr
