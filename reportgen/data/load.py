"""Dataset stage: load digits, CIFAR-10/100, MNIST, Fashion-MNIST, SVHN, STL-10 or image folders, split, resize,
and describe the splits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from reportgen.data import cifar
from reportgen.data import imagefolder
from reportgen.data import torchvision_sets
from reportgen.data.cifar import CIFAR10_CLASSES, CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES  # noqa: F401 - re-exported
from reportgen.errors import DatasetUnavailable
from reportgen.hashing import canonical_json, digest_parts
from reportgen.manifest.schema import DatasetSpec

SPLITS = ("train", "validation", "test")
_CHUNK = 4096
_FINGERPRINTED_INFO = ("original_sizes", "skipped")  # info that describes the data; not how it was loaded


@dataclass
class DatasetSplits:
    """Train/validation/test images (uint8 NCHW) and labels, with normalisation statistics."""

    name: str
    classes: list[str]
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: list[float]
    std: list[float]
    synthetic: bool
    source: dict  # where the images came from, as structured facts (report/sources.py words them)
    info: dict = field(default_factory=dict)

    def fingerprint(self) -> str:
        """SHA-256 over the name, classes, synthetic flag, data-describing info and every tensor's bytes."""
        described = {k: self.info[k] for k in _FINGERPRINTED_INFO if k in self.info}

        def parts():
            yield canonical_json({"name": self.name, "classes": self.classes, "synthetic": self.synthetic,
                                  "info": described})
            for key in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
                t = getattr(self, key)
                yield f"|{key}:{t.dtype}:{tuple(t.shape)}|"
                yield t.contiguous().numpy().tobytes()

        return digest_parts(parts())

    def sizes(self) -> dict[str, int]:
        """Number of images per split."""
        return {"train": len(self.train_y), "validation": len(self.val_y), "test": len(self.test_y)}


def _split(idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (kept, held-out) split of idx; unstratified when a class is too small to stratify."""
    from sklearn.model_selection import train_test_split  # imported when used: it costs seconds at start-up

    try:
        kept, held = train_test_split(idx, test_size=fraction, stratify=labels[idx], random_state=seed)
    except ValueError:
        kept, held = train_test_split(idx, test_size=fraction, random_state=seed)
    return np.asarray(kept), np.asarray(held)


def stratified_subset(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of a deterministic, stratified subset of at most limit items, in their original order."""
    idx = np.arange(len(labels))
    if len(idx) <= limit:
        return idx
    from sklearn.model_selection import train_test_split

    try:
        chosen, _ = train_test_split(idx, train_size=limit, stratify=labels, random_state=seed)
    except ValueError:  # a class too small to stratify
        chosen = np.random.default_rng(seed).permutation(idx)[:limit]
    return np.sort(chosen)


def _convert(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """Convert uint8 NCHW images to `channels` and size×size (bilinear, antialiased when shrinking)."""
    if tuple(x.shape[1:]) == (channels, size, size):
        return x
    out = [_convert_chunk(x[i:i + _CHUNK], channels, size) for i in range(0, len(x), _CHUNK)]
    return torch.cat(out) if out else torch.zeros((0, channels, size, size), dtype=torch.uint8)


def _convert_chunk(x: torch.Tensor, channels: int, size: int) -> torch.Tensor:
    """_convert for one chunk, in float32 and rounded once (3→1 channels: luminance; 1→3: repeat)."""
    f = x.to(torch.float32)
    if f.shape[1] == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(1, 3, 1, 1)
        f = (f * weights).sum(dim=1, keepdim=True)
    if f.shape[2] != size or f.shape[3] != size:
        shrink = size < f.shape[2] or size < f.shape[3]
        f = F.interpolate(f, size=(size, size), mode="bilinear", align_corners=False, antialias=shrink)
    out = f.round().clamp(0, 255).to(torch.uint8)
    return out.repeat(1, channels, 1, 1) if out.shape[1] == 1 and channels == 3 else out


def _stats(x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (floor 1e-6) of x/255, exact via per-channel histograms in float64."""
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for ch in range(x.shape[1]):
        p = torch.bincount(x[:, ch].reshape(-1), minlength=256).numpy().astype(np.float64)
        p /= max(p.sum(), 1.0)
        means.append(float((p * values).sum()))
        stds.append(max(float((p * (values - means[-1]) ** 2).sum()) ** 0.5, 1e-6))
    return means, stds


def _original_sizes(spec: DatasetSpec, parts: dict) -> dict[str, int]:
    """"W×H" → number of images used, most frequent first (the validation split is the test split's twin or not)."""
    used = ("train", "test") if spec.validation == "test" else SPLITS
    counts = Counter(f"{w}×{h}" for s in used for w, h in parts[s][2].tolist())
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _assemble(spec: DatasetSpec, classes: list[str], parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
              synthetic: bool, source: dict, info: dict | None = None) -> DatasetSplits:
    """Convert each split to the declared shape and wrap everything (with its info) in DatasetSplits."""
    c, s, _ = spec.input_shape()
    xs = {k: _convert(torch.from_numpy(np.ascontiguousarray(p[0], dtype=np.uint8)), c, s) for k, p in parts.items()}
    ys = {k: torch.from_numpy(np.asarray(p[1], dtype=np.int64).copy()) for k, p in parts.items()}
    mean, std = _stats(xs["train"])
    info = {"original_sizes": _original_sizes(spec, parts), "skipped": [], "decoded": 0, "cache": None, **(info or {})}
    return DatasetSplits(spec.name, classes, xs["train"], ys["train"], xs["validation"], ys["validation"],
                         xs["test"], ys["test"], mean, std, synthetic, source, info)


def _native_sizes(x: np.ndarray) -> np.ndarray:
    """(N, 2) (width, height) of images already in memory at their native size."""
    return np.broadcast_to(np.array([x.shape[3], x.shape[2]], dtype=np.int64), (len(x), 2))


def _load_digits(spec: DatasetSpec) -> tuple[dict, list[str], str]:
    """scikit-learn's bundled 8×8 digits, split stratified into train/validation/test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * 255.0 / 16.0).clip(0, 255).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    rest, test = _split(np.arange(len(y)), y, spec.test_fraction, spec.seed)
    train, val = _split(rest, y, spec.val_fraction, spec.seed)
    wh = _native_sizes(x)
    parts = {"train": (x[train], y[train], wh[train]), "validation": (x[val], y[val], wh[val]),
             "test": (x[test], y[test], wh[test])}
    return parts, [str(i) for i in range(10)], {"kind": "digits", "images": len(y)}


def _carve(spec: DatasetSpec, x: np.ndarray, y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray) -> dict:
    """Validation carved from the training images by val_fraction (stratified, seeded); the official test set stays."""
    train, val = _split(np.arange(len(y)), y, spec.val_fraction, spec.seed)
    wh = _native_sizes(x)
    return {"train": (x[train], y[train], wh[train]), "validation": (x[val], y[val], wh[val]),
            "test": (test_x, test_y, _native_sizes(test_x))}


def _load_cifar(spec: DatasetSpec, folder: Path, base_dir: Path) -> tuple[dict, list[str], str]:
    """Read CIFAR-10/100; split its training images into train/validation (the official test set stays)."""
    x, y, test_x, test_y, classes = cifar.read_cifar(spec, folder)
    source = {"kind": "cifar", "format": cifar.cifar_format(spec).title, "path": imagefolder.shown_path(folder, base_dir),
              "labels": spec.labels if spec.name == "cifar100" else None}
    return _carve(spec, x, y, test_x, test_y), classes, source


def _load_torchvision_set(spec: DatasetSpec, base_dir: Path) -> tuple[dict, list[str], dict]:
    """Read MNIST, Fashion-MNIST, SVHN or STL-10 from torchvision's layout under `root:`, split like CIFAR."""
    fmt = torchvision_sets.dataset_format(spec)
    root = torchvision_sets.root_of(spec, base_dir)
    missing = torchvision_sets.missing(fmt, root)
    if missing:
        raise DatasetUnavailable(torchvision_sets.unavailable_message(spec, root, missing))
    x, y, test_x, test_y, classes = torchvision_sets.read(spec, root)
    source = {"kind": "torchvision", "format": fmt.title, "path": imagefolder.shown_path(fmt.folder(root), base_dir)}
    return _carve(spec, x, y, test_x, test_y), classes, source


def _synthetic(spec: DatasetSpec, classes: list[str], n: int) -> dict:
    """Deterministic learnable images: a per-class random pattern plus Gaussian noise, n per split."""
    c, s, _ = spec.input_shape()
    k = len(classes)
    rng = np.random.default_rng(spec.seed)
    patterns = rng.uniform(40, 215, size=(k, c, s, s))
    parts = {}
    for split in SPLITS:
        y = rng.permutation(np.arange(n) % k).astype(np.int64)
        noise = rng.normal(0.0, 30.0, size=(n, c, s, s))
        x = np.rint(patterns[y] + noise).clip(0, 255).astype(np.uint8)
        parts[split] = (x, y, _native_sizes(x))
    return parts


def _validate_on_test(parts: dict) -> dict:
    """All training images train; the test set doubles as the validation set (as some notebooks do)."""
    train = tuple(np.concatenate([t, v]) for t, v in zip(parts["train"], parts["validation"]))
    return {"train": train, "validation": parts["test"], "test": parts["test"]}


def _smoke_synthetic(spec: DatasetSpec, base_dir: Path, smoke_limit: int) -> DatasetSplits | None:
    """Synthetic splits when a smoke build's dataset files are absent; None when they are present."""
    if spec.name == "imagefolder":
        missing = imagefolder.missing_roots(spec, base_dir)
        if not missing:
            return None
        classes = imagefolder.smoke_classes(spec, missing)
        where = {"missing": "image folder", "path": imagefolder.shown_path(missing[0], base_dir)}
    elif spec.name in torchvision_sets.FORMATS:
        fmt, root = torchvision_sets.dataset_format(spec), torchvision_sets.root_of(spec, base_dir)
        if not torchvision_sets.missing(fmt, root):
            return None
        classes = torchvision_sets.class_names(spec)
        where = {"missing": fmt.title, "path": imagefolder.shown_path(fmt.folder(root), base_dir)}
    else:
        fmt = cifar.cifar_format(spec)
        folder, missing, _ = cifar.locate(spec, (base_dir / (spec.root or fmt.default_root)).resolve(), smoke=True)
        if not missing:
            return None
        classes = cifar.class_names(spec)
        where = {"missing": fmt.title, "path": imagefolder.shown_path(folder, base_dir)}
    source = {"kind": "synthetic", **where}
    return _assemble(spec, classes, _synthetic(spec, classes, smoke_limit), True, source)


def load_dataset(spec: DatasetSpec, base_dir: Path, smoke: bool = False, smoke_limit: int = 256,
                 cache_dir: Path | None = None) -> DatasetSplits:
    """Load the manifest's dataset as train/validation/test splits (smoke: capped, synthetic if files are missing).

    cache_dir (e.g. OUT/cache) keeps decoded image folders in cache_dir/datasets/; None decodes every time.
    """
    base_dir = Path(base_dir)
    info: dict = {}
    if spec.name != "digits" and smoke and (synthetic := _smoke_synthetic(spec, base_dir, smoke_limit)) is not None:
        return synthetic
    if spec.name == "digits":
        parts, classes, source = _load_digits(spec)
    elif spec.name == "imagefolder":
        parts, classes, source, info = imagefolder.load_imagefolder(spec, base_dir, smoke, smoke_limit, cache_dir)
    elif spec.name in torchvision_sets.FORMATS:
        parts, classes, source = _load_torchvision_set(spec, base_dir)
    else:
        fmt = cifar.cifar_format(spec)
        root = (base_dir / (spec.root or fmt.default_root)).resolve()
        folder, missing, error = cifar.locate(spec, root, smoke)
        if missing:
            raise DatasetUnavailable(cifar.unavailable_message(fmt, root, folder, missing, error))
        parts, classes, source = _load_cifar(spec, folder, base_dir)
    if spec.validation == "test":
        parts = _validate_on_test(parts)
        source["validated_on_test"] = True
    if smoke:
        if any(len(p[1]) > smoke_limit for p in parts.values()):
            source["smoke_limit"] = smoke_limit
        keep = {k: stratified_subset(p[1], smoke_limit, spec.seed) for k, p in parts.items()}
        parts = {k: tuple(a[keep[k]] for a in p) for k, p in parts.items()}
    return _assemble(spec, classes, parts, False, source, info)
