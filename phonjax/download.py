"""Downloading one file over HTTP(S): resumable, atomic, checked; and the offline switch.

A download writes ``DEST.part`` next to ``DEST`` (and ``DEST.part.json``, the
server's validator) and renames it to ``DEST`` only once every byte announced by
the server arrived and the caller's ``check`` passed, so a file under its final
name is always complete. An interrupted transfer resumes from ``DEST.part`` with
an HTTP ``Range`` request (``If-Range`` with the saved ETag or Last-Modified, so
a file changed on the server restarts from zero). A server that sends nothing
for ``timeout_s`` seconds fails the attempt ("stalled"); truncated transfers,
stalls, connection errors, HTTP 408/429/5xx are retried ``retries`` times, other
HTTP errors (404, 403, ...) fail at once. Every failure is a :class:`DownloadError`
with a one-line message naming the URL.

``PHONJAX_OFFLINE=1`` (what the command lines' ``--offline`` sets) forbids any
network access: :func:`download` then raises :class:`OfflineError` before
opening a connection. Only the standard library is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

OFFLINE_ENV = "PHONJAX_OFFLINE"
USER_AGENT = "phonjax-download/1 (+https://github.com/phonjax)"
_CHUNK_BYTES = 1 << 16
_RETRY_HTTP = {408, 425, 429, 500, 502, 503, 504}

Progress = Callable[[int, "int | None"], None]  # (bytes so far, total bytes or None)
Check = Callable[[Path], None]  # raises ValueError(reason) when the content is wrong


def offline() -> bool:
    """True when ``PHONJAX_OFFLINE`` forbids network access (any value but '', 0, false, no)."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def set_offline() -> None:
    """Forbid network access in this process and in the processes it starts."""
    os.environ[OFFLINE_ENV] = "1"


class DownloadError(OSError):
    """A transfer failed; the message is one line naming the URL and the reason."""


class OfflineError(DownloadError):
    """Network access was needed but ``PHONJAX_OFFLINE`` forbids it."""


class _Retryable(DownloadError):
    pass


@dataclass(frozen=True)
class Downloaded:
    path: Path
    size_bytes: int
    sha256: str
    url: str


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def human_size(n_bytes: int | None) -> str:
    if n_bytes is None:
        return "unknown size"
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError  # pragma: no cover


def refuse_if_offline(what: str, hint: str | None = None) -> None:
    """Raise :class:`OfflineError` about ``what`` (e.g. a URL) when network access is off."""
    if offline():
        more = f"; {hint}" if hint else ""
        raise OfflineError(f"offline ({OFFLINE_ENV}=1 or --offline): not downloading {what}{more}")


def _request(url: str, headers: dict | None = None, method: str = "GET") -> urllib.request.Request:
    h = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})}
    return urllib.request.Request(url, headers=h, method=method)


def _open(req: urllib.request.Request, timeout_s: float):
    url = req.full_url
    try:
        return urllib.request.urlopen(req, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        cls = _Retryable if exc.code in _RETRY_HTTP else DownloadError
        raise cls(f"HTTP {exc.code} {exc.reason}: {url}") from None
    except (socket.timeout, TimeoutError):
        raise _Retryable(f"no answer within {timeout_s:g} s: {url}") from None
    except urllib.error.URLError as exc:
        raise _Retryable(f"cannot reach {url}: {exc.reason}") from None
    except (ConnectionError, http.client.HTTPException) as exc:
        raise _Retryable(f"connection failed: {url}: {exc}") from None


def remote_size(url: str, timeout_s: float = 30) -> int | None:
    """Content-Length of ``url`` from a HEAD request (None when the server does not say)."""
    refuse_if_offline(url)
    with _open(_request(url, method="HEAD"), timeout_s) as resp:
        length = resp.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def fetch_text(url: str, timeout_s: float = 30, limit_bytes: int = 64 << 20) -> str:
    """A small text resource (an index page, a checksum list), decoded as UTF-8."""
    refuse_if_offline(url)
    with _open(_request(url), timeout_s) as resp:
        try:
            body = resp.read(limit_bytes)
        except (socket.timeout, TimeoutError):
            raise DownloadError(f"stalled: no data for {timeout_s:g} s: {url}") from None
    return body.decode("utf-8", errors="replace")


@contextlib.contextmanager
def _locked(dest: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``DEST.lock`` (processes downloading the same file wait)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(dest.with_name(dest.name + ".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _transfer(url: str, part: Path, timeout_s: float, progress: Progress | None) -> None:
    """Append the missing bytes of ``url`` to ``part`` (from zero when it cannot resume)."""
    meta = part.with_name(part.name + ".json")
    have = part.stat().st_size if part.exists() else 0
    saved = {}
    if have and meta.exists():
        with contextlib.suppress(ValueError, OSError):
            saved = json.loads(meta.read_text())
    headers = {}
    if have and saved.get("url") == url:
        headers["Range"] = f"bytes={have}-"
        if saved.get("validator"):
            headers["If-Range"] = saved["validator"]
    try:
        resp = _open(_request(url, headers), timeout_s)
    except DownloadError as exc:
        if "HTTP 416" in str(exc):  # the saved part no longer fits the file: start again
            part.unlink(missing_ok=True)
            raise _Retryable(str(exc)) from None
        raise
    with resp:
        start = 0
        if resp.status == 206:
            content_range = resp.headers.get("Content-Range", "")  # bytes a-b/total
            try:
                start = int(content_range.split()[1].split("-")[0])
            except (IndexError, ValueError):
                start = -1
            if start != have:
                part.unlink(missing_ok=True)
                raise _Retryable(f"server resumed at byte {start}, not {have}: {url}")
        length = resp.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        validator = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
        meta.write_text(json.dumps({"url": url, "validator": validator, "total": total}))
        done = start
        with open(part, "ab" if start else "wb") as out:
            try:
                while True:
                    block = resp.read1(_CHUNK_BYTES)  # what arrived, not a full chunk
                    if not block:
                        break
                    out.write(block)
                    done += len(block)
                    if progress is not None:
                        progress(done, total)
            except (socket.timeout, TimeoutError):
                raise _Retryable(f"stalled: no data for {timeout_s:g} s after {done} bytes: "
                                 f"{url}") from None
            except (ConnectionError, http.client.HTTPException) as exc:
                raise _Retryable(f"connection lost after {done} bytes: {url}: {exc}") from None
            finally:
                out.flush()
                os.fsync(out.fileno())
    if total is not None and done != total:
        raise _Retryable(f"truncated: got {done} of {total} bytes: {url}")


def download(url: str, dest: str | os.PathLike, *, timeout_s: float = 30, retries: int = 3,
             backoff_s: float = 1.0, check: Check | None = None,
             expected_sha256: str | None = None, progress: Progress | None = None,
             lock: bool = False) -> Downloaded:
    """Fetch ``url`` to ``dest`` (see the module docstring); returns size and sha256.

    ``check(path)`` validates the content of the finished ``.part`` file (raise
    ``ValueError(reason)``); a wrong hash or a failed check deletes the part and
    fails without retry. ``lock``: serialise processes fetching the same ``dest``
    (a file that appeared meanwhile is returned as it is).
    """
    dest = Path(dest)
    refuse_if_offline(url, f"put the file at {dest}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _locked(dest) if lock else contextlib.nullcontext():
        if lock and dest.exists():
            return Downloaded(dest, dest.stat().st_size, file_sha256(dest), url)
        for attempt in range(retries + 1):
            try:
                _transfer(url, part, timeout_s, progress)
                break
            except _Retryable as exc:
                if attempt == retries:
                    raise DownloadError(str(exc)) from None
                time.sleep(backoff_s * 2**attempt)
        sha256 = file_sha256(part)
        try:
            if expected_sha256 and sha256 != expected_sha256.lower():
                raise ValueError(f"sha256 {sha256[:16]}… differs from the published "
                                 f"{expected_sha256[:16]}…")
            if check is not None:
                check(part)
        except ValueError as exc:
            part.unlink(missing_ok=True)
            part.with_name(part.name + ".json").unlink(missing_ok=True)
            raise DownloadError(f"bad content ({exc}): {url}") from None
        size = part.stat().st_size
        os.replace(part, dest)
        part.with_name(part.name + ".json").unlink(missing_ok=True)
    return Downloaded(dest, size, sha256, url)


@contextlib.contextmanager
def progress_bar(description: str, console=None) -> Iterator[Progress]:
    """A rich progress bar on stderr (bytes, size, speed) as a ``progress`` callback."""
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn(),
                   console=console or Console(stderr=True), transient=False)
    task = bar.add_task(description, total=None)
    with bar:
        yield lambda done, total: bar.update(task, completed=done, total=total)
