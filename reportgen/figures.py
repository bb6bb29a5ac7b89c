"""Figures from results: matplotlib/seaborn drawn to deterministic, inline-able SVG."""

from __future__ import annotations

import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

STYLE = {
    "svg.hashsalt": "reportgen",  # stable ids in the SVG, so rebuilding gives identical HTML
    "svg.fonttype": "path",  # glyphs as paths: identical rendering in every browser and in WeasyPrint
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
}


def to_svg(fig, prefix: str) -> str:
    """Serialise a figure as an <svg> element whose ids are unique to `prefix`."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    # several SVGs share one HTML document: give every id a per-figure prefix
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m[1]}"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m[1]}{prefix}-{m[2]}" if m[2] in ids else m[0], svg)
    return svg.strip()


def _epochs(run: dict, key: str) -> tuple[list[int], list[float]]:
    rows = [r for r in run["epochs"] if r.get(key) is not None]
    return [r["epoch"] for r in rows], [r[key] for r in rows]


def curves(run: dict, metric: str, prefix: str) -> str:
    """Training and validation loss (metric='loss') or accuracy (metric='acc') per epoch."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 3.0))
        for split, style in (("train", "-o"), ("val", "-s")):
            x, y = _epochs(run, f"{split}_{metric}")
            if metric == "acc":
                y = [v * 100 for v in y]
            ax.plot(x, y, style, markersize=3, label="training" if split == "train" else "validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss" if metric == "loss" else "accuracy (%)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(frameon=False)
        return to_svg(fig, prefix)


def confusion(run: dict, classes: list[str], prefix: str) -> str:
    """Confusion-matrix heatmap with class names, counts in the cells."""
    matrix = run["test"]["confusion_matrix"]
    n = len(classes)
    with plt.rc_context(STYLE):
        side = min(max(3.2, 0.45 * n + 1.6), 7.0)
        fig, ax = plt.subplots(figsize=(side + 0.8, side))
        sns.heatmap(matrix, annot=n <= 20, fmt="d", cmap="Blues", cbar=True, square=True, ax=ax,
                    xticklabels=classes, yticklabels=classes, annot_kws={"size": 7}, linewidths=0.3)
        ax.set_xlabel("predicted label")
        ax.set_ylabel("true label")
        ax.grid(False)
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
        plt.setp(ax.get_yticklabels(), rotation=0)
        return to_svg(fig, prefix)


def overlay(runs: list[dict], prefix: str) -> str:
    """Validation loss and validation accuracy of several runs on shared axes."""
    with plt.rc_context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(7.0, 3.0))
        for run in runs:
            x, loss = _epochs(run, "val_loss")
            xa, acc = _epochs(run, "val_acc")
            left.plot(x, loss, "-o", markersize=2.5, label=run["id"])
            right.plot(xa, [a * 100 for a in acc], "-o", markersize=2.5, label=run["id"])
        left.set(xlabel="epoch", ylabel="validation loss")
        right.set(xlabel="epoch", ylabel="validation accuracy (%)")
        for ax in (left, right):
            ax.xaxis.get_major_locator().set_params(integer=True)
        right.legend(frameon=False, fontsize=7, loc="best")
        return to_svg(fig, prefix)


def accuracy_bars(runs: list[dict], prefix: str) -> str:
    """Test accuracy per run as labelled bars."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 0.45 * len(runs) + 1.0))
        names = [r["id"] for r in runs]
        accs = [r["test"]["accuracy"] * 100 for r in runs]
        bars = ax.barh(names, accs, color=sns.color_palette("deep", len(runs)))
        ax.bar_label(bars, labels=[f"{a:.2f} %" for a in accs], padding=3, fontsize=8)
        ax.set_xlabel("test accuracy (%)")
        ax.set_xlim(0, 105)
        ax.invert_yaxis()
        ax.grid(axis="y", visible=False)
        return to_svg(fig, prefix)


def draw_all(results: dict, sections) -> dict[str, str]:
    """Every figure the sections need, keyed 'loss/<run>', 'acc/<run>', 'cm/<run>', 'bars/<i>', 'cmp/<i>'."""
    out: dict[str, str] = {}
    classes = results["dataset"]["classes"]
    for n, (rid, run) in enumerate(results["runs"].items()):
        out[f"loss/{rid}"] = curves(run, "loss", f"loss{n}")
        out[f"acc/{rid}"] = curves(run, "acc", f"acc{n}")
        out[f"cm/{rid}"] = confusion(run, classes, f"cm{n}")
    for i, sec in enumerate(sections):
        if sec.kind == "comparison":
            names = sec.options.get("experiments") or list(results["runs"])
            runs = [results["runs"][n] for n in names if n in results["runs"]]
            out[f"bars/{i}"] = accuracy_bars(runs, f"bars-{i}")
            out[f"cmp/{i}"] = overlay(runs, f"cmp-{i}")
    return out
