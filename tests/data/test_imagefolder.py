"""Tests for image-folder datasets (reportgen.imagefolder) and CIFAR-100 (reportgen.cifar), on real files."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reportgen.data import imagefolder
from reportgen.data.cifar import CIFAR100_COARSE_CLASSES, CIFAR100_FINE_CLASSES
from reportgen.data.load import load_dataset
from reportgen.errors import DatasetUnavailable
from reportgen.data.imagefolder import decode_file
from reportgen.manifest.files import scan_classes
from reportgen.manifest.schema import DatasetSpec
from reportgen.report.wording.describe import source_text

CLASSES = ["cat", "dog", "fox", "owl"]
COLOURS = {"cat": (200, 40, 40), "dog": (40, 200, 40), "fox": (40, 40, 200), "owl": (200, 200, 40)}


def _image(path: Path, colour: tuple[int, int, int], size: tuple[int, int], seed: int, **save) -> None:
    """A noisy image of one colour, saved in the format its extension names."""
    rng = np.random.default_rng(seed)
    w, h = size
    pixels = np.clip(np.array(colour) + rng.normal(0, 20, size=(h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save)


def _class_folders(root: Path, per_class: int = 10, classes: list[str] = CLASSES) -> None:
    """Class folders with half 40×30 PNGs and half 32×32 JPEGs."""
    for k, name in enumerate(classes):
        for i in range(per_class):
            png = i % 2 == 0
            _image(root / name / f"{i:03d}.{'png' if png else 'jpg'}", COLOURS.get(name, (120, 120, 120)),
                   (40, 30) if png else (32, 32), seed=100 * k + i)


@pytest.fixture
def pets(tmp_path: Path) -> Path:
    """tmp_path/data/pets: four classes of ten images each."""
    _class_folders(tmp_path / "data" / "pets")
    return tmp_path


def _spec(**kw) -> DatasetSpec:
    base = {"name": "imagefolder", "root": "data/pets", "split": [60, 20, 20], "image_size": 16}
    return DatasetSpec(**{**base, **kw})


def _per_class(y: torch.Tensor, k: int = 4) -> list[int]:
    return torch.bincount(y, minlength=k).tolist()


def _error(spec: DatasetSpec, base: Path, **kw) -> str:
    with pytest.raises(DatasetUnavailable) as err:
        load_dataset(spec, base, **kw)
    return str(err.value)


# ---------------------------------------------------------------- layout, split, sizes

def test_scan_classes_sorted_visible_folders(tmp_path):
    for name in ("zebra", "ant", ".hidden", "moth"):
        (tmp_path / name).mkdir()
    (tmp_path / "notes.txt").write_text("x")
    assert scan_classes(tmp_path) == ["ant", "moth", "zebra"]
    assert scan_classes(tmp_path / "absent") == []


def test_split_ratios_stratified_and_seeded(pets):
    d = load_dataset(_spec(), pets)
    assert d.classes == CLASSES and not d.synthetic
    assert tuple(d.train_x.shape[1:]) == (3, 16, 16) and d.train_x.dtype == torch.uint8
    assert _per_class(d.train_y) == [6] * 4 and _per_class(d.val_y) == [2] * 4 and _per_class(d.test_y) == [2] * 4
    assert d.info["original_sizes"] == {"32×32": 20, "40×30": 20}
    assert d.info["skipped"] == [] and d.info["cache"] is None and d.info["decoded"] == 40
    assert d.source["paths"] == ["data/pets"] and d.source["split"] == {"ratios": [60, 20, 20]}
    assert "image folders from data/pets (40 images, 4 classes; split 60/20/20" in source_text(d.source)
    # images carry their class's colour: the red channel is high for cats only
    red = d.train_x[:, 0].float().mean(dim=(1, 2))
    assert bool((red[d.train_y == 0] > 150).all()) and bool((red[d.train_y == 1] < 100).all())
    again = load_dataset(_spec(), pets)
    assert again.fingerprint() == d.fingerprint() and torch.equal(again.test_x, d.test_x)
    other = load_dataset(_spec(seed=1), pets)
    assert not torch.equal(other.test_x, d.test_x) and _per_class(other.test_y) == [2] * 4


def test_split_ratios_are_normalised(pets):
    d = load_dataset(_spec(split=[0.5, 0.25, 0.25]), pets)
    assert d.fingerprint() == load_dataset(_spec(split=[2, 1, 1]), pets).fingerprint()
    assert d.sizes() == {"train": 20, "validation": 12, "test": 8}  # each class's 10 as 5/3/2 (largest remainder)


def test_classes_listed_order_and_ignored_folders(pets):
    d = load_dataset(_spec(classes=["owl", "cat"]), pets)
    assert d.classes == ["owl", "cat"] and d.sizes() == {"train": 12, "validation": 4, "test": 4}
    red = d.test_x[:, 0].float().mean(dim=(1, 2))
    green = d.test_x[:, 1].float().mean(dim=(1, 2))
    assert bool((green[d.test_y == 0] > 150).all()) and bool((green[d.test_y == 1] < 100).all())
    assert bool((red > 150).all())
    assert d.source["ignored"] == ["dog", "fox"]
    assert "ignored folders not in `classes:`: dog, fox" in source_text(d.source)


def test_extensions_case_insensitive_hidden_skipped(pets):
    root = pets / "data" / "pets"
    _image(root / "cat" / "LOUD.PNG", COLOURS["cat"], (32, 32), 1)
    _image(root / "cat" / "deep" / "nested.Jpeg", COLOURS["cat"], (32, 32), 2, format="JPEG")
    _image(root / "cat" / ".hidden.png", COLOURS["cat"], (32, 32), 3)
    _image(root / "cat" / ".thumbs" / "t.png", COLOURS["cat"], (32, 32), 4)
    (root / "cat" / "readme.txt").write_text("not an image")
    d = load_dataset(_spec(), pets)
    assert sum(d.sizes().values()) == 42 and d.info["skipped"] == []
    only_png = load_dataset(_spec(extensions=["PNG"]), pets)
    assert sum(only_png.sizes().values()) == 21


def test_grayscale_and_validation_on_test(pets):
    d = load_dataset(_spec(channels=1, validation="test"), pets)
    assert tuple(d.train_x.shape[1:]) == (1, 16, 16)
    assert d.sizes() == {"train": 32, "validation": 8, "test": 8} and torch.equal(d.val_x, d.test_x)
    assert sum(d.info["original_sizes"].values()) == 40


def test_exif_rotation_applied_and_upright_size_recorded(tmp_path):
    path = tmp_path / "rotated.jpg"
    pixels = np.zeros((30, 40, 3), dtype=np.uint8)
    pixels[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90° clockwise: the white half ends up on top
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    arr, wh, reason = decode_file(str(path), "L", 8)
    assert reason is None and wh == (30, 40) and arr.shape == (1, 8, 8)
    assert arr[0, :3].mean() > 200 and arr[0, -3:].mean() < 50


# ---------------------------------------------------------------- bad files

def test_corrupt_file_fails_by_default(pets):
    (pets / "data" / "pets" / "dog" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(500))
    msg = _error(_spec(), pets)
    assert "1 unreadable image file" in msg and "data/pets/dog/broken.jpg" in msg and "bad_files: skip" in msg


def test_corrupt_file_skipped_and_reported(pets):
    (pets / "data" / "pets" / "dog" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(500))
    d = load_dataset(_spec(bad_files="skip"), pets)
    assert sum(d.sizes().values()) == 40 and d.info["decoded"] == 41
    assert [s["path"] for s in d.info["skipped"]] == ["data/pets/dog/broken.jpg"] and d.info["skipped"][0]["reason"]
    assert d.source["skipped"] == 1 and "1 unreadable file skipped" in source_text(d.source) and sum(d.info["original_sizes"].values()) == 40


def test_many_bad_files_listed_first_twenty(pets):
    for i in range(25):
        (pets / "data" / "pets" / "fox" / f"bad{i:02d}.png").write_bytes(b"")
    msg = _error(_spec(), pets)
    assert "25 unreadable image files" in msg and "bad19.png" in msg and "bad20.png" not in msg
    assert "and 5 more" in msg


# ---------------------------------------------------------------- decode cache

def test_decode_cache_hit_and_invalidation(pets, tmp_path):
    cache = tmp_path / "out" / "cache"
    first = load_dataset(_spec(), pets, cache_dir=cache)
    assert first.info["cache"] == "miss" and first.info["decoded"] == 40
    assert len(list((cache / "datasets").glob("*.pt"))) == 1
    second = load_dataset(_spec(), pets, cache_dir=cache)
    assert second.info["cache"] == "hit" and second.info["decoded"] == 0
    assert torch.equal(first.train_x, second.train_x) and torch.equal(first.test_y, second.test_y)
    assert second.info["original_sizes"] == first.info["original_sizes"] and second.fingerprint() == first.fingerprint()
    changed = pets / "data" / "pets" / "cat" / "000.png"
    _image(changed, (0, 0, 0), (24, 24), 7)
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = load_dataset(_spec(), pets, cache_dir=cache)
    assert third.info["cache"] == "miss" and third.info["decoded"] == 40
    assert third.info["original_sizes"] == {"32×32": 20, "40×30": 19, "24×24": 1}
    assert third.fingerprint() != first.fingerprint()
    (pets / "data" / "pets" / "owl" / "009.jpg").unlink()
    assert load_dataset(_spec(), pets, cache_dir=cache).info["cache"] == "miss"
    assert load_dataset(_spec(), pets, cache_dir=cache).info["cache"] == "hit"
    assert load_dataset(_spec(image_size=8), pets, cache_dir=cache).info["cache"] == "miss"


def test_corrupt_cache_file_is_rewritten(pets, tmp_path):
    cache = tmp_path / "cache"
    load_dataset(_spec(), pets, cache_dir=cache)
    (cache_file,) = (cache / "datasets").glob("*.pt")
    cache_file.write_bytes(b"not a torch file")
    assert load_dataset(_spec(), pets, cache_dir=cache).info["cache"] == "miss"
    assert load_dataset(_spec(), pets, cache_dir=cache).info["cache"] == "hit"


def test_parallel_decode_matches_serial(tmp_path, monkeypatch):
    _class_folders(tmp_path / "many", per_class=140, classes=["a", "b", "c"])
    spec = DatasetSpec(name="imagefolder", root="many", split=[60, 20, 20], image_size=8)
    parallel = load_dataset(spec, tmp_path)
    monkeypatch.setattr(imagefolder, "PARALLEL_MIN", 10**9)
    serial = load_dataset(spec, tmp_path)
    assert parallel.info["decoded"] == 420 and parallel.fingerprint() == serial.fingerprint()


# ---------------------------------------------------------------- separate roots

def test_separate_train_and_test_roots(tmp_path):
    _class_folders(tmp_path / "train", per_class=10)
    _class_folders(tmp_path / "test", per_class=3)
    spec = DatasetSpec(name="imagefolder", train_root="train", test_root="test", image_size=12, val_fraction=0.2)
    d = load_dataset(spec, tmp_path)
    assert _per_class(d.train_y) == [8] * 4 and _per_class(d.val_y) == [2] * 4 and _per_class(d.test_y) == [3] * 4
    assert d.source["paths"] == ["train", "test"] and d.source["split"] == {"val_fraction": 0.2, "carved_from": "train"} and sum(d.info["original_sizes"].values()) == 52
    for gone in sorted((tmp_path / "train" / "fox").iterdir())[1:]:
        gone.unlink()
    msg = _error(spec, tmp_path)
    assert "class 'fox' has 1 image in train" in msg and "no validation image" in msg
    _class_folders(tmp_path / "train", per_class=10, classes=["fox"])
    (tmp_path / "test" / "owl").rename(tmp_path / "test" / "owls")
    msg = _error(spec, tmp_path)
    assert "'owl'" in msg and str(tmp_path / "test" / "owl") in msg


# ---------------------------------------------------------------- errors before training

def test_missing_root_names_folder_and_layout(tmp_path):
    msg = _error(_spec(root="nowhere"), tmp_path)
    assert str(tmp_path / "nowhere") in msg and "does not exist" in msg and "one sub-folder per class" in msg


def test_empty_class_folder(pets):
    (pets / "data" / "pets" / "empty").mkdir()
    (pets / "data" / "pets" / "empty" / "notes.txt").write_text("x")
    msg = _error(_spec(), pets)
    assert "class folder" in msg and "empty" in msg and "has no images" in msg


def test_fewer_than_two_classes(tmp_path):
    _class_folders(tmp_path / "one", classes=["cat"])
    msg = _error(_spec(root="one"), tmp_path)
    assert "1 class folder (cat)" in msg and "at least two" in msg


def test_listed_class_without_folder(pets):
    msg = _error(_spec(classes=["cat", "unicorn"]), pets)
    assert f"class 'unicorn' has no folder {pets / 'data' / 'pets' / 'unicorn'}" in msg


def test_split_leaving_a_class_without_test_images(pets):
    _class_folders(pets / "data" / "pets", per_class=2, classes=["rare"])
    msg = _error(_spec(), pets)
    assert "class 'rare' has 2 images" in msg and "60/20/20" in msg and "no test image" in msg


def test_skipped_file_leaving_a_class_without_a_split(tmp_path):
    _class_folders(tmp_path / "p", per_class=10, classes=["cat", "dog"])
    for i in range(3):
        (tmp_path / "p" / "dog" / f"{i:03d}.{'png' if i % 2 == 0 else 'jpg'}").write_bytes(b"garbage")
    msg = _error(DatasetSpec(name="imagefolder", root="p", split=[8, 1, 1], image_size=8, bad_files="skip"), tmp_path)
    assert "class 'dog'" in msg and "that Pillow can read" in msg


# ---------------------------------------------------------------- smoke builds

def test_smoke_synthetic_when_folder_missing(tmp_path):
    spec = _spec(root="absent", classes=["a", "b", "c"])
    d = load_dataset(spec, tmp_path, smoke=True, smoke_limit=30)
    assert d.synthetic and d.classes == ["a", "b", "c"] and d.sizes() == {"train": 30, "validation": 30, "test": 30}
    assert tuple(d.train_x.shape[1:]) == (3, 16, 16) and d.source == {"kind": "synthetic", "missing": "image folder", "path": "absent"}
    assert d.info["original_sizes"] == {"16×16": 90}
    msg = _error(_spec(root="absent"), tmp_path, smoke=True)
    assert "`classes: [...]`" in msg and "absent" in msg


def test_smoke_decodes_only_a_stratified_subset(pets):
    d = load_dataset(_spec(), pets, smoke=True, smoke_limit=4)
    assert d.sizes() == {"train": 4, "validation": 4, "test": 4} and not d.synthetic
    assert d.info["decoded"] == 12
    assert _per_class(d.train_y) == [1] * 4 and _per_class(d.test_y) == [1] * 4
    assert load_dataset(_spec(), pets, smoke=True, smoke_limit=4).fingerprint() == d.fingerprint()


# ---------------------------------------------------------------- CIFAR-100 and native sizes

def _cifar100_file(seed: int, n: int) -> dict:
    rng = np.random.default_rng(seed)
    return {"filenames": [f"{i}.png" for i in range(n)], "batch_label": "x",
            "fine_labels": [int(v) for v in (np.arange(n) * 7 + seed) % 100],
            "coarse_labels": [int(v) for v in (np.arange(n) + seed) % 20],
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)}


def _write_cifar100(folder: Path) -> dict[str, dict]:
    folder.mkdir(parents=True)
    files = {"train": _cifar100_file(1, 200), "test": _cifar100_file(2, 40)}
    for name, d in files.items():
        (folder / name).write_bytes(pickle.dumps(d, protocol=4))
    meta = {"fine_label_names": [f"fine_{i}" for i in range(100)],
            "coarse_label_names": [f"coarse_{i}" for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=4))
    return files


def test_cifar100_fine_and_coarse(tmp_path):
    files = _write_cifar100(tmp_path / "data" / "cifar100" / "cifar-100-python")
    fine = load_dataset(DatasetSpec(name="cifar100", val_fraction=0.5), tmp_path)
    assert fine.classes == [f"fine_{i}" for i in range(100)] and fine.sizes() == {"train": 100, "validation": 100,
                                                                                   "test": 40}
    assert fine.test_y.tolist() == files["test"]["fine_labels"]
    assert np.array_equal(fine.test_x.numpy().reshape(40, -1), files["test"]["data"])
    assert fine.info["original_sizes"] == {"32×32": 240} and fine.source["labels"] == "fine"
    coarse = load_dataset(DatasetSpec(name="cifar100", labels="coarse"), tmp_path)
    assert coarse.classes == [f"coarse_{i}" for i in range(20)]
    assert coarse.test_y.tolist() == files["test"]["coarse_labels"]
    assert coarse.fingerprint() != fine.fingerprint()


def test_cifar100_from_tarball_and_missing_message(tmp_path):
    src = tmp_path / "src"
    files = _write_cifar100(src / "cifar-100-python")
    msg = _error(DatasetSpec(name="cifar100", root="c100"), tmp_path)
    assert "CIFAR-100 files not found" in msg and "cifar-100-python.tar.gz" in msg and "kriz/cifar.html" in msg
    (tmp_path / "c100").mkdir()
    with tarfile.open(tmp_path / "c100" / "cifar-100-python.tar.gz", "w:gz") as tar:
        tar.add(src / "cifar-100-python", arcname="cifar-100-python")
    d = load_dataset(DatasetSpec(name="cifar100", root="c100"), tmp_path)
    assert (tmp_path / "c100" / "cifar-100-python" / "meta").is_file()
    assert d.test_y.tolist() == files["test"]["fine_labels"]


def test_cifar100_wrong_label_range_refused(tmp_path):
    folder = tmp_path / "data" / "cifar100" / "cifar-100-python"
    _write_cifar100(folder)
    bad = _cifar100_file(3, 10)
    bad["coarse_labels"] = [25] * 10
    (folder / "test").write_bytes(pickle.dumps(bad))
    with pytest.raises(DatasetUnavailable, match="coarse_labels.*0..19"):
        load_dataset(DatasetSpec(name="cifar100", labels="coarse"), tmp_path)


def test_cifar100_smoke_synthetic_class_names(tmp_path):
    fine = load_dataset(DatasetSpec(name="cifar100", root="absent"), tmp_path, smoke=True)
    assert fine.synthetic and fine.classes == CIFAR100_FINE_CLASSES and len(set(fine.classes)) == 100
    coarse = load_dataset(DatasetSpec(name="cifar100", root="absent", labels="coarse"), tmp_path, smoke=True)
    assert coarse.classes == CIFAR100_COARSE_CLASSES and len(coarse.classes) == 20
    assert coarse.source["missing"] == "CIFAR-100" and "CIFAR-100 files not found" in source_text(coarse.source)


def test_digits_info_native_sizes():
    d = load_dataset(DatasetSpec(name="digits"), Path("."))
    assert d.info == {"original_sizes": {"8×8": 1797}, "skipped": [], "decoded": 0, "cache": None}
    on_test = load_dataset(DatasetSpec(name="digits", validation="test"), Path("."))
    assert on_test.info["original_sizes"] == {"8×8": 1797}
