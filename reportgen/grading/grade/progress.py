"""Progress on stderr while a class is graded: a rich bar on a terminal, plain numbered lines otherwise."""

from __future__ import annotations

import sys
from typing import Callable, TextIO

from reportgen import messages
from reportgen.textsafe import one_line


def outcome_line(outcome: dict) -> str:
    """What one finished submission came to: 'clean', '2 findings', 'unusable: …' (and its verification)."""
    if outcome.get("error"):
        text = "unusable: " + str(outcome["error"]).splitlines()[0]
    else:
        n = len((outcome.get("report") or {}).get("findings") or [])
        text = "clean" if n == 0 else f"{n} finding{'s' if n != 1 else ''}"
    status = (outcome.get("verification") or {}).get("status")
    if status and status != "not verified":
        text += f", {status}"
    return text


class Progress:
    """Counts finished submissions out of the total; `rich` draws a bar when stderr is a terminal."""

    def __init__(self, total: int, reused: int, stream: TextIO | None = None, say: Callable[[str], None] | None = None):
        """`reused` submissions count as done from the start."""
        self.total, self.done = total, reused
        self.stream = stream or sys.stderr
        self._say = say or messages.say
        self._bar = None
        self._task = None

    def __enter__(self) -> "Progress":
        """Start the bar when stderr is a terminal and there is something to check."""
        if self.total > self.done and self.stream.isatty():
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

            self._bar = messages.live_bar(TextColumn("grading"), BarColumn(), MofNCompleteColumn(),
                                          TimeRemainingColumn(), TextColumn("{task.description}", markup=False),
                                          stream=self.stream)
            self._bar.start()
            self._task = self._bar.add_task("", total=self.total, completed=self.done)
        return self

    def finished(self, outcome: dict) -> None:
        """One more submission is done: advance the bar, or print '[12/50] team07: 2 findings'."""
        self.done += 1
        line = one_line(f"{outcome['folder']}: {outcome_line(outcome)}")  # one line: a name cannot forge another
        if self._bar is not None:
            self._bar.update(self._task, advance=1, description=line)
        else:
            self._say(f"[{self.done}/{self.total}] {line}")

    def __exit__(self, *exc) -> None:
        """Stop the bar, leaving its last state on the terminal."""
        if self._bar is not None:
            self._bar.stop()
