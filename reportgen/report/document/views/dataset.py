"""Section builder for the dataset exploration: tables, figures and sentences from results["dataset"]["exploration"]."""

from __future__ import annotations

from reportgen.report.document.selection import sub
from reportgen.report.figures.keys import dataset_key
from reportgen.report.wording.formatting import num

SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test"}
CHANNEL_WORDS = {1: "1 channel (grayscale)", 3: "3 channels (RGB)"}


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{num(n)} {word if n == 1 else (words or word + 's')}"


def size_sentences(sizes: dict) -> list[str]:
    """The image-size check in words: same size or not, which sizes, what they became."""
    n, first = sizes["images"], sizes["original"][0]["size"] if sizes["original"] else "?"
    if sizes["uniform"] and sizes["source"] == "files":
        text = [f"All {_plural(n, 'image')} have the same size: {first} pixels."]
    elif sizes["uniform"]:
        text = [f"All {_plural(n, 'image')} are {first} pixels as loaded (the loader recorded no original sizes)."]
    else:
        text = [f"The images do not all have the same size: {num(sizes['distinct'])} different sizes occur "
                f"among {_plural(n, 'image')}; the most common is {first} pixels."]
    channels = CHANNEL_WORDS.get(sizes["channels"], f"{sizes['channels']} channels")
    kept = sizes["uniform"] and first == sizes["resized_to"]
    text.append(f"All images {'are used at' if kept else 'were resized to'} {sizes['resized_to']} pixels "
                f"with {channels}.")
    if sizes["skipped_count"]:
        text.append(f"{_plural(sizes['skipped_count'], 'unreadable file')} "
                    f"{'was' if sizes['skipped_count'] == 1 else 'were'} skipped"
                    + (f" (the first {num(len(sizes['skipped']))} are listed):" if sizes["skipped_count"] >
                       len(sizes["skipped"]) else ":"))
    else:
        text.append("No file was skipped as unreadable.")
    return text


def _split_rows(ex: dict) -> tuple[list[dict], dict]:
    """One row per class (count and share of the class in each split), and the row of all classes."""
    counts, names = ex["counts"], ex["splits"]
    rows = [{"name": cls, "cells": [{"count": counts["per_split"][s][c], "share": counts["split_share"][s][c]}
                                    for s in names], "total": counts["per_class"][c]}
            for c, cls in enumerate(ex["classes"])]
    return rows, {"name": "All classes", "total": counts["total"],
                  "cells": [{"count": counts["split_totals"][s], "share": counts["split_share_total"][s]} for s in names]}


def dataset(view, sec, results, figures, num_):
    """Classes, splits, sample images, image sizes, channel statistics, PCA and t-SNE of the dataset."""
    ex = results["dataset"]["exploration"]
    i, counts, seed = view["index"], ex["counts"], ex["seed"]
    view["ex"] = ex

    def fig(name: str, caption: str) -> dict:
        return num_.fig(dataset_key(name, i), caption, figures[dataset_key(name, i)])

    view["split_names"] = [SPLIT_NAMES[s] for s in ex["splits"]]
    view["class_rows"] = [{"name": c, "count": counts["per_class"][k], "share": counts["class_share"][k]}
                          for k, c in enumerate(ex["classes"])]
    view["classes_sub"] = sub(view, "Classes")
    view["counts_table"] = num_.tab("Images per class, all splits together", "counts")
    view["counts_fig"] = fig("counts", "Number of images per class, all splits together")
    view["splits_sub"] = sub(view, "Training, validation and test splits")
    view["split_rows"], view["split_total"] = _split_rows(ex)
    view["splits_table"] = num_.tab("Images per class in each split, with the split's share of the class", "splits")
    view["splits_fig"] = fig("splits", "Images per class, stacked by split; the percentages are each split's share of "
                             "the class")
    view["grid_sub"] = sub(view, "Sample images")
    shown = len(ex["grid"]["images"])
    view["grid_fig"] = fig("grid", f"{_plural(shown, 'random training image')} with their labels, cycling through the "
                           f"classes (seed {seed})")
    view["sizes_sub"] = sub(view, "Image sizes")
    view["size_text"] = size_sentences(ex["sizes"])
    view["size_rows"] = [{"size": r["size"], "count": r["count"], "share": r["count"] / ex["sizes"]["images"]
                          if ex["sizes"]["images"] else None} for r in ex["sizes"]["original"]]
    view["sizes_table"] = num_.tab("Image sizes before resizing (width × height in pixels)"
                                   if ex["sizes"]["source"] == "files" else "Image sizes as loaded (width × height)",
                                   "sizes")
    view["channels_sub"] = sub(view, "Channel statistics")
    view["channel_rows"] = [{"name": name, "mean_all": ex["channels"]["all"]["mean"][c],
                             "std_all": ex["channels"]["all"]["std"][c], "mean_train": ex["channels"]["train"]["mean"][c],
                             "std_train": ex["channels"]["train"]["std"][c]}
                            for c, name in enumerate(ex["channels"]["names"])]
    view["channels_table"] = num_.tab("Per-channel mean and standard deviation of the pixel values (0–1 scale)", "channels")
    view["projection_figs"] = []
    if ex.get("pca") or ex.get("tsne"):
        view["projections_sub"] = sub(view, "PCA and t-SNE projections")
    if ex.get("pca"):
        p = ex["pca"]
        view["projection_figs"].append(fig(
            "pca", f"PCA of {_plural(p['n'], 'training image')} (stratified subsample, seed {seed}), coloured by "
            "class; the axis labels give each component's share of the variance"))
    if ex.get("tsne"):
        t = ex["tsne"]
        view["projection_figs"].append(fig(
            "tsne", f"t-SNE of {_plural(t['n'], 'training image')} (stratified subsample, PCA to "
            f"{t['pca_dims']} dimensions first, perplexity {t['perplexity']:g}, seed {seed}), coloured by class"))
