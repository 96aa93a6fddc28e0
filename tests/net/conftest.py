"""Fixtures of the download tests: a local server, downloads switched on, loopback only.

Downloads are allowed only inside these tests (``online``), and every socket
connection to anything but 127.0.0.1 fails, so a wrong URL can never reach out.
"""

from __future__ import annotations

import socket

import pytest

from tests.net.server import LocalServer


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"test tried to reach {address}: only 127.0.0.1 is allowed")
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


@pytest.fixture
def online(monkeypatch):
    """Downloads allowed for this test (the suite runs with PHONJAX_OFFLINE=1)."""
    monkeypatch.setenv("PHONJAX_OFFLINE", "0")
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
