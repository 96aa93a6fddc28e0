"""The results folder of ``phonjax run``: OUT/NAME/MODEL/ for each (crystal, model) pair and
OUT/NAME/comparison.{csv,png} for several models on one crystal.

Each crystal's folder OUT/NAME is written whole into a temporary sibling and then swapped in
(``phonjax.atomic_write.replacing_folder``): after a run, OUT/NAME holds exactly what that run
wrote, nothing left from an earlier run (plots of another mesh, another model set's
comparison, a ``relaxed.cif`` after ``--no-relax``, another crystal's modulated structures);
if writing fails or the process is killed, the previous complete OUT/NAME stays. Every file
is itself written atomically (``writers``, ``plots``). Crystal folders are confined to OUT:
a name is one plain path component (``inputs.safe_name``) and the path is checked.

Since OUT/NAME is replaced as a whole, a folder already there is replaced only if it is one
that ``phonjax run`` wrote (``replace_refusal``); anything else stops the run before any
work, with one line.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

from phonjax.atomic_write import LEFTOVER, open_replacing, remove_leftovers, replacing_folder, \
    sibling

COMPARISON_FILES = ("comparison.csv", "comparison.png", "kappa_comparison.csv",
                    "kappa_comparison.png", "qha_comparison.csv", "qha_comparison.png")
SUMMARY_FILE = "summary.json"  # every pair's folder has one, failed pairs included


class OutputError(ValueError):
    """An output folder that cannot be used; the message is one line."""


def check_out(out: str | os.PathLike) -> Path:
    """``--out`` usable, checked before any work and without creating it: an existing folder,
    or a path whose nearest existing ancestor is a folder; either one a folder in which a
    file can be created (tried). Raises ``OutputError`` with one line otherwise."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file, not a folder")
    existing = out
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"cannot write to --out {out} ({existing} is not a folder); give a "
                          "writable folder")
    probe = sibling(existing / "write-probe")
    try:
        with open(probe, "x"):
            pass
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write to --out {out} ({exc.strerror or exc}); give a "
                          "writable folder") from None
    return out


def child(folder: str | os.PathLike, name: str) -> Path:
    """folder/name, checked to be directly inside ``folder`` (``name`` one plain component:
    not empty, ``.``, ``..``, nor with a path separator)."""
    folder = Path(folder)
    if (not name or name in (".", "..") or "/" in name or os.sep in name
            or (os.altsep and os.altsep in name) or "\0" in name):
        raise OutputError(f"{name!r} cannot name a folder inside {folder}")
    path = folder / name
    if path.resolve().parent != folder.resolve() and not path.is_symlink():
        raise OutputError(f"{path} is not inside {folder}")
    return path


def replace_refusal(folder: Path) -> str | None:
    """Why an existing ``folder`` (OUT/NAME) may not be replaced, or None: it is absent, or
    it is what ``phonjax run`` writes (model folders holding summary.json, comparison files,
    temporary names of a killed run)."""
    if not folder.is_symlink() and not folder.exists():
        return None
    if folder.is_symlink() or not folder.is_dir():
        return "it is not a folder"
    for entry in sorted(folder.iterdir()):
        if LEFTOVER.match(entry.name):
            continue
        if entry.name in COMPARISON_FILES and entry.is_file() and not entry.is_symlink():
            continue
        if entry.is_dir() and not entry.is_symlink() and (entry / SUMMARY_FILE).is_file():
            continue
        return f"it holds {entry.name}, which phonjax run does not write"
    return None


def check_targets(out: Path, names: Iterable[str], refusal=replace_refusal,
                  command: str = "phonjax run") -> None:
    """Every crystal folder OUT/NAME can be written: confined to OUT, and absent or a
    previous run's (``refusal(folder)``: why not, or None; ``command`` the one that writes
    such folders). Raises ``OutputError`` naming the first that cannot."""
    for name in names:
        folder = child(out, name)
        why = refusal(folder)
        if why is not None:
            raise OutputError(f"{folder} exists and was not written by {command} ({why}); it "
                              "would be replaced: move it or give another --out")


def write_comparison(rows: Sequence[dict], path: Path) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open_replacing(path, "w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)


def write_crystal(out: Path, name: str, group: Sequence, plots: bool,
                  folder_of: Callable[[str], str]) -> Path:
    """OUT/NAME for the pairs of one crystal, built in a temporary folder and swapped in.
    A pair with an error gets only its summary.json (what was done, and why it failed).
    ``folder_of(model)``: the pair's folder name. Any exception leaves the previous OUT/NAME
    as it was (and no temporary folder)."""
    from phonjax.single import kappa_step, plots as plotting, qha_step
    from phonjax.single.report import comparison_rows
    from phonjax.single.writers import write_summary

    out.mkdir(parents=True, exist_ok=True)
    target = child(out, name)
    with replacing_folder(target) as tmp:
        for p in group:
            folder = child(tmp, folder_of(p.model))
            folder.mkdir(exist_ok=True)  # a model given twice: one folder, as before
            if p.error is not None:
                write_summary(p, folder)
                continue
            p.write(folder)
            if plots:
                p.plot(folder)
            kappa_step.write(p, folder, plots)
            qha_step.write(p, folder, plots)
        if len(group) > 1:
            write_comparison(comparison_rows(group), tmp / "comparison.csv")
            if plots:
                plotting.compare(group, tmp / "comparison.png")
            kappa_step.compare(group, tmp, plots)
            qha_step.compare(group, tmp, plots)
    remove_leftovers(out, name)
    return target
