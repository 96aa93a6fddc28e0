"""``python -m validation.compare_phonopy``: options, file selection, run metadata, resume rules."""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import sys
import time
from pathlib import Path

import validation.compare_phonopy as package
from validation.compare_phonopy.settings import (COLUMNS, CSV_NAME, DEFAULT_DATA, DEFAULT_OUT,
                                                 ROOT, SUMMARY_NAME)
from validation.compare_phonopy.table import read_rows, write_rows

COMMAND = "python -m validation.compare_phonopy"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=COMMAND, description=package.__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="*", help="phonopy_params files (same as --files)")
    ap.add_argument("--files", nargs="+", default=[], help="phonopy_params files to compare")
    ap.add_argument("--data", default=str(DEFAULT_DATA),
                    help="directory of *.yaml.xz used when no files are given "
                         "(default: %(default)s)")
    ap.add_argument("--limit", type=int, default=None,
                    help="only the first N files (by name) of the selection")
    ap.add_argument("--stride", type=int, default=1,
                    help="only every K-th file (by name) of the selection, before --limit "
                         "(default 1)")
    ap.add_argument("--out", default=str(DEFAULT_OUT),
                    help="output directory (default: %(default)s)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="phonopy worker processes (default 1). With more than one, phonopy "
                         "materials run concurrently and their times include contention.")
    ap.add_argument("--overlap", action="store_true",
                    help="run phonjax on a batch while the phonopy workers process it "
                         "(shorter wall time; both sides' times then include contention)")
    ap.add_argument("--batch-size", type=int, default=32,
                    help="materials per phonon_properties call, within one size bucket "
                         "(default 32)")
    ap.add_argument("--order", choices=("size", "name"), default="size",
                    help="size: phonjax size buckets, smallest primitive cells first (default)")
    ap.add_argument("--max-minutes", type=float, default=None,
                    help="start no new batch after this many minutes "
                         "(partial coverage is reported)")
    ap.add_argument("--force", action="store_true", help="recompute materials already in the CSV")
    ap.add_argument("--retry-errors", action="store_true",
                    help="recompute materials whose CSV row records an error")
    ap.add_argument("--warm-phonors", action="store_true",
                    help="create phonors' thread pool from the main thread before phonjax runs: a "
                         "workaround for the flush-to-zero bug of phonjax's CPU eigensolver "
                         "callback (see README); off by default so that the bug shows")
    ap.add_argument("--summary-only", action="store_true",
                    help="only rebuild summary.md and the tables from the existing CSV")
    return ap


def select_paths(args) -> list[str]:
    """The requested files, unique, sorted by id; every ``--stride``-th, then ``--limit``."""
    from phonjax.io import dataset_id

    paths = [str(Path(p)) for p in (args.paths + args.files)]
    if not paths:
        paths = sorted(str(p) for p in Path(args.data).glob("*.yaml.xz"))
    paths = sorted(dict.fromkeys(paths), key=dataset_id)[:: max(1, args.stride)]
    return paths if args.limit is None else paths[: args.limit]


def versions() -> str:
    import importlib.metadata as md

    out = []
    for pkg in ("phonjax", "phonopy", "phonors", "jax", "jaxlib", "spglib", "numpy"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(out)


def phonjax_commit() -> str:
    """The checkout's short commit, plus the uncommitted files under phonjax/."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "phonjax"], cwd=ROOT,
                               text=True, capture_output=True).stdout.split("\n")
        dirty = [line[3:] for line in dirty if line.strip()]
        return head + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def run_meta(args, argv, paths: list[str]) -> dict:
    """Command (file lists abbreviated), versions, machine and time for summary.md."""
    from phonjax.io import dataset_id

    shown = [a for a in (argv or sys.argv[1:]) if not a.endswith((".xz", ".yaml", ".bz2", ".gz"))]
    if len(args.paths) + len(args.files):
        ids = [dataset_id(p) for p in paths]
        more = ", …" if len(ids) > 3 else ""
        shown.append(f"--files <{len(ids)} files: {', '.join(ids[:3])}{more}>")
    return {"command": " ".join([COMMAND] + shown),
            "versions": versions() + f"; phonjax checkout {phonjax_commit()}"
                        + ("; **--warm-phonors workaround on**" if args.warm_phonors else ""),
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
                       f"python {platform.python_version()}",
            "now": _dt.datetime.now().isoformat(timespec="seconds")}


def keep_meta_of_csv(out: Path, meta: dict) -> None:
    """--summary-only: keep the command and versions of the run that wrote the CSV."""
    old = out / SUMMARY_NAME
    if old.exists():
        text = old.read_text()
        m = re.search(r"by `(.*)`\.", text)
        v = re.search(r"^- versions: (.*)$", text, re.M)
        meta["command"] = m.group(1) if m else meta["command"]
        meta["versions"] = v.group(1) if v else meta["versions"]


def pending(csv_path: Path, paths: list[str], force: bool, retry_errors: bool) -> list[str]:
    """The files still to run; drops the CSV rows that --force / --retry-errors will redo."""
    from phonjax.io import dataset_id

    requested = {dataset_id(p) for p in paths}
    rows = read_rows(csv_path)
    if force:
        rows = [r for r in rows if r["id"] not in requested]
    elif retry_errors:
        rows = [r for r in rows if r.get("status") == "ok" or r["id"] not in requested]
    if force or retry_errors or (rows and list(rows[0].keys()) != COLUMNS):
        write_rows(csv_path, rows)
    done = {r["id"] for r in rows}
    return [p for p in paths if dataset_id(p) not in done]


def warm_phonors() -> None:
    """--warm-phonors: create phonors' thread pool from the main thread."""
    import numpy as np

    try:
        import phonors

        phonors.eigvalsh_values_batch(np.eye(3, dtype=complex)[None].repeat(2, 0).copy(),
                                      np.empty((2, 3)))
        print("phonors thread pool created from the main thread (--warm-phonors)", flush=True)
    except ImportError:
        pass


def main(argv=None) -> int:
    from phonjax.io import dataset_id

    from validation.compare_phonopy import phonjax_side, run, summary

    args = parser().parse_args(argv)
    start = time.time()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / CSV_NAME
    paths = select_paths(args)
    requested = {dataset_id(p) for p in paths}
    meta = run_meta(args, argv, paths)

    def summarize(final: bool = False):
        rows = [r for r in read_rows(csv_path) if r["id"] in requested]
        meta["now"] = _dt.datetime.now().isoformat(timespec="seconds")
        summary.write_summary(out, rows, len(paths), meta)
        if final:
            summary.print_tables(rows, len(paths))

    if args.summary_only:
        keep_meta_of_csv(out, meta)
        summarize(final=True)
        return 0
    todo = pending(csv_path, paths, args.force, args.retry_errors)
    print(f"{len(paths)} files requested, {len(paths) - len(todo)} already in {csv_path}, "
          f"{len(todo)} to run", flush=True)
    phonjax_side.init()
    if args.warm_phonors:
        warm_phonors()
    run.run(todo, csv_path, jobs=args.jobs, overlap=args.overlap, batch_size=args.batch_size,
            order=args.order, max_minutes=args.max_minutes, start=start, summarize=summarize)
    summarize(final=True)
    print(f"wrote {csv_path} and {out / SUMMARY_NAME} in {(time.time() - start) / 60:.1f} min",
          flush=True)
    return 0
