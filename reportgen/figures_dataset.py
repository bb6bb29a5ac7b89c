"""Figures of the dataset section, drawn from results["dataset"]["exploration"] only."""

from __future__ import annotations

import base64
import io

import matplotlib.pyplot as plt
import numpy as np

from .figures import STYLE, _palette, to_svg

SPLIT_LABELS = {"train": "training", "validation": "validation", "test": "test"}
SPLIT_COLORS = {"train": "#4c72b0", "validation": "#dd8452", "test": "#55a868"}
PIXELS = 64  # sample images are enlarged (nearest neighbour) to at least this many pixels a side


def _rotate(ax, classes: list[str]) -> None:
    if max((len(c) for c in classes), default=0) > 3 and len(classes) > 4:
        plt.setp(ax.get_xticklabels(), rotation=45, ha="right")


def class_bars(ex: dict, prefix: str) -> str:
    """Images per class (all splits), the count written on each bar."""
    classes, counts = ex["classes"], ex["counts"]["per_class"]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(min(7.0, 1.6 + 0.5 * len(classes)), 2.8))
        bars = ax.bar(range(len(classes)), counts, color=_palette(len(classes)))
        ax.bar_label(bars, labels=[f"{c:,}" for c in counts], padding=2, fontsize=7)
        ax.set_xticks(range(len(classes)), classes)
        _rotate(ax, classes)
        ax.set_xlabel("class")
        ax.set_ylabel("images")
        ax.set_ylim(0, max(counts + [1]) * 1.15)
        ax.grid(axis="x", visible=False)
        return to_svg(fig, prefix)


def split_bars(ex: dict, prefix: str) -> str:
    """Images per class stacked by split, with each split's share of the class written inside its part."""
    classes, counts = ex["classes"], ex["counts"]
    with plt.rc_context(STYLE):
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
        return to_svg(fig, prefix)


def _image(png: str) -> np.ndarray:
    """A stored base64 PNG as an array, enlarged by an integer factor so that small images stay crisp."""
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))))
    factor = max(1, -(-PIXELS // max(arr.shape[:2])))
    return np.repeat(np.repeat(arr, factor, axis=0), factor, axis=1)


def sample_grid(ex: dict, prefix: str) -> str:
    """rows × cols training images, each titled with its class; grey images in grey."""
    grid, classes = ex["grid"], ex["classes"]
    rows, cols = grid["rows"], grid["cols"]
    with plt.rc_context(STYLE):
        cell = min(1.15, 7.0 / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(cell * cols, (cell + 0.15) * rows), squeeze=False)
        for ax, item in zip(axes.flat, grid["images"]):
            img = _image(item["png"])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_title(classes[item["label"]], fontsize=7, pad=2)
        for ax in axes.flat:
            ax.set_axis_off()
        fig.tight_layout(pad=0.3, h_pad=0.4, w_pad=0.2)
        return to_svg(fig, prefix)


def scatter(points: dict, classes: list[str], xlabel: str, ylabel: str, prefix: str) -> str:
    """2-D points coloured by class, with a legend of the classes."""
    labels = np.array(points["labels"])
    x, y = np.array(points["x"]), np.array(points["y"])
    colors = _palette(len(classes))
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 4.2))
        for c, name in enumerate(classes):
            mask = labels == c
            if mask.any():
                ax.scatter(x[mask], y[mask], s=7, color=colors[c], label=name, alpha=0.8, linewidths=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=7, markerscale=2, loc="upper left", bbox_to_anchor=(1.0, 1.0),
                  title="class", title_fontsize=7)
        return to_svg(fig, prefix)


def dataset_figures(results: dict, i: int) -> dict[str, str]:
    """The figures of the dataset section at index i, keyed 'ds-<name>/<i>'."""
    ex = results["dataset"]["exploration"]
    out = {f"ds-counts/{i}": class_bars(ex, f"s{i}-dscounts"), f"ds-splits/{i}": split_bars(ex, f"s{i}-dssplits"),
           f"ds-grid/{i}": sample_grid(ex, f"s{i}-dsgrid")}
    if ex.get("pca"):
        ev = ex["pca"]["explained_variance"]
        out[f"ds-pca/{i}"] = scatter(ex["pca"], ex["classes"], f"PC 1 ({ev[0] * 100:.1f} % of variance)",
                                     f"PC 2 ({ev[1] * 100:.1f} % of variance)", f"s{i}-dspca")
    if ex.get("tsne"):
        out[f"ds-tsne/{i}"] = scatter(ex["tsne"], ex["classes"], "t-SNE 1", "t-SNE 2", f"s{i}-dstsne")
    return out
