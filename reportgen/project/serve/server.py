"""The HTTP side: the current page on 127.0.0.1, its files, a status JSON and the Server-Sent Events endpoint."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from reportgen import messages
from reportgen.project.serve.guard import Connections, Limits, client_gone, query_of, refusal
from reportgen.project.serve.page import EVENTS, PDF_MARK, message_page, pdf_status, served_copy

KEEPALIVE_S = 10.0  # an events stream's comment line, so that proxies and browsers keep it open
GONE_CHECK_S = 1.0  # how often an idle events stream checks that its client is still there, freeing its slot
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\n"
        b"Connection: close\r\nRetry-After: 1\r\n\r\ntoo many connections\n")


@dataclass
class Page:
    """What the server shows now: a version number that grows with every render, and the page's state."""

    version: int = 0
    state: str = "starting"  # ok, error (manifest or render), stale (needs new runs), starting
    html: str = ""  # the served copy
    message: str = ""
    renders: int = 0
    files: dict[str, Path] = field(default_factory=dict)  # other paths served as they are on disk (the PDF, results)
    pdf: str = ""  # with serve --pdf: rendering, ready or failed (this version's PDF); "" without


class Shared:
    """The page, guarded by a condition that wakes every events stream when a new version is published."""

    def __init__(self):
        self.cond = threading.Condition()
        self.page = Page(html=message_page("Rendering ...", "the first render is under way", 0, "waiting"))
        self.closing = False

    def publish(self, state: str, html: str, message: str = "", files: dict[str, Path] | None = None,
                pdf: str = "") -> int:
        """A new version of the page: a rendered report (served with the reload script and, with `pdf`, the PDF's
        state) or a message page."""
        with self.cond:
            version = self.page.version + 1
            shown = served_copy(html, version, bool(pdf)) if state == "ok" else html
            self.page = Page(version, state, shown, message, self.page.renders + (state == "ok"),
                             dict(files or self.page.files), pdf if state == "ok" else "")
            self.cond.notify_all()
            return version

    def set_pdf(self, version: int, state: str) -> bool:
        """The PDF of page `version` is ready (or failed); ignored, False, when a newer page is up."""
        with self.cond:
            if self.page.version != version or not self.page.pdf:
                return False
            self.page = replace(self.page, pdf=state)  # a handler holding the old page reads it whole
            self.cond.notify_all()
            return True

    def next_version(self) -> int:
        """The version the next publish will get."""
        with self.cond:
            return self.page.version + 1

    def close(self) -> None:
        """Tell every events stream to end."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()


class _Handler(BaseHTTPRequestHandler):
    """Answers GET and HEAD for the page, its files, the status JSON and the events stream, from this machine only."""

    server: "Server"
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        """Blocked reads and writes give up after the request deadline even if the reaper is late."""
        self.timeout = self.server.limits.request_s
        super().setup()

    def log_message(self, format, *args):  # noqa: A002 - the console shows renders, not every request
        """Log nothing."""

    def handle_one_request(self) -> None:
        """Each request, on a new or a kept-alive connection, must arrive whole within the request deadline."""
        self.server.connections.deadline(self.connection, self.server.limits.request_s)
        super().handle_one_request()

    def parse_request(self) -> bool:
        """Parse the head, then refuse another Host or Origin (421, closing) before anything is answered."""
        if not super().parse_request():
            return False
        self.server.connections.deadline(self.connection, self.server.limits.response_s)
        why = refusal(self.headers, self.server.server_address[1])
        if why is None:
            return True
        self.close_connection = True
        self._send(421, f"misdirected request: {why}\n".encode("utf-8"), "text/plain; charset=utf-8")
        return False

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        """One complete response, never cached or sniffed; no body for HEAD."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        """As GET, without the body."""
        self.do_GET()

    def do_GET(self):  # noqa: N802
        """The page, the events stream, the status JSON or a served file; 400 for a malformed query, else 404."""
        try:
            url = urlsplit(self.path)
            params = query_of(url.query, url.path, EVENTS)
        except ValueError as exc:
            self.close_connection = True
            self._send(400, f"bad request: {exc}\n".encode("utf-8"), "text/plain; charset=utf-8")
            return
        page = self.server.shared.page
        if url.path in ("/", "/report.html", "/index.html"):
            html = page.html.replace(PDF_MARK, pdf_status(page.pdf, page.version), 1) if page.pdf else page.html
            self._send(200, html.encode("utf-8"), "text/html; charset=utf-8")
        elif url.path == EVENTS:
            self._events(int(params.get("v", "-1")))
        elif url.path == "/_reportgen/status":
            status = {"version": page.version, "state": page.state, "message": page.message, "renders": page.renders,
                      "pdf": page.pdf, "torch_imported": "torch" in sys.modules}
            self._send(200, json.dumps(status).encode("utf-8"), "application/json")
        elif url.path == "/report.pdf" and page.pdf and page.pdf != "ready":  # never the previous version's
            self._send(503, f"the PDF is {page.pdf}\n".encode("utf-8"), "text/plain; charset=utf-8")
        elif url.path.lstrip("/") in page.files and page.files[url.path.lstrip("/")].is_file():
            path = page.files[url.path.lstrip("/")]
            kind = {".pdf": "application/pdf", ".json": "application/json"}.get(path.suffix, "application/octet-stream")
            self._send(200, path.read_bytes(), kind)
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _events(self, known: int) -> None:
        """Server-Sent Events: `reload` with the current version whenever it differs from the page's; comments keep
        the connection open. The stream has no deadline but counts against the connection cap until its client
        goes."""
        shared = self.server.shared
        self.server.connections.deadline(self.connection, None)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b"retry: 500\n\n")
            self.wfile.flush()
            quiet_since = time.monotonic()
            # the page was sent saying "rendering" when it has a PDF: a state reached before this stream opened
            # (or while it reconnected) is sent again, never assumed seen
            pdf = ("rendering" if shared.page.pdf else shared.page.pdf) if shared.page.version == known else None
            while True:
                with shared.cond:
                    if (shared.page.version, shared.page.pdf) == (known, pdf) and not shared.closing:
                        shared.cond.wait(GONE_CHECK_S)
                    version, state, closing = shared.page.version, shared.page.pdf, shared.closing
                if closing or client_gone(self.connection):
                    return
                if version != known:
                    self.wfile.write(f"event: reload\ndata: {version}\n\n".encode("ascii"))
                    known, pdf = version, state
                elif state != pdf:
                    self.wfile.write(f"event: pdf\ndata: {version} {state}\n\n".encode("ascii"))
                    pdf = state
                elif time.monotonic() - quiet_since >= KEEPALIVE_S:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    continue
                self.wfile.flush()
                quiet_since = time.monotonic()
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


class Server(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 only, serving `shared`, with at most `limits.connections`
    connections and deadlines on idle and slow ones."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64  # a burst of connections waits to be accepted (or refused) instead of being dropped

    def __init__(self, port: int, shared: Shared, limits: Limits | None = None):
        """Listen on 127.0.0.1:port (0: a free port); nothing is served before start()."""
        self.shared = shared
        self.limits = limits or Limits()
        self.connections = Connections(self.limits)
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def url(self) -> str:
        """The page's address."""
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def process_request(self, request, client_address) -> None:
        """A thread per connection up to the cap; beyond it, a 503 at once from this thread, and no thread."""
        if not self.connections.admit(request):
            try:
                request.setblocking(False)
                request.send(BUSY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request) -> None:
        """Count the connection out, then close it."""
        self.connections.release(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        """One line on stderr, not a traceback, and nothing for a connection that broke or was cut off: a client
        that misbehaves must not flood the console."""
        kind, exc = sys.exc_info()[:2]
        if kind is not None and not issubclass(kind, OSError):
            messages.LOG.error(f"reportgen serve: a request failed: {kind.__name__}: {exc}")

    def start(self) -> threading.Thread:
        """Start the reaper, then serve in a daemon thread."""
        self.connections.start()
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="reportgen-serve",
                                  daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """End the event streams, stop serving and the reaper, close the listening socket."""
        self.shared.close()
        self.shutdown()
        self.connections.stop()
        self.server_close()
