"""The one channel for what reportgen tells its user: the `reportgen` logger, one line per message on stderr.

Library code logs (`LOG.info`, `LOG.warning`); the command line adds the handler once. The handler writes through
rich: on a terminal warnings show in yellow and errors in red (NO_COLOR turns colour off); piped, the lines are plain
text, never wrapped. Without the handler, as a library, warnings still reach stderr through logging's last resort
and the rest is left to the caller's logging set-up."""

from __future__ import annotations

import logging
import sys

from reportgen.textsafe import printable

LOG = logging.getLogger("reportgen")


STYLES = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}
PREFIXES = {"warning:": "yellow", "note:": "cyan", "error:": "red"}  # a line that says what it is, at any level


def style_of(record: logging.LogRecord, text: str) -> str | None:
    """The colour of a line: by its level, else by what it starts with."""
    return STYLES.get(record.levelno) or next((s for p, s in PREFIXES.items() if text.startswith(p)), None)


class ConsoleHandler(logging.Handler):
    """Each message as one line on the stderr of the moment (click's runner and redirections swap it), with the
    control characters a submission may hold shown escaped."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text, stream = printable(self.format(record)), sys.stderr
            if not getattr(stream, "isatty", lambda: False)():  # a pipe, a log, click's runner: the plain line
                stream.write(text + "\n")
                stream.flush()
                return
            from rich.console import Console

            console = Console(file=stream, soft_wrap=True, highlight=False, markup=False, emoji=False)
            console.print(text, style=style_of(record, text))
        except Exception:  # noqa: BLE001 - logging's contract: a failing handler never raises
            self.handleError(record)


def to_console() -> None:
    """Send reportgen's messages to stderr, one line each (once, however often the command line is entered)."""
    if not any(isinstance(h, ConsoleHandler) for h in LOG.handlers):
        LOG.addHandler(ConsoleHandler())
    LOG.setLevel(logging.INFO)
    LOG.propagate = False


def say(message) -> None:
    """A message for the user: progress, what was written."""
    LOG.info(str(message))


def warn(message) -> None:
    """A warning for the user (its text says `warning:` or `note:` itself)."""
    LOG.warning(str(message))


def live_bar(*columns, console=None, stream=None, transient: bool = False):
    """A rich progress bar with these columns on a terminal's console (stderr's, or `stream`'s): the one way
    reportgen draws one (a run's epochs, a class being graded)."""
    from rich.console import Console
    from rich.progress import Progress

    console = console or Console(file=stream or sys.stderr, highlight=False)
    return Progress(*columns, console=console, transient=transient)
