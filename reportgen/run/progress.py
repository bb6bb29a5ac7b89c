"""Progress for long builds: run-level lines always, per-epoch detail lines unless quiet, images/s and time left."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from reportgen.messages import live_bar
from reportgen.results.run_record import RunRecord
from reportgen.units import duration


class Detail(str):
    """A progress line of detail: printed on a terminal, left out of quiet and CI logs."""


@dataclass(frozen=True)
class EpochDone:
    """A run finished an epoch: its losses, accuracies, time, speed and the time its remaining epochs will take.

    Progress callables get it in place of a line (str() gives the line); quiet and CI logs leave it out, like a
    Detail, and a terminal draws it as the run's live bar."""

    run: str
    epoch: int
    epochs: int
    train_loss: float
    val_loss: float
    train_acc: float
    val_acc: float
    seconds: float
    images_per_s: float | None
    left: float  # seconds still to train in this run, at the mean epoch time so far

    @classmethod
    def last_of(cls, run: str, epochs: int, rows: list[dict]) -> EpochDone:
        """The event of the last of a run's epoch rows (all of them give the mean epoch time)."""
        row = rows[-1]
        left = (epochs - row["epoch"]) * sum(r["seconds"] for r in rows) / len(rows)
        return cls(run, row["epoch"], epochs, row["train_loss"], row["val_loss"], row["train_acc"], row["val_acc"],
                   row["seconds"], row.get("images_per_s"), left)

    def summary(self) -> str:
        """'train loss 0.5000  val loss 0.4000  val acc 90.00%  (0.2 s, 6,000 images/s; 1 s left in this run)'."""
        speed = f", {self.images_per_s:,.0f} images/s" if self.images_per_s else ""
        left = f"; {duration(self.left)} left in this run" if self.epoch < self.epochs else ""
        return (f"train loss {self.train_loss:.4f}  val loss {self.val_loss:.4f}  val acc {self.val_acc:.2%}  "
                f"({self.seconds:.1f} s{speed}{left})")

    def __str__(self) -> str:
        return f"  {self.run}: epoch {self.epoch}/{self.epochs}  {self.summary()}"


def quiet_by_default() -> bool:
    """CI logs leave out per-epoch lines: true when the environment variable CI is set (to anything but 0/false)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class Reporter:
    """A progress callable: passes every line to `write`, except detail lines when quiet."""

    def __init__(self, write: Callable[[str], None], quiet: bool | None = None):
        self.write = write
        self.quiet = quiet_by_default() if quiet is None else quiet

    def __call__(self, message: str | EpochDone, detail: bool = False) -> None:
        if self.quiet and (detail or isinstance(message, (Detail, EpochDone))):
            return
        self.write(str(message))


def images_per_second(record: RunRecord) -> float | None:
    """A run's training throughput over its epochs (training time only where the epoch measured it)."""
    images = seconds = 0.0
    for row in record.epochs:
        spent = row.images / row.images_per_s if row.images_per_s else row.seconds
        if row.images and spent:
            images, seconds = images + row.images, seconds + spent
    return images / seconds if seconds > 0 else None


class TimeLeft:
    """Time left in a build: images still to train through ÷ images per second measured so far (per model where
    that model has run, else over all runs), shared among the runs training at once."""

    def __init__(self, concurrency: int | None):
        self.concurrency, self.widest, self.measured = concurrency, 1, {}  # model (None: all) → [images, seconds]

    def started(self, running: int) -> None:
        """Note how many runs are training at once (the most seen stands in for an unlimited executor)."""
        self.widest = max(self.widest, running)

    def finished(self, record: RunRecord) -> None:
        """Count a trained run's epochs (wall time, validation included) toward the measured rates."""
        for row in record.epochs:
            for key in (record.model, None):
                totals = self.measured.setdefault(key, [0.0, 0.0])
                totals[0] += row.images
                totals[1] += row.seconds

    def _seconds_per_image(self, model) -> float | None:
        for key in (model, None):
            images, seconds = self.measured.get(key, (0.0, 0.0))
            if images > 0 and seconds > 0:
                return seconds / images
        return None

    def estimate(self, left: list[tuple[str, float]]) -> float | None:
        """Seconds left for runs still to train, given as (model, images); None when nothing is measured or left."""
        pace = [(images, self._seconds_per_image(model)) for model, images in left if images > 0]
        if not pace or pace[0][1] is None:
            return None
        at_once = max(1, min(self.concurrency or self.widest, len(pace)))
        return sum(images * per_image for images, per_image in pace) / at_once


def completed_line(head: str, record: RunRecord, left: float | None) -> str:
    """'[3/12] lr=0.01: completed, test accuracy 91.20%, 12,345 images/s; about 1 min 20 s left'."""
    rate = images_per_second(record)
    line = f"{head} {record.id}: {record.status}, test accuracy {record.test.accuracy:.2%}"
    line += f", {rate:,.0f} images/s" if rate else ""
    return line + (f"; about {duration(left)} left" if left is not None and left >= 1 else "")


class TerminalReporter(Reporter):
    """On a terminal: each run's epochs drive a live bar (losses, images/s, time left) instead of scrolling lines;
    every other line is printed above the bars. rich honours NO_COLOR."""

    def __init__(self, console=None):
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

        self.progress = live_bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("epochs  {task.fields[info]}"), console=console, transient=True)
        console = self.progress.console
        super().__init__(lambda line: console.print(line, markup=False, highlight=False), quiet=False)
        self.tasks: dict[str, int] = {}

    def __call__(self, message: str | EpochDone, detail: bool = False) -> None:
        if not isinstance(message, EpochDone):
            self.write(str(message))
            return
        if not self.tasks:
            self.progress.start()
        if message.run not in self.tasks:
            self.tasks[message.run] = self.progress.add_task(message.run, total=message.epochs, info="")
        self.progress.update(self.tasks[message.run], completed=message.epoch, info=message.summary())
        if message.epoch >= message.epochs:
            self.progress.remove_task(self.tasks.pop(message.run))

    def close(self) -> None:
        """Take the bars off the terminal."""
        self.progress.stop()


def reporter(write: Callable[[str], None], quiet: bool | None, stream) -> Reporter:
    """Live bars when `stream` is a terminal (and detail is wanted), plain lines otherwise (logs, CI, pipes)."""
    wanted = not (quiet_by_default() if quiet is None else quiet)
    if wanted and hasattr(stream, "isatty") and stream.isatty():
        return TerminalReporter()
    return Reporter(write, quiet)
