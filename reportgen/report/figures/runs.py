"""The figures of the sections over runs (training, evaluation, comparison, notebook), each keyed by figures.keys
and given only the data it shows, so that a figure's cache key changes exactly when its picture would."""

from __future__ import annotations

from reportgen.report.document.selection import runs_for
from reportgen.report.figures import keys
from reportgen.report.figures.cache import Entry, FigureCache
from reportgen.report.figures.plots import (accuracy_bars, accuracy_vs, confusion, confusion_grid, curve_pair, curves,
                                            overlay, plotted, run_classes)
from reportgen.report.wording.findings import sweep_axis, varied_value
from reportgen.results.record import Results


def training_figures(results: Results, i: int, options: dict, cache: FigureCache) -> dict[str, Entry]:
    """Loss and accuracy curves of each run."""
    out = {}
    for n, run in enumerate(runs_for(results, options.get("experiments"))):
        out[keys.loss_key(i, run.id)] = cache.figure(curves, plotted(run), "loss", prefix=f"s{i}-loss{n}")
        out[keys.acc_key(i, run.id)] = cache.figure(curves, plotted(run), "acc", prefix=f"s{i}-acc{n}")
    return out


def evaluation_figures(results: Results, i: int, options: dict, cache: FigureCache) -> dict[str, Entry]:
    """The confusion matrix of each run that has one (a failed run has none)."""
    out = {}
    for n, run in enumerate(runs_for(results, options.get("experiments"))):
        if run.test is not None:
            shown = plotted(run)
            out[keys.cm_key(i, run.id)] = cache.figure(confusion, shown, run_classes(shown, results.dataset.classes),
                                                       prefix=f"s{i}-cm{n}")
    return out


def comparison_figures(results: Results, i: int, options: dict, cache: FigureCache) -> dict[str, Entry]:
    """Overlaid curves, accuracy against the varied value (or bars), and the confusion-matrix grid."""
    runs = runs_for(results, options.get("experiments"))
    shown = [plotted(r) for r in runs]
    out = {keys.overlay_key(i): cache.figure(overlay, shown, prefix=f"s{i}-cmp")}
    axis = sweep_axis(runs)
    if axis:
        swept = [p | {"varied": {axis["label"]: varied_value(r, axis["label"])}} for p, r in zip(shown, runs)]
        out[keys.vary_key(i)] = cache.figure(accuracy_vs, swept, axis, prefix=f"s{i}-vary")
    else:
        out[keys.bars_key(i)] = cache.figure(accuracy_bars, shown, prefix=f"s{i}-bars")
    tested = [p for p in shown if p["test"]["confusion_matrix"] is not None]
    if tested:
        out[keys.cm_grid_key(i)] = cache.figure(confusion_grid, tested, results.dataset.classes,
                                                prefix=f"s{i}-cmgrid")
    return out


def notebook_figures(results: Results, i: int, options: dict, cache: FigureCache) -> dict[str, Entry]:
    """Loss and accuracy side by side for each run of each notebook item."""
    out = {}
    for j, item in enumerate(options.get("items") or []):
        for n, run in enumerate(runs_for(results, item["experiments"])):
            out[keys.notebook_key(i, j, run.id)] = cache.figure(curve_pair, plotted(run), prefix=f"s{i}-nb{j}-{n}")
    return out
