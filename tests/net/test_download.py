"""phonjax.download against a local server: good, truncated, missing, stalled, resumed."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from phonjax.download import DownloadError, OfflineError, download
from tests.net.server import Route

BODY = os.urandom(300_000)


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_good_transfer_is_complete_hashed_and_reported(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY)
    seen = []
    got = download(server.url("/w.bin"), tmp_path / "w.bin",
                   progress=lambda done, total: seen.append((done, total)))
    assert (tmp_path / "w.bin").read_bytes() == BODY
    assert got.sha256 == hashlib.sha256(BODY).hexdigest() and got.size_bytes == len(BODY)
    assert seen[-1] == (len(BODY), len(BODY)) and len(seen) > 1
    assert leftovers(tmp_path) == ["w.bin"]  # no .part, no metadata


def test_truncated_transfer_fails_in_one_line_and_leaves_only_a_part(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY, truncate_at=100_000)
    with pytest.raises(DownloadError) as err:
        download(server.url("/w.bin"), tmp_path / "w.bin", retries=0)
    message = str(err.value)
    assert "truncated: got 100000 of 300000 bytes" in message and "\n" not in message
    assert not (tmp_path / "w.bin").exists()  # nothing under the final name
    assert (tmp_path / "w.bin.part").stat().st_size == 100_000  # kept to resume


def test_missing_file_is_a_clear_error_and_creates_nothing(server, online, tmp_path):
    with pytest.raises(DownloadError, match=r"^HTTP 404 .*/nope\.bin$") as err:
        download(server.url("/nope.bin"), tmp_path / "nope.bin", retries=2, backoff_s=5)
    assert "\n" not in str(err.value)
    assert leftovers(tmp_path) == []
    assert len(server.gets("/nope.bin")) == 1  # a 404 is not retried


def test_stalled_server_times_out(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY, stall_at=1000, stall_s=3)
    start = time.perf_counter()
    with pytest.raises(DownloadError, match=r"stalled: no data for 0.3 s after 1000 bytes"):
        download(server.url("/w.bin"), tmp_path / "w.bin", timeout_s=0.3, retries=0)
    assert time.perf_counter() - start < 2.5
    assert not (tmp_path / "w.bin").exists()


def test_interrupted_transfer_resumes_with_a_range_request(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY, truncate_at=120_000, faults=1)
    with pytest.raises(DownloadError, match="truncated"):
        download(server.url("/w.bin"), tmp_path / "w.bin", retries=0)
    got = download(server.url("/w.bin"), tmp_path / "w.bin", retries=0)
    assert (tmp_path / "w.bin").read_bytes() == BODY
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()
    second = server.gets("/w.bin")[-1]
    assert second.headers.get("Range") == "bytes=120000-"
    assert second.headers.get("If-Range") == '"v1"'
    assert leftovers(tmp_path) == ["w.bin"]


def test_retries_resume_within_one_call(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY, truncate_at=50_000, faults=2)
    download(server.url("/w.bin"), tmp_path / "w.bin", retries=2, backoff_s=0)
    assert (tmp_path / "w.bin").read_bytes() == BODY
    assert [r.headers.get("Range") for r in server.gets("/w.bin")] == [
        None, "bytes=50000-", "bytes=100000-"]


def test_a_file_changed_on_the_server_restarts_from_zero(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY, truncate_at=70_000, faults=1)
    with pytest.raises(DownloadError):
        download(server.url("/w.bin"), tmp_path / "w.bin", retries=0)
    new = BODY[::-1]
    server.routes["/w.bin"] = Route(new, etag='"v2"')  # If-Range "v1" no longer matches
    download(server.url("/w.bin"), tmp_path / "w.bin", retries=0)
    assert (tmp_path / "w.bin").read_bytes() == new


def test_bad_content_or_hash_is_refused_and_removed(server, online, tmp_path):
    server.routes["/w.bin"] = Route(BODY)

    def check(path):
        raise ValueError("not what we wanted")

    with pytest.raises(DownloadError, match=r"bad content \(not what we wanted\)"):
        download(server.url("/w.bin"), tmp_path / "w.bin", check=check)
    with pytest.raises(DownloadError, match="differs from the published"):
        download(server.url("/w.bin"), tmp_path / "w.bin", expected_sha256="0" * 64)
    assert leftovers(tmp_path) == []


def test_offline_refuses_before_any_connection(server, monkeypatch, tmp_path):
    monkeypatch.setenv("PHONJAX_OFFLINE", "1")
    server.routes["/w.bin"] = Route(BODY)
    with pytest.raises(OfflineError, match=r"PHONJAX_OFFLINE=1.*put the file at .*w\.bin"):
        download(server.url("/w.bin"), tmp_path / "w.bin")
    assert server.requests == [] and leftovers(tmp_path) == []
