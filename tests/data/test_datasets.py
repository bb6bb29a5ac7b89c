"""MNIST, Fashion-MNIST, SVHN and STL-10: tiny files written in the published formats, read back through torchvision's
readers; splits, class names, missing-file messages, smoke builds without the files, and grey images fed to RGB
networks by channel repetition."""

from __future__ import annotations

import datetime
import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from pydantic import ValidationError

from reportgen.data.load import load_dataset
from reportgen.data.torchvision_sets import FASHION_MNIST_CLASSES, STL10_CLASSES
from reportgen.errors import DatasetUnavailable
from reportgen.manifest.schema import DatasetSpec
from reportgen.run.input_pipeline import InputPipeline

from conftest import cli
from manifests import MOB, SMALL, manifest_text, variant

N_TRAIN, N_TEST = 50, 20  # 5 training images per class: a stratified 0.2 validation split holds one of each
DIGITS = [str(i) for i in range(10)]


def _idx(path: Path, a: np.ndarray, gz: bool) -> Path:
    """Write a uint8 IDX file (magic 0x0000080N, big-endian dimensions), gzipped as FILE.gz or not."""
    data = struct.pack(">I", 0x0800 | a.ndim) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()
    path = path.with_name(path.name + ".gz") if gz else path
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _labels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.arange(n) % 10).astype(np.uint8)


def _write_mnist(raw: Path, gz: bool = False, labels_gz: bool | None = None) -> dict[str, np.ndarray]:
    """The four MNIST files of N_TRAIN and N_TEST random 28×28 images in raw/; returns what was written."""
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    out = {}
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        out[f"{prefix}_x"] = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        out[f"{prefix}_y"] = _labels(n, n)
        _idx(raw / f"{prefix}-images-idx3-ubyte", out[f"{prefix}_x"], gz)
        _idx(raw / f"{prefix}-labels-idx1-ubyte", out[f"{prefix}_y"], gz if labels_gz is None else labels_gz)
    return out


def _write_svhn(root: Path) -> dict[str, np.ndarray]:
    """train_32x32.mat and test_32x32.mat in SVHN's layout: X (32, 32, 3, N) uint8, y (N, 1) with 10 for the 0s."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, size=(32, 32, 3, n), dtype=np.uint8)
        digits = _labels(n, n + 1)
        scipy.io.savemat(root / f"{split}_32x32.mat", {"X": x, "y": np.where(digits == 0, 10, digits)[:, None]})
        out[f"{split}_x"], out[f"{split}_y"] = x, digits
    return out


def _write_stl10(root: Path, names: list[str] | None = STL10_CLASSES) -> dict[str, np.ndarray]:
    """stl10_binary/ as torchvision reads it: column-major 3×96×96 uint8 images, labels 1..10, class_names.txt."""
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    out = {}
    for split, n in (("train", N_TRAIN), ("test", N_TEST)):
        x = rng.integers(0, 256, size=(n, 3, 96, 96), dtype=np.uint8)
        y = _labels(n, n + 2)
        (folder / f"{split}_X.bin").write_bytes(np.ascontiguousarray(x.transpose(0, 1, 3, 2)).tobytes())
        (folder / f"{split}_y.bin").write_bytes((y + 1).tobytes())
        out[f"{split}_x"], out[f"{split}_y"] = x, y
    if names is not None:
        (folder / "class_names.txt").write_text("".join(f"{n}\n" for n in names))
    return out


def _error(spec: DatasetSpec, base: Path) -> str:
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset(spec, base)
    return str(err.value)


def _check_train_val(d, x: np.ndarray, y: np.ndarray) -> None:
    """train + validation hold exactly the written training images, each with its own label, split 40/10."""
    assert d.sizes()["train"] == N_TRAIN - N_TRAIN // 5 and d.sizes()["validation"] == N_TRAIN // 5
    written = {img.tobytes(): int(lab) for img, lab in zip(x, y)}
    seen = [(img.tobytes(), int(lab)) for xs, ys in ((d.train_x, d.train_y), (d.val_x, d.val_y))
            for img, lab in zip(xs.numpy(), ys)]
    assert sorted(k for k, _ in seen) == sorted(written) and all(written[k] == lab for k, lab in seen)
    assert set(d.val_y.tolist()) == set(range(10))


# ---------------------------------------------------------------- MNIST and Fashion-MNIST

@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_mnist_reads_idx_files(tmp_path, gz):
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    written = _write_mnist(raw, gz=gz)
    before = sorted(p.name for p in raw.iterdir())
    d = load_dataset(DatasetSpec(name="mnist", val_fraction=0.2), tmp_path)
    assert d.classes == DIGITS and not d.synthetic and d.train_x.shape[1:] == (1, 28, 28)
    assert d.train_x.dtype == torch.uint8 and d.test_y.dtype == torch.int64
    assert np.array_equal(d.test_x.numpy()[:, 0], written["t10k_x"]) and d.test_y.tolist() == written["t10k_y"].tolist()
    _check_train_val(d, written["train_x"][:, None], written["train_y"])
    assert d.source == {"kind": "torchvision", "format": "MNIST", "path": "data/mnist/MNIST/raw"}
    assert d.info["original_sizes"] == {"28×28": N_TRAIN + N_TEST}
    assert d.mean[0] == pytest.approx(d.train_x.double().mean().item() / 255, abs=1e-9) and len(d.std) == 1
    assert sorted(p.name for p in raw.iterdir()) == before  # nothing decompressed into the data folder


def test_fashion_mnist_mixed_gzip_and_class_names(tmp_path):
    written = _write_mnist(tmp_path / "fm" / "FashionMNIST" / "raw", gz=True, labels_gz=False)
    d = load_dataset(DatasetSpec(name="fashion_mnist", root="fm", val_fraction=0.2, seed=3), tmp_path)
    assert d.classes == FASHION_MNIST_CLASSES and d.classes[0] == "T-shirt/top" and d.classes[9] == "Ankle boot"
    assert d.test_y.tolist() == written["t10k_y"].tolist()
    assert d.source == {"kind": "torchvision", "format": "Fashion-MNIST", "path": "fm/FashionMNIST/raw"}
    other = load_dataset(DatasetSpec(name="fashion_mnist", root="fm", val_fraction=0.2, seed=4), tmp_path)
    assert not torch.equal(other.val_x, d.val_x) and other.fingerprint() != d.fingerprint()


def test_mnist_missing_files_say_where_to_put_them(tmp_path):
    msg = _error(DatasetSpec(name="mnist", root="nowhere"), tmp_path)
    raw = (tmp_path / "nowhere" / "MNIST" / "raw").resolve()
    assert msg.startswith(f"MNIST files not found: the folder {raw} does not exist")
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg and f"put them in {raw}/" in msg
    assert "`root: nowhere` under `dataset:`" in msg and "--smoke" in msg and "\n" not in msg
    assert "download: true" not in msg
    default = _error(DatasetSpec(name="fashion_mnist"), tmp_path)
    assert str(tmp_path / "data" / "fashion_mnist" / "FashionMNIST" / "raw") in default
    assert "the default data/fashion_mnist, as `root:` is not set under `dataset:`" in default


def test_mnist_partial_and_misplaced_files_are_named(tmp_path):
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    _write_mnist(raw, gz=True)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    msg = _error(DatasetSpec(name="mnist"), tmp_path)
    assert f"t10k-labels-idx1-ubyte is missing from {raw}." in msg and "train-images-idx3-ubyte is" not in msg
    flat = tmp_path / "flat"
    _write_mnist(flat)
    msg = _error(DatasetSpec(name="mnist", root="flat"), tmp_path)
    assert f"are in {flat} itself: move them into {flat / 'MNIST' / 'raw'}/." in msg


def test_mnist_corrupt_and_out_of_range_files_name_the_file(tmp_path):
    raw = tmp_path / "data" / "mnist" / "MNIST" / "raw"
    _write_mnist(raw, gz=True)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x03garbage"))
    with pytest.raises(DatasetUnavailable, match=r"cannot read MNIST file .*train-images-idx3-ubyte\.gz"):
        load_dataset(DatasetSpec(name="mnist"), tmp_path)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DatasetUnavailable, match=r"train-images-idx3-ubyte\.gz"):
        load_dataset(DatasetSpec(name="mnist"), tmp_path)
    _write_mnist(raw, gz=True)
    _idx(raw / "t10k-labels-idx1-ubyte", np.full(N_TEST, 12, dtype=np.uint8), gz=True)
    with pytest.raises(DatasetUnavailable, match=r"t10k-labels-idx1-ubyte\.gz: labels range 12..12, expected 0..9"):
        load_dataset(DatasetSpec(name="mnist"), tmp_path)


# ---------------------------------------------------------------- SVHN and STL-10

def test_svhn_mat_files_map_ten_to_zero(tmp_path):
    written = _write_svhn(tmp_path / "data" / "svhn")
    d = load_dataset(DatasetSpec(name="svhn", val_fraction=0.2), tmp_path)
    assert d.classes == DIGITS and d.train_x.shape[1:] == (3, 32, 32) and len(d.mean) == 3
    assert d.test_y.tolist() == written["test_y"].tolist() and 0 in d.test_y.tolist()
    x = written["test_x"]
    assert d.test_x[4, 2, 7, 11].item() == x[7, 11, 2, 4]  # image 4, blue, row 7, column 11
    assert np.array_equal(d.test_x.numpy(), x.transpose(3, 2, 0, 1))
    _check_train_val(d, written["train_x"].transpose(3, 2, 0, 1), written["train_y"])
    assert d.source == {"kind": "torchvision", "format": "SVHN", "path": "data/svhn"}


def test_svhn_missing_and_bad_labels(tmp_path):
    root = tmp_path / "data" / "svhn"
    _write_svhn(root)
    (root / "test_32x32.mat").unlink()
    msg = _error(DatasetSpec(name="svhn"), tmp_path)
    assert f"test_32x32.mat is missing from {root}." in msg and f"put them in {root}/" in msg
    assert "ufldl.stanford.edu/housenumbers" in msg and "(the folder of the default data/svhn, as `root:`" in msg
    scipy.io.savemat(root / "test_32x32.mat", {"X": np.zeros((32, 32, 3, 4), np.uint8), "y": np.full((4, 1), 11)})
    assert "labels range 11..11, expected 1..10 (10 for the digit 0)" in _error(DatasetSpec(name="svhn"), tmp_path)
    (root / "test_32x32.mat").write_bytes(b"MATLAB? no")
    assert f"cannot read SVHN file {root / 'test_32x32.mat'}" in _error(DatasetSpec(name="svhn"), tmp_path)


def test_stl10_binaries_column_major_labels_one_to_ten(tmp_path):
    written = _write_stl10(tmp_path / "data" / "stl10")
    d = load_dataset(DatasetSpec(name="stl10", val_fraction=0.2), tmp_path)
    assert d.classes == STL10_CLASSES and d.train_x.shape[1:] == (3, 96, 96)
    assert np.array_equal(d.test_x.numpy(), written["test_x"]) and d.test_y.tolist() == written["test_y"].tolist()
    _check_train_val(d, written["train_x"], written["train_y"])
    assert d.source == {"kind": "torchvision", "format": "STL-10", "path": "data/stl10/stl10_binary"}
    assert d.info["original_sizes"] == {"96×96": N_TRAIN + N_TEST}


def test_stl10_class_names_file_or_the_published_list(tmp_path):
    names = [f"kind {i}" for i in range(10)]
    _write_stl10(tmp_path / "own", names)
    assert load_dataset(DatasetSpec(name="stl10", root="own"), tmp_path).classes == names
    _write_stl10(tmp_path / "bare", None)
    assert load_dataset(DatasetSpec(name="stl10", root="bare"), tmp_path).classes == STL10_CLASSES
    (tmp_path / "bare" / "stl10_binary" / "class_names.txt").write_text("only\ntwo\n")
    assert "expected 10 distinct class names" in _error(DatasetSpec(name="stl10", root="bare"), tmp_path)


def test_stl10_missing_and_bad_files(tmp_path):
    msg = _error(DatasetSpec(name="stl10"), tmp_path)
    folder = tmp_path / "data" / "stl10" / "stl10_binary"
    assert f"the folder {folder} does not exist" in msg and "stl10_binary.tar.gz" in msg
    assert f"extract it in {folder.parent}/" in msg and "unlabeled_X.bin is not used" in msg
    _write_stl10(tmp_path / "data" / "stl10")
    (folder / "train_y.bin").unlink()
    assert f"train_y.bin is missing from {folder}" in _error(DatasetSpec(name="stl10"), tmp_path)
    (folder / "train_y.bin").write_bytes(np.zeros(N_TRAIN, np.uint8).tobytes())
    assert "train_y.bin: labels range 0..0, expected 1..10" in _error(DatasetSpec(name="stl10"), tmp_path)
    (folder / "train_X.bin").write_bytes(b"\x00" * 1000)
    assert "cannot read STL-10 file" in _error(DatasetSpec(name="stl10"), tmp_path)


# ---------------------------------------------------------------- schema and smoke data

def test_native_shapes_and_download_refused():
    shapes = {n: (DatasetSpec(name=n).input_shape(), DatasetSpec(name=n).num_classes())
              for n in ("mnist", "fashion_mnist", "svhn", "stl10")}
    assert shapes == {"mnist": ((1, 28, 28), 10), "fashion_mnist": ((1, 28, 28), 10), "svhn": ((3, 32, 32), 10),
                      "stl10": ((3, 96, 96), 10)}
    assert DatasetSpec(name="mnist", channels=3, image_size=32).input_shape() == (3, 32, 32)
    with pytest.raises(ValidationError, match="`download` applies to cifar10 and cifar100 only"):
        DatasetSpec(name="svhn", download=True)


@pytest.mark.parametrize("name,shape,classes,missing,path", [
    ("mnist", (1, 28, 28), DIGITS, "MNIST", "data/mnist/MNIST/raw"),
    ("fashion_mnist", (1, 28, 28), FASHION_MNIST_CLASSES, "Fashion-MNIST", "data/fashion_mnist/FashionMNIST/raw"),
    ("svhn", (3, 32, 32), DIGITS, "SVHN", "data/svhn"),
    ("stl10", (3, 96, 96), STL10_CLASSES, "STL-10", "data/stl10/stl10_binary"),
])
def test_smoke_without_files_is_synthetic(tmp_path, name, shape, classes, missing, path):
    d = load_dataset(DatasetSpec(name=name), tmp_path, smoke=True, smoke_limit=40)
    assert d.synthetic and d.classes == classes and d.train_x.shape == (40, *shape)
    assert d.source == {"kind": "synthetic", "missing": missing, "path": path}
    assert not (tmp_path / "data").exists()


def test_smoke_with_files_reads_a_capped_subset(tmp_path):
    _write_mnist(tmp_path / "data" / "mnist" / "MNIST" / "raw", gz=True)
    d = load_dataset(DatasetSpec(name="mnist", val_fraction=0.2), tmp_path, smoke=True, smoke_limit=20)
    assert not d.synthetic and d.sizes() == {"train": 20, "validation": 10, "test": 20}
    assert d.source["kind"] == "torchvision" and d.source["smoke_limit"] == 20


def test_grey_batches_fill_every_channel_of_an_rgb_pipeline():
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    pipe = InputPipeline([0.2], [0.5], torch.device("cpu"), size=32, channels=3)
    out = pipe(x)
    assert out.shape == (4, 3, 32, 32)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    grey = InputPipeline([0.2], [0.5], torch.device("cpu"), size=32)(x)
    assert torch.allclose(out[:, :1], grey)


# ---------------------------------------------------------------- builds

MNIST = variant(SMALL, report={"title": "Tiny MNIST", "course": "EN0000 Testing", "date": datetime.date(2024, 3, 1)},
                dataset={"name": "mnist", "val_fraction": 0.2, "seed": 5, "image_size": None, "channels": None},
                models={"cnn": {"layers": [{"conv": {"out": 4, "kernel": 3, "padding": "same"}}, "relu",
                                           {"maxpool": 4}, "flatten", {"linear": "classes"}]}, "mob": MOB},
                train={"batch_size": 16, "seed": None})
TWO_RUNS = [{"id": "grey", "model": "cnn"}, {"id": "rgb_net", "model": "mob"}]
EVERY_DATASET = [{"id": n, "model": "cnn", "dataset": {"name": n}} for n in ("mnist", "fashion_mnist", "svhn", "stl10")]


@pytest.mark.slow
def test_build_on_a_written_mnist_set_repeats_the_channel_for_the_rgb_network(tmp_path):
    written = _write_mnist(tmp_path / "data" / "mnist" / "MNIST" / "raw", gz=True)
    text = manifest_text(MNIST, experiments=TWO_RUNS, sections=["cover", "training", "evaluation", "provenance"])
    (tmp_path / "tiny.yaml").write_text(text, "utf-8")
    result = cli("build", tmp_path / "tiny.yaml", "--no-pdf", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    r = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    assert r["dataset"]["source"] == {"kind": "torchvision", "format": "MNIST", "path": "data/mnist/MNIST/raw"}
    assert r["dataset"]["classes"] == DIGITS and r["dataset"]["sizes"] == {"train": 40, "validation": 10, "test": 20}
    grey, rgb = r["runs"]["grey"], r["runs"]["rgb_net"]
    assert grey["input"]["shape"] == [1, 28, 28] and grey["input"]["channels_repeated"] is False
    assert rgb["input"]["shape"] == [3, 16, 16] and rgb["input"]["channels_repeated"] is True
    assert rgb["input"]["resized"] is True
    for run in (grey, rgb):
        assert run["status"] == "completed"
        assert [sum(row) for row in run["test"]["confusion_matrix"]] == np.bincount(written["t10k_y"]).tolist()
    assert (tmp_path / "out" / "report.html").is_file() and not (tmp_path / "out" / "report.pdf").exists()


@pytest.mark.slow
def test_smoke_build_of_every_new_dataset_without_files(tmp_path):
    (tmp_path / "all.yaml").write_text(manifest_text(MNIST, experiments=EVERY_DATASET, sections=["cover"]), "utf-8")
    result = cli("build", tmp_path / "all.yaml", "--smoke", "--no-pdf", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    runs = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))["runs"]
    missing = {n: runs[n]["dataset"]["source"]["missing"] for n in runs}
    assert missing == {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "svhn": "SVHN", "stl10": "STL-10"}
    assert runs["fashion_mnist"]["dataset"]["classes"] == FASHION_MNIST_CLASSES
    assert runs["stl10"]["input"]["shape"] == [3, 96, 96] and runs["svhn"]["input"]["shape"] == [3, 32, 32]
    assert all(run["status"] == "completed" for run in runs.values())
    assert not (tmp_path / "data").exists()


@pytest.mark.slow
def test_the_fashion_mnist_manifest_builds_for_real_once_the_idx_files_are_placed(tmp_path):
    import shutil

    from bs4 import BeautifulSoup

    from conftest import REPO

    shutil.copy(REPO / "experiments" / "fashion-mnist.yaml", tmp_path / "exp.yaml")
    shutil.copytree(REPO / "experiments" / "fashion-mnist", tmp_path / "fashion-mnist")
    # root: ../data/fashion_mnist, relative to the manifest, as the README says to place the files
    (tmp_path / "m").mkdir()
    shutil.move(tmp_path / "exp.yaml", tmp_path / "m" / "fashion-mnist.yaml")
    shutil.move(tmp_path / "fashion-mnist", tmp_path / "m" / "fashion-mnist")
    _write_mnist(tmp_path / "data" / "fashion_mnist" / "FashionMNIST" / "raw", gz=True)
    result = cli("build", tmp_path / "m" / "fashion-mnist.yaml", "--set", "train.epochs=2", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "imports fashion-mnist/small_resnet.py and runs its code" in result.output
    r = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))
    assert r["dataset"]["classes"] == FASHION_MNIST_CLASSES and r["dataset"]["source"]["format"] == "Fashion-MNIST"
    assert [run["status"] for run in r["runs"].values()] == ["completed"] * 3
    layered, module = r["models"]["residual_cnn"], r["models"]["residual_module"]
    assert layered["total_params"] == module["total_params"] < r["models"]["plain_cnn"]["total_params"]
    assert [x["params"] for x in layered["layers"] if x["params"]] == [x["params"] for x in module["layers"] if x["params"]]
    for run in r["runs"].values():
        assert run["config"]["schedule"]["name"] == "plateau" and run["config"]["checkpoint"] == "best"
        # the epoch of lowest validation loss (the first of equals) is the one whose weights were tested
        assert run["best_epoch"] == min(run["epochs"], key=lambda e: e["val_loss"])["epoch"]
    assert len(r["paired"][0]["pairs"]) == 3
    soup = BeautifulSoup((tmp_path / "out" / "report.html").read_text("utf-8"), "html.parser")
    assert soup.select("section.comparison table.pairs tbody tr")
    # the PDF carries the residual blocks' sums, the new training options and the module's class
    from pypdf import PdfReader

    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(str(tmp_path / "out" / "report.pdf")).pages)
    res2 = next(g for g in layered["groups"] if g["name"] == "res2")
    assert res2["formula"].replace("\xa0", " ") in text.replace("\xa0", " ")
    for words in ("reduce on plateau", "label smoothing 0.1", "clipped to 5", "the lowest validation loss",
                  "The class SmallResNet of fashion-mnist/small_resnet.py", "Paired differences", "T-shirt/top"):
        assert words in text, words
    check = cli("check", tmp_path / "out")
    assert check.exit_code == 0, check.output
