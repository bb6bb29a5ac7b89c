"""Text alternatives of the figures of runs (reportgen.report.figures.plots and .tradeoff): curves, confusion
matrices, comparisons and trade-offs, from the same `plotted` runs the drawings receive."""

from __future__ import annotations

import re

from reportgen.report.figures.series import accuracy_shown, curve, run_classes, swept_value
from reportgen.report.wording.alt import extreme, joined, listed, plural
from reportgen.report.wording.findings import show_value
from reportgen.report.wording.formatting import dec, num, pct, sig

METRICS = {"loss": ("loss", dec, "lowest", min), "acc": ("accuracy", pct, "highest", max)}
CONFUSIONS = 3  # the largest off-diagonal cells named for one matrix
MEASURES = {"latency_ms": (lambda v: f"{dec(v, 2)} ms", "fastest"),
            "params": (lambda v: f"{num(v)} parameters", "smallest")}


def named(run: dict) -> str:
    """A run's id, with its status when it did not complete, as the figures label it."""
    status = run.get("status", "completed")
    return run["id"] + ("" if status == "completed" else f" ({status})")


def _seeds(run: dict) -> str:
    n = run.get("seeds")
    return f" (mean of {n} seeds)" if run.get("band") and n else ""


def _metric(run: dict, metric: str) -> str:
    """'Validation loss of X over 15 epochs from 2.0 to 0.07, lowest 0.06 at epoch 11; training loss from …'."""
    word, fmt, best_word, pick = METRICS[metric]
    val, train = curve(run, f"val_{metric}"), curve(run, f"train_{metric}")
    if not val[0] and not train[0]:
        why = f" (diverged at epoch {run['diverged_epoch']})" if run.get("diverged_epoch") else ""
        return f"{word.capitalize()} of {run['id']}: no finite epoch to plot{why}."
    first, rest = (val, train) if val[0] else (train, None)
    split = "Validation" if rest is not None else "Training"
    epoch, value = extreme(*first, pick=pick)
    text = (f"{split} {word} of {run['id']} over {plural(len(first[0]), 'epoch')}{_seeds(run)} from "
            f"{fmt(first[1][0])} to {fmt(first[1][-1])}, {best_word} {fmt(value)} at epoch {epoch}")
    if rest and rest[0]:
        text += f"; training {word} from {fmt(rest[1][0])} to {fmt(rest[1][-1])}"
    if run.get("status") == "diverged":
        text += f"; the run diverged at epoch {run['diverged_epoch']}" if run.get("diverged_epoch") else \
            "; the run diverged"
    return text + "."


def curves(run: dict, metric: str) -> str:
    """Training and validation loss or accuracy of one run."""
    return _metric(run, metric)


def curve_pair(run: dict) -> str:
    """Loss, then accuracy, of one run."""
    return f"{_metric(run, 'loss')} {_metric(run, 'acc')}"


def _cells(matrix: list[list[int]], names: list[str]) -> tuple[int, int, list[str]]:
    """(images, images on the diagonal, the largest confusions in words, most frequent first)."""
    total = sum(map(sum, matrix))
    right = sum(matrix[i][i] for i in range(len(matrix)))
    off = sorted(((-n, t, p) for t, row in enumerate(matrix) for p, n in enumerate(row) if t != p and n > 0))
    said = [f"true {names[t]} predicted as {names[p]} ({plural(-n, 'image')})" for n, t, p in off[:CONFUSIONS]]
    return total, right, said


def _diagonal(total: int, right: int) -> str:
    return f"{pct(right / total)} on the diagonal" if total else "no test images"


def confusion(run: dict, classes: list[str]) -> str:
    """Diagonal share (the accuracy) and the largest off-diagonal cells of one confusion matrix."""
    total, right, said = _cells(run["test"]["confusion_matrix"], classes)
    text = (f"Confusion matrix of {named(run)} on the test set, {plural(total, 'image')} of "
            f"{plural(len(classes), 'class', 'classes')}: {_diagonal(total, right)}")
    if total:
        text += " (the accuracy); " + ("most frequent confusions: " + ", ".join(said) if said else
                                       "no image misclassified")
    return text + "."


def confusion_grid(runs: list[dict], classes: list[str]) -> str:
    """Each run's diagonal share and its largest confusion."""
    parts = []
    for run in runs:
        total, right, said = _cells(run["test"]["confusion_matrix"], run_classes(run, classes))
        most = f", most often {said[0]}" if said else (", no image misclassified" if total else "")
        parts.append(f"{named(run)} {_diagonal(total, right)}{most}")
    return f"Confusion matrices on the test set of {plural(len(runs), 'run')}: {'; '.join(parts)}."


def overlay(runs: list[dict]) -> str:
    """Every run's highest validation accuracy and where, and the lowest validation loss of all."""
    peaks, lows = [], []
    for run in runs:
        x, y = curve(run, "val_acc")
        if x:
            epoch, acc = extreme(x, y, max)
            peaks.append(f"{named(run)} {pct(acc)} at epoch {epoch}")
        else:
            peaks.append(f"{named(run)} no finite epoch")
        x, y = curve(run, "val_loss")
        if x:
            epoch, loss = extreme(x, y, min)
            lows.append((loss, epoch, run["id"]))
    mean = " (mean over seeds of the repeated runs)" if any(r.get("band") for r in runs) else ""
    text = (f"Training and validation loss and accuracy per epoch of {plural(len(runs), 'run')}{mean}. "
            f"Highest validation accuracy: {listed(peaks)}.")
    if lows:
        loss, epoch, rid = min(lows, key=lambda low: low[0])
        text += f" Lowest validation loss: {rid}, {dec(loss)} at epoch {epoch}."
    return text


def _accuracy(run: dict) -> str:
    """'92.50 %', with the 95 % interval over seeds when the figure draws one."""
    acc, spread = accuracy_shown(run), run.get("spread")
    if acc is None:
        return "no test accuracy"
    return pct(acc) + (f" (95 % CI {pct(spread['ci_low'])}–{pct(spread['ci_high'])})" if spread else "")


def _high_low(shown: list[tuple[str, float | None]]) -> str:
    """'; highest X (92.50 %), lowest Y (80.00 %)' over the (label, accuracy) pairs that have one; labels whose
    accuracy prints the same are named together."""
    known = [(name, pct(acc)) for name, acc in shown if acc is not None]
    if len(known) < 2:
        return ""
    high = pct(max(acc for _, acc in shown if acc is not None))
    low = pct(min(acc for _, acc in shown if acc is not None))
    return (f"; highest {joined([n for n, a in known if a == high])} ({high}), "
            f"lowest {joined([n for n, a in known if a == low])} ({low})")


def accuracy_bars(runs: list[dict]) -> str:
    """Each run's test accuracy, the highest and the lowest."""
    mean = " (mean over seeds of the repeated runs)" if any(r.get("spread") for r in runs) else ""
    each = listed([f"{named(r)} {_accuracy(r)}" for r in runs])
    return (f"Test accuracy of {plural(len(runs), 'run')}{mean}: {each}"
            f"{_high_low([(r['id'], accuracy_shown(r)) for r in runs])}.")


def accuracy_vs(runs: list[dict], axis: dict) -> str:
    """Each run's test accuracy at its value of the varied setting, the highest and the lowest."""
    label, scale = axis["label"], axis["scale"]
    groups = list(dict.fromkeys(r["group"] for r in runs))
    ordered = runs if scale == "category" else sorted(runs, key=lambda r: (groups.index(r["group"]),
                                                                           swept_value(r, label)))

    def at(run: dict) -> str:  # where a run stands on the axis: its value, after its experiment when several
        value = show_value(swept_value(run, label))
        shown = value if scale == "category" else f"{label} {value}"
        return f"{run['group']} {shown}" if len(groups) > 1 else shown

    status = {r["id"]: "" if r.get("status", "completed") == "completed" else f" ({r['status']})" for r in runs}
    each = listed([f"{at(r)}{status[r['id']]} {_accuracy(r)}" for r in ordered])
    how = " (log scale)" if scale == "log" else ""
    return (f"Test accuracy against {label}{how} of {plural(len(runs), 'run')}: {each}"
            f"{_high_low([(at(r), accuracy_shown(r)) for r in runs])}.")


def tradeoff_scatter(runs: list[dict], x_key: str, x_label: str, log: bool) -> str:
    """Each run's point (its measurement and test accuracy), the most accurate and the one lowest on the axis."""
    shown, least = MEASURES.get(x_key, (sig, "lowest"))
    axis = re.sub(r"\s*\([^()]*\)$", "", x_label)  # the unit in parentheses: each value states its own
    points = [(r["id"], r["measured"][x_key], r["test"]["accuracy"]) for r in runs
              if (r.get("measured") or {}).get(x_key) is not None and r["test"].get("accuracy") is not None]
    if not points:
        return f"Test accuracy against {axis}: no run has both measured."
    each = listed([f"{rid} ({shown(x)}, {pct(acc)})" for rid, x, acc in points])
    best, low = pct(max(p[2] for p in points)), shown(min(p[1] for p in points))  # ties: as printed
    lowest = [p[0] for p in points if shown(p[1]) == low]
    tail = f"all at {low}" if len(lowest) == len(points) > 1 else f"{least} {joined(lowest)} ({low})"
    return (f"Test accuracy against {axis}{' (log scale)' if log else ''} of {plural(len(points), 'run')}: {each}; "
            f"most accurate {joined([p[0] for p in points if pct(p[2]) == best])} ({best}), {tail}.")
