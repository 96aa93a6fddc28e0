"""``phonjax data {fetch,list}``: public reference datasets on this machine."""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_parser(sub) -> None:
    from phonjax.data.sources import SOURCES

    p = sub.add_parser("data", help="fetch the public reference datasets (Alexandria benchmark, "
                       "the κ benchmark's data)",
                       description="Fetch public phonon reference datasets into "
                       "$PHONJAX_DATA (default ~/.local/share/phonjax) or --to DIR.")
    verbs = p.add_subparsers(dest="verb")
    f = verbs.add_parser("fetch", help="download (or complete) a dataset",
                         description="Download a dataset's files with resume, parallel "
                         "connections and integrity checks; writes manifest.csv and LICENSE.md "
                         "next to them. Re-running completes an interrupted fetch.")
    f.add_argument("name", choices=sorted(SOURCES))
    f.add_argument("--limit", type=int, default=None, help="only the first N files (by mp id)")
    f.add_argument("--to", default=None, metavar="DIR", help="target folder "
                   "(default: $PHONJAX_DATA/NAME; bench --dataset NAME looks there)")
    f.add_argument("--connections", type=int, default=4, help="parallel transfers (default 4)")
    f.add_argument("--timeout", type=float, default=30, metavar="S",
                   help="give up on a connection silent for S seconds (default 30)")
    f.add_argument("--retries", type=int, default=3, help="per file (default 3)")
    f.add_argument("--from", dest="index_url", default=None, metavar="URL",
                   help="a mirror of the source folder (default: the source's own URL)")
    f.add_argument("--offline", action="store_true", help="forbid network access (fails at once)")
    verbs.add_parser("list", help="known datasets and what is on this machine")

    def run(args) -> int:
        if args.verb is None:
            p.print_help()
            return 2
        return {"fetch": run_fetch, "list": run_list}[args.verb](args)

    p.set_defaults(func=run)


def run_fetch(args) -> int:
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from phonjax.data.fetch import MANIFEST, fetch
    from phonjax.data.sources import local_dir, source
    from phonjax.download import DownloadError, human_size, set_offline

    err = Console(stderr=True)
    if args.offline:
        set_offline()
    if args.limit is not None and args.limit < 1 or args.connections < 1 or args.retries < 0:
        err.print("[red]error[/red]: --limit and --connections must be ≥ 1, --retries ≥ 0")
        return 2
    src = source(args.name)
    folder = Path(args.to).expanduser() if args.to else local_dir(src.name)
    problem = target_problem(folder, "--to" if args.to else "the data folder ($PHONJAX_DATA)")
    if problem:
        err.print(f"[red]error[/red]: {problem}", highlight=False, soft_wrap=True)
        return 2
    err.print(f"{src.title}\n  from {args.index_url or src.index_url}\n  to   {folder}  "
              f"({src.licence})", highlight=False, soft_wrap=True)
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[size]}"), TimeElapsedColumn(), TextColumn("ETA"),
                   TimeRemainingColumn(), console=err)
    task = None
    done_bytes = [0]

    def listed(n_todo: int, n_listed: int) -> None:
        nonlocal task
        err.print(f"  {n_listed} files listed, {n_listed - n_todo} already here, "
                  f"{n_todo} to fetch", highlight=False)
        task = bar.add_task("fetching", total=n_todo, size="")

    def on_file(name: str, status: str, size: int) -> None:
        if status in ("fetched", "failed") and task is not None:
            done_bytes[0] += size
            bar.update(task, advance=1, size=human_size(done_bytes[0]))

    t0 = time.perf_counter()
    try:
        with bar:
            report = fetch(src, folder, limit=args.limit, connections=args.connections,
                           timeout_s=args.timeout, retries=args.retries,
                           index_url=args.index_url, on_file=on_file, on_listed=listed)
    except DownloadError as exc:
        err.print(f"[red]error[/red]: {exc}", highlight=False, soft_wrap=True)
        return 1
    except OSError as exc:  # e.g. the folder cannot be written (found only once writing it)
        what = (f"cannot write {exc.filename} ({exc.strerror}): give --to a folder you can "
                "write" if exc.filename else str(exc.strerror or exc))
        err.print(f"[red]error[/red]: {what}", highlight=False, soft_wrap=True)
        return 1
    for failure in report.failures:
        err.print(f"[red]failed[/red] {failure}", highlight=False, soft_wrap=True)
    hashes = (f"checked against {report.published_hashes} published hashes" if
              report.published_hashes else "no published hashes: sha256 recorded in the manifest")
    err.print(f"{report.fetched} fetched ({human_size(report.bytes_fetched)}), {report.present} "
              f"already here, {report.adopted} checked and kept, {len(report.failures)} failed in "
              f"{time.perf_counter() - t0:.1f} s; every file decoded and checked, {hashes}; "
              f"{folder / MANIFEST}", highlight=False, soft_wrap=True)
    if report.failures:
        err.print("re-run the same command to retry the failed files", highlight=False)
    return 1 if report.failures else 0


def target_problem(folder: Path, where: str) -> str | None:
    """Why ``folder`` (named ``where`` in the message) cannot receive a dataset: it is a
    file, or inside one, or cannot be written; in one line. None when it can, or when
    that shows only once writing (an immutable folder: ``run_fetch`` says so then)."""
    import os

    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None:
        return None
    if not existing.is_dir():
        what = "is a file" if existing == folder else f"is inside {existing}, which is a file"
        return f"{where} {folder} {what}: give --to a folder (created if missing)"
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "permission denied" if existing == folder else f"no permission to write in {existing}"
        return f"{where} {folder} cannot be written ({why}): give --to a folder you can write"
    return None


def run_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from phonjax.data.fetch import read_manifest
    from phonjax.data.sources import SOURCES, data_home, local_dir

    table = Table(title=f"phonjax datasets (local copies in {data_home()})")
    for col in ("name", "files here", "source", "licence"):
        table.add_column(col, overflow="fold")
    for name, src in SOURCES.items():
        folder = local_dir(name)
        n = len(read_manifest(folder)) if folder.exists() else 0
        of = f"{len(src.files)}" if src.files else f"~{src.approx_files:,}"
        table.add_row(name, f"{n} (of {of})", src.index_url, src.licence)
    Console().print(table)
    return 0


def main(argv: list[str]) -> int:  # for tests: `phonjax data ...` without the outer parser
    parser = argparse.ArgumentParser(prog="phonjax")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", *argv])
    return args.func(args)
