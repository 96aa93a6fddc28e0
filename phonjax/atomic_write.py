"""Files and folders that appear whole or not at all.

A *file* is written under a temporary name in its own folder (``.tmp-PID-TOKEN-NAME``: same
file system, and the same suffix, so writers that go by the suffix still work) and then
renamed onto its final name with ``os.replace``, which is atomic: a reader, or a process
killed at any instant, finds the old file or the new one, never a part of one (no 0-byte
PNG after a kill -9).

A *folder* is built the same way: under a temporary sibling, then swapped in. POSIX cannot
rename a folder onto a non-empty one, so the swap is two renames: the old folder aside to
``.old-PID-TOKEN-NAME``, the new one onto NAME; the old one is deleted only after that. A kill
between the two renames (a few microseconds) leaves NAME absent and the previous complete
folder under its ``.old-`` name. The new folder holds exactly what was written into it.

``remove_leftovers`` deletes the temporary names that a killed process (PID no longer
alive) left behind.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

TMP_PREFIX = ".tmp-"  # a file or folder being written
OLD_PREFIX = ".old-"  # a folder being replaced
LEFTOVER = re.compile(r"^\.(tmp|old)-(\d+)-[0-9a-f]{8}-(.+)$")  # groups: kind, pid, name


def sibling(path: str | os.PathLike, prefix: str = TMP_PREFIX) -> Path:
    """A fresh name next to ``path`` that ends with path's own name (``.tmp-PID-TOKEN-NAME``)."""
    path = Path(path)
    return path.with_name(f"{prefix}{os.getpid()}-{secrets.token_hex(4)}-{path.name}")


def _remove(path: Path) -> None:
    """Delete a file, link or folder tree if it exists (errors ignored: a best-effort clean)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def replace_file(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """``write(temporary)`` then rename the temporary file onto ``path``; if ``write`` raises
    (or the process is interrupted) ``path`` keeps its old content and the temporary file is
    deleted."""
    path = Path(path)
    tmp = sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


@contextmanager
def open_replacing(path: str | os.PathLike, mode: str = "w", **open_kwargs) -> Iterator:
    """``open`` for writing whose file replaces ``path`` when the block ends without an
    exception (and is deleted otherwise)."""
    path = Path(path)
    tmp = sibling(path)
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def write_text(path: str | os.PathLike, text: str, encoding: str | None = None) -> Path:
    """``Path.write_text``, atomically."""
    return replace_file(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def write_csv(path: str | os.PathLike, header, rows) -> Path:
    """A CSV file (the ``header`` row, then ``rows``), atomically."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return write_text(path, buf.getvalue())


@contextmanager
def replacing_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; when the block ends without an
    exception it becomes ``path`` (a folder already there is replaced, deleted only after the
    swap). On an exception the temporary folder is deleted and ``path`` is left as it was."""
    path = Path(path)
    tmp = sibling(path)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        swap_in(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def swap_in(new: Path, path: Path) -> None:
    """Rename the complete folder ``new`` onto ``path``; the old ``path`` (if any) is moved
    aside first and deleted last."""
    old = None
    if path.is_symlink() or path.exists():
        old = sibling(path, OLD_PREFIX)
        os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        if old is not None:
            os.rename(old, path)  # put the previous folder back
        raise
    if old is not None:
        _remove(old)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_leftovers(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Delete ``.tmp-``/``.old-`` entries of ``folder`` (only those for ``name`` if given) whose
    writing process is gone. Returns what was deleted."""
    folder = Path(folder)
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = LEFTOVER.match(entry.name)
        if m is None or (name is not None and m.group(3) != name) or _alive(int(m.group(2))):
            continue
        _remove(entry)
        removed.append(entry)
    return removed
