"""What the run figures plot, read from the data a drawing receives: shared by the drawings and their text
alternatives (reportgen.report.wording.alt), so that the words state the plotted numbers."""

from __future__ import annotations


def curve(run: dict, key: str) -> tuple[list[int], list[float]]:
    """A curve (epochs, values as recorded: fractions for accuracies): the mean over seeds of a repeated run, else
    its one run's values; epochs without a finite value are left out."""
    band = (run.get("band") or {}).get(key)
    if band:
        pts = [(x, m) for x, m in zip(run["band"]["epoch"], band["mean"]) if m is not None]
        return [x for x, _ in pts], [m for _, m in pts]
    rows = [r for r in run.get("epochs") or [] if r.get(key) is not None]
    return [r["epoch"] for r in rows], [r[key] for r in rows]


def accuracy_shown(run: dict) -> float | None:
    """Test accuracy as a fraction: the mean over seeds of a repeated run."""
    return (run.get("spread") or {}).get("mean", (run.get("test") or {}).get("accuracy"))


def run_classes(run: dict, default: list[str]) -> list[str]:
    """The class names of the dataset a run was tested on."""
    per_class = run.get("test", {}).get("per_class")
    return [c["class"] for c in per_class] if per_class else default


def swept_value(run: dict, label: str):
    """The value of the varied setting a sweep figure places the run at (figures.runs adds it as `varied`)."""
    return run["varied"][label]
