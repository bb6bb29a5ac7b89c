"""`reportgen serve`: start the server, render once, then re-render on every change until Ctrl-C."""

from __future__ import annotations

import signal
import threading
import time
import webbrowser
from pathlib import Path

from reportgen.errors import UserError
from reportgen.project.serve.server import Server, Shared
from reportgen.project.serve.session import Options, Session

DEBOUNCE_MS = 150  # changes arriving together (an editor's temporary file and rename) make one render


def _describe(changes) -> str:
    names = sorted({Path(p).name for _, p in changes})
    return "changed: " + ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")


def changed_since(files, since: int) -> set:
    """The files modified at or after `since` (time.time_ns()), as watchfiles reports changes."""
    import watchfiles

    out = set()
    for path in files:
        try:
            if path.stat().st_mtime_ns >= since:
                out.add((watchfiles.Change.modified, str(path)))
        except OSError:
            pass
    return out


def watch(session: Session, stop: threading.Event | None = None, since: int | None = None) -> None:
    """Re-render whenever a watched file changes; the watch list follows the manifest after each render. `since`:
    when the last render started, so that an edit made before the watcher was up is caught up on, not lost."""
    import watchfiles

    while not (stop and stop.is_set()):
        targets = session.targets
        folders = targets.folders()
        if not folders:
            return
        started = False
        for changes in watchfiles.watch(*folders, watch_filter=lambda _, p, t=targets: t.matters(Path(p)),
                                        debounce=DEBOUNCE_MS, step=30, recursive=False, stop_event=stop,
                                        raise_interrupt=True, rust_timeout=200, yield_on_timeout=True):
            if not started:  # the watcher is up now: anything edited since the last render began counts too
                started = True
                changes = set(changes) | (changed_since(targets.files, since) if since is not None else set())
            changes = {c for c in changes if session.changed_by_others(Path(c[1]))}
            if not changes:
                continue
            since = time.time_ns()
            session.render(_describe(changes))
            if session.targets != targets or session.targets.folders() != folders:
                break  # other prose, images or templates, or results.json's folder has appeared: watch those


def serve(options: Options, port: int, open_browser: bool, say) -> None:
    """Serve the report on 127.0.0.1:port (0: a free port) and keep it current; Ctrl-C stops it."""
    shared = Shared()
    try:
        server = Server(port, shared)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); pick another --port, "
                        "or --port 0 for a free one") from None
    # Ctrl-C and SIGTERM stop the server even when this process was started with SIGINT ignored (a background job
    # of a shell without job control, some CI runners): Python installs its handler only where SIGINT is not ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server.start()
    say(f"serving {server.url} (Ctrl-C to stop)")
    session = Session(options, shared, say)
    try:
        since = time.time_ns()
        session.render("start")
        if open_browser:
            webbrowser.open(server.url)
        say("watching " + ", ".join(sorted(p.name for p in session.targets.files)) +
            "".join(f", {t.name}/" for t in session.targets.trees))
        watch(session, since=since)
    except KeyboardInterrupt:
        pass
    finally:
        if session.pdf is not None:
            session.pdf.close()
        server.stop()
    say("stopped serving")
