"""Image-folder datasets: one sub-folder per class, split stratified, decoded with Pillow, cached as uint8."""

from __future__ import annotations

import io
import os
import pickle
import stat
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path

import numpy as np
import PIL
import torch
from PIL import Image, ImageOps

from reportgen.errors import DatasetUnavailable
from reportgen.hashing import cache_key
from reportgen.manifest.files import scan_classes
from reportgen.manifest.schema import DatasetSpec
from reportgen.writer import write_bytes

DECODER_VERSION = f"reportgen.imagefolder/1 Pillow/{PIL.__version__}"
SPLITS = ("train", "validation", "test")
PARALLEL_MIN = 400  # below this many files, starting worker processes costs more than it saves
LAYOUT = "one sub-folder per class holding its images, e.g. {0}/cat/001.jpg and {0}/dog/002.png"
_ORIENTATION = 0x0112


@dataclass(frozen=True)
class ImageFile:
    """One image file: where it is, how it is shown to the user, its class, and its cache identity."""

    path: Path
    shown: str
    key: str
    label: int
    size: int
    mtime_ns: int


@dataclass
class _Root:
    """A folder of class folders: resolved, as shown to the user, and its group in cache keys."""

    path: Path
    shown: str
    group: str


def roots(spec: DatasetSpec, base_dir: Path) -> list[Path]:
    """The resolved folders spec reads: [root], or [train_root, test_root]."""
    written = [spec.root] if spec.root is not None else [spec.train_root, spec.test_root]
    return [(Path(base_dir) / w).resolve() for w in written]


def missing_roots(spec: DatasetSpec, base_dir: Path) -> list[Path]:
    """Those of spec's folders that do not exist."""
    return [p for p in roots(spec, base_dir) if not p.is_dir()]


def smoke_classes(spec: DatasetSpec, missing: list[Path]) -> list[str]:
    """Class names for synthetic smoke images when the folders are absent: the manifest must list them."""
    if spec.classes is None:
        raise DatasetUnavailable(f"image folder {missing[0]} not found, so a smoke build cannot tell the classes: "
                                 "list them as `classes: [...]` under `dataset:` in the manifest to smoke-build "
                                 "on synthetic images without the folder.")
    return list(spec.classes)


def shown_path(path: Path, base_dir: Path) -> str:
    """How a path appears in reports: relative to the manifest's folder when inside it, else the folder's own
    name, never an absolute path of the machine that built the report."""
    path = Path(path).resolve()
    try:
        return path.relative_to(Path(base_dir).resolve()).as_posix() or "."
    except ValueError:
        return path.name or path.as_posix()


def _resolve_roots(spec: DatasetSpec, base_dir: Path) -> list[_Root]:
    """The folders to read, each checked to exist."""
    pairs = [("root", spec.root, "all")] if spec.root is not None else [
        ("train_root", spec.train_root, "train"), ("test_root", spec.test_root, "test")]
    out = []
    for key, written, group in pairs:
        path = (Path(base_dir) / written).resolve()
        if not path.is_dir():
            raise DatasetUnavailable(f"image folder not found: `{key}: {written}` is {path}, which "
                                     f"{'is not a folder' if path.exists() else 'does not exist'}. An imagefolder "
                                     f"dataset expects {LAYOUT.format(path)}. Or run with --smoke to try the manifest "
                                     "on synthetic images (with `classes:` listed).")
        out.append(_Root(path, shown_path(path, base_dir), group))
    return out


def _choose_classes(spec: DatasetSpec, folders: list[_Root]) -> tuple[list[str], list[str]]:
    """(classes in label order, ignored folder names) after checking every class has a folder in every root."""
    classes = list(spec.classes) if spec.classes is not None else scan_classes(folders[0].path)
    for r in folders:
        for name in classes:
            if not (r.path / name).is_dir():
                raise DatasetUnavailable(f"class {name!r} has no folder {r.path / name}; an imagefolder "
                                         f"dataset expects {LAYOUT.format(r.path)}.")
    if len(classes) < 2:
        found = f"1 class folder ({classes[0]})" if classes else "no class folders"
        raise DatasetUnavailable(f"{folders[0].path} holds {found}; a classifier needs at least two. "
                                 f"An imagefolder dataset expects {LAYOUT.format(folders[0].path)}.")
    ignored = sorted({n for r in folders for n in scan_classes(r.path)} - set(classes))
    return classes, ignored


def _extensions(spec: DatasetSpec) -> set[str]:
    """Lower-case extensions with a leading dot."""
    return {e.lower() if e.startswith(".") else "." + e.lower() for e in spec.extensions}


def _list_files(r: _Root, classes: list[str], exts: set[str]) -> list[ImageFile]:
    """Every visible image file under each class folder (recursively), in class order then path order."""
    files = []
    for label, name in enumerate(classes):
        found = []
        for dirpath, dirnames, filenames in os.walk(r.path / name):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found += [Path(dirpath) / f for f in filenames
                      if not f.startswith(".") and os.path.splitext(f)[1].lower() in exts]
        if not found:
            raise DatasetUnavailable(f"class folder {r.path / name} has no images (files ending in "
                                     f"{', '.join(sorted(exts))}); add images or leave the class out of `classes:`.")
        for p in sorted(found, key=lambda q: q.relative_to(r.path).as_posix()):
            rel = p.relative_to(r.path).as_posix()
            st = p.stat()
            files.append(ImageFile(p, f"{r.shown}/{rel}", f"{r.group}/{rel}", label, st.st_size, st.st_mtime_ns))
    return files


def _counts(n: int, fractions: np.ndarray) -> np.ndarray:
    """n split by fractions (largest remainder); every split with a share gets one image where n allows."""
    exact = fractions * n
    c = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - c), kind="stable")[: n - int(c.sum())]:
        c[k] += 1
    for k in range(len(c)):
        if fractions[k] > 0 and c[k] == 0 and c.max() > 1:
            c[int(np.argmax(c))] -= 1
            c[k] += 1
    return c


def _allocate(labels: np.ndarray, fractions: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """Split index (0 train, 1 validation, 2 test) of each item: per class, shuffled with seed, cut by fractions."""
    rng = np.random.default_rng(seed)
    out = np.zeros(len(labels), dtype=np.int64)
    for k in range(n_classes):
        idx = rng.permutation(np.flatnonzero(labels == k))
        bounds = np.cumsum(_counts(len(idx), fractions))
        for s, part in enumerate(np.split(idx, bounds[:-1])):
            out[part] = s
    return out


def _check_split(labels: np.ndarray, assign: np.ndarray, classes: list[str], how: str, after: str = "",
                 splits: tuple[str, ...] = SPLITS) -> None:
    """DatasetUnavailable naming the first class that a split leaves with no image in one of `splits`."""
    for k, name in enumerate(classes):
        mine = assign[labels == k]
        for s, split in enumerate(SPLITS):
            if split in splits and not (mine == s).any():
                raise DatasetUnavailable(f"class {name!r} has {len(mine)} image{'' if len(mine) == 1 else 's'}"
                                         f"{after}; {how} leaves it no {split} image. Add images to the class, "
                                         "change the split, or leave the class out of `classes:`.")


def _smoke_subset(labels: np.ndarray, assign: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of at most `limit` items per split, taken round-robin over classes in a seeded order."""
    rng = np.random.default_rng([seed, 1])
    keep = []
    for s in range(len(SPLITS)):
        idx = rng.permutation(np.flatnonzero(assign == s))
        rank = np.zeros(len(idx), dtype=np.int64)
        for k in np.unique(labels[idx]):
            mine = labels[idx] == k
            rank[mine] = np.arange(mine.sum())
        keep.append(idx[np.lexsort((np.arange(len(idx)), rank))[:limit]])
    return np.sort(np.concatenate(keep))


def _reason(exc: Exception, path: str) -> str:
    """A short reason for an unreadable image, without the file's path."""
    if isinstance(exc, Image.UnidentifiedImageError):
        return "not an image Pillow can identify"
    text = str(exc).replace(path, "").replace("''", "").strip(" :")
    return f"{type(exc).__name__}: {text}"[:200] if text else type(exc).__name__


def decode_file(path: str, mode: str, size: int) -> tuple[np.ndarray | None, tuple[int, int] | None, str | None]:
    """(uint8 CHW image of size×size in mode, original upright (width, height), None) or (None, None, reason)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # opening a FIFO would wait forever for a writer
            return None, None, "not a regular file (a FIFO, device or socket); not read"
        with Image.open(path) as im:
            w, h = im.size
            try:
                if im.getexif().get(_ORIENTATION, 1) in (5, 6, 7, 8):  # the photo is shown rotated by 90°
                    w, h = h, w
            except Exception:  # noqa: BLE001 - a broken EXIF block leaves the pixels usable
                pass
            im.draft(None, (size, size))  # JPEG: decode at the smallest 1/2^k scale still ≥ size (much faster)
            try:
                ImageOps.exif_transpose(im, in_place=True)
            except Exception:  # noqa: BLE001
                im.load()
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            im = im.convert(mode)
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001 - every failure is a bad file, reported with its reason
        return None, None, _reason(exc, path)
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr), (w, h), None


def _decode_chunk(paths: list[str], mode: str, size: int) -> list[tuple]:
    """decode_file over a chunk (the unit of work sent to a worker process)."""
    return [decode_file(p, mode, size) for p in paths]


def _workers() -> int:
    """CPUs this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _decode_all(files: list[ImageFile], channels: int, size: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images (N,C,S,S) uint8, sizes (N,2) int64, reasons ('' when decoded)) in file order."""
    mode = "RGB" if channels == 3 else "L"
    paths = [str(f.path) for f in files]
    workers = min(_workers(), 16)
    results = None
    if len(paths) > PARALLEL_MIN and workers > 1:
        step = max(16, len(paths) // (workers * 8))
        chunks = [paths[i:i + step] for i in range(0, len(paths), step)]
        try:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = [r for chunk in pool.map(_decode_chunk, chunks, repeat(mode), repeat(size)) for r in chunk]
        except (BrokenProcessPool, OSError):  # no worker processes here: decode in this process
            results = None
    if results is None:
        results = _decode_chunk(paths, mode, size)
    images = np.zeros((len(files), channels, size, size), dtype=np.uint8)
    sizes = np.zeros((len(files), 2), dtype=np.int64)
    reasons = []
    for i, (arr, wh, reason) in enumerate(results):
        if arr is not None:
            images[i], sizes[i] = arr, wh
        reasons.append(reason or "")
    return images, sizes, reasons


def _decode_key(files: list[ImageFile], classes: list[str], channels: int, size: int) -> str:
    """Key of the decoder, output shape, classes and every file's (relative path, bytes, mtime_ns)."""
    return cache_key({"decoder": DECODER_VERSION, "image_size": size, "channels": channels, "classes": classes,
                      "files": sorted([f.key, f.size, f.mtime_ns] for f in files)})


def _decode_cached(files: list[ImageFile], classes: list[str], channels: int, size: int, cache_dir: Path | None
                   ) -> tuple[np.ndarray, np.ndarray, list[str], str | None, int]:
    """_decode_all through the decode cache; also returns "hit"/"miss"/None and how many files were decoded."""
    keys = [f.key for f in files]
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / "datasets" / f"{_decode_key(files, classes, channels, size)}.pt"
        try:
            c = torch.load(path, map_location="cpu", weights_only=True)
            if c["keys"] == keys and tuple(c["images"].shape) == (len(files), channels, size, size):
                return c["images"].numpy(), c["sizes"].numpy(), list(c["reasons"]), "hit", 0
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError):
            pass  # absent or unreadable: decode again and rewrite it
    images, sizes, reasons = _decode_all(files, channels, size)
    if path is not None:
        buf = io.BytesIO()
        torch.save({"keys": keys, "images": torch.from_numpy(images), "sizes": torch.from_numpy(sizes),
                    "reasons": reasons}, buf)
        write_bytes(path, buf.getvalue())
    return images, sizes, reasons, ("miss" if path is not None else None), len(files)


def _bad_message(bad: list[tuple[str, str]], where: str) -> str:
    """DatasetUnavailable text listing the first 20 unreadable files."""
    lines = [f"  {p}: {r}" for p, r in bad[:20]]
    if len(bad) > 20:
        lines.append(f"  ... and {len(bad) - 20:,} more")
    n = len(bad)
    return "\n".join([f"{n:,} unreadable image file{'' if n == 1 else 's'} in {where} (`bad_files: fail`):", *lines,
                      "Replace or delete them, or set `bad_files: skip` under `dataset:` to leave them out "
                      "(the report lists what was skipped)."])


def load_imagefolder(spec: DatasetSpec, base_dir: Path, smoke: bool = False, smoke_limit: int = 256,
                     cache_dir: Path | None = None) -> tuple[dict, list[str], str, dict]:
    """(parts {split: (x, y, original sizes)}, classes, source record, info) for an imagefolder spec."""
    folders = _resolve_roots(spec, base_dir)
    classes, ignored = _choose_classes(spec, folders)
    exts = _extensions(spec)
    files = [f for r in folders for f in _list_files(r, classes, exts)]
    labels = np.array([f.label for f in files], dtype=np.int64)
    if spec.root is not None:
        ratios = np.asarray(spec.split, dtype=np.float64)
        assign = _allocate(labels, ratios / ratios.sum(), len(classes), spec.seed)
        ratio_text = "/".join(f"{v:g}" for v in spec.split)
        how, split = f"the split {ratio_text}", {"ratios": list(spec.split)}
        _check_split(labels, assign, classes, how)
    else:
        in_train = np.array([f.key.startswith("train/") for f in files])
        assign = np.full(len(files), 2, dtype=np.int64)
        assign[in_train] = _allocate(labels[in_train], np.array([1 - spec.val_fraction, spec.val_fraction, 0.0]),
                                     len(classes), spec.seed)
        how = f"holding out val_fraction {spec.val_fraction:g} for validation"
        split = {"val_fraction": spec.val_fraction, "carved_from": folders[0].shown}
        _check_split(labels[in_train], assign[in_train], classes, how, f" in {folders[0].shown}", SPLITS[:2])
    if smoke:
        keep = _smoke_subset(labels, assign, smoke_limit, spec.seed)
        files, labels, assign = [files[i] for i in keep], labels[keep], assign[keep]
    images, sizes, reasons, cache, decoded = _decode_cached(files, classes, spec.input_shape()[0], spec.image_size,
                                                            cache_dir)
    bad = [(f.shown, r) for f, r in zip(files, reasons) if r]
    where = " and ".join(r.shown for r in folders)
    if bad and spec.bad_files == "fail":
        raise DatasetUnavailable(_bad_message(bad, where))
    good = np.array([not r for r in reasons], dtype=bool)
    if not smoke or len(classes) <= smoke_limit:  # a smoke subset smaller than the class list cannot hold them all
        _check_split(labels[good], assign[good], classes, how, " that Pillow can read")
    parts = {s: (images[good & (assign == i)], labels[good & (assign == i)], sizes[good & (assign == i)])
             for i, s in enumerate(SPLITS)}
    source = {"kind": "imagefolder", "paths": [r.shown for r in folders], "images": int(good.sum()),
              "classes": len(classes), "split": split, "ignored": list(ignored), "skipped": len(bad)}
    info = {"skipped": [{"path": p, "reason": r} for p, r in bad], "decoded": decoded, "cache": cache}
    return parts, classes, source, info

