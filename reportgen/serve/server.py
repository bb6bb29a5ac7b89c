"""The HTTP side: the current page on 127.0.0.1, its files, a status JSON and the Server-Sent Events endpoint."""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from reportgen.serve.page import EVENTS, message_page, served_copy

KEEPALIVE_S = 10.0


@dataclass
class Page:
    """What the server shows now: a version number that grows with every render, and the page's state."""

    version: int = 0
    state: str = "starting"  # ok, error (manifest or render), stale (needs new runs), starting
    html: str = ""  # the served copy
    message: str = ""
    renders: int = 0
    files: dict[str, Path] = field(default_factory=dict)  # other paths served as they are on disk (the PDF, results)


class Shared:
    """The page, guarded by a condition that wakes every events stream when a new version is published."""

    def __init__(self):
        self.cond = threading.Condition()
        self.page = Page(html=message_page("Rendering ...", "the first render is under way", 0, "waiting"))
        self.closing = False

    def publish(self, state: str, html: str, message: str = "", files: dict[str, Path] | None = None) -> int:
        """A new version of the page: a rendered report (served with the reload script) or a message page."""
        with self.cond:
            version = self.page.version + 1
            shown = served_copy(html, version) if state == "ok" else html
            self.page = Page(version, state, shown, message, self.page.renders + (state == "ok"),
                             dict(files or self.page.files))
            self.cond.notify_all()
            return version

    def next_version(self) -> int:
        with self.cond:
            return self.page.version + 1

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    server: "Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - the console shows renders, not every request
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        shared = self.server.shared
        page = shared.page
        if url.path in ("/", "/report.html", "/index.html"):
            self._send(200, page.html.encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == EVENTS:
            self._events(parse_qs(url.query).get("v", ["0"])[0])
        elif url.path == "/_reportgen/status":
            status = {"version": page.version, "state": page.state, "message": page.message, "renders": page.renders,
                      "torch_imported": "torch" in sys.modules}
            self._send(200, json.dumps(status).encode("utf-8"), "application/json")
        elif url.path.lstrip("/") in page.files and page.files[url.path.lstrip("/")].is_file():
            path = page.files[url.path.lstrip("/")]
            kind = {".pdf": "application/pdf", ".json": "application/json"}.get(path.suffix, "application/octet-stream")
            self._send(200, path.read_bytes(), kind)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _events(self, seen: str) -> None:
        """Server-Sent Events: `reload` with the current version whenever it differs from the page's; comments keep
        the connection open."""
        shared = self.server.shared
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        known = int(seen) if seen.isdigit() else -1
        try:
            self.wfile.write(b"retry: 500\n\n")
            self.wfile.flush()
            while True:
                with shared.cond:
                    if shared.page.version == known and not shared.closing:
                        shared.cond.wait(KEEPALIVE_S)
                    version, closing = shared.page.version, shared.closing
                if closing:
                    return
                if version != known:
                    self.wfile.write(f"event: reload\ndata: {version}\n\n".encode("ascii"))
                    known = version
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


class Server(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 only, serving `shared`."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, shared: Shared):
        self.shared = shared
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="reportgen-serve",
                                  daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shared.close()
        self.shutdown()
        self.server_close()
