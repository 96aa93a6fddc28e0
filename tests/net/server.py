"""A small HTTP server on 127.0.0.1 for the download tests, serving files made in the test.

Each route is a :class:`Route`: the body, and how to misbehave: a status (404),
``truncate_at`` (announce the full length, send that many bytes, close),
``stall_at`` (send that many bytes, then say nothing for ``stall_s``), each on
every request or only the first ones (``faults``). Range requests get 206
answers (``If-Range`` honoured against the route's ETag) unless
``ranges=False``. Every request's path and headers are recorded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    truncate_at: int | None = None
    stall_at: int | None = None
    stall_s: float = 3.0
    faults: int | None = None  # misbehave on the first N requests only (None: always)
    ranges: bool = True
    etag: str = '"v1"'
    content_type: str = "application/octet-stream"
    served: int = 0


@dataclass
class Request:
    method: str
    path: str
    headers: dict = field(default_factory=dict)


class LocalServer:
    def __init__(self):
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self._answer(head=True)

            def do_GET(self):
                self._answer(head=False)

            def _answer(self, head: bool):
                server.requests.append(Request(self.command, self.path, dict(self.headers)))
                route = server.routes.get(self.path)
                if route is None or route.status != 200:
                    self.send_error(404 if route is None else route.status)
                    return
                faulty = route.faults is None or route.served < route.faults
                if not head:
                    route.served += 1
                body, start = route.body, 0
                wanted = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                if wanted and route.ranges and (if_range is None or if_range == route.etag):
                    start = int(wanted.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("ETag", route.etag)
                self.end_headers()
                if head:
                    return
                rest = body[start:]
                try:
                    if faulty and route.stall_at is not None:
                        self.wfile.write(rest[: route.stall_at])
                        self.wfile.flush()
                        time.sleep(route.stall_s)
                        return
                    if faulty and route.truncate_at is not None:
                        self.wfile.write(rest[: route.truncate_at])
                        self.wfile.flush()
                        self.close_connection = True
                        return
                    self.wfile.write(rest)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def gets(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path and r.method == "GET"]
