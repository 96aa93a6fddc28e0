"""A store damaged or edited by hand, from another schema version, or holding a claim nobody
holds any more: one line saying what is wrong and what to do, never a traceback; damaged
rows are named, left out of the report and computed again by the next run."""

from __future__ import annotations

import os
import socket
import sqlite3
import time

import pytest

from phonjax.bench.cli import main
from phonjax.bench.store import SCHEMA_VERSION, Store, process_start
from tests.bench.conftest import FAST_ARGS, stored


def _reference_store(small_files, out, n=2) -> list[str]:
    """A reference-only store of the first ``n`` small materials, labelled "small"; the
    arguments that wrote it."""
    args = ["--reference-only", "--dataset", *small_files[:n], "--dataset-label", "small",
            "--out", str(out), "--no-progress", "--no-figures", *FAST_ARGS]
    assert main(args) == 0
    return args


def _sql(path, statement: str, args=()) -> None:
    conn = sqlite3.connect(str(path))
    with conn:
        conn.execute(statement, args)
    conn.close()


def _err_lines(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return [x for x in err.strip().splitlines() if x.strip()]


@pytest.mark.parametrize("data, why", [("{bad", "its data is not valid JSON"),
                                       ("[1,2]", "its data is a JSON list, not an object")])
def test_unreadable_row_is_named_skipped_and_computed_again(data, why, small_files, tmp_path,
                                                            capsys):
    out = tmp_path / "o"
    args = _reference_store(small_files, out)
    path = out / "bench.sqlite"
    good = stored(path)
    conn = sqlite3.connect(str(path))
    material = conn.execute("SELECT material_id FROM results WHERE rowid=1").fetchone()[0]
    conn.close()
    _sql(path, "UPDATE results SET data=? WHERE rowid=1", (data,))
    capsys.readouterr()
    report = ["report", "--out", str(out), "--dataset-label", "small", "--no-figures",
              "--report-dir", str(tmp_path / "t")]
    assert main(report) == 1  # the tables of the other rows, and the skipped row named
    lines = _err_lines(capsys)
    assert lines[0].startswith(f"skipped store row {material} · dft (dataset small")
    assert why in lines[0]
    assert "unreadable" in lines[-1] and "phonjax bench" in lines[-1] and len(lines) == 2
    assert list((tmp_path / "t" / "tables").glob("*.md"))
    assert main(args) == 0  # the next run computes it again, and says so
    assert f"recomputed {material} (its stored row was unreadable)" in capsys.readouterr().err
    assert main(report) == 0
    assert stored(path) == good


def _drop(path, column):
    _sql(path, f"ALTER TABLE results DROP COLUMN {column}")


@pytest.mark.parametrize("column", ["meta", "status", "data", "created_unix"])
def test_store_of_another_schema_is_refused_at_open(column, small_files, tmp_path, capsys):
    out = tmp_path / "o"
    args = _reference_store(small_files, out, n=1)
    path = out / "bench.sqlite"
    _sql(path, "PRAGMA user_version=0")  # as stores before the version was recorded
    _drop(path, column)
    capsys.readouterr()
    more = [*args[:2], *small_files[:3], *args[3:]]  # one more material: a row to write
    assert main(more) == 1
    line = _err_lines(capsys)[-1]
    assert line.startswith(f"error: {path} was written by another phonjax version")
    assert f"(schema not recorded, expected {SCHEMA_VERSION})" in line
    assert f"has no column {column}" in line and "--out" in line
    code = main(["report", "--out", str(out), "--dataset-label", "small", "--no-figures"])
    if column == "created_unix":  # only needed to write: the store is still read
        assert code == 0
    else:
        assert code == 1 and _err_lines(capsys)[-1] == line


def test_store_of_a_newer_version_is_refused_and_versions_are_recorded(small_files, tmp_path,
                                                                      capsys):
    out = tmp_path / "o"
    args = _reference_store(small_files, out, n=1)
    path = out / "bench.sqlite"
    conn = sqlite3.connect(str(path))
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    _sql(path, f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    capsys.readouterr()
    for argv in (args, ["report", "--out", str(out), "--dataset-label", "small"]):
        assert main(argv) == 1
        line = _err_lines(capsys)[-1]
        assert f"newer phonjax (schema {SCHEMA_VERSION + 1}, expected {SCHEMA_VERSION})" in line


def test_report_without_a_label_says_what_the_store_holds(small_files, tmp_path, capsys):
    out = tmp_path / "o"
    _reference_store(small_files, out)
    capsys.readouterr()
    assert main(["report", "--out", str(out), "--no-figures"]) == 1
    [line] = _err_lines(capsys)
    assert "holds only reference (dft) rows (dataset 'small' · protocol loew2024@" in line
    assert line.endswith("add --dataset-label small")
    assert main(["report", "--out", str(out), "--dataset-label", "nope", "--no-figures"]) == 1
    [line] = _err_lines(capsys)
    assert "nothing in the store matches --dataset-label nope; it holds dataset 'small'" in line
    assert main(["report", "--out", str(out), "--dataset-label", "small", "--no-figures",
                 "--report-dir", str(tmp_path / "t")]) == 0


def _claim(path, material, pid, started) -> None:
    conn = sqlite3.connect(str(path))
    protocol = conn.execute("SELECT protocol FROM results LIMIT 1").fetchone()[0]
    conn.close()
    _sql(path, "INSERT INTO claims (dataset, material_id, model, protocol, owner, host, pid, "
         "heartbeat_unix, started) VALUES (?,?,?,?,?,?,?,?,?)",
         ("small", material, "dft", protocol, "someone", socket.gethostname(), pid, time.time(),
          started))


def test_claim_of_a_reused_pid_is_taken_over_and_any_claim_can_be_broken(small_files, tmp_path,
                                                                         capsys):
    """A live pid with another start time than the claim's: the claimer is gone (its pid
    was reused). A claim without a start time (an older phonjax, or made by hand) of a
    live pid holds, and the message says how to take it over."""
    out = tmp_path / "o"
    args = _reference_store(small_files, out, n=1)
    path = out / "bench.sqlite"
    more = [*args[:2], *small_files[:3], *args[3:]]
    mine = process_start(os.getpid())
    assert mine and process_start(os.getpid()) == mine
    _claim(path, "mp-361", os.getpid(), "another boot:0")  # a reused pid
    _claim(path, "mp-1415", os.getpid(), None)  # no start time recorded
    capsys.readouterr()
    assert main(more) == 1
    err = capsys.readouterr().err
    assert "dft: 1 computed" in err and "left to another run 1 materials" in err
    assert f"pid {os.getpid()} on" in err and "--break-claims computes them now" in err
    assert main([*more, "--break-claims"]) == 0
    assert "dft: 1 computed" in capsys.readouterr().err
    with Store(path, readonly=True) as store:
        assert {r["material_id"] for r in store.rows()} == {"mp-1000", "mp-361", "mp-1415"}
