"""The command line refuses nonsense settings at parse time and prints strict JSON.

Each bad setting must give exit status 2 and one stderr line naming the setting,
before any file is read (so never a number computed from it)."""

from __future__ import annotations

import json

import pytest

from phonjax.cli import main
from phonjax.options import json_safe
from tests.conftest import sample_path


def _strict(line: str):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.parametrize("bad, setting", [
    (["--temperature", "-5"], "--temperature"), (["--temperature", "nan"], "--temperature"),
    (["--temperature", "inf"], "--temperature"), (["--temperature", "300", "-1"], "--temperature"),
    (["--gamma-acoustic-tolerance", "-10"], "--gamma-acoustic-tolerance"),
    (["--gamma-acoustic-tolerance", "nan"], "--gamma-acoustic-tolerance"),
    (["--mesh", "0", "0", "0"], "--mesh"), (["--mesh", "-1", "2", "2"], "--mesh"),
    (["--mesh", "2", "2", "x"], "--mesh"), (["--mesh", "2.5", "2", "2"], "--mesh"),
])
def test_phonons_refuses_nonsense_settings(bad, setting, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["phonons", "--json", str(sample_path("mp-1000")), *bad])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and setting in lines[0], lines


def test_json_output_is_strict(capsys):
    """A temperature the kernel cannot evaluate (Cv overflows at 1e-300 K) must not print
    NaN: either a finite line or an error line, never invalid JSON."""
    rc = main(["phonons", "--json", "--mesh", "4", "4", "4", "--temperature", "300", "1e-300",
               "--", str(sample_path("mp-1000"))])
    captured = capsys.readouterr()
    rows = [_strict(line) for line in captured.out.splitlines()]
    for row in rows:
        assert all(v is None or v == v for v in row.values() if isinstance(v, float))
    assert rc == 0 or "mp-1000" in captured.err


def test_json_safe():
    import numpy as np

    value = {"a": float("nan"), "b": [1.0, float("-inf"), np.float64("inf")],
             "c": np.array([1.0, np.nan])}
    assert json.dumps(json_safe(value), allow_nan=False) == (
        '{"a": null, "b": [1.0, null, null], "c": [1.0, null]}')


# --- tables that lose digits (issue 18, item 7) -----------------------------------------

def _console_80(monkeypatch):
    """stdout as an 80-column terminal; returns the buffer the tables go to."""
    import io

    from rich.console import Console

    from phonjax import cli

    buffer = io.StringIO()
    monkeypatch.setattr(cli, "stdout_console", lambda: Console(file=buffer, width=80))
    return buffer


def test_piped_table_keeps_every_digit(tmp_path, capsys):
    """Piped output was cut to 80 columns: 'mp-10…', '-16.0…'."""
    import shutil

    long_id = "mp-1000-a-rather-long-material-identifier"
    shutil.copy(sample_path("mp-1000"), tmp_path / f"{long_id}.yaml.xz")
    assert main(["phonons", "--mesh", "4", "4", "4", str(tmp_path / f"{long_id}.yaml.xz"),
                 str(sample_path("mp-23215"))]) == 0
    out = capsys.readouterr().out
    assert "…" not in out and long_id in out
    main(["phonons", "--json", "--mesh", "4", "4", "4", str(sample_path("mp-23215"))])
    row = _strict(capsys.readouterr().out)
    assert f"{row['free_energy_kJmol']:.6f}" in out and f"{row['entropy_JKmol']:.6f}" in out


def test_tables_fit_80_columns(monkeypatch, capsys):
    buffer = _console_80(monkeypatch)
    assert main(["phonons", str(sample_path("mp-1000")), str(sample_path("mp-23215"))]) == 0
    main(["models"])
    text = buffer.getvalue()
    lines = text.splitlines()
    assert "…" not in text and max(len(line) for line in lines) <= 80
    assert any(line.startswith("mp-1000 ") and "-16.098070" in line for line in lines)  # 20³
    for family in ("chgnet", "sevennet", "mace", "orb"):
        assert any(line.startswith(family) for line in lines), family


def test_bench_tables_fit_80_columns():
    import io

    import pandas as pd
    from rich.console import Console

    from phonjax.bench.report import rich_table

    df = pd.DataFrame({"model": ["chgnet:0.3.0", "sevennet:7net-0"],
                       "MAE ω_max (K)": [12.3456, 101.5], "MAE S (J/K/mol)": [10.123, 9.5],
                       "MAE F (kJ/mol)": [2.345, 1.25], "MAE C_V (J/K/mol)": [1.234, 0.5],
                       "n": [815, 814]})
    buffer = io.StringIO()
    Console(file=buffer, width=80).print(rich_table(df, "Table II — MAE of phonon properties"))
    text = buffer.getvalue()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for value in ("chgnet:0.3.0", "sevennet:7net-0", "12.346", "101.500", "815"):
        assert value in text


def test_interrupt_is_one_line(monkeypatch, capsys):
    from phonjax import cli

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_phonons", interrupted)
    assert main(["phonons", str(sample_path("mp-1000"))]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["phonjax: interrupted"]


def _fresh_process(code: str) -> str:
    """stdout of ``python -c code`` in a fresh interpreter (the repository on its path)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root,
                         env={**__import__("os").environ, "PHONJAX_JAX_CACHE": "0"}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_json_run_starts_lean():
    """A ``phonons --json`` run with nothing to say on stderr (a pipe) imports no rich and
    starts no spinner thread (start-up, BENCH_NOTES.md 2026-12-06), and prints the value of
    the table test above."""
    out = _fresh_process(
        "import io, sys, threading\n"
        "from phonjax.cli import main\n"
        "buf, sys.stdout = sys.stdout, io.StringIO()\n"
        f"code = main(['phonons', '--json', {str(sample_path('mp-1000'))!r}])\n"
        "text, sys.stdout = sys.stdout.getvalue(), buf\n"
        "print(code,\n"
        "      sorted(m for m in sys.modules if m.split('.')[0] == 'rich'),\n"
        "      [t.name for t in threading.enumerate() if 'rich' in type(t).__module__])\n"
        "print(text)\n")
    head, record = out.splitlines()[:2]
    assert head == "0 [] []"
    assert json.loads(record)["free_energy_kJmol"] == pytest.approx(-16.098070, abs=1e-6)
