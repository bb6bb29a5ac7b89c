"""CIFAR-10 and CIFAR-100 in their Python on-disk formats: safe unpickling, extraction, download."""

from __future__ import annotations

import codecs
import os
import pickle
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportgen.errors import DatasetUnavailable
from reportgen.hashing import cache_key
from reportgen.manifest.schema import DatasetSpec

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_FINE_CLASSES = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm"]
CIFAR100_COARSE_CLASSES = [
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables", "household_electrical_devices",
    "household_furniture", "insects", "large_carnivores", "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes", "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates",
    "people", "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2"]


@dataclass(frozen=True)
class CifarFormat:
    """Where one CIFAR variant lives on disk and online, and which pickle keys hold its labels."""

    title: str
    folder: str
    archive: str
    url: str
    md5: str
    page: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    default_root: str

    @property
    def files(self) -> list[str]:
        """Every file the extracted folder must hold."""
        return [*self.train_files, self.test_file, self.meta_file]


CIFAR10 = CifarFormat("CIFAR-10", "cifar-10-batches-py", "cifar-10-python.tar.gz",
                      "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                      "https://www.cs.toronto.edu/~kriz/cifar-10.html",
                      tuple(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta", "data/cifar10")
CIFAR100 = CifarFormat("CIFAR-100", "cifar-100-python", "cifar-100-python.tar.gz",
                       "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                       "https://www.cs.toronto.edu/~kriz/cifar.html", ("train",), "test", "meta", "data/cifar100")
FORMATS = {"cifar10": CIFAR10, "cifar100": CIFAR100}


def cifar_format(spec: DatasetSpec) -> CifarFormat:
    """The on-disk format of spec's CIFAR variant."""
    return FORMATS[spec.name]


def _keys(spec: DatasetSpec) -> tuple[str, str]:
    """(label key in the batch files, class-name key in the meta file) for spec's variant and label kind."""
    if spec.name == "cifar10":
        return "labels", "label_names"
    return f"{spec.labels}_labels", f"{spec.labels}_label_names"


def class_names(spec: DatasetSpec) -> list[str]:
    """The variant's published class names (used for synthetic smoke data, where no meta file is read)."""
    if spec.name == "cifar10":
        return list(CIFAR10_CLASSES)
    return list(CIFAR100_COARSE_CLASSES if spec.labels == "coarse" else CIFAR100_FINE_CLASSES)


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

    def __init__(self, fh, path: Path, title: str):
        super().__init__(fh, encoding="latin1")
        self.path = path
        self.title = title
        self.allowed = _numpy_globals()

    def find_class(self, module: str, name: str):
        """Return an allowed numpy global; raise DatasetUnavailable for anything else."""
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise DatasetUnavailable(f"refusing to unpickle {module}.{name} from {self.path}: {self.title} files contain "
                                 "only numpy arrays, lists and strings, so this file is not a genuine one.")


def _unpickle(path: Path, fmt: CifarFormat) -> dict:
    """Read one CIFAR pickle with the restricted unpickler; unreadable files raise DatasetUnavailable."""
    try:
        with open(path, "rb") as fh:
            obj = _RestrictedUnpickler(fh, path, fmt.title).load()
    except DatasetUnavailable:
        raise
    except Exception as exc:
        raise DatasetUnavailable(f"cannot read {fmt.title} file {path}: {type(exc).__name__}: {exc}. "
                                 "The file is corrupt or truncated; delete the folder and extract "
                                 f"{fmt.archive} again.") from None
    if not isinstance(obj, dict):
        raise DatasetUnavailable(f"cannot read {fmt.title} file {path}: expected a dict, found {type(obj).__name__}.")
    return obj


def _get(d: dict, key: str):
    """d[key] whether the pickle stored its keys as bytes (Python 2) or as str."""
    return d.get(key.encode(), d.get(key))


def _read_batch(path: Path, fmt: CifarFormat, label_key: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as (N,3,32,32) uint8 images and int64 labels, validated."""
    d = _unpickle(path, fmt)
    data, labels = _get(d, "data"), _get(d, label_key)
    try:
        x = np.asarray(data)
        y = np.asarray(labels, dtype=np.int64).reshape(-1)
        ok = labels is not None and x.dtype == np.uint8 and x.ndim == 2 and x.shape[1] == 3072 and len(y) == len(x)
    except (TypeError, ValueError):
        ok = False
    if not ok or (len(y) and (y.min() < 0 or y.max() >= n_classes)):
        raise DatasetUnavailable(f"cannot read {fmt.title} file {path}: expected uint8 `data` of shape (N, 3072) and "
                                 f"N `{label_key}` in 0..{n_classes - 1}; the file is corrupt or not a {fmt.title} "
                                 "batch.")
    return x.reshape(-1, 3, 32, 32), y


def _read_classes(path: Path, fmt: CifarFormat, names_key: str) -> list[str]:
    """Class names from the meta file."""
    names = _get(_unpickle(path, fmt), names_key)
    if not isinstance(names, (list, tuple)) or not names:
        raise DatasetUnavailable(f"cannot read {fmt.title} file {path}: no `{names_key}` list.")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_cifar(spec: DatasetSpec, folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images, train labels, test images, test labels, class names) from an extracted folder."""
    fmt = cifar_format(spec)
    label_key, names_key = _keys(spec)
    classes = _read_classes(folder / fmt.meta_file, fmt, names_key)
    xs, ys = zip(*(_read_batch(folder / f, fmt, label_key, len(classes)) for f in fmt.train_files))
    test_x, test_y = _read_batch(folder / fmt.test_file, fmt, label_key, len(classes))
    return np.concatenate(xs), np.concatenate(ys), test_x, test_y, classes


def unpack_limit() -> int:
    """The most bytes an archive may unpack to: REPORTGEN_UNPACK_LIMIT (bytes), else 4 GiB."""
    try:
        return max(0, int(os.environ.get("REPORTGEN_UNPACK_LIMIT", "")))
    except ValueError:
        return 4 << 30


def unpack_root(root: Path) -> Path:
    """Where archives are unpacked: beside them, or (verify's re-runs, which never write into a submission) under
    REPORTGEN_UNPACK_DIR."""
    cache = os.environ.get("REPORTGEN_UNPACK_DIR")
    return Path(cache) / cache_key(str(root.resolve())) if cache else root


def _safe_extract(archive: Path, root: Path, fmt: CifarFormat) -> None:
    """Extract the format's folder from the archive into root, via a temporary folder, refusing archives that
    unpack to more than unpack_limit() bytes."""
    tmp = root / f".extract-{fmt.folder}"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        with tarfile.open(archive, "r:*") as tar:
            total, limit = 0, unpack_limit()
            for member in tar:  # sizes come from the headers, read as the stream goes: nothing unpacked yet
                total += max(member.size, 0)
                if total > limit:
                    raise DatasetUnavailable(f"{archive} unpacks to more than {limit:,} bytes; refused "
                                             "(REPORTGEN_UNPACK_LIMIT sets the limit)")
            root.mkdir(parents=True, exist_ok=True)
            tar.extractall(tmp, filter="data")  # refuses absolute paths, "..", links out of tmp, devices
        if not (tmp / fmt.folder).is_dir():
            raise DatasetUnavailable(f"{archive} does not contain a {fmt.folder}/ folder; "
                                     f"is it the Python version of {fmt.title} ({fmt.archive})?")
        (tmp / fmt.folder).rename(root / fmt.folder)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DatasetUnavailable(f"cannot extract {archive}: {exc}. The archive is corrupt or incomplete; "
                                 f"download {fmt.archive} again from {fmt.page}.") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _missing(folder: Path, fmt: CifarFormat) -> list[str]:
    """The format's files absent from folder."""
    return [f for f in fmt.files if not (folder / f).is_file()]


def _download(root: Path, fmt: CifarFormat) -> str | None:
    """Try to download (md5-checked) and safely extract the archive into root; return the failure reason, or None."""
    try:
        from torchvision.datasets.utils import download_url

        download_url(fmt.url, str(root), filename=fmt.archive, md5=fmt.md5)
        if not (root / fmt.folder).exists():
            _safe_extract(root / fmt.archive, root, fmt)
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot download"
        return f"{type(exc).__name__}: {exc}"
    return None


def unavailable_message(fmt: CifarFormat, root: Path, folder: Path, missing: list[str],
                        download_error: str | None) -> str:
    """One paragraph saying what is missing and the ways to get it."""
    what = (f"the folder {folder} does not exist" if not folder.is_dir()
            else f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing from {folder}")
    tried = (f" Downloading failed ({download_error})." if download_error
             else " Or set `download: true` under `dataset:` when this machine has network access.")
    return (f"{fmt.title} files not found: {what}. Download {fmt.archive} from {fmt.page} and put it in {root} "
            f"(it is extracted automatically), or extract it yourself so that {folder}/ exists.{tried} "
            "Or run with --smoke to try the manifest on synthetic images.")


def locate(spec: DatasetSpec, root: Path, smoke: bool) -> tuple[Path, list[str], str | None]:
    """Find (extracting or downloading if allowed) the data folder; return it, missing files, download error."""
    fmt = cifar_format(spec)
    folder, archive = root / fmt.folder, root / fmt.archive
    if not folder.exists() and archive.is_file():
        folder = unpack_root(root) / fmt.folder
        if not folder.exists():
            _safe_extract(archive, unpack_root(root), fmt)
    error = _download(root, fmt) if _missing(folder, fmt) and spec.download and not smoke else None
    return folder, _missing(folder, fmt), error
