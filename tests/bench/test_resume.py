"""A bench killed (SIGKILL) at random moments and restarted ends with exactly the rows of an
uninterrupted run; a finished bench run again computes nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from phonjax.bench.cli import main
from tests.bench.conftest import FAST_ARGS, ROOT, stored


def _args(files, out):
    return ["--plugin", "tests.bench.fakes", "--model", "toy:morse", "--dataset", *files,
            "--dataset-label", "small", "--out", str(out), "--chunk-size", "1", "--no-figures",
            "--no-progress", *FAST_ARGS]


def test_killed_runs_equal_uninterrupted(small_files, tmp_path):
    assert main(_args(small_files, tmp_path / "ref")) == 0
    reference = stored(tmp_path / "ref" / "bench.sqlite")
    assert len(reference) == 2 * len(small_files)  # dft + toy for every material
    assert {v[0] for v in reference.values()} == {"ok"}

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "phonjax", "bench", *_args(small_files, out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(4)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(rng.uniform(3.0, 9.0))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1
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


def test_second_run_computes_nothing(small_files, tmp_path, monkeypatch):
    from tests.bench.fakes import ToyAdapter

    assert main(_args(small_files[:1], tmp_path)) == 0
    before = stored(tmp_path / "bench.sqlite")
    calls = ToyAdapter.calls
    assert main(_args(small_files[:1], tmp_path)) == 0
    assert ToyAdapter.calls == calls  # the model was not called again
    assert stored(tmp_path / "bench.sqlite") == before
