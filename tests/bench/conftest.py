"""Shared pieces of the bench tests: a few small sample materials, a fast protocol, toy models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # so that subprocesses and imports find tests.bench.fakes

from tests.bench import fakes  # noqa: E402,F401  (registers the toy family)

SAMPLE = ROOT / "phonjax" / "data" / "sample"
SMALL = ["mp-1000", "mp-361", "mp-1415"]  # 6-8 atom unit cells, 2 displacements each
# Fast settings: a coarse mesh and a loose, short relaxation. Toy forces are smooth,
# so these converge in a few dozen steps.
FAST = {"mesh": "4x4x4", "relax_steps": "80", "relax_rounds": "2", "fmax_eV_A": "0.02"}
FAST_ARGS = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]


@pytest.fixture(scope="session")
def small_files() -> list[str]:
    return [str(SAMPLE / f"{m}.yaml.xz") for m in SMALL]


@pytest.fixture(autouse=True)
def _jax_cache(tmp_path_factory, monkeypatch):
    # One persistent compilation cache for all bench tests and their subprocesses.
    folder = os.environ.get("PHONJAX_JAX_CACHE") or str(
        tmp_path_factory.getbasetemp().parent / "phonjax-jax-cache")
    monkeypatch.setenv("PHONJAX_JAX_CACHE", folder)


def stored(path) -> dict:
    """{(dataset, material, model, protocol): (status, data without timings)} of a store."""
    import json
    import sqlite3

    conn = sqlite3.connect(str(path))
    out, count = {}, 0
    for d, m, model, p, status, data in conn.execute(
            "SELECT dataset, material_id, model, protocol, status, data FROM results"):
        count += 1
        data = {k: v for k, v in json.loads(data).items() if "seconds" not in k}
        out[(d, m, model, p)] = (status, data)
    conn.close()
    assert count == len(out)
    return out
