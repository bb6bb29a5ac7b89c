"""Section builder for the dataset exploration: tables, figures and sentences from results.dataset.exploration."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.document.keyed import Fixed, Joined, at
from reportgen.report.figures.keys import dataset_key
from reportgen.report.wording.describe import source_text
from reportgen.report.document.tree import Table, num, row, td, th
from reportgen.report.wording.formatting import num as thousands
from reportgen.results.record import Results

SPLIT_NAMES = {"train": "Training", "validation": "Validation", "test": "Test"}
CHANNEL_WORDS = {1: "1 channel (grayscale)", 3: "3 channels (RGB)"}


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{thousands(n)} {word if n == 1 else (words or word + 's')}"


def size_sentences(sizes: dict) -> list[str]:
    """The image-size check in words: same size or not, which sizes, what they became."""
    n, first = sizes["images"], sizes["original"][0]["size"] if sizes["original"] else "?"
    if sizes["uniform"] and sizes["source"] == "files":
        text = [f"All {_plural(n, 'image')} have the same size: {first} pixels."]
    elif sizes["uniform"]:
        text = [f"All {_plural(n, 'image')} are {first} pixels as loaded (the loader recorded no original sizes)."]
    else:
        text = [f"The images do not all have the same size: {thousands(sizes['distinct'])} different sizes occur "
                f"among {_plural(n, 'image')}; the most common is {first} pixels."]
    channels = CHANNEL_WORDS.get(sizes["channels"], f"{sizes['channels']} channels")
    kept = sizes["uniform"] and first == sizes["resized_to"]
    text.append(f"All images {'are used at' if kept else 'were resized to'} {sizes['resized_to']} pixels "
                f"with {channels}.")
    if sizes["skipped_count"]:
        text.append(f"{_plural(sizes['skipped_count'], 'unreadable file')} "
                    f"{'was' if sizes['skipped_count'] == 1 else 'were'} skipped"
                    + (f" (the first {thousands(len(sizes['skipped']))} are listed):" if sizes["skipped_count"] >
                       len(sizes["skipped"]) else ":"))
    else:
        text.append("No file was skipped as unreadable.")
    return text


COUNTS = ("dataset", "exploration", "counts")
CHANNELS = ("dataset", "exploration", "channels")


def _in_split(results: Results, count: tuple, share: tuple) -> Joined:
    """'1,234 (60.0 %)': images of a split and their share."""
    return Joined([at(results, *COUNTS, *count), at(results, *COUNTS, *share, fmt="pct", digits=1)], " (",
                  ("images", "share"), ")")


def class_counts(table: Table, results: Results, ex: dict) -> None:
    """Images per class and the class's share, all splits together."""
    table.head = [row(th("Class"), th("Images", numeric=True), th("Share", numeric=True))]
    table.body = [row(td(name), num(at(results, *COUNTS, "per_class", k), data_count=ex["counts"]["per_class"][k]),
                      num(at(results, *COUNTS, "class_share", k, fmt="pct")), data_class=name)
                  for k, name in enumerate(ex["classes"])]
    table.foot = [row(th("All classes"), num(at(results, *COUNTS, "total"), data_count=ex["counts"]["total"]),
                      num(Fixed(1, "pct")))]


def split_counts(table: Table, results: Results, ex: dict) -> None:
    """Images per class in each split with the split's share of the class, then the splits' totals."""
    table.head = [row(th("Class"), *(th(SPLIT_NAMES[s], numeric=True) for s in ex["splits"]),
                      th("Total", numeric=True))]
    table.body = [row(td(name), *(num(_in_split(results, ("per_split", s, k), ("split_share", s, k)))
                                  for s in ex["splits"]), num(at(results, *COUNTS, "per_class", k)))
                  for k, name in enumerate(ex["classes"])]
    table.foot = [row(th("All classes"), *(num(_in_split(results, ("split_totals", s), ("split_share_total", s)))
                                           for s in ex["splits"]), num(at(results, *COUNTS, "total")))]


def image_sizes(table: Table, results: Results, ex: dict) -> None:
    """The image sizes found, how many images have each and what they were resized to."""
    sizes = ex["sizes"]
    table.head = [row(th("Size"), th("Images", numeric=True), th("Share", numeric=True), th("Used as"))]
    table.body = [row(td(r["size"]), num(at(results, "dataset", "exploration", "sizes", "original", i, "count")),
                      num(Fixed(r["count"] / sizes["images"] if sizes["images"] else None, "pct")),
                      td(sizes["resized_to"]))
                  for i, r in enumerate(sizes["original"])]


def channel_stats(table: Table, results: Results, ex: dict) -> None:
    """Per channel, the pixel values' mean and standard deviation over all splits and over the training split."""
    table.head = [row(th("Channel"), *(th(h, numeric=True) for h in ("Mean, all splits", "Std, all splits",
                                                                       "Mean, training", "Std, training")))]
    table.body = [row(td(name), *(num(at(results, *CHANNELS, part, stat, c, fmt="dec"))
                                  for part, stat in (("all", "mean"), ("all", "std"), ("train", "mean"),
                                                     ("train", "std"))))
                  for c, name in enumerate(ex["channels"]["names"])]


def _table(num_, fill, results: Results, ex: dict, caption: str, name: str, classes: str) -> Table:
    table = num_.tab(caption, name, classes=f"data {classes}")
    fill(table, results, ex)
    return table


def dataset(view: dict, sec, results: Results, figures, num_):
    """Classes, splits, sample images, image sizes, channel statistics, PCA and t-SNE of the dataset."""
    ex = results.dataset.exploration
    i, seed = view["index"], ex["seed"]

    def fig(name: str, caption: str) -> dict:
        return num_.fig(dataset_key(name, i), caption, figures[dataset_key(name, i)])

    same = " The validation set is the test set itself, so its images are counted once, as test images." if ex.get(
        "validation_is_test") else ""
    source = source_text(results.dataset.source)
    view["intro"] = num_.text(Markup("{}: {} images in {} classes.{}").format(
        source[:1].upper() + source[1:], at(results, *COUNTS, "total"), len(ex["classes"]), same))
    view["classes_sub"] = num_.sub(view, "Classes")
    view["counts_table"] = _table(num_, class_counts, results, ex, "Images per class, all splits together", "counts",
                                  "class-counts")
    view["counts_fig"] = fig("counts", "Number of images per class, all splits together")
    view["splits_sub"] = num_.sub(view, "Training, validation and test splits")
    view["splits_table"] = _table(num_, split_counts, results, ex, "Images per class in each split, with the split's "
                                  "share of the class", "splits", "split-counts")
    view["splits_fig"] = fig("splits", "Images per class, stacked by split; the percentages are each split's share of "
                             "the class")
    view["grid_sub"] = num_.sub(view, "Sample images")
    shown = len(ex["grid"]["images"])
    view["grid_fig"] = fig("grid", f"{_plural(shown, 'random training image')} with their labels, cycling through the "
                           f"classes (seed {seed})")
    view["sizes_sub"] = num_.sub(view, "Image sizes")
    view["size_text"] = num_.text(" ".join(size_sentences(ex["sizes"])))
    view["skipped"] = num_.items([Markup("<code>{}</code>: {}").format(f["path"], f["reason"])
                                  for f in ex["sizes"].get("skipped") or []])
    view["sizes_table"] = _table(num_, image_sizes, results, ex, "Image sizes before resizing (width × height in "
                                 "pixels)" if ex["sizes"]["source"] == "files" else "Image sizes as loaded (width × "
                                 "height)", "sizes", "image-sizes")
    view["channels_sub"] = num_.sub(view, "Channel statistics")
    view["channels_table"] = _table(num_, channel_stats, results, ex, "Per-channel mean and standard deviation of the "
                                    "pixel values (0–1 scale)", "channels", "channel-stats")
    view["projection_figs"] = []
    if ex.get("pca") or ex.get("tsne"):
        view["projections_sub"] = num_.sub(view, "PCA and t-SNE projections")
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
