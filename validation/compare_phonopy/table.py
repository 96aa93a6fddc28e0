"""The per-material CSV: one row per material, fsynced one at a time, read back as strings."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from validation.compare_phonopy.settings import COLUMNS


def fmt(x) -> str:
    """A CSV cell: booleans as True/False, floats by repr (round-trip exact), None as empty."""
    if isinstance(x, (bool, np.bool_)):
        return "True" if x else "False"
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return "" if x is None else str(x)


def read_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict]):
    """Rewrite the whole CSV (through a temporary file, so a crash leaves the old one)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: fmt(r.get(k)) for k in COLUMNS})
    tmp.replace(path)


class RowWriter:
    """Appends rows to the CSV (header first when it is new), each one flushed to disk."""

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        self.f = open(path, "a", newline="")
        self.w = csv.DictWriter(self.f, COLUMNS, extrasaction="ignore")
        if new:
            self.w.writeheader()
            self.f.flush()

    def write(self, row: dict):
        self.w.writerow({k: fmt(row.get(k)) for k in COLUMNS})
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def num(r: dict, key: str) -> float:
    """A CSV cell as a float; NaN when empty or not a number."""
    try:
        return float(r.get(key, "") or "nan")
    except ValueError:
        return float("nan")


def flag(r: dict, key: str) -> bool | None:
    """A CSV cell as a bool; None when empty."""
    v = r.get(key, "")
    return None if v == "" else v == "True"
