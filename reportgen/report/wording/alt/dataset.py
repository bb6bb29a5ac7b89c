"""Text alternatives of the dataset section's figures (reportgen.report.figures.dataset), from the same part of
results.dataset.exploration (plain JSON) each drawing receives."""

from __future__ import annotations

from collections import Counter

from reportgen.report.wording.alt import joined, listed, plural
from reportgen.report.wording.formatting import num, pct

SPLIT_WORDS = {"train": "training", "validation": "validation", "test": "test"}
SHARE_DIGITS = 1  # split shares as the dataset section's split table prints them


def _with_count(names: list[str], counts: list[int], count: int) -> str:
    """The classes that have `count` images: '8' or '5 and 8'."""
    return joined([name for name, c in zip(names, counts) if c == count])


def class_bars(ex: dict) -> str:
    """Images per class, the fewest and the most."""
    classes, counts = ex["classes"], ex["counts"]["per_class"]
    if not counts:
        return "Images per class: no class."
    each = f": {listed([f'{c} {num(n)}' for c, n in zip(classes, counts)], 12)}" if len(classes) <= 12 else ""
    low, high = min(counts), max(counts)
    return (f"Images per class, all splits together, {plural(len(classes), 'class', 'classes')} and "
            f"{plural(sum(counts), 'image')}{each}; fewest {num(low)} (class {_with_count(classes, counts, low)}), "
            f"most {num(high)} (class {_with_count(classes, counts, high)}).")


def split_bars(ex: dict) -> str:
    """Each split's images and share of all, and the range of its share of a class."""
    counts = ex["counts"]
    parts = []
    for split in ex["splits"]:
        shares = counts["split_share"][split]
        spread = (f", {pct(min(shares), SHARE_DIGITS)} to {pct(max(shares), SHARE_DIGITS)} of a class"
                  if shares else "")
        parts.append(f"{SPLIT_WORDS.get(split, split)} {plural(counts['split_totals'][split], 'image')} "
                     f"({pct(counts['split_share_total'][split], SHARE_DIGITS)} of all{spread})")
    return (f"Images per class of {plural(len(ex['classes']), 'class', 'classes')}, stacked by split: "
            f"{'; '.join(parts)}.")


def sample_grid(ex: dict) -> str:
    """How many sample images, how many of each class, of which classes."""
    grid, classes = ex["grid"], ex["classes"]
    per = Counter(item["label"] for item in grid["images"])
    if not per:
        return "Sample training images: none."
    low, high = min(per.values()), max(per.values())
    each = f"{low} per class" if low == high else f"{low} to {high} per class"
    shown = [classes[k] for k in sorted(per)]
    which = "" if len(shown) == len(classes) else f"{num(len(shown))} of the {num(len(classes))} "
    return (f"{plural(len(grid['images']), 'sample training image')} in {grid['rows']} rows of {grid['cols']}, "
            f"{each}, of {which}classes {listed(shown, 12)}.")


def scatter(points: dict, classes: list[str], xlabel: str, ylabel: str) -> str:
    """What the projection is, how many points of how many classes, on which axes."""
    kind = "PCA" if "explained_variance" in points else "t-SNE" if "perplexity" in points else "2-D projection"
    per = Counter(points["labels"])
    low, high = (min(per.values()), max(per.values())) if per else (0, 0)
    each = f"{num(low)} each" if low == high else f"{num(low)} to {num(high)} each"
    shown = [classes[k] for k in sorted(per) if 0 <= k < len(classes)]
    return (f"{kind} of {plural(len(points['labels']), 'training image')}, one point each coloured by class, "
            f"{plural(len(shown), 'class', 'classes')} ({listed(shown, 12)}; {each}): {xlabel} against {ylabel}.")
