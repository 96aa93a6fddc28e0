#!/usr/bin/env python
"""``phonjax run`` of two source trees side by side: wall time and the numbers written.

Each job runs as a fresh process per tree (``python -m phonjax run … --out TMP`` with
``PYTHONPATH`` set to the tree), alternating between the trees so that a change of machine
load hits both; medians of ``--repeats`` runs and their ratio are printed. Then the files of
the last run of each tree are compared: F, S, Cv (``thermal_properties.csv``), the band
frequencies (``band.yaml``) and the total DOS (``total_dos.dat``), largest differences. A
tree is a folder holding ``phonjax/`` (e.g. ``git archive REV | tar -x -C DIR``).

    python validation/run_speed.py --before /tmp/old [--after .] [--repeats 3]

Jobs: phonopy's NaCl example folder (its DFT forces and BORN: read, prepare, kernel,
spectra, files and plots) and ``examples/Si.cif`` with CHGNet (relaxation and model forces
too), each with every default of ``phonjax run``.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
NACL = ROOT.parent / "shared" / "data" / "phonopy-examples" / "NaCl"
JOBS = {"NaCl (DFT folder)": [str(NACL)],
        "Si (CHGNet)": [str(ROOT / "examples" / "Si.cif"), "--model", "chgnet"]}


def _run(tree: Path, args: list[str], out: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-m", "phonjax", "run", *args, "--out", str(out)]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=tree)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{tree}: {' '.join(cmd[3:])} failed:\n{done.stdout[-1500:]}"
                         f"{done.stderr[-1500:]}")
    return seconds


def _pair_folder(out: Path) -> Path:
    [summary] = list(out.glob("*/*/summary.json"))
    return summary.parent


def _thermal(folder: Path) -> np.ndarray:
    with open(folder / "thermal_properties.csv") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    return np.array([[float(x) for x in r] for r in rows[1:]])


def _bands(folder: Path) -> np.ndarray:
    with open(folder / "band.yaml") as f:
        data = yaml.safe_load(f)
    return np.array([[b["frequency"] for b in p["band"]] for p in data["phonon"]])


def _dos(folder: Path) -> np.ndarray:
    return np.loadtxt(folder / "total_dos.dat")


def compare(a: Path, b: Path) -> dict[str, float]:
    """Largest differences between two runs' files: F/S/Cv relative (to max |value| per
    column), bands THz, DOS relative to its maximum."""
    fa, fb = _pair_folder(a), _pair_folder(b)
    ta, tb = _thermal(fa), _thermal(fb)
    scale = np.maximum(np.abs(ta).max(axis=0), 1e-300)
    da, db = _dos(fa), _dos(fb)
    return {"F,S,Cv rel": float((np.abs(ta - tb) / scale).max()),
            "bands THz": float(np.abs(_bands(fa) - _bands(fb)).max()),
            "DOS rel": float(np.abs(da[:, 1] - db[:, 1]).max() / np.abs(da[:, 1]).max())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True)
    ap.add_argument("--after", type=Path, default=ROOT)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--jobs", nargs="*", default=list(JOBS))
    args = ap.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(f"# python -m phonjax run, fresh process per run; load {os.getloadavg()[0]:.2f}")
    print("| job | before s | after s | after/before | F,S,Cv rel | bands THz | DOS rel |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n, job in enumerate(args.jobs):
            times: dict[str, list[float]] = {k: [] for k in trees}
            for i in range(args.repeats + 1):  # the first round warms caches, not counted
                for side, tree in trees.items():
                    out = Path(tmp) / f"job{n}-{side}-{i}"
                    seconds = _run(tree, JOBS[job], out)
                    if i:
                        times[side].append(seconds)
            last = args.repeats
            diff = compare(Path(tmp) / f"job{n}-before-{last}", Path(tmp) / f"job{n}-after-{last}")
            b, a = statistics.median(times["before"]), statistics.median(times["after"])
            print(f"| {job} | {b:.2f} | {a:.2f} | {a / b:.2f} | {diff['F,S,Cv rel']:.1e} | "
                  f"{diff['bands THz']:.1e} | {diff['DOS rel']:.1e} |", flush=True)


if __name__ == "__main__":
    main()
