"""Dataset stage: load digits or CIFAR-10, split, resize, and describe the splits."""

from __future__ import annotations

import codecs
import hashlib
import json
import pickle
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from .errors import DatasetUnavailable
from .manifest import DatasetSpec

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_PAGE = "https://www.cs.toronto.edu/~kriz/cifar-10.html"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"]
SPLITS = ("train", "validation", "test")
_CHUNK = 4096


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
    source: str

    def fingerprint(self) -> str:
        """SHA-256 over the name, classes, synthetic flag and every tensor's dtype, shape and bytes."""
        h = hashlib.sha256()
        h.update(json.dumps({"name": self.name, "classes": self.classes, "synthetic": self.synthetic}).encode())
        for key in ("train_x", "train_y", "val_x", "val_y", "test_x", "test_y"):
            t = getattr(self, key)
            h.update(f"|{key}:{t.dtype}:{tuple(t.shape)}|".encode())
            h.update(t.contiguous().numpy().tobytes())
        return h.hexdigest()

    def sizes(self) -> dict[str, int]:
        """Number of images per split."""
        return {"train": len(self.train_y), "validation": len(self.val_y), "test": len(self.test_y)}


def _split(idx: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (kept, held-out) split of idx; unstratified when a class is too small to stratify."""
    try:
        kept, held = train_test_split(idx, test_size=fraction, stratify=labels[idx], random_state=seed)
    except ValueError:
        kept, held = train_test_split(idx, test_size=fraction, random_state=seed)
    return np.asarray(kept), np.asarray(held)


def _cap(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of a deterministic, stratified subset of at most limit items, in their original order."""
    idx = np.arange(len(labels))
    if len(idx) <= limit:
        return idx
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


def _assemble(spec: DatasetSpec, classes: list[str], parts: dict[str, tuple[np.ndarray, np.ndarray]],
              synthetic: bool, source: str) -> DatasetSplits:
    """Convert each split to the declared shape and wrap everything in DatasetSplits."""
    c, s, _ = spec.input_shape()
    xs = {k: _convert(torch.from_numpy(np.ascontiguousarray(x, dtype=np.uint8)), c, s) for k, (x, _) in parts.items()}
    ys = {k: torch.from_numpy(np.asarray(y, dtype=np.int64).copy()) for k, (_, y) in parts.items()}
    mean, std = _stats(xs["train"])
    return DatasetSplits(spec.name, classes, xs["train"], ys["train"], xs["validation"], ys["validation"],
                         xs["test"], ys["test"], mean, std, synthetic, source)


def _load_digits(spec: DatasetSpec) -> tuple[dict, list[str], str]:
    """scikit-learn's bundled 8×8 digits, split stratified into train/validation/test."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.rint(d.images * 255.0 / 16.0).clip(0, 255).astype(np.uint8)[:, None]
    y = d.target.astype(np.int64)
    rest, test = _split(np.arange(len(y)), y, spec.test_fraction, spec.seed)
    train, val = _split(rest, y, spec.val_fraction, spec.seed)
    parts = {"train": (x[train], y[train]), "validation": (x[val], y[val]), "test": (x[test], y[test])}
    return parts, [str(i) for i in range(10)], f"scikit-learn bundled digits ({len(y):,} images)"


def _numpy_globals() -> dict[tuple[str, str], object]:
    """The only globals a pickled numpy array needs, under their numpy 1 and numpy 2 module names."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
               ("_codecs", "encode"): codecs.encode, ("codecs", "encode"): codecs.encode}
    for pkg in ("numpy.core", "numpy._core"):  # files pickled under numpy 1 or numpy 2
        allowed |= {(f"{pkg}.multiarray", "_reconstruct"): multiarray._reconstruct,
                    (f"{pkg}.multiarray", "scalar"): multiarray.scalar, (f"{pkg}.numeric", "_frombuffer"): numeric._frombuffer}
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays, lists, dicts and strings, and refuses everything else."""

    def __init__(self, fh, path: Path):
        super().__init__(fh, encoding="latin1")
        self.path = path
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        """Return an allowed numpy global; raise DatasetUnavailable for anything else."""
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise DatasetUnavailable(f"refusing to unpickle {module}.{name} from {self.path}: CIFAR-10 batch files "
                                 "contain only numpy arrays, lists and strings, so this file is not a genuine one.")


def _unpickle(path: Path) -> dict:
    """Read one CIFAR pickle with the restricted unpickler; unreadable files raise DatasetUnavailable."""
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(fh, path).load()
    except DatasetUnavailable:
        raise
    except Exception as exc:
        raise DatasetUnavailable(f"cannot read CIFAR-10 file {path}: {type(exc).__name__}: {exc}. "
                                 "The file is corrupt or truncated; delete the folder and extract "
                                 f"{CIFAR10_ARCHIVE} again.") from None
    if not isinstance(obj, dict):
        raise DatasetUnavailable(f"cannot read CIFAR-10 file {path}: expected a dict, found {type(obj).__name__}.")
    return obj


def _read_batch(path: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch as (N,3,32,32) uint8 images and int64 labels, validated."""
    d = _unpickle(path)
    data, labels = d.get(b"data", d.get("data")), d.get(b"labels", d.get("labels"))
    try:
        x = np.asarray(data)
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
        ok = x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072 and len(y) == len(x)
    except (TypeError, ValueError):
        ok = False
    if not ok or (len(y) and (y.min() < 0 or y.max() >= n_classes)):
        raise DatasetUnavailable(f"cannot read CIFAR-10 file {path}: expected uint8 `data` of shape (N, 3072) and "
                                 f"N `labels` in 0..{n_classes - 1}; the file is corrupt or not a CIFAR-10 batch.")
    return x.reshape(-1, 3, 32, 32), y


def _read_classes(path: Path) -> list[str]:
    """Class names from batches.meta."""
    meta = _unpickle(path)
    names = meta.get(b"label_names", meta.get("label_names"))
    if not isinstance(names, (list, tuple)) or not names:
        raise DatasetUnavailable(f"cannot read CIFAR-10 file {path}: no `label_names` list.")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _safe_extract(archive: Path, root: Path) -> None:
    """Extract cifar-10-batches-py/ from the archive into root, via a temporary folder."""
    tmp = root / f".extract-{CIFAR10_FOLDER}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(tmp, filter="data")  # refuses absolute paths, "..", links out of tmp, devices
        if not (tmp / CIFAR10_FOLDER).is_dir():
            raise DatasetUnavailable(f"{archive} does not contain a {CIFAR10_FOLDER}/ folder; "
                                     f"is it the Python version of CIFAR-10 ({CIFAR10_ARCHIVE})?")
        (tmp / CIFAR10_FOLDER).rename(root / CIFAR10_FOLDER)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetUnavailable(f"cannot extract {archive}: {exc}. The archive is corrupt or incomplete; "
                                 f"download {CIFAR10_ARCHIVE} again from {CIFAR10_PAGE}.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _missing(folder: Path) -> list[str]:
    """CIFAR-10 files absent from folder."""
    return [f for f in CIFAR10_FILES if not (folder / f).is_file()]


def _download(root: Path) -> str | None:
    """Try to download and extract CIFAR-10 into root; return the failure reason, or None."""
    try:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(CIFAR10_URL, download_root=str(root), md5=CIFAR10_MD5)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot download"
        return f"{type(exc).__name__}: {exc}"
    return None


def _unavailable_message(root: Path, folder: Path, missing: list[str], download_error: str | None) -> str:
    """One paragraph saying what is missing and the ways to get it."""
    what = (f"the folder {folder} does not exist" if not folder.is_dir()
            else f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing from {folder}")
    tried = (f" Downloading failed ({download_error})." if download_error
             else " Or set `download: true` under `dataset:` when this machine has network access.")
    return (f"CIFAR-10 files not found: {what}. Download {CIFAR10_ARCHIVE} from {CIFAR10_PAGE} and put it in {root} "
            f"(it is extracted automatically), or extract it yourself so that {folder}/ exists.{tried} "
            "Or run with --smoke to try the manifest on synthetic images.")


def _locate_cifar(spec: DatasetSpec, root: Path, smoke: bool) -> tuple[Path, list[str], str | None]:
    """Find (extracting or downloading if allowed) the batch folder; return it, missing files, download error."""
    folder, archive = root / CIFAR10_FOLDER, root / CIFAR10_ARCHIVE
    if not folder.exists() and archive.is_file():
        _safe_extract(archive, root)
    error = _download(root) if _missing(folder) and spec.download and not smoke else None
    return folder, _missing(folder), error


def _load_cifar(spec: DatasetSpec, folder: Path, base_dir: Path) -> tuple[dict, list[str], str]:
    """Read the CIFAR-10 batches; split the 50,000 training images into train/validation."""
    classes = _read_classes(folder / "batches.meta")
    xs, ys = zip(*(_read_batch(folder / f"data_batch_{i}", len(classes)) for i in range(1, 6)))
    x, y = np.concatenate(xs), np.concatenate(ys)
    test_x, test_y = _read_batch(folder / "test_batch", len(classes))
    train, val = _split(np.arange(len(y)), y, spec.val_fraction, spec.seed)
    parts = {"train": (x[train], y[train]), "validation": (x[val], y[val]), "test": (test_x, test_y)}
    try:
        shown = folder.relative_to(base_dir.resolve())
    except ValueError:
        shown = folder
    return parts, classes, f"CIFAR-10 from {shown.as_posix()}"


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
        parts[split] = (np.rint(patterns[y] + noise).clip(0, 255).astype(np.uint8), y)
    return parts


def _validate_on_test(parts: dict) -> dict:
    """All training images train; the test set doubles as the validation set (as some notebooks do)."""
    (tx, ty), (vx, vy) = parts["train"], parts["validation"]
    return {"train": (np.concatenate([tx, vx]), np.concatenate([ty, vy])), "validation": parts["test"],
            "test": parts["test"]}


def load_dataset(spec: DatasetSpec, base_dir: Path, smoke: bool = False, smoke_limit: int = 256) -> DatasetSplits:
    """Load the manifest's dataset as train/validation/test splits (smoke: capped, synthetic if files are missing)."""
    base_dir = Path(base_dir)
    if spec.name == "digits":
        parts, classes, source = _load_digits(spec)
    else:
        root = (base_dir / (spec.root or "data/cifar10")).resolve()
        folder, missing, error = _locate_cifar(spec, root, smoke)
        if missing and smoke:
            return _assemble(spec, list(CIFAR10_CLASSES), _synthetic(spec, CIFAR10_CLASSES, smoke_limit), True,
                             f"synthetic images (smoke build; CIFAR-10 files not found in {folder})")
        if missing:
            raise DatasetUnavailable(_unavailable_message(root, folder, missing, error))
        parts, classes, source = _load_cifar(spec, folder, base_dir)
    if spec.validation == "test":
        parts = _validate_on_test(parts)
        source += "; validated on the test set"
    if smoke:
        if any(len(y) > smoke_limit for _, y in parts.values()):
            source += f"; smoke subset of at most {smoke_limit} images per split"
        keep = {k: _cap(y, smoke_limit, spec.seed) for k, (_, y) in parts.items()}
        parts = {k: (x[keep[k]], y[keep[k]]) for k, (x, y) in parts.items()}
    return _assemble(spec, classes, parts, False, source)
