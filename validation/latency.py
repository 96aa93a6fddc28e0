#!/usr/bin/env python
"""Command-line latency: ``phonjax phonons`` against phonopy doing the same job, side by side.

The job, per phonopy_params file: read it, force constants from its forces
(symmetrized), F/S/Cv on the 20³ mesh at 300 K, frequencies at the
commensurate q-points (ω_max, stability). Each side runs as a fresh Python
process, the way a user meets it: phonjax as ``python -m phonjax phonons FILE
--json`` with a warm persistent compilation cache (one run beforehand fills
it), phonopy as ``python validation/latency.py --phonopy FILE...`` (phonopy.load
and the calls of ``validation.reference``, with each file's primitive matrix as phonjax
reads it given on its command line, so that the phonopy process never imports phonjax or
JAX: until 2026-12-06 it did, and its times included ~0.6 s of ``import jax``). Runs
alternate between the sides, so
that a change of machine load hits both; medians are printed with their ratio.

    python validation/latency.py [--files F...] [--repeats 5] [--batch 40]

Single files: the smallest phonondb materials (or ``--files``); batch: every
20th of the 815 files (``--batch`` of them) in one process per side.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "phonondb-pbesol"
SINGLE = ["mp-1000", "mp-1415", "mp-361", "mp-23215"]


def phonopy_job(files: list[str], primitive_matrices: list) -> None:
    """What the phonopy side runs (in its own process): the shared reference, per file,
    with its primitive matrix (3, 3) given (``primitive_matrices``)."""
    sys.path.insert(0, str(ROOT))
    from validation.reference import phonopy_reference

    for f, p in zip(files, primitive_matrices, strict=True):
        ref = phonopy_reference(f, primitive_matrix=p)
        print(f, ref.free_energy_kJmol, ref.entropy_JKmol, ref.heat_capacity_JKmol,
              ref.commensurate_frequencies_THz.max())


def _time(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}… failed:\n{out.stderr[-2000:]}")
    return seconds


def primitive_matrices(files: list[str]) -> list:
    """Each file's primitive matrix as phonjax reads it (phonopy.load's rule), as lists, for
    the phonopy side's command line (read here, in the parent, which is not timed)."""
    from phonjax.io import read_dataset

    return [read_dataset(f).primitive_matrix.tolist() for f in files]


def compare(files: list[str], repeats: int, env: dict) -> tuple[float, float]:
    """(median phonjax seconds, median phonopy seconds) over ``repeats`` alternating runs."""
    phonjax_cmd = [sys.executable, "-m", "phonjax", "phonons", *files, "--json"]
    phonopy_cmd = [sys.executable, str(Path(__file__).resolve()), "--phonopy", *files,
                   "--primitive-matrices", json.dumps(primitive_matrices(files))]
    _time(phonjax_cmd, env)  # fills the compilation cache (and the OS's file cache)
    _time(phonopy_cmd, env)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(_time(phonjax_cmd, env))
        theirs.append(_time(phonopy_cmd, env))
    return statistics.median(ours), statistics.median(theirs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phonopy", nargs="+", metavar="FILE", help=argparse.SUPPRESS)
    ap.add_argument("--primitive-matrices", type=json.loads, help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs="*", help="single files to time (default: four small ones)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch", type=int, default=40, help="materials of the batch run (0: none)")
    ap.add_argument("--cache", default=None, help="compilation cache folder (default: a new one)")
    args = ap.parse_args(argv)
    if args.phonopy:
        phonopy_job(args.phonopy, args.primitive_matrices)
        return 0
    cache = args.cache or tempfile.mkdtemp(prefix="phonjax-latency-cache-")
    env = {**os.environ, "PHONJAX_JAX_CACHE": cache, "PYTHONWARNINGS": "ignore"}
    singles = args.files or [str(DATA / f"{i}.yaml.xz") for i in SINGLE]
    print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} CPUs), {args.repeats} runs "
          f"per side, medians; compilation cache {cache}")
    print("| run | phonjax (s) | phonopy (s) | phonjax / phonopy |")
    print("|---|---|---|---|")
    for f in singles:
        ours, theirs = compare([f], args.repeats, env)
        print(f"| {Path(f).name.split('.')[0]} (CLI, one file) | {ours:.2f} | {theirs:.2f} | "
              f"{ours / theirs:.2f}× |", flush=True)
    if args.batch:
        batch = sorted(glob.glob(str(DATA / "*.yaml.xz")))[::20][: args.batch]
        ours, theirs = compare(batch, max(1, args.repeats // 2), env)
        print(f"| {len(batch)} files in one process | {ours:.1f} | {theirs:.1f} | "
              f"{ours / theirs:.2f}× (phonopy / phonjax {theirs / ours:.2f}×) |")
    print(f"load average {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
