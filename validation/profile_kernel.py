"""Where phonjax's kernel spends its time: cProfile of a compiled pass (after a cold one).

Reads every K-th phonondb-pbesol file, runs ``phonon_properties`` bucket by
bucket once cold (compilation included, printed) and once compiled under
cProfile, and prints the functions with the most own time. Usage:

    python validation/profile_kernel.py [--stride K] [--top N]
"""

from __future__ import annotations

import argparse
import cProfile
import glob
import pstats
import time
from pathlib import Path

import phonjax
from phonjax.execution import default_plan
from phonjax.execution.padding import bucket

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "phonondb-pbesol"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stride", type=int, default=24, help="take every K-th file (by name)")
    ap.add_argument("--top", type=int, default=18)
    args = ap.parse_args(argv)
    files = sorted(glob.glob(str(DATA / "*.yaml.xz")))[:: args.stride]
    datasets = [phonjax.read_dataset(f) for f in files]
    systems = [phonjax.prepare(d) for d in datasets]

    def kernel():
        for group in bucket([s.tables for s in systems], default_plan()):
            phonjax.phonon_properties([systems[i] for i in group],
                                      [datasets[i].forces for i in group])

    t0 = time.perf_counter()
    kernel()
    print(f"{len(files)} materials: cold {time.perf_counter() - t0:.1f} s")
    profile = cProfile.Profile()
    t0 = time.perf_counter()
    profile.runcall(kernel)
    print(f"compiled {time.perf_counter() - t0:.1f} s")
    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
