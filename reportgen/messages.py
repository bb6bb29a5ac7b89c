"""The one channel for what reportgen tells its user: the `reportgen` logger, one plain line per message on stderr.

Library code logs (`LOG.info`, `LOG.warning`); the command line adds the handler once. Without it, as a library,
warnings still reach stderr through logging's last resort and the rest is left to the caller's logging set-up."""

from __future__ import annotations

import logging
import sys

from reportgen.textsafe import printable

LOG = logging.getLogger("reportgen")


class ConsoleHandler(logging.Handler):
    """Each message as one line on the stderr of the moment (click's runner and redirections swap it), with the
    control characters a submission may hold shown escaped."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr
            stream.write(printable(self.format(record)) + "\n")
            stream.flush()
        except Exception:  # noqa: BLE001 - logging's contract: a failing handler never raises
            self.handleError(record)


def to_console() -> None:
    """Send reportgen's messages to stderr as plain lines (once, however often the command line is entered)."""
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
