"""`serve --pdf`: the PDF rendered in a background thread after the page is published, one at a time; an edit
supersedes the PDF under way, whose bytes are then dropped, so a PDF older than the page is never written or served."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from reportgen.project.serve.server import Shared
from reportgen.writer import write_all


class PdfRenderer:
    """The newest page's PDF, rendered by one daemon thread and published through `shared` when still current."""

    def __init__(self, shared: Shared, say):
        self.shared, self.say = shared, say
        self.cond = threading.Condition()
        self.pending: tuple | None = None  # (version, job, path): the next PDF to render
        self.current: int | None = None  # the version whose PDF may still be written
        self.closing = False
        self.thread = threading.Thread(target=self._loop, name="reportgen-pdf", daemon=True)
        self.thread.start()

    def supersede(self) -> None:
        """Drop the PDF waiting or under way: a new render of the page has begun."""
        with self.cond:
            self.current, self.pending = None, None

    def submit(self, version: int, job, path: Path) -> None:
        """Render `job` (a PrintJob) for page `version` into `path`, after the PDF under way if any."""
        with self.cond:
            self.current, self.pending = version, (version, job, path)
            self.cond.notify_all()

    def close(self) -> None:
        """Stop after the PDF under way (whose bytes are dropped)."""
        with self.cond:
            self.closing, self.current, self.pending = True, None, None
            self.cond.notify_all()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while self.pending is None and not self.closing:
                    self.cond.wait()
                if self.closing:
                    return
                (version, job, path), self.pending = self.pending, None
            t0 = time.perf_counter()
            try:
                data, error = job.render(), ""
            except Exception as exc:  # noqa: BLE001 - the page stays up; the link and the console say what broke
                data, error = None, f"{type(exc).__name__}: {exc}"
            self._finish(version, data, path, error, time.perf_counter() - t0)

    def _finish(self, version: int, data: bytes | None, path: Path, error: str, seconds: float) -> None:
        """Write and announce the PDF if its page is still the current one, else drop it."""
        with self.cond:
            current = self.current == version
            if current and data is not None:
                write_all({path: data}, [])
            if current:
                self.shared.set_pdf(version, "ready" if data is not None else "failed")
        if not current:
            self.say(f"dropped the PDF of version {version}: a newer edit superseded it")
        elif error:
            self.say(f"the PDF of version {version} failed: {error}")
        else:
            self.say(f"PDF of version {version} rendered in {seconds:.2f} s")
