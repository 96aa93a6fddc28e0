"""Fetching a public dataset (see ``sources``) into a local folder, resumably and checked.

``fetch`` reads the source's index page, picks the files that match its pattern
(sorted by material number; ``limit`` keeps the first N), and downloads the
missing ones over a few parallel connections with :func:`phonjax.download.download`
(resume, atomic rename, retries). Each file is checked before it gets its final
name: the bz2 stream decodes completely (its CRCs hold) and the YAML has the
source's top-level keys; where the index links a checksum list (``*sha256*`` /
``*md5*``), the file's hash must match it too. ``manifest.csv`` (file, bytes,
sha256, URL) and ``LICENSE.md`` (licence and citations) are written next to the
data; a second run skips files already in the manifest with their recorded size
and checks files that are present but not yet listed (after a crash) instead
of fetching them again.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urljoin, urlparse

from phonjax.data.sources import Source, licence_text
from phonjax.download import DownloadError, download, fetch_text, file_sha256, refuse_if_offline

MANIFEST = "manifest.csv"
LICENCE_FILE = "LICENSE.md"
_TOP_KEY = re.compile(rb"^([A-Za-z_][A-Za-z0-9_]*):", re.M)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def index_files(html: str, index_url: str, pattern: str) -> tuple[list[str], list[str]]:
    """(data file names matching ``pattern``, checksum-list URLs) linked from an index page."""
    parser = _Links()
    parser.feed(html)
    names, checksums = set(), []
    for href in parser.hrefs:
        url = urljoin(index_url, href)
        name = unquote(urlparse(url).path.rsplit("/", 1)[-1])
        if re.fullmatch(pattern, name):
            names.add(name)
        elif re.search(r"sha256|md5", name, re.I) and url.startswith(index_url):
            checksums.append(url)
    return sorted(names, key=_natural), sorted(set(checksums))


def _natural(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def parse_checksums(text: str) -> dict[str, tuple[str, str]]:
    """{file name: (algorithm, hex digest)} from ``sha256sum``/``md5sum``-style lines."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split()
        if len(parts) >= 2 and re.fullmatch(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{64}", parts[0]):
            name = parts[-1].lstrip("*").rsplit("/", 1)[-1]
            out[name] = ("sha256" if len(parts[0]) == 64 else "md5", parts[0].lower())
    return out


def check_yaml_bz2(path: Path, required_keys: tuple[str, ...]) -> None:
    """Raise ValueError unless ``path`` is a whole bz2 stream of YAML with ``required_keys``."""
    keys: set[bytes] = set()
    tail = b""
    try:
        with bz2.open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                text = tail + block
                cut = text.rfind(b"\n") + 1
                keys.update(_TOP_KEY.findall(text[:cut]))
                tail = text[cut:]
            keys.update(_TOP_KEY.findall(tail))
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"not a complete bz2 file: {exc}") from None
    missing = [k for k in required_keys if k.encode() not in keys]
    if missing:
        raise ValueError(f"YAML lacks {', '.join(missing)}")


def read_manifest(folder: Path) -> dict[str, dict]:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        return {row["file"]: row for row in csv.DictReader(f) if row.get("file")}


def write_manifest(folder: Path, rows: dict[str, dict]) -> None:
    """Atomically replace ``manifest.csv`` (temporary file + rename)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, ["file", "size_bytes", "sha256", "url"], extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for name in sorted(rows, key=_natural):
        writer.writerow(rows[name])
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(buf.getvalue())
    os.replace(tmp, folder / MANIFEST)


@dataclass
class FetchReport:
    folder: Path
    listed: int = 0  # files on the server (after --limit)
    fetched: int = 0
    present: int = 0  # already here and in the manifest
    adopted: int = 0  # already here, checked and added to the manifest
    bytes_fetched: int = 0
    failures: list[str] = field(default_factory=list)
    published_hashes: int = 0


def fetch(src: Source, folder: str | os.PathLike, *, limit: int | None = None,
          connections: int = 4, timeout_s: float = 30, retries: int = 3,
          index_url: str | None = None,
          on_file: Callable[[str, str, int], None] | None = None,
          on_listed: Callable[[int, int], None] | None = None) -> FetchReport:
    """Bring ``folder`` up to date with ``src`` (module docstring).

    ``index_url`` replaces the source's URL (a mirror). ``on_listed(n_todo,
    n_listed)`` is called once before transfers; ``on_file(name, status, bytes)``
    after each file with status ``fetched``/``present``/``adopted``/``failed``.
    """
    base = index_url or src.index_url
    if not base.endswith("/"):
        base += "/"
    folder = Path(folder).expanduser()
    refuse_if_offline(f"{src.name} from {base}", f"copy its files into {folder}")
    if src.files:
        return _fetch_pinned(src, folder, base, timeout_s, retries, on_file, on_listed)
    names, checksum_urls = index_files(fetch_text(base, timeout_s), base, src.pattern)
    if not names:
        raise DownloadError(f"no files matching {src.pattern} listed at {base}")
    published: dict[str, tuple[str, str]] = {}
    for url in checksum_urls:
        published.update(parse_checksums(fetch_text(url, timeout_s)))
    if limit is not None:
        names = names[:limit]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LICENCE_FILE).write_text(licence_text(src))
    manifest = read_manifest(folder)
    report = FetchReport(folder, listed=len(names), published_hashes=len(published))
    lock = threading.Lock()

    def checked(path: Path) -> None:
        check_yaml_bz2(path, src.required_keys)
        if path.name.removesuffix(".part") in published:
            algorithm, digest = published[path.name.removesuffix(".part")]
            if algorithm == "md5":
                with open(path, "rb") as f:
                    actual = hashlib.md5(f.read(), usedforsecurity=False).hexdigest()
                if actual != digest:
                    raise ValueError(f"md5 {actual} differs from the published {digest}")

    def record(name: str, size: int, sha256: str, status: str) -> None:
        with lock:
            manifest[name] = {"file": name, "size_bytes": size, "sha256": sha256,
                              "url": src.url(name, base)}
            setattr(report, status, getattr(report, status) + 1)
            if status == "fetched":
                report.bytes_fetched += size
                if report.fetched % 500 == 0:  # a crash then costs at most 500 re-checks
                    write_manifest(folder, manifest)
        if on_file:
            on_file(name, status, size)

    todo = []
    for name in names:
        path = folder / name
        row = manifest.get(name)
        if path.exists() and row and str(path.stat().st_size) == str(row.get("size_bytes")):
            report.present += 1
            if on_file:
                on_file(name, "present", path.stat().st_size)
            continue
        if path.exists():  # a crash before the manifest was written, or a copy put here by hand
            try:
                checked(path)
                record(name, path.stat().st_size, file_sha256(path), "adopted")
                continue
            except ValueError:
                path.unlink()
        todo.append(name)
    if on_listed:
        on_listed(len(todo), len(names))

    def one(name: str) -> None:
        sha = published.get(name)
        got = download(src.url(name, base), folder / name, timeout_s=timeout_s, retries=retries,
                       check=checked, expected_sha256=sha[1] if sha and sha[0] == "sha256" else None)
        record(name, got.size_bytes, got.sha256, "fetched")

    pool = ThreadPoolExecutor(max(1, min(connections, 16)))
    try:
        futures = {pool.submit(one, name): name for name in todo}
        for future in as_completed(futures):
            exc = future.exception()
            if exc is not None:
                message = str(exc) if isinstance(exc, DownloadError) else repr(exc)
                report.failures.append(f"{futures[future]}: {message}")
                if on_file:
                    on_file(futures[future], "failed", 0)
    finally:  # on Ctrl-C: transfers under way finish (or stay resumable .part files)
        pool.shutdown(wait=True, cancel_futures=True)
        write_manifest(folder, manifest)
    return report


def _fetch_pinned(src: Source, folder: Path, base: str, timeout_s: float, retries: int,
                  on_file, on_listed) -> FetchReport:
    """A source of pinned files: each fetched unless present with its SHA-256, checked."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    report = FetchReport(folder, listed=len(src.files), published_hashes=len(src.files))
    todo = []
    for name, url_path, sha in src.files:
        path = folder / name
        if path.exists() and file_sha256(path) == sha:
            report.present += 1
            manifest[name] = {"file": name, "size_bytes": path.stat().st_size, "sha256": sha,
                              "url": base + url_path}
            if on_file:
                on_file(name, "present", path.stat().st_size)
        else:
            todo.append((name, url_path, sha))
    if on_listed:
        on_listed(len(todo), len(src.files))
    for name, url_path, sha in todo:
        try:
            got = download(base + url_path, folder / name, timeout_s=timeout_s,
                           retries=retries, expected_sha256=sha)
        except (DownloadError, OSError, ValueError) as exc:
            report.failures.append(f"{name}: {exc}")
            if on_file:
                on_file(name, "failed", 0)
            continue
        manifest[name] = {"file": name, "size_bytes": got.size_bytes, "sha256": got.sha256,
                          "url": base + url_path}
        report.fetched += 1
        report.bytes_fetched += got.size_bytes
        if on_file:
            on_file(name, "fetched", got.size_bytes)
    (folder / LICENCE_FILE).write_text(licence_text(src))
    write_manifest(folder, manifest)
    return report
