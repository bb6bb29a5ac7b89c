"""Figures of the dataset section, drawn from the results' dataset exploration only."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING

import numpy as np

from reportgen.report.figures.cache import Entry, FigureCache, plt
from reportgen.report.figures.keys import dataset_key
from reportgen.report.figures.style import palette
from reportgen.report.wording.alt import dataset as alt
from reportgen.report.wording.alt import described_by
from reportgen.results.record import Results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SPLIT_LABELS = {"train": "training", "validation": "validation", "test": "test"}
SPLIT_COLORS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#55a868"}
PIXELS = 64  # sample images are enlarged (nearest neighbour) to at least this many pixels a side


def _rotate(ax, classes: list[str]) -> None:
    if max((len(c) for c in classes), default=0) > 3 and len(classes) > 4:
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")


@described_by(alt.class_bars)
def class_bars(ex: dict) -> Figure:
    """Images per class (all splits), the count written on each bar."""
    classes, counts = ex["classes"], ex["counts"]["per_class"]
    fig, ax = plt.subplots(figsize=(min(7.0, 1.6 + 0.5 * len(classes)), 2.8))
    bars = ax.bar(range(len(classes)), counts, color=palette(len(classes)))
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=2, fontsize=7)
    ax.set_xticks(range(len(classes)), classes)
    _rotate(ax, classes)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_ylim(0, max(counts + [1]) * 1.15)
    ax.grid(axis="x", visible=False)
    return fig


@described_by(alt.split_bars)
def split_bars(ex: dict) -> Figure:
    """Images per class stacked by split, with each split's share of the class written inside its part."""
    classes, counts = ex["classes"], ex["counts"]
    fig, ax = plt.subplots(figsize=(min(7.0, 2.2 + 0.5 * len(classes)), 3.0))
    bottom = np.zeros(len(classes))
    for split in ex["splits"]:
        values = np.array(counts["per_split"][split], dtype=float)
        bars = ax.bar(range(len(classes)), values, bottom=bottom, color=SPLIT_COLORS[split],
                      label=f"{SPLIT_LABELS[split]} ({counts['split_share_total'][split] * 100:.1f} %)")
        shares = counts["split_share"][split]
        if len(classes) <= 12:
            ax.bar_label(bars, labels=[f"{s * 100:.0f}%" if v else "" for s, v in zip(shares, values)],
                         label_type="center", fontsize=6, color="white")
        bottom += values
    ax.set_xticks(range(len(classes)), classes)
    _rotate(ax, classes)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.grid(axis="x", visible=False)
    ax.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _image(png: str) -> np.ndarray:
    """A stored base64 PNG as an array, enlarged by an integer factor so that small images stay crisp."""
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))))
    factor = max(1, -(-PIXELS // max(arr.shape[:2])))
    return np.repeat(np.repeat(arr, factor, axis=0), factor, axis=1)


@described_by(alt.sample_grid)
def sample_grid(ex: dict) -> Figure:
    """rows × cols training images, each titled with its class; grey images in grey."""
    grid, classes = ex["grid"], ex["classes"]
    rows, cols = grid["rows"], grid["cols"]
    cell = min(1.15, 7.0 / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, (cell + 0.15) * rows), squeeze=False)
    for ax, item in zip(axes.flat, grid["images"]):
        img = _image(item["png"])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(classes[item["label"]], fontsize=7, pad=2)
    for ax in axes.flat:
        ax.set_axis_off()
    fig.tight_layout(pad=0.3, h_pad=0.4, w_pad=0.2)
    return fig


@described_by(alt.scatter)
def scatter(points: dict, classes: list[str], xlabel: str, ylabel: str) -> Figure:
    """2-D points coloured by class, with a legend of the classes."""
    labels = np.array(points["labels"])
    x, y = np.array(points["x"]), np.array(points["y"])
    colors = palette(len(classes))
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for c, name in enumerate(classes):
        mask = labels == c
        if mask.any():
            ax.scatter(x[mask], y[mask], s=7, color=colors[c], label=name, alpha=0.8, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.0, 1.0),
              title="class", title_fontsize=7)
    return fig


def dataset_figures(results: Results, i: int, options: dict, cache: FigureCache) -> dict[str, Entry]:
    """The figures of the dataset section at index i (keys.dataset_key), each given only the data it shows."""
    ex = results.dataset.exploration
    classes = ex["classes"]
    fig = cache.figure
    out = {dataset_key("counts", i): fig(class_bars, {"classes": classes,
                                                      "counts": {"per_class": ex["counts"]["per_class"]}},
                                         prefix=f"s{i}-dscounts"),
           dataset_key("splits", i): fig(split_bars, {"classes": classes, "counts": ex["counts"],
                                                      "splits": ex["splits"]}, prefix=f"s{i}-dssplits"),
           dataset_key("grid", i): fig(sample_grid, {"classes": classes, "grid": ex["grid"]}, prefix=f"s{i}-dsgrid")}
    if ex.get("pca"):
        ev = ex["pca"]["explained_variance"]
        out[dataset_key("pca", i)] = fig(scatter, ex["pca"], classes, f"PC 1 ({ev[0] * 100:.1f} % of variance)",
                                         f"PC 2 ({ev[1] * 100:.1f} % of variance)", prefix=f"s{i}-dspca")
    if ex.get("tsne"):
        out[dataset_key("tsne", i)] = fig(scatter, ex["tsne"], classes, "t-SNE 1", "t-SNE 2", prefix=f"s{i}-dstsne")
    return out
