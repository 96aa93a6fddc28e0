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
