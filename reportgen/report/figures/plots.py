"""Figures of runs: loss and accuracy curves, confusion matrices, comparisons; matplotlib/seaborn drawings, exported
and cached by reportgen.report.figures.cache."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reportgen.report.figures.cache import PAD, plt, prefix_ids, sns, svg_text
from reportgen.report.figures.series import accuracy_shown, curve, run_classes, swept_value
from reportgen.report.figures.style import palette
from reportgen.report.wording.alt import described_by
from reportgen.report.wording.alt import runs as alt

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from reportgen.results.run_record import RunRecord

EPOCH_KEYS = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc")


def to_svg(fig, prefix: str, pad: float = PAD) -> str:
    """Serialise a figure as an <svg> element whose ids are unique to `prefix` (pad: margin in inches); closes it."""
    try:
        return prefix_ids(svg_text(fig, pad), prefix)
    finally:
        plt.close(fig)


def plotted(run: RunRecord) -> dict:
    """What the figures and their text alternatives read of a run (its curves and how many seeds they average, status,
    test accuracy and confusion matrix; not timings or titles), so that a figure's cache key changes exactly when its
    picture or its words would."""
    test, agg = run.test, run.aggregate
    curves = agg.curves if agg is not None else None
    spread = None
    if agg is not None and agg.accuracy.n >= 2:
        spread = {"mean": agg.accuracy.mean, "ci_low": agg.accuracy.ci_low, "ci_high": agg.accuracy.ci_high}
    return {"id": run.id, "group": run.group or run.id, "status": run.status,
            "band": curves.model_dump(mode="json") if curves is not None else None,
            "seeds": agg.n if curves is not None else None, "spread": spread, "diverged_epoch": run.diverged_epoch,
            "epochs": [{k: getattr(e, k) for k in EPOCH_KEYS} for e in run.epochs],
            "test": {"accuracy": None if test is None else test.accuracy,
                     "confusion_matrix": None if test is None else test.confusion_matrix,
                     "per_class": [] if test is None else [{"class": c.name} for c in test.per_class]}}


def _epochs(run: dict, key: str) -> tuple[list[int], list[float]]:
    """A curve as plotted: accuracies in percent."""
    scale = 100 if key.endswith("_acc") else 1
    x, y = curve(run, key)
    return x, [v * scale for v in y]


def _shade(ax, run: dict, key: str, color) -> None:
    """Mean ± one standard deviation over seeds, shaded, for a repeated run; cut at what the metric can be (a loss
    at 0, an accuracy at 0 and 100 %), where a wide spread would otherwise reach past."""
    band = (run.get("band") or {}).get(key)
    if not band:
        return
    scale, ceiling = (100, 100.0) if key.endswith("_acc") else (1, float("inf"))
    pts = [(x, m, s) for x, m, s in zip(run["band"]["epoch"], band["mean"], band["std"]) if m is not None and s is not None]
    if pts:
        ax.fill_between([p[0] for p in pts], [max((p[1] - p[2]) * scale, 0.0) for p in pts],
                        [min((p[1] + p[2]) * scale, ceiling) for p in pts], color=color, alpha=0.18, linewidth=0)


def _mark_end(ax, run: dict, x: list, y: list, color) -> None:
    """A diverged run's curve ends where it diverged: an 'x' on its last finite point."""
    if run.get("status") == "diverged" and x:
        ax.plot(x[-1], y[-1], "x", color=color, markersize=8, markeredgewidth=2, zorder=5)


def _integer_epochs(*axes) -> None:
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
        seen = {x for line in ax.lines for x in line.get_xdata()}
        if len(seen) == 1:  # one epoch: a single tick, not 0.96 … 1.04
            ax.set_xticks(sorted(seen))


@described_by(alt.curves)
def curves(run: dict, metric: str) -> Figure:
    """Training and validation loss (metric='loss') or accuracy (metric='acc') per epoch."""
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    _panel(ax, run, metric)
    if ax.lines:
        ax.legend(frameon=False)
    return fig


def _panel(ax, run: dict, metric: str) -> None:
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss" if metric == "loss" else "accuracy (%)")
    if not _epochs(run, f"val_{metric}")[0] and not _epochs(run, f"train_{metric}")[0]:
        why = f" (diverged at epoch {run['diverged_epoch']})" if run.get("diverged_epoch") else ""
        ax.text(0.5, 0.5, "no finite epoch to plot" + why, ha="center", va="center", transform=ax.transAxes,
                color="0.4")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    for split, style, color in (("train", "-o", "C0"), ("val", "-s", "C1")):
        x, y = _epochs(run, f"{split}_{metric}")
        name = "training" if split == "train" else "validation"
        ax.plot(x, y, style, color=color, markersize=3, label=name + (" (mean ± std over seeds)" if run.get("band") else ""))
        _shade(ax, run, f"{split}_{metric}", color)
        _mark_end(ax, run, x, y, color)
    _integer_epochs(ax)


@described_by(alt.curve_pair)
def curve_pair(run: dict) -> Figure:
    """Loss (left) and accuracy (right) of one run, training and validation, in one figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 2.7))
    _panel(left, run, "loss")
    _panel(right, run, "acc")
    if right.lines:
        right.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


@described_by(alt.confusion)
def confusion(run: dict, classes: list[str]) -> Figure:
    """Confusion-matrix heatmap with class names, counts in the cells."""
    matrix = run["test"]["confusion_matrix"]
    n = len(classes)
    side = min(max(3.2, 0.45 * n + 1.6), 7.0)
    fig, ax = plt.subplots(figsize=(side + 0.8, side))
    labels = classes if n <= 30 else False  # a hundred class names are unreadable: the axes say "class index"
    sns.heatmap(matrix, annot=n <= 20, fmt="d", cmap="Blues", cbar=True, square=True, ax=ax,
                xticklabels=labels, yticklabels=labels, annot_kws={"size": 7}, linewidths=0.3 if n <= 30 else 0)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    ax.grid(False)
    plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    plt.setp(ax.get_yticklabels(), rotation=0)
    return fig


def _small_heatmap(ax, matrix, classes: list[str], vmax: int, annotate: bool) -> None:
    """A confusion matrix drawn directly (seaborn redraws the whole figure per heatmap to colour its labels)."""
    k = len(classes)
    ax.pcolormesh(matrix, cmap="Blues", vmin=0, vmax=vmax, edgecolors="white", linewidth=0.2)
    if annotate:
        size = 4.5 if k > 5 else 6.5
        for r, row in enumerate(matrix):
            for c, value in enumerate(row):
                ax.text(c + 0.5, r + 0.5, str(value), ha="center", va="center", fontsize=size,
                        color="white" if value > 0.6 * vmax else "#222")
    ax.set_xticks([i + 0.5 for i in range(k)], classes)
    ax.set_yticks([i + 0.5 for i in range(k)], classes)
    ax.set_xlim(0, k)
    ax.set_ylim(k, 0)
    ax.set_aspect("equal")
    ax.spines[:].set_visible(False)


@described_by(alt.confusion_grid)
def confusion_grid(runs: list[dict], classes: list[str]) -> Figure:
    """Confusion matrices of several runs as small multiples, at most four per row, each titled with its run."""
    n = len(runs)
    cols = min(4, max(n, 1))
    rows = -(-n // cols)
    side = min(7.0 / cols, 3.0)
    fig, axes = plt.subplots(rows, cols, figsize=(side * cols, side * rows + 0.2), squeeze=False)
    vmax = max((max(map(max, r["test"]["confusion_matrix"])) for r in runs), default=1)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        run = runs[i]
        names = run_classes(run, classes)
        k = len(names)
        _small_heatmap(ax, run["test"]["confusion_matrix"], names if k <= 30 else [""] * k, vmax, annotate=k <= 10)
        title = run["id"] if len(run["id"]) <= 22 else run["id"].replace("/", "/\n", 1)
        status = run.get("status", "completed")
        ax.set_title(title + ("" if status == "completed" else f"\n({status})"), fontsize=6.5)
        ax.grid(False)
        ax.tick_params(labelsize=5, length=1.5)
        bottom, left = i + cols >= n, i % cols == 0  # class names only along the outer edges
        plt.setp(ax.get_xticklabels(), rotation=90 if max(map(len, map(str, names))) > 2 else 0,
                 visible=bottom)
        plt.setp(ax.get_yticklabels(), rotation=0, visible=left)
        ax.set_xlabel("predicted" if bottom else "", fontsize=6)
        ax.set_ylabel("true" if left else "", fontsize=6)
    fig.tight_layout()
    return fig


@described_by(alt.overlay)
def overlay(runs: list[dict]) -> Figure:
    """Training (dashed) and validation (solid) loss and accuracy of several runs, one colour per run."""
    from matplotlib.lines import Line2D

    colors = palette(len(runs))
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.0))
    handles = []
    for run, color in zip(runs, colors):
        for ax, metric in ((left, "loss"), (right, "acc")):
            for split, style in (("train", "--"), ("val", "-")):
                x, y = _epochs(run, f"{split}_{metric}")
                ax.plot(x, y, style, color=color, marker="o", markersize=2.2, linewidth=1.1)
                if split == "val":
                    _shade(ax, run, f"{split}_{metric}", color)
                _mark_end(ax, run, x, y, color)
        status = run.get("status", "completed")
        name = run["id"] + ("" if status == "completed" else f" ({status})")
        handles.append(Line2D([], [], color=color, marker="x" if status == "diverged" else "o", markersize=4,
                              label=name))
    handles += [Line2D([], [], color="0.3", linestyle="--", label="training"),
                Line2D([], [], color="0.3", linestyle="-", label="validation")]
    losses = [v for line in left.lines for v in line.get_ydata() if v > 0]
    if losses and max(losses) / min(losses) > 100:  # a blown-up loss would flatten every other curve
        left.set_yscale("log")
        left.set_ylim(bottom=min(losses) / 2)  # a seed band reaching 0 is cut just under the lowest point
    left.set(xlabel="epoch", ylabel="loss" + (" (log scale)" if left.get_yscale() == "log" else ""))
    right.set(xlabel="epoch", ylabel="accuracy (%)")
    _integer_epochs(left, right)
    fig.tight_layout()
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(4, len(handles)),
               frameon=False, fontsize=7)
    return fig


def _acc_pct(run: dict) -> float:
    """Test accuracy in %: the mean over seeds of a repeated run."""
    acc = accuracy_shown(run)
    return acc * 100 if acc is not None else 0.0


def _errors(runs: list[dict]) -> list[list[float]] | None:
    """Lower and upper error-bar lengths (the 95 % confidence interval over seeds), None when no run has one."""
    if not any(r.get("spread") for r in runs):
        return None
    low = [(_acc_pct(r) - r["spread"]["ci_low"] * 100) if r.get("spread") else 0.0 for r in runs]
    high = [(r["spread"]["ci_high"] * 100 - _acc_pct(r)) if r.get("spread") else 0.0 for r in runs]
    return [low, high]


@described_by(alt.accuracy_bars)
def accuracy_bars(runs: list[dict]) -> Figure:
    """Test accuracy per run as labelled bars."""
    fig, ax = plt.subplots(figsize=(6.0, 0.45 * len(runs) + 1.0))
    names = [r["id"] for r in runs]
    accs = [_acc_pct(r) for r in runs]
    bars = ax.barh(names, accs, color=palette(len(runs)), xerr=_errors(runs), capsize=3, ecolor="0.25")
    ax.bar_label(bars, labels=[f"{a:.2f} %" for a in accs], padding=3, fontsize=8)
    ax.set_xlabel("test accuracy (%)")
    ax.set_xlim(0, 105)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    return fig


@described_by(alt.accuracy_vs)
def accuracy_vs(runs: list[dict], axis: dict) -> Figure:
    """Test accuracy against the one varied value: a line per experiment (log or linear x) or labelled bars."""
    label, scale = axis["label"], axis["scale"]
    groups = list(dict.fromkeys(r["group"] for r in runs))
    colors = dict(zip(groups, palette(len(groups))))
    if scale == "category":
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        names = [str(swept_value(r, label)) if len(groups) == 1 else f"{r['group']}\n{swept_value(r, label)}"
                 for r in runs]
        accs = [_acc_pct(r) for r in runs]
        bars = ax.bar(range(len(runs)), accs, color=[colors[r["group"]] for r in runs], yerr=_errors(runs), capsize=3,
                      ecolor="0.25")
        for bar, run in zip(bars, runs):
            if run.get("status", "completed") != "completed":
                bar.set_hatch("//")
                bar.set_edgecolor("#b00020")
        ax.bar_label(bars, labels=[f"{a:.2f} %" for a in accs], padding=2, fontsize=7)
        ax.set_xticks(range(len(runs)), names)
        ax.grid(axis="x", visible=False)
    else:
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        for group in groups:
            pts = sorted(((swept_value(r, label), _acc_pct(r), r) for r in runs if r["group"] == group),
                         key=lambda p: p[0])
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            ax.plot(xs, ys, "-o", color=colors[group], markersize=4, label=group)
            errors = _errors([p[2] for p in pts])
            if errors:
                ax.errorbar(xs, ys, yerr=errors, fmt="none", ecolor=colors[group], capsize=3, linewidth=1)
            for x, y, run in pts:
                if run.get("status", "completed") != "completed":
                    ax.plot(x, y, "x", color="#b00020", markersize=9, markeredgewidth=2, zorder=5)
                ax.annotate(f"{y:.2f} %", (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                            fontsize=7)
        if scale == "log":
            ax.set_xscale("log")
        values = sorted({swept_value(r, label) for r in runs})
        if len(values) <= 8:
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.minorticks_off()
        if len(groups) > 1:
            ax.legend(frameon=False, fontsize=7)
    ax.set_xlabel(label + (" (log scale)" if scale == "log" else ""))
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    return fig
