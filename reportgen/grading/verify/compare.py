"""Compare a re-run with its record: which numbers count, how exactly (the mode), and every difference."""

from __future__ import annotations

import math
from dataclasses import dataclass

from reportgen.units import is_number

EPOCH_FIELDS = ("train_loss", "val_loss", "train_acc", "val_acc", "lr")
TEST_FIELDS = ("accuracy", "loss", "precision_weighted", "recall_weighted", "f1_weighted", "precision_macro",
               "recall_macro", "f1_macro", "confusion_matrix")
OUTCOME_FIELDS = ("status", "diverged_epoch", "stopped_epoch", "best_epoch")  # compared exactly in every mode
DEFAULT_RTOL = 1e-2  # when the re-run's environment differs from the recorded one


@dataclass(frozen=True)
class Mode:
    """How exactly a run's numbers must match: exact (rtol 0) or within a relative tolerance, and why."""

    exact: bool
    rtol: float
    reason: str

    def tolerance(self) -> str:
        """'exact (rtol 0)' or 'within rtol 0.01'."""
        return "exact (rtol 0)" if self.exact else f"within rtol {self.rtol:g}"

    def describe(self) -> str:
        """The reason, then the tolerance: 'recorded on cuda (NVIDIA H100), re-run on cpu: within rtol 0.01'."""
        return f"{self.reason}: {self.tolerance()}"

    def record(self) -> dict:
        """The JSON form."""
        return {"exact": self.exact, "rtol": self.rtol, "reason": self.reason, "text": self.describe()}


def _device(env: dict) -> str:
    """'cuda (NVIDIA H100)' or 'cpu'."""
    name = env.get("device_name")
    return f"{env.get('device')}" + (f" ({name})" if name else "")


def _threads(n) -> str:
    """'1 thread', '2 threads'."""
    return f"{n} thread{'' if n == 1 else 's'}"


def environment_differences(recorded: dict, rerun: dict) -> list[str]:
    """What differs between where a run was recorded and where it was re-run: device type, CPU threads, torch
    version, reportgen's run-code version (each decides the numbers bit for bit)."""
    out = []
    if recorded.get("device") != rerun.get("device"):
        out.append(f"recorded on {_device(recorded)}, re-run on {_device(rerun)}")
    if recorded.get("threads") != rerun.get("threads"):
        out.append(f"recorded with {recorded.get('threads')} threads, re-run with {rerun.get('threads')}")
    if recorded.get("torch") != rerun.get("torch"):
        out.append(f"recorded with torch {recorded.get('torch')}, re-run with torch {rerun.get('torch')}")
    if recorded.get("code_version") != rerun.get("code_version"):
        out.append(f"recorded with code version {recorded.get('code_version')}, re-run with "
                   f"{rerun.get('code_version')} (reportgen's run code differs)")
    return out


def comparison_mode(recorded: dict | None, rerun: dict, rtol: float | None = None) -> Mode:
    """Exact when both ran on the CPU in matching environments (unless --rtol is given), else within rtol
    (default DEFAULT_RTOL): GPU arithmetic is not repeatable bit for bit."""
    if not recorded:
        differences = ["the record holds no environment"]
    else:
        differences = environment_differences(recorded, rerun)
    if not differences and rerun.get("device") != "cpu":
        differences = [f"recorded and re-run on {_device(rerun)}, whose arithmetic is not repeatable bit for bit"]
    if differences:
        reason = "; ".join(differences)
        tolerance = DEFAULT_RTOL if rtol is None else rtol
        return Mode(tolerance == 0, tolerance, reason + ("" if rtol is None else f"; --rtol {rtol:g} given"))
    reason = (f"recorded and re-run on {_device(rerun)} with {_threads(rerun.get('threads'))}, torch "
              f"{rerun.get('torch')}, code version {rerun.get('code_version')}")
    if rtol is None or rtol == 0:
        return Mode(True, 0.0, reason)
    return Mode(False, rtol, f"{reason}; --rtol {rtol:g} given")


@dataclass(frozen=True)
class Difference:
    """One number (or value) that differs: where, both values, and how far apart."""

    metric: str  # e.g. test.accuracy, epochs[3].val_loss (epoch 3), test.confusion_matrix[1][2]
    recorded: object
    rerun: object

    @property
    def absolute(self) -> float | None:
        """|re-run − recorded| for two numbers, else None."""
        if is_number(self.recorded) and is_number(self.rerun):
            return abs(self.rerun - self.recorded)
        return None

    @property
    def relative(self) -> float | None:
        """The absolute difference over the larger magnitude (what rtol bounds), else None."""
        gap = self.absolute
        if gap is None:
            return None
        scale = max(abs(self.recorded), abs(self.rerun))
        return gap / scale if scale else 0.0

    def record(self) -> dict:
        """The JSON form."""
        return {"metric": self.metric, "recorded": self.recorded, "rerun": self.rerun,
                "absolute": self.absolute, "relative": self.relative}

    def text(self) -> str:
        """'test.accuracy: recorded 0.5, re-run 0.875 (difference 0.375, relative 0.429)'."""
        gap = "" if self.absolute is None else f" (difference {self.absolute:.3g}, relative {self.relative:.3g})"
        return f"{self.metric}: recorded {_shown(self.recorded)}, re-run {_shown(self.rerun)}{gap}"


def _missing(value) -> bool:
    """None or NaN: a value a record could not hold."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _shown(value) -> str:
    """A value as the text output shows it: numbers in full precision."""
    if _missing(value):
        return "none"
    return repr(value) if isinstance(value, (int, float)) else str(value)


def same_value(recorded, rerun, rtol: float) -> bool:
    """Equal within rtol (relative to the larger magnitude; 0 means exactly equal); NaN and None equal each other."""
    if _missing(recorded) and _missing(rerun):
        return True
    if is_number(recorded) and is_number(rerun):
        return recorded == rerun if rtol == 0 else math.isclose(recorded, rerun, rel_tol=rtol, abs_tol=0.0)
    return recorded == rerun


class _Tally:
    """Differences found, and how many values were compared."""

    def __init__(self, rtol: float):
        """Nothing compared yet."""
        self.rtol, self.compared, self.differences = rtol, 0, []

    def value(self, metric: str, recorded, rerun, exact: bool = False) -> None:
        """Compare one value (lists element by element, e.g. a confusion matrix)."""
        if isinstance(recorded, list) and isinstance(rerun, list):
            if len(recorded) != len(rerun):
                self.compared += 1
                self.differences.append(Difference(f"{metric}.length", len(recorded), len(rerun)))
                return
            for i, (a, b) in enumerate(zip(recorded, rerun)):
                self.value(f"{metric}[{i}]", a, b, exact)
            return
        self.compared += 1
        if not same_value(recorded, rerun, 0.0 if exact else self.rtol):
            self.differences.append(Difference(metric, recorded, rerun))


def compare_run(recorded: dict, rerun: dict, rtol: float, first_epochs: int | None = None
                ) -> tuple[list[Difference], int]:
    """(differences, values compared) between a run's record and its re-run: epoch logs, status, diverged and
    stopped epoch, and (full re-runs) test metrics; never timings. `first_epochs` K: only the first K epochs,
    and the diverged/stopped epochs expected within them, no test metrics."""
    tally = _Tally(rtol)
    rows = list(recorded.get("epochs") or [])
    if first_epochs is not None:
        rows = rows[:first_epochs]
    again = list(rerun.get("epochs") or [])
    tally.value("epochs.count", len(rows), len(again), exact=True)
    for i, (row, other) in enumerate(zip(rows, again)):
        number = row.get("epoch", i + 1)
        for name in EPOCH_FIELDS:
            if name in row or name in other:
                tally.value(f"epochs[{number}].{name}", row.get(name), other.get(name))
    if first_epochs is None:
        for name in OUTCOME_FIELDS:
            tally.value(name, recorded.get(name), rerun.get(name), exact=True)
        test, test_again = recorded.get("test"), rerun.get("test")
        if isinstance(test, dict) and isinstance(test_again, dict):
            for name in TEST_FIELDS:
                if name in test or name in test_again:
                    tally.value(f"test.{name}", test.get(name), test_again.get(name))
        elif test is not None or test_again is not None:
            tally.value("test", "present" if test else None, "present" if test_again else None, exact=True)
    else:
        for name in ("diverged_epoch", "stopped_epoch"):
            expected = recorded.get(name)
            tally.value(name, expected if expected is not None and expected <= first_epochs else None,
                        rerun.get(name), exact=True)
    return tally.differences, tally.compared
