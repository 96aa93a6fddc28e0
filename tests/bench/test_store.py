"""The store never reuses a row computed from another input or model, reads stores written
before it recorded those, shares work between runs, and fails in one line."""

from __future__ import annotations

import json
import lzma
import os
import shutil
import sqlite3
import subprocess

import pytest

from phonjax.bench import protocols
from phonjax.bench.cli import main
from phonjax.bench.executors import InProcess
from phonjax.bench.inputs import list_materials
from phonjax.bench.runner import run
from phonjax.bench.store import Store
from tests.bench.conftest import FAST, FAST_ARGS, SAMPLE


def _free_energy(out, model="dft") -> dict:
    conn = sqlite3.connect(out / "bench.sqlite")
    rows = conn.execute("SELECT material_id, data FROM results WHERE model=?", (model,))
    got = {m: json.loads(d)["free_energy_kJmol"] for m, d in rows}
    conn.close()
    return got


def _scaled_forces_copy(folder, factor=1.1):
    """mp-1000 with every force scaled: a corrected input with other numbers."""
    text = lzma.open(SAMPLE / "mp-1000.yaml.xz", "rt").read()
    head, sep, tail = text.partition("displacements:")
    lines = []
    for line in tail.splitlines(keepends=True):
        if line.startswith("  - [") and line.rstrip().endswith("]"):
            values = [float(x) * factor for x in line.strip()[3:-1].split(",")]
            line = "  - [ " + ", ".join(f"{v:.16f}" for v in values) + " ]\n"
        lines.append(line)
    folder.mkdir(parents=True)
    with lzma.open(folder / "mp-1000.yaml.xz", "wt") as f:
        f.write(head + sep + "".join(lines))


def test_same_label_other_input_is_recomputed(tmp_path, capsys):
    """A second dataset in a folder of the same name (or a corrected file) was skipped as
    'already in the store' and the tables kept the first one's numbers."""
    (tmp_path / "A" / "ds").mkdir(parents=True)
    shutil.copy(SAMPLE / "mp-1000.yaml.xz", tmp_path / "A" / "ds")
    _scaled_forces_copy(tmp_path / "B" / "ds")
    common = ["--reference-only", "--no-progress", "--no-figures", *FAST_ARGS]
    assert main(["--dataset", str(tmp_path / "B" / "ds"), "--out", str(tmp_path / "b_alone"),
                 *common]) == 0
    b_alone = _free_energy(tmp_path / "b_alone")["mp-1000"]
    out = str(tmp_path / "o")
    assert main(["--dataset", str(tmp_path / "A" / "ds"), "--out", out, *common]) == 0
    a = _free_energy(tmp_path / "o")["mp-1000"]
    assert abs(a - b_alone) > 1e-3
    capsys.readouterr()
    assert main(["--dataset", str(tmp_path / "B" / "ds"), "--out", out, *common]) == 0
    err = capsys.readouterr().err
    assert "recomputed mp-1000 (input changed" in err
    assert _free_energy(tmp_path / "o") == {"mp-1000": b_alone}  # replaced, not duplicated


def test_other_model_identity_is_recomputed(small_files, tmp_path, monkeypatch):
    from phonjax.bench import runner
    from tests.bench.fakes import ToyAdapter

    _, materials, _ = list_materials(small_files[:1], "small")
    protocol = protocols.resolve("loew2024", FAST)
    with Store(tmp_path / "s.sqlite") as store:
        run(materials, ["toy:morse"], protocol, store, InProcess())
        calls = ToyAdapter.calls
        tallies = run(materials, ["toy:morse"], protocol, store, InProcess())
        assert ToyAdapter.calls == calls and tallies["toy:morse"].already == 1
        real = runner.model_identity
        monkeypatch.setattr(runner, "model_identity",  # e.g. chgnet upgraded, other weights
                            lambda m: real(m) + " upgraded" if m != "dft" else real(m))
        tallies = run(materials, ["toy:morse"], protocol, store, InProcess())
        assert ToyAdapter.calls > calls
        assert tallies["toy:morse"].computed == 1 and tallies["dft"].computed == 0
        assert "model changed" in tallies["toy:morse"].changed[0]
        rows = [r for r in store.rows() if r["model"] == "toy:morse"]
        assert len(rows) == 1 and rows[0]["model_identity"].endswith("upgraded")


def _legacy_copy(src, dst):
    """A store as phonjax wrote it before input hashes: old schema, WAL journal."""
    old = sqlite3.connect(src)
    rows = old.execute("SELECT dataset, material_id, model, protocol, status, data, meta, "
                       "created_unix FROM results").fetchall()
    old.close()
    conn = sqlite3.connect(dst)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE results (dataset TEXT NOT NULL, material_id TEXT NOT NULL, "
                 "model TEXT NOT NULL, protocol TEXT NOT NULL, status TEXT NOT NULL, "
                 "data TEXT NOT NULL, meta TEXT NOT NULL, created_unix REAL NOT NULL, "
                 "PRIMARY KEY (dataset, material_id, model, protocol))")
    with conn:
        conn.executemany("INSERT INTO results VALUES (?,?,?,?,?,?,?,?)", rows)
    conn.close()


def test_legacy_store_is_read_and_resumed(small_files, tmp_path, capsys):
    args = ["--plugin", "tests.bench.fakes", "--model", "toy:morse", "--dataset", small_files[0],
            "--dataset-label", "small", "--no-progress", "--no-figures", *FAST_ARGS]
    assert main([*args, "--out", str(tmp_path / "new")]) == 0
    (tmp_path / "old").mkdir()
    _legacy_copy(tmp_path / "new" / "bench.sqlite", tmp_path / "old" / "bench.sqlite")
    before = (tmp_path / "old" / "bench.sqlite").read_bytes()
    assert main(["report", "--out", str(tmp_path / "old"), "--no-figures",
                 "--report-dir", str(tmp_path / "tables")]) == 0
    assert (tmp_path / "old" / "bench.sqlite").read_bytes() == before  # only read
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "old")]) == 0  # reused, with a note
    err = capsys.readouterr().err
    assert "toy:morse: 0 computed" in err and "predate input hashes" in err
    assert main([*args, "--out", str(tmp_path / "old"), "--recompute-unverified"]) == 0
    assert "toy:morse: 1 computed" in capsys.readouterr().err
    with Store(tmp_path / "old" / "bench.sqlite", readonly=True) as store:
        assert all(r["input_sha256"] for r in store.rows())


def test_runs_sharing_a_store_split_the_work(small_files, tmp_path):
    """Two runs on one store both computed everything; now a live run's claims are left
    to it, and a dead run's claims are taken over."""
    from tests.bench.fakes import ToyAdapter

    _, materials, _ = list_materials(small_files[:2], "small")
    protocol = protocols.resolve("loew2024", FAST)
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        run(materials, [], protocol, store, InProcess())  # the reference first
    dead = subprocess.Popen(["true"])
    dead.wait()
    other = Store(path)
    other.owner, other.pid = "another run", os.getpid()  # a live process on this host
    assert other.claim("small", "toy:morse", protocol.key, {materials[0].material_id: ("x", "y")})[0]
    other.owner, other.pid = "a killed run", dead.pid
    assert other.claim("small", "toy:morse", protocol.key, {materials[1].material_id: ("x", "y")})[0]
    other.conn.close()  # gone without releasing its claims, as a killed run
    calls = ToyAdapter.calls
    with Store(path) as store:
        tallies = run(materials, ["toy:morse"], protocol, store, InProcess())
        rows = {r["material_id"] for r in store.rows() if r["model"] == "toy:morse"}
    t = tallies["toy:morse"]
    assert list(t.elsewhere) == [materials[0].material_id]
    assert t.elsewhere[materials[0].material_id].startswith(f"pid {os.getpid()} on ")
    assert t.computed == 1 and rows == {materials[1].material_id} and ToyAdapter.calls > calls


@pytest.mark.parametrize("kind", ["file", "file/sub", "text", "truncated"])
def test_unusable_store_is_one_line(kind, small_files, tmp_path, capsys):
    args = ["--reference-only", "--dataset", small_files[0], "--no-progress", "--no-figures",
            *FAST_ARGS]
    out = tmp_path / "o"
    if kind.startswith("file"):
        out.write_text("a file, not a folder")
        out = out / "sub" if kind == "file/sub" else out
    elif kind == "text":
        out.mkdir()
        (out / "bench.sqlite").write_text("notadb\n" * 100)
    else:
        assert main([*args, "--out", str(out)]) == 0
        data = (out / "bench.sqlite").read_bytes()
        (out / "bench.sqlite").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and err[-1].startswith("error: ") and "Traceback" not in err[-1], err
    if kind in ("text", "truncated"):
        assert "not a readable SQLite store" in err[-1]
        assert main(["report", "--out", str(out)]) == 1
        assert capsys.readouterr().err.startswith("error: ")


def test_report_on_a_read_only_folder(small_files, tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["--reference-only", "--dataset", *small_files[:2], "--dataset-label", "small",
                 "--out", str(out), "--no-progress", "--no-figures", *FAST_ARGS]) == 0
    if subprocess.run(["chattr", "-R", "+i", str(out)], capture_output=True).returncode != 0:
        subprocess.run(["chattr", "-R", "-i", str(out)], capture_output=True)
        pytest.skip("cannot make a folder read-only here (chattr)")
    try:
        capsys.readouterr()
        assert main(["report", "--out", str(out), "--dataset-label", "small", "--no-figures",
                     "--report-dir", str(tmp_path / "t")]) == 0
        assert list((tmp_path / "t" / "tables").glob("*.md"))
        assert main(["report", "--out", str(out), "--dataset-label", "small",
                     "--no-figures"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: cannot write") and "--report-dir" in err[-1]
    finally:
        subprocess.run(["chattr", "-R", "-i", str(out)])


def test_interrupt_is_one_line(small_files, tmp_path, capsys, monkeypatch):
    from phonjax.bench import runner

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "run", interrupted)
    assert main(["--reference-only", "--dataset", small_files[0], "--out", str(tmp_path),
                 "--no-progress"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert "interrupted" in err[-1] and "again" in err[-1]


def test_same_material_twice_in_a_folder(tmp_path, capsys):
    """X.yaml beside X.yaml.xz: which one was used depended on sort order, silently."""
    folder = tmp_path / "ds"
    folder.mkdir()
    shutil.copy(SAMPLE / "mp-1000.yaml.xz", folder)
    (folder / "mp-1000.yaml").write_text(lzma.open(SAMPLE / "mp-1000.yaml.xz", "rt").read())
    assert main(["--reference-only", "--dataset", str(folder), "--out", str(tmp_path / "o"),
                 "--no-progress", "--no-figures", *FAST_ARGS]) == 1
    err = capsys.readouterr().err
    used = folder / "mp-1000.yaml"
    assert f"mp-1000.yaml.xz: material mp-1000 given twice, skipped (using {used})" in err
