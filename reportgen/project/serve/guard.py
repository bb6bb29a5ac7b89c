"""What keeps the preview server safe to leave running: the Host and Origin it answers, its query rules, and a cap
on connections with deadlines that a reaper thread enforces."""

from __future__ import annotations

import re
import socket
import threading
import time
from dataclasses import dataclass
from urllib.parse import parse_qs

_VERSION = re.compile(r"[0-9]{1,18}")  # the page's version: far below any int-parsing limit
MAX_QUERY = 2048  # characters: the reload script sends `v=<version>`, nothing near this


@dataclass(frozen=True)
class Limits:
    """How long a connection may wait for its request's head, take to be answered, and how many may be open."""

    request_s: float = 5.0  # from waiting for a request (new or kept alive) to its headers read: idle or slow
    response_s: float = 60.0  # answering one request (Server-Sent Events streams are exempt)
    connections: int = 32  # open at once, event streams included; beyond, refused at once with 503
    tick_s: float = 0.1  # how often the reaper looks at the deadlines


class Connections:
    """The open connections, each with a deadline (None: none, as for an event stream); a reaper thread shuts
    down those past theirs, which ends their handler's blocked read or write."""

    def __init__(self, limits: Limits):
        """No connection yet; the reaper starts with start()."""
        self.limits = limits
        self.lock = threading.Lock()
        self.open: dict[socket.socket, float | None] = {}
        self.peak = 0  # the most connections open at once, for the console and the tests
        self.stopped = threading.Event()

    def admit(self, sock: socket.socket) -> bool:
        """Count a new connection in, with the request deadline; False when the cap is reached."""
        with self.lock:
            if len(self.open) >= self.limits.connections:
                return False
            self.open[sock] = time.monotonic() + self.limits.request_s
            self.peak = max(self.peak, len(self.open))
            return True

    def deadline(self, sock: socket.socket, seconds: float | None) -> None:
        """The connection must be done with its current step within `seconds` (None: no deadline)."""
        with self.lock:
            if sock in self.open:
                self.open[sock] = None if seconds is None else time.monotonic() + seconds

    def release(self, sock: socket.socket) -> None:
        """Count the connection out; called before it is closed, so the reaper never touches a reused descriptor."""
        with self.lock:
            self.open.pop(sock, None)

    def count(self) -> int:
        """How many connections are open now."""
        with self.lock:
            return len(self.open)

    def reap(self) -> None:
        """Shut down every connection past its deadline (each once)."""
        now = time.monotonic()
        with self.lock:
            for sock, due in self.open.items():
                if due is not None and due <= now:
                    self.open[sock] = None
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def run(self) -> None:
        """The reaper's loop, until stop()."""
        while not self.stopped.wait(self.limits.tick_s):
            self.reap()

    def start(self) -> threading.Thread:
        """Start the reaper thread."""
        thread = threading.Thread(target=self.run, name="reportgen-serve-reaper", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop the reaper thread."""
        self.stopped.set()


def allowed_hosts(port: int) -> frozenset[str]:
    """The Host values this server answers: its own address by number or as localhost (against DNS rebinding)."""
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}"})


def refusal(headers, port: int) -> str | None:
    """Why a request is refused for its Host or Origin (another site's page, or a rebound DNS name); None if not."""
    hosts = headers.get_all("Host") or []
    if len(hosts) != 1 or hosts[0].strip().lower() not in allowed_hosts(port):
        return f"this server answers only Host 127.0.0.1:{port} or localhost:{port}"
    origins = headers.get_all("Origin") or []
    if any(o.strip().lower() not in {f"http://{h}" for h in allowed_hosts(port)} for o in origins):
        return "requests from other sites' pages are refused"
    return None


def query_of(query: str, path: str, events: str) -> dict[str, str]:
    """The query's parameters, one value each; ValueError for a malformed one, and on the events endpoint for any
    parameter but `v`, a version number."""
    if len(query) > MAX_QUERY:
        raise ValueError(f"query longer than {MAX_QUERY} characters")
    try:
        fields = parse_qs(query, keep_blank_values=True, max_num_fields=16, errors="strict")
    except UnicodeDecodeError:
        raise ValueError("query is not valid percent-encoded UTF-8") from None
    if any(len(values) > 1 for values in fields.values()):
        raise ValueError("a parameter is repeated")
    params = {key: values[0] for key, values in fields.items()}
    if path == events:
        if set(params) - {"v"}:
            raise ValueError("the events stream takes only v")
        if "v" in params and not _VERSION.fullmatch(params["v"]):
            raise ValueError("v is a version number (up to 18 digits)")
    return params


def client_gone(sock: socket.socket) -> bool:
    """Whether the peer of an event stream has closed its side (an EventSource never sends after its request)."""
    previous = sock.gettimeout()
    try:
        sock.settimeout(0)  # a peek that never waits (select would fail on descriptors past FD_SETSIZE)
        return not sock.recv(1, socket.MSG_PEEK)
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        try:
            sock.settimeout(previous)
        except OSError:
            pass
