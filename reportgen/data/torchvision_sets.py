"""MNIST, Fashion-MNIST, SVHN and STL-10: their published files in torchvision's folder layout, read by torchvision."""

from __future__ import annotations

import gzip
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reportgen.data.cifar import unpack_limit
from reportgen.errors import DatasetUnavailable
from reportgen.manifest.schema import DatasetSpec

DIGIT_CLASSES = [str(i) for i in range(10)]
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                         "Ankle boot"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class TorchvisionFormat:
    """Where one dataset's files live under `root:` (torchvision's layout), where to get them, its class names."""

    title: str
    subfolder: str  # under root, as torchvision's class expects it ("" = root itself)
    files: tuple[str, ...]  # every file the folder must hold
    gzipped: bool  # each file may also be there as FILE.gz
    page: str
    default_root: str
    classes: tuple[str, ...]
    get: str  # how to obtain the files: a format string of page, root, folder and where (what ROOT is)

    def folder(self, root: Path) -> Path:
        """The folder holding the files."""
        return root / self.subfolder if self.subfolder else root


def _idx(title: str, subfolder: str, page: str, default_root: str, classes: list[str]) -> TorchvisionFormat:
    get = (f"Download {', '.join(f + '.gz' for f in IDX_FILES)} from {{page}} and put them in {{folder}}/, gzipped "
           f"or not (torchvision's layout ROOT/{subfolder}/, where ROOT is {{root}}: {{where}})")
    return TorchvisionFormat(title, subfolder, IDX_FILES, True, page, default_root, tuple(classes), get)


MNIST = _idx("MNIST", "MNIST/raw", "https://ossci-datasets.s3.amazonaws.com/mnist/ (a mirror of "
             "http://yann.lecun.com/exdb/mnist/)", "data/mnist", DIGIT_CLASSES)
FASHION_MNIST = _idx("Fashion-MNIST", "FashionMNIST/raw", "https://github.com/zalandoresearch/fashion-mnist",
                     "data/fashion_mnist", FASHION_MNIST_CLASSES)
SVHN = TorchvisionFormat("SVHN", "", ("train_32x32.mat", "test_32x32.mat"), False,
                         "http://ufldl.stanford.edu/housenumbers/", "data/svhn", tuple(DIGIT_CLASSES),
                         "Download train_32x32.mat and test_32x32.mat (the cropped digits, format 2; extra_32x32.mat "
                         "is not used) from {page} and put them in {folder}/ (the folder of {where})")
STL10 = TorchvisionFormat("STL-10", "stl10_binary", ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"), False,
                          "https://cs.stanford.edu/~acoates/stl10/", "data/stl10", tuple(STL10_CLASSES),
                          "Download stl10_binary.tar.gz from {page} and extract it in {root}/, so that {folder}/ "
                          "holds train_X.bin, train_y.bin, test_X.bin, test_y.bin and class_names.txt (torchvision's "
                          "layout ROOT/stl10_binary/, where ROOT is {root}: {where}; unlabeled_X.bin is not used)")
FORMATS = {"mnist": MNIST, "fashion_mnist": FASHION_MNIST, "svhn": SVHN, "stl10": STL10}


def dataset_format(spec: DatasetSpec) -> TorchvisionFormat:
    """The on-disk format of spec's dataset."""
    return FORMATS[spec.name]


def class_names(spec: DatasetSpec) -> list[str]:
    """The dataset's published class names (used for synthetic smoke data, where no file is read)."""
    return list(FORMATS[spec.name].classes)


def root_of(spec: DatasetSpec, base_dir: Path) -> Path:
    """The resolved folder `root:` names (or the dataset's default), relative to the manifest's folder."""
    return (Path(base_dir) / (spec.root or dataset_format(spec).default_root)).resolve()


def _present(folder: Path, name: str, fmt: TorchvisionFormat) -> Path | None:
    """The file as it is on disk: plain, else gzipped where the format allows it; None when absent."""
    for path in (folder / name, *([folder / f"{name}.gz"] if fmt.gzipped else [])):
        if path.is_file():
            return path
    return None


def missing(fmt: TorchvisionFormat, root: Path) -> list[str]:
    """The format's files absent from its folder under root."""
    return [f for f in fmt.files if _present(fmt.folder(root), f, fmt) is None]


def unavailable_message(spec: DatasetSpec, root: Path, absent: list[str]) -> str:
    """One paragraph saying which files are missing, where exactly to put them, and the other ways on."""
    fmt = dataset_format(spec)
    folder = fmt.folder(root)
    what = (f"the folder {folder} does not exist" if not folder.is_dir()
            else f"{', '.join(absent)} {'is' if len(absent) == 1 else 'are'} missing from {folder}")
    where = (f"`root: {spec.root}` under `dataset:` in the manifest" if spec.root is not None
             else f"the default {fmt.default_root}, as `root:` is not set under `dataset:` in the manifest")
    misplaced = [f for f in absent if fmt.subfolder and _present(root, f, fmt) is not None]
    moved = (f" {', '.join(misplaced)} {'is' if len(misplaced) == 1 else 'are'} in {root} itself: move "
             f"{'it' if len(misplaced) == 1 else 'them'} into {folder}/." if misplaced else "")
    get = fmt.get.format(page=fmt.page, root=root, folder=folder, where=where)
    return (f"{fmt.title} files not found: {what}.{moved} {get}. "
            "Or run with --smoke to try the manifest on synthetic images.")


def _unreadable(path: Path, title: str, why: str) -> DatasetUnavailable:
    """The error for a file that is there but cannot be read as the dataset's."""
    return DatasetUnavailable(f"cannot read {title} file {path}: {why}. The file is corrupt, truncated or not the "
                              f"{title} file of that name; download it again.")


def _check(paths: tuple[Path, Path], title: str, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...],
           as_written: np.ndarray | None = None, expected: str = "0..9") -> None:
    """x (from paths[0]) must be N uint8 images of shape `shape`, y (from paths[1]) N labels in 0..9."""
    if x.dtype != np.uint8 or tuple(x.shape[1:]) != shape or len(x) != len(y):
        raise _unreadable(paths[0], title, f"expected {len(y):,} uint8 images of shape {shape} (one per label in "
                                           f"{paths[1].name}), found {x.dtype} of shape {tuple(x.shape)}")
    if len(y) and (y.min() < 0 or y.max() >= 10):
        shown = y if as_written is None else as_written  # the range as the file numbers its labels
        raise _unreadable(paths[1], title, f"labels range {int(shown.min())}..{int(shown.max())}, expected {expected}")


def _read_idx(path: Path, reader) -> np.ndarray:
    """One IDX file through torchvision's reader (which takes a path), a .gz decompressed into a temporary file."""
    if path.suffix != ".gz":
        return reader(str(path)).numpy()
    with tempfile.TemporaryDirectory(prefix="reportgen-idx-") as tmp:
        plain = Path(tmp) / path.stem
        limit, written = unpack_limit(), 0
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limit:
                    raise DatasetUnavailable(f"{path} unpacks to more than {limit:,} bytes; refused "
                                             "(REPORTGEN_UNPACK_LIMIT sets the limit)")
                dst.write(chunk)
        return reader(str(plain)).numpy()


def _read_mnist(fmt: TorchvisionFormat, folder: Path) -> tuple[np.ndarray, ...]:
    """(train x, train y, test x, test y) from the four IDX files, plain or gzipped."""
    # torchvision.datasets.MNIST reads only decompressed files (its download step gunzips them); these are the
    # readers its _load_data calls, fed a decompressed copy where the file is gzipped
    from torchvision.datasets.mnist import read_image_file, read_label_file

    out = []
    for prefix in ("train", "t10k"):
        paths = [_present(folder, f"{prefix}-{kind}", fmt) for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]
        arrays = []
        for path, reader in zip(paths, (read_image_file, read_label_file)):
            try:
                arrays.append(_read_idx(path, reader))
            except Exception as exc:  # noqa: BLE001 - torchvision asserts, or fails in view(), on a bad file
                raise _unreadable(path, fmt.title, f"{type(exc).__name__}: {exc}" if str(exc) else
                                  f"not an IDX file ({type(exc).__name__})") from None
        x, y = arrays[0], arrays[1].astype(np.int64)
        _check((paths[0], paths[1]), fmt.title, x, y, (28, 28))
        out += [x[:, None], y]
    return tuple(out)


def _svhn_class():
    from torchvision.datasets import SVHN as TorchvisionSVHN

    class _SVHN(TorchvisionSVHN):
        """torchvision's SVHN reader (it maps label 10 to 0), checking that the file is there."""

        def _check_integrity(self) -> bool:
            # not the official copy's md5: a file in the same layout (a course's subset, a re-saved file) reads alike
            return (Path(self.root) / self.filename).is_file()

    return _SVHN


def _read_svhn(fmt: TorchvisionFormat, folder: Path) -> tuple[np.ndarray, ...]:
    """(train x, train y, test x, test y) from train_32x32.mat and test_32x32.mat."""
    reader, out = _svhn_class(), []
    for split, name in zip(("train", "test"), fmt.files):
        try:
            ds = reader(str(folder), split=split, download=False)
            x, y = np.asarray(ds.data), np.asarray(ds.labels, dtype=np.int64).reshape(-1)
        except Exception as exc:  # noqa: BLE001 - scipy's loadmat, or a .mat without X and y
            raise _unreadable(folder / name, fmt.title, f"{type(exc).__name__}: {exc}; expected X of shape "
                                                        "(32, 32, 3, N) and y of shape (N, 1)") from None
        _check((folder / name,) * 2, fmt.title, x, y, (3, 32, 32), np.where(y == 0, 10, y),
               "1..10 (10 for the digit 0)")
        out += [np.ascontiguousarray(x), y]
    return tuple(out)


def _stl10_class():
    from torchvision.datasets import STL10 as TorchvisionSTL10

    class _STL10(TorchvisionSTL10):
        """torchvision's STL-10 reader, needing only the labelled files."""

        def _check_integrity(self) -> bool:
            # torchvision's also wants the 2.6 GB unlabeled_X.bin and hashes every file on every load
            folder = Path(self.root) / self.base_folder
            return all((folder / name).is_file() for name in STL10.files)

    return _STL10


def _stl10_names(path: Path, names: list[str] | None) -> list[str]:
    """The names read from class_names.txt (blank lines dropped), or the published list when it is absent."""
    if names is None:
        return list(STL10_CLASSES)
    names = [n.strip() for n in names if n.strip()]
    if len(names) != 10 or len(set(names)) != 10:
        raise _unreadable(path, STL10.title, f"expected 10 distinct class names, one a line; found {len(names)}")
    return names


def _read_stl10(fmt: TorchvisionFormat, folder: Path) -> tuple[np.ndarray, ...]:
    """(train x, train y, test x, test y, class names) from the labelled binaries of stl10_binary/."""
    reader, out, names = _stl10_class(), [], None
    for split in ("train", "test"):
        path = folder / f"{split}_X.bin"
        try:
            ds = reader(str(folder.parent), split=split, download=False)
            x, y = np.asarray(ds.data), np.asarray(ds.labels).astype(np.int64)
        except Exception as exc:  # noqa: BLE001 - a file whose size is not a whole number of 3×96×96 images
            raise _unreadable(path, fmt.title, f"{type(exc).__name__}: {exc}") from None
        y = (y + 1) % 256 - 1  # torchvision subtracts 1 from the uint8 labels, so a label 0 wrapped round to 255
        _check((path, folder / f"{split}_y.bin"), fmt.title, x, y, (3, 96, 96), y + 1, "1..10")
        out += [np.ascontiguousarray(x), y]
        names = getattr(ds, "classes", None)
    return (*out, _stl10_names(folder / "class_names.txt", names))


def read(spec: DatasetSpec, root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images, train labels, test images, test labels, class names) as uint8 NCHW and int64."""
    fmt = dataset_format(spec)
    folder = fmt.folder(root)
    if spec.name == "stl10":
        return _read_stl10(fmt, folder)
    reader = _read_svhn if spec.name == "svhn" else _read_mnist
    return (*reader(fmt, folder), list(fmt.classes))
