"""Tests for the dataset stage (reportgen.data)."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from reportgen.data.load import CIFAR10_CLASSES, DatasetSplits, load_dataset
from reportgen.errors import DatasetUnavailable
from reportgen.manifest.schema import DatasetSpec
from reportgen.report.wording.describe import source_text

PER_BATCH = 20
META_NAMES = [f"class_{i}" for i in range(10)]


def _batch(seed: int, n: int = PER_BATCH) -> dict:
    """A CIFAR-format batch dict with bytes keys: uint8 (n, 3072) data, labels cycling 0..9."""
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"test batch", b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in (np.arange(n) + seed) % 10], b"filenames": [b"x.png"] * n}


def _write_cifar(folder: Path) -> dict[str, dict]:
    """Write a tiny CIFAR-10 python-format folder; return the batches written."""
    folder.mkdir(parents=True)
    batches = {f"data_batch_{i}": _batch(i) for i in range(1, 6)}
    batches["test_batch"] = _batch(99)
    for name, d in batches.items():
        with open(folder / name, "wb") as fh:
            pickle.dump(d, fh, protocol=2)
    with open(folder / "batches.meta", "wb") as fh:
        pickle.dump({b"label_names": [n.encode() for n in META_NAMES], b"num_vis": 3072}, fh)
    return batches


@pytest.fixture
def cifar(tmp_path: Path) -> tuple[Path, dict[str, dict]]:
    batches = _write_cifar(tmp_path / "data" / "cifar10" / "cifar-10-batches-py")
    return tmp_path, batches


def _all_rows(batches: dict[str, dict], names: list[str]) -> np.ndarray:
    return np.concatenate([batches[n][b"data"] for n in names])


def _rows_of(x: torch.Tensor) -> np.ndarray:
    return x.numpy().reshape(len(x), -1)


def _check_splits(d: DatasetSplits, shape: tuple[int, int, int]) -> None:
    for x, y in ((d.train_x, d.train_y), (d.val_x, d.val_y), (d.test_x, d.test_y)):
        assert x.dtype == torch.uint8 and y.dtype == torch.int64
        assert tuple(x.shape[1:]) == shape and len(x) == len(y)
    assert len(d.mean) == len(d.std) == shape[0]
    assert all(isinstance(v, float) for v in d.mean + d.std) and min(d.std) >= 1e-6


# ---------------------------------------------------------------- digits

def test_digits_default_splits():
    d = load_dataset(DatasetSpec(name="digits"), Path("."))
    _check_splits(d, (1, 8, 8))
    assert d.name == "digits" and d.classes == [str(i) for i in range(10)] and not d.synthetic
    assert sum(d.sizes().values()) == 1797
    assert d.sizes()["test"] == 360 and d.sizes()["validation"] == round(0.1 * (1797 - 360))
    for y in (d.train_y, d.val_y, d.test_y):
        assert set(y.tolist()) == set(range(10))
    assert int(d.train_x.max()) == 255 and int(d.train_x.min()) == 0
    assert d.source == {"kind": "digits", "images": 1797}
    assert source_text(d.source) == "scikit-learn bundled digits (1,797 images)"
    x = d.train_x.double() / 255
    assert d.mean[0] == pytest.approx(x.mean().item(), abs=1e-12)
    assert d.std[0] == pytest.approx(x.std(unbiased=False).item(), abs=1e-12)


def test_digits_resized_three_channels():
    d = load_dataset(DatasetSpec(name="digits", image_size=16, channels=3), Path("."))
    _check_splits(d, (3, 16, 16))
    assert torch.equal(d.train_x[:, 0], d.train_x[:, 1]) and torch.equal(d.train_x[:, 0], d.train_x[:, 2])
    assert d.mean[0] == d.mean[1] == d.mean[2]


def test_digits_fingerprint_deterministic_and_seeded():
    a = load_dataset(DatasetSpec(name="digits"), Path("."))
    b = load_dataset(DatasetSpec(name="digits"), Path("."))
    c = load_dataset(DatasetSpec(name="digits", seed=7), Path("."))
    assert len(a.fingerprint()) == 64 and a.fingerprint() == b.fingerprint()
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)
    assert c.fingerprint() != a.fingerprint()


def test_digits_smoke_caps_each_split():
    d = load_dataset(DatasetSpec(name="digits"), Path("."), smoke=True, smoke_limit=100)
    assert d.sizes() == {"train": 100, "validation": 100, "test": 100}
    assert set(d.train_y.tolist()) == set(range(10)) and not d.synthetic


# ---------------------------------------------------------------- CIFAR-10 on disk

def test_cifar_round_trip(cifar):
    base, batches = cifar
    d = load_dataset(DatasetSpec(name="cifar10", val_fraction=0.2), base)
    _check_splits(d, (3, 32, 32))
    assert d.classes == META_NAMES and not d.synthetic
    assert d.sizes() == {"train": 80, "validation": 20, "test": 20}
    assert d.source == {"kind": "cifar", "format": "CIFAR-10", "path": "data/cifar10/cifar-10-batches-py", "labels": None}
    assert source_text(d.source) == "CIFAR-10 from data/cifar10/cifar-10-batches-py"
    # test split: the official test batch in file order, CHW layout (1024 R, then G, then B)
    raw = batches["test_batch"][b"data"]
    assert np.array_equal(d.test_x.numpy(), raw.reshape(-1, 3, 32, 32))
    assert d.test_x[3, 1, 0, 5].item() == raw[3, 1024 + 5]
    assert d.test_y.tolist() == batches["test_batch"][b"labels"]
    # train + validation: exactly the 100 training rows, each with its own label
    train_names = [f"data_batch_{i}" for i in range(1, 6)]
    rows = {r.tobytes(): lab for r, lab in zip(_all_rows(batches, train_names),
                                                sum((batches[n][b"labels"] for n in train_names), []))}
    seen = [(r.tobytes(), int(lab)) for x, y in ((d.train_x, d.train_y), (d.val_x, d.val_y))
            for r, lab in zip(_rows_of(x), y)]
    assert sorted(k for k, _ in seen) == sorted(rows) and all(rows[k] == lab for k, lab in seen)
    assert set(d.val_y.tolist()) == set(range(10))


def test_cifar_grayscale_and_resize(cifar):
    base, batches = cifar
    d = load_dataset(DatasetSpec(name="cifar10", channels=1, image_size=16), base)
    _check_splits(d, (1, 16, 16))
    rgb = torch.from_numpy(batches["test_batch"][b"data"].reshape(-1, 3, 32, 32)).double()
    lum = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).mean()
    assert d.test_x.double().mean().item() == pytest.approx(lum.item(), abs=1.0)


def test_cifar_from_tarball(tmp_path):
    src = tmp_path / "src"
    batches = _write_cifar(src / "cifar-10-batches-py")
    root = tmp_path / "datasets"
    root.mkdir()
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    d = load_dataset(DatasetSpec(name="cifar10", root="datasets"), tmp_path)
    assert (root / "cifar-10-batches-py" / "data_batch_1").is_file()
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []
    assert np.array_equal(d.test_x.numpy().reshape(20, -1), batches["test_batch"][b"data"])


def test_cifar_missing_files_message(tmp_path):
    spec = DatasetSpec(name="cifar10", root="nowhere")
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset(spec, tmp_path)
    msg = str(err.value)
    assert "cifar-10-python.tar.gz" in msg and str((tmp_path / "nowhere").resolve()) in msg
    assert "--smoke" in msg and "download: true" in msg and "\n" not in msg


def test_cifar_partial_folder_names_missing_files(cifar):
    base, _ = cifar
    (base / "data" / "cifar10" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DatasetUnavailable, match="data_batch_3"):
        load_dataset(DatasetSpec(name="cifar10"), base)


def test_cifar_corrupt_batch(cifar):
    base, _ = cifar
    (base / "data" / "cifar10" / "cifar-10-batches-py" / "data_batch_2").write_bytes(b"\x80\x02}q\x00garbage")
    with pytest.raises(DatasetUnavailable, match="data_batch_2"):
        load_dataset(DatasetSpec(name="cifar10"), base)


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_malicious_pickle_refused(cifar, tmp_path):
    base, _ = cifar
    marker = tmp_path / "pwned"
    with open(base / "data" / "cifar10" / "cifar-10-batches-py" / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": _Evil(marker), b"labels": [0]}, fh)
    with pytest.raises(DatasetUnavailable, match="refusing to unpickle .*system.* from .*data_batch_1"):
        load_dataset(DatasetSpec(name="cifar10"), base)
    assert not marker.exists()


def test_numpy_protocol5_pickles_load(cifar):
    base, batches = cifar
    folder = base / "data" / "cifar10" / "cifar-10-batches-py"
    d4 = {**batches["data_batch_4"], b"labels": list(np.asarray(batches["data_batch_4"][b"labels"]))}  # numpy ints
    (folder / "data_batch_4").write_bytes(pickle.dumps(d4, protocol=5))
    d = load_dataset(DatasetSpec(name="cifar10"), base)
    assert sum(d.sizes().values()) == 120


def test_numpy1_module_names_load(cifar):
    base, batches = cifar
    folder = base / "data" / "cifar10" / "cifar-10-batches-py"
    raw = pickle.dumps(batches["test_batch"], protocol=2)
    assert b"numpy._core.multiarray" in raw
    (folder / "test_batch").write_bytes(raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    d = load_dataset(DatasetSpec(name="cifar10"), base)
    assert np.array_equal(d.test_x.numpy().reshape(20, -1), batches["test_batch"][b"data"])


def test_cifar_smoke_caps_present_files(cifar):
    base, _ = cifar
    d = load_dataset(DatasetSpec(name="cifar10"), base, smoke=True, smoke_limit=15)
    assert d.sizes() == {"train": 15, "validation": 10, "test": 15} and not d.synthetic
    assert d.source["smoke_limit"] == 15 and "smoke subset of at most 15" in source_text(d.source)


# ---------------------------------------------------------------- synthetic smoke data

def test_smoke_synthetic_when_missing(tmp_path):
    spec = DatasetSpec(name="cifar10", root="absent", download=True, image_size=16)
    d = load_dataset(spec, tmp_path, smoke=True)
    _check_splits(d, (3, 16, 16))
    assert d.synthetic and d.classes == CIFAR10_CLASSES
    assert all(n <= 256 for n in d.sizes().values()) and set(d.train_y.tolist()) == set(range(10))
    assert d.source == {"kind": "synthetic", "missing": "CIFAR-10", "path": "absent/cifar-10-batches-py"}
    assert source_text(d.source).startswith("synthetic images (smoke build; CIFAR-10 files not found in absent")
    assert not (tmp_path / "absent").exists()  # no download attempted
    again = load_dataset(spec, tmp_path, smoke=True)
    assert again.fingerprint() == d.fingerprint()
    assert load_dataset(spec.model_copy(update={"seed": 1}), tmp_path, smoke=True).fingerprint() != d.fingerprint()


def test_synthetic_is_learnable(tmp_path):
    d = load_dataset(DatasetSpec(name="cifar10", root="absent", channels=1, image_size=8), tmp_path, smoke=True)
    x, y = d.train_x.double().flatten(1), d.train_y
    centroids = torch.stack([x[y == k].mean(0) for k in range(10)])
    pred = torch.cdist(d.test_x.double().flatten(1), centroids).argmin(1)
    assert (pred == d.test_y).double().mean().item() > 0.9
