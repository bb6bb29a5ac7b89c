"""Dataset exploration: class counts, split shares, image sizes, channel statistics, samples, PCA and t-SNE."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np

from reportgen.caching import JsonCache
from reportgen.data.load import stratified_subset
from reportgen.hashing import cache_key
from reportgen.sourcehash import source_digest
from reportgen.writer import to_json

SPLITS = ("train", "validation", "test")
DEFAULTS = {"grid": [5, 5], "pca": True, "tsne": True, "sample": 1000, "tsne_sample": 500}
MAX_THUMB = 96  # sample images are stored at their own size, shrunk to fit MAX_THUMB × MAX_THUMB if larger
MAX_SKIPPED = 100  # skipped files listed by name; the count covers all of them


def _version() -> str:
    """Changes whenever this module or scikit-learn changes, so a stale cache is never reused."""
    import sklearn

    return f"reportgen.exploration/1|{source_digest('data')}|sklearn {sklearn.__version__}"


def _options(options: dict | None) -> dict:
    """The options that change the numbers (not the title), with defaults filled in."""
    given = options or {}
    merged = {k: given[k] if given.get(k) is not None else DEFAULTS[k] for k in DEFAULTS}
    merged["grid"] = [int(g) for g in merged["grid"]]
    return merged


def _distinct_splits(splits) -> list[str]:
    """The splits holding distinct images: without validation when it is the test set itself."""
    same = (splits.val_x.shape == splits.test_x.shape and splits.val_y.shape == splits.test_y.shape
            and bool((splits.val_x == splits.test_x).all()) and bool((splits.val_y == splits.test_y).all()))
    return ["train", "test"] if same and len(splits.test_y) else list(SPLITS)


def _arrays(splits, split: str) -> tuple[np.ndarray, np.ndarray]:
    key = {"train": "train", "validation": "val", "test": "test"}[split]
    return getattr(splits, f"{key}_x").numpy(), getattr(splits, f"{key}_y").numpy().astype(np.int64)


def _counts(splits, k: int, names: list[str]) -> dict:
    """Images per class and split, with shares (fractions 0..1) of each class and of the whole."""
    per = {s: [int(c) for c in np.bincount(_arrays(splits, s)[1], minlength=k)[:k]] for s in SPLITS}
    total = [sum(per[s][c] for s in names) for c in range(k)]
    n = sum(total)
    return {
        "per_split": per, "per_class": total, "total": n,
        "split_totals": {s: sum(per[s]) for s in SPLITS},
        "class_share": [t / n if n else 0.0 for t in total],
        "split_share": {s: [per[s][c] / total[c] if total[c] else 0.0 for c in range(k)] for s in names},
        "split_share_total": {s: sum(per[s]) / n if n else 0.0 for s in names},
    }


def _channel_stats(xs: list[np.ndarray]) -> dict:
    """Per-channel mean and std of x/255, exact from per-channel histograms."""
    values = np.arange(256, dtype=np.float64) / 255.0
    channels = xs[0].shape[1]
    means, stds = [], []
    for ch in range(channels):
        p = sum(np.bincount(x[:, ch].reshape(-1), minlength=256).astype(np.float64) for x in xs)
        p = p / max(p.sum(), 1.0)
        mean = float((p * values).sum())
        means.append(round(mean, 6))
        stds.append(round(float((p * (values - mean) ** 2).sum()) ** 0.5, 6))
    return {"mean": means, "std": stds}


def _channel_names(c: int) -> list[str]:
    return ["grey"] if c == 1 else ["red", "green", "blue"] if c == 3 else [f"channel {i + 1}" for i in range(c)]


def _sizes(splits, x_shape: tuple, n: int) -> dict:
    """Original sizes (from the loader's info, else the tensors' size), the size used, skipped files."""
    info = getattr(splits, "info", None) or {}
    original = info.get("original_sizes") or {}
    h, w = int(x_shape[2]), int(x_shape[3])
    if original:
        rows = [{"size": str(s), "count": int(c)} for s, c in original.items()]
        source = "files"
    else:
        rows = [{"size": f"{w}×{h}", "count": n}]
        source = "tensors"
    rows.sort(key=lambda r: (-r["count"], r["size"]))
    skipped = [{"path": str(s.get("path", "")), "reason": str(s.get("reason", ""))}
               for s in info.get("skipped") or []]
    return {"original": rows, "distinct": len(rows), "uniform": len(rows) == 1, "source": source,
            "images": sum(r["count"] for r in rows), "resized_to": f"{w}×{h}", "channels": int(x_shape[1]),
            "skipped_count": len(skipped), "skipped": skipped[:MAX_SKIPPED]}


def _png(image: np.ndarray) -> str:
    """One CHW uint8 image as a base64 PNG (grey for one channel), shrunk to fit MAX_THUMB if larger."""
    from PIL import Image

    img = Image.fromarray(image[0] if image.shape[0] != 3 else np.ascontiguousarray(image.transpose(1, 2, 0)),
                          mode="L" if image.shape[0] != 3 else "RGB")
    if max(img.size) > MAX_THUMB:
        scale = MAX_THUMB / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _grid(x: np.ndarray, y: np.ndarray, k: int, rows: int, cols: int, seed: int) -> dict:
    """rows × cols random training images, cycling through the classes so that each one shows up."""
    order = np.random.default_rng(seed).permutation(len(y))
    queues = [order[y[order] == c].tolist() for c in range(k)]
    picked: list[int] = []
    depth = 0
    while len(picked) < rows * cols and any(depth < len(q) for q in queues):
        picked += [q[depth] for q in queues if depth < len(q)]
        depth += 1
    picked = picked[:rows * cols]
    return {"rows": rows, "cols": cols, "seed": seed,
            "images": [{"png": _png(x[i]), "label": int(y[i]), "index": int(i)} for i in picked]}


def _coords(points: np.ndarray) -> tuple[list[float], list[float]]:
    return [round(float(v), 4) for v in points[:, 0]], [round(float(v), 4) for v in points[:, 1]]


def _pca(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> dict | None:
    """2-D PCA of a stratified subsample of flattened x/255, with explained-variance ratios."""
    from sklearn.decomposition import PCA

    idx = stratified_subset(y, limit, seed)
    if len(idx) < 3:
        return None
    flat = x[idx].reshape(len(idx), -1).astype(np.float64) / 255.0
    pca = PCA(n_components=2, svd_solver="full")
    px, py = _coords(pca.fit_transform(flat))
    ratio = [round(float(r), 4) if np.isfinite(r) else 0.0 for r in pca.explained_variance_ratio_]
    return {"x": px, "y": py, "labels": [int(v) for v in y[idx]], "n": len(idx), "explained_variance": ratio}


def _tsne(x: np.ndarray, y: np.ndarray, limit: int, seed: int) -> dict | None:
    """2-D t-SNE (on a PCA-50 reduction) of a stratified subsample; perplexity shrinks for small samples."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    idx = stratified_subset(y, limit, seed)
    n = len(idx)
    if n < 6:
        return None
    flat = x[idx].reshape(n, -1).astype(np.float64) / 255.0
    dims = min(50, n, flat.shape[1])
    reduced = PCA(n_components=dims, svd_solver="full").fit_transform(flat) if dims < flat.shape[1] else flat
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    emb = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
               random_state=seed).fit_transform(reduced)
    tx, ty = _coords(emb)
    return {"x": tx, "y": ty, "labels": [int(v) for v in y[idx]], "n": n, "perplexity": round(perplexity, 4),
            "pca_dims": int(dims)}


def explore(splits, options: dict, seed: int) -> dict:
    """Everything the dataset section shows, as plain JSON-able data; the same input gives the same dict."""
    opts = _options(options)
    classes = [str(c) for c in splits.classes]
    k = len(classes)
    names = _distinct_splits(splits)
    counts = _counts(splits, k, names)
    xs = [_arrays(splits, s)[0] for s in names if len(_arrays(splits, s)[1])]
    train_x, train_y = _arrays(splits, "train")
    shape = tuple(splits.train_x.shape)
    rows, cols = opts["grid"]
    record = {
        "classes": classes, "splits": names, "validation_is_test": "validation" not in names,
        "counts": counts,
        "sizes": _sizes(splits, shape, counts["total"]),
        "channels": {"names": _channel_names(shape[1]), "all": _channel_stats(xs),
                     "train": _channel_stats([train_x])},
        "grid": _grid(train_x, train_y, k, rows, cols, seed),
        "pca": _pca(train_x, train_y, opts["sample"], seed) if opts["pca"] else None,
        "tsne": _tsne(train_x, train_y, opts["tsne_sample"], seed) if opts["tsne"] else None,
        "options": opts, "seed": seed,
    }
    return json.loads(to_json(record))  # exactly what a cached copy reads back as (key order included)


def exploration_key(splits, options: dict, seed: int) -> str:
    """Key of the data's fingerprint, the info shown, the computing options, the seed and the code version."""
    info = getattr(splits, "info", None) or {}
    shown = {k: info.get(k) for k in ("original_sizes", "skipped")}
    return cache_key({"fingerprint": splits.fingerprint(), "info": shown, "options": _options(options), "seed": seed,
                      "version": _version()})


def explore_cached(splits, options: dict, seed: int, cache_dir: Path | None) -> dict:
    """explore(), read from or stored in cache_dir/exploration/<key>.json (no cache when cache_dir is None)."""
    if cache_dir is None:
        return explore(splits, options, seed)
    entries = JsonCache(Path(cache_dir) / "exploration")
    return entries.get_or_compute(exploration_key(splits, options, seed), lambda: explore(splits, options, seed))
