#!/usr/bin/env python
"""A digest of every prepared material's kernel tables, to show a change to ``prepare`` exact.

``phonjax.prepare`` turns a phonopy dataset into the tables the kernel reads (supercell,
symmetry, displacement-solve, distribution and phase tables). This script writes, per
material, the SHA-256 of all those arrays (dtype, shape and bytes, field by field) and of the
supercell. Two commits whose CSVs are equal give the kernel the same inputs bit for bit, so
its outputs are equal too: a check of a refactor of ``prepare`` in minutes instead of a
``recheck.py`` run (which also times the kernel).

    PYTHONPATH=<tree> python validation/tables_digest.py --data DIR [--stride K] --out FILE.csv
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data" / "phonondb-pbesol").resolve()


def _feed(h, value) -> None:
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            if getattr(value, f.name) is None:
                continue  # an absent optional table: a field added as None keeps the digest
            h.update(f.name.encode())
            _feed(h, getattr(value, f.name))
    elif isinstance(value, (tuple, list)):
        for v in value:
            _feed(h, v)
    elif value is None or isinstance(value, (str, int, float, bool)):
        h.update(repr(value).encode())
    else:
        a = np.ascontiguousarray(np.asarray(value))
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())


def digest(system) -> str:
    h = hashlib.sha256()
    _feed(h, system.tables)
    sc = system.supercell
    for a in (sc.lattice, sc.frac_positions, sc.numbers, sc.masses):
        _feed(h, a)
    return h.hexdigest()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--stride", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    import phonjax

    files = sorted(p for p in Path(args.data).iterdir()
                   if not p.name.startswith((".", "README")) and p.suffix not in (".csv", ".md"))
    files = files[:: args.stride]
    t0 = time.perf_counter()
    with open(args.out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "sha256"])
        for path in files:
            try:
                d = phonjax.read_dataset(path)
                w.writerow([path.name, digest(phonjax.prepare(d))])
            except Exception as exc:  # noqa: BLE001 - recorded, compared like a digest
                w.writerow([path.name, f"error: {type(exc).__name__}: {exc}"])
    print(f"{len(files)} materials in {time.perf_counter() - t0:.1f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
