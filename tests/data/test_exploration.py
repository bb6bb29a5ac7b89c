"""The dataset section: exploration numbers on real and hand-made data, a real build read back, and its cache."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from bs4 import BeautifulSoup
from PIL import Image

from reportgen.data.load import DatasetSplits, load_dataset
from reportgen.report.document.views.dataset import size_sentences
from reportgen.data.exploration import explore, explore_cached
from reportgen.manifest.schema import DatasetSpec
from reportgen.manifest.sections import DatasetSection

from conftest import Built, cli, write_manifest
from manifests import manifest_text

OPTIONS = {"grid": [3, 4], "sample": 300, "tsne_sample": 120}
MANIFEST = manifest_text(experiments=[{"id": "base", "model": "tiny_cnn", "train": {"epochs": 1}}],
                         sections=["contents", {"dataset": {"title": "Digits <b>data</b>", **OPTIONS}}])


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def _digits_counts() -> list[int]:
    from sklearn.datasets import load_digits
    return np.bincount(load_digits().target, minlength=10).tolist()


@pytest.fixture(scope="module")
def digits():
    return load_dataset(DatasetSpec(name="digits", image_size=8, channels=1, seed=7), ".")


def _handmade(val_is_test: bool = False, info: dict | None = None) -> DatasetSplits:
    g = torch.Generator().manual_seed(0)

    def part(n: int):
        y = torch.arange(n) % 3
        x = (torch.rand((n, 3, 16, 16), generator=g) * 80 + y.view(-1, 1, 1, 1) * 60).to(torch.uint8)
        return x, y

    (tx, ty), (vx, vy), (sx, sy) = part(30), part(6), part(9)
    if val_is_test:
        vx, vy = sx.clone(), sy.clone()
    splits = DatasetSplits(name="shapes", classes=["circle", "square", "star"], train_x=tx, train_y=ty, val_x=vx,
                           val_y=vy, test_x=sx, test_y=sy, mean=[0.3] * 3, std=[0.2] * 3, synthetic=False,
                           source="hand-made")
    splits.info = info or {}
    return splits


@pytest.mark.slow
def test_explore_digits_counts_stats_projections(digits):
    ex = explore(digits, {"tsne_sample": 150}, 7)
    c = ex["counts"]
    assert c["per_class"] == _digits_counts() and c["total"] == 1797
    assert {s: sum(c["per_split"][s]) for s in ("train", "validation", "test")} == digits.sizes() == c["split_totals"]
    assert sum(c["class_share"]) == pytest.approx(1.0)
    for k in range(10):
        assert sum(c["split_share"][s][k] for s in ex["splits"]) * 100 == pytest.approx(100.0)
    assert sum(c["split_share_total"].values()) * 100 == pytest.approx(100.0)
    assert ex["channels"]["names"] == ["grey"]
    assert ex["channels"]["train"]["mean"][0] == pytest.approx(digits.mean[0], abs=1e-6)
    assert ex["channels"]["train"]["std"][0] == pytest.approx(digits.std[0], abs=1e-6)
    assert ex["sizes"]["uniform"] and ex["sizes"]["resized_to"] == "8×8" and ex["sizes"]["skipped_count"] == 0
    assert sum(r["count"] for r in ex["sizes"]["original"]) == 1797
    grid = ex["grid"]["images"]
    assert len(grid) == 25 and {g["label"] for g in grid} == set(range(10))
    first = Image.open(io.BytesIO(base64.b64decode(grid[0]["png"])))
    assert first.size == (8, 8) and first.mode == "L"
    assert digits.train_y[grid[0]["index"]].item() == grid[0]["label"]
    pca, tsne = ex["pca"], ex["tsne"]
    assert pca["n"] == len(pca["x"]) == len(pca["y"]) == len(pca["labels"]) == 1000
    assert 0 < pca["explained_variance"][1] <= pca["explained_variance"][0] < 1
    assert tsne["n"] == len(tsne["x"]) == len(tsne["labels"]) == 150 and tsne["pca_dims"] == 50
    assert np.bincount(tsne["labels"]).min() >= 14  # stratified: every class about a tenth
    json.dumps(ex, allow_nan=False)
    assert explore(digits, {"tsne_sample": 150}, 7) == ex  # deterministic


def test_explore_handmade_mixed_sizes_and_skipped_files():
    info = {"original_sizes": {"32×24": 30, "28×28": 12, "40×30": 3},
            "skipped": [{"path": "train/star/broken.png", "reason": "cannot identify image file"}]}
    ex = explore(_handmade(info=info), {"grid": [2, 3], "sample": 20, "tsne_sample": 12}, 1)
    s = ex["sizes"]
    assert not s["uniform"] and s["distinct"] == 3 and s["images"] == 45 == ex["counts"]["total"]
    assert [(r["size"], r["count"]) for r in s["original"]] == [("32×24", 30), ("28×28", 12), ("40×30", 3)]
    assert s["resized_to"] == "16×16" and s["channels"] == 3 and s["skipped_count"] == 1
    assert ex["counts"]["per_class"] == [15, 15, 15] and ex["channels"]["names"] == ["red", "green", "blue"]
    assert len(ex["grid"]["images"]) == 6 and ex["pca"]["n"] == 20 and ex["tsne"]["n"] == 12
    assert ex["tsne"]["perplexity"] == pytest.approx(11 / 3, abs=1e-4)
    text = " ".join(size_sentences(s))
    assert "do not all have the same size: 3 different sizes" in text and "resized to 16×16" in text
    assert "1 unreadable file was skipped" in text
    # the channel statistics over all splits, computed independently
    allx = torch.cat([_handmade().train_x, _handmade().val_x, _handmade().test_x]).double() / 255
    assert ex["channels"]["all"]["mean"] == pytest.approx(allx.mean(dim=(0, 2, 3)).tolist(), abs=1e-5)


def test_explore_without_info_and_with_validation_on_test():
    ex = explore(_handmade(val_is_test=True), {"pca": False, "tsne": False}, 0)
    assert ex["splits"] == ["train", "test"] and ex["validation_is_test"]
    assert ex["counts"]["total"] == 39 and ex["pca"] is None and ex["tsne"] is None
    assert ex["sizes"]["source"] == "tensors" and ex["sizes"]["original"] == [{"size": "16×16", "count": 39}]
    assert "as loaded" in " ".join(size_sentences(ex["sizes"]))


def test_section_options_are_validated():
    assert DatasetSection().model_dump()["grid"] == (5, 5)
    for bad in ({"grid": [0, 5]}, {"grid": [11, 2]}, {"grid": [5]}, {"sample": 9}, {"tsne_sample": 3},
                {"colour": True}):
        with pytest.raises(ValueError):
            DatasetSection.model_validate(bad)


def test_explore_cached_reuses_file(tmp_path):
    splits = _handmade()
    first = explore_cached(splits, {"tsne": False, "title": "A"}, 3, tmp_path)
    (path,) = (tmp_path / "exploration").glob("*.json")
    stamp = path.stat().st_mtime_ns
    assert explore_cached(splits, {"tsne": False, "title": "B"}, 3, tmp_path) == first  # a title is no reason
    assert path.stat().st_mtime_ns == stamp
    explore_cached(splits, {"tsne": False}, 4, tmp_path)  # another seed: another file
    assert len(list((tmp_path / "exploration").glob("*.json"))) == 2


@pytest.mark.slow
def test_build_with_dataset_section(tmp_path):
    manifest = write_manifest(tmp_path, MANIFEST)
    out = tmp_path / "out"
    result = cli("build", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    built = Built(manifest, out, result.output)
    ex = built.results["dataset"]["exploration"]
    assert ex["counts"]["per_class"] == _digits_counts() and ex["options"]["grid"] == [3, 4]

    soup = BeautifulSoup(built.html, "html.parser")
    assert "img-src data:" in soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    sec = soup.find("section", class_="dataset")
    assert _norm(sec.h2.get_text()) == "1 Digits <b>data</b>"  # escaped, not markup
    rows = sec.find("table", class_="class-counts").tbody.find_all("tr")
    assert [int(r.find("td", class_="num")["data-count"]) for r in rows] == _digits_counts()
    assert [_norm(r.find_all("td")[1].get_text()) for r in rows] == [f"{n:,}" for n in _digits_counts()]
    splits_foot = " ".join(_norm(c.get_text()) for c in sec.find("table", class_="split-counts").tfoot.find_all(["th", "td"]))
    assert splits_foot.startswith("All classes 1,293 (72.0 %) 144 (8.0 %) 360 (20.0 %) 1,797")
    size_text = _norm(sec.find("p", class_="size-check").get_text())
    assert "All 1,797 images have the same size: 8×8 pixels" in size_text and "used at 8×8" in size_text
    figs = sec.find_all("figure")
    assert [f["data-key"] for f in figs] == [f"ds-{k}/1" for k in ("counts", "splits", "grid", "pca", "tsne")]
    captions = [_norm(f.figcaption.get_text()) for f in figs]
    assert captions[2].startswith("Figure 3. 12 random training images") and "PCA of 300" in captions[3]
    assert "t-SNE of 120" in captions[4]
    assert len(figs[2].find_all("image")) == 12
    assert all(i["xlink:href"].startswith("data:image/png;base64,") for i in figs[2].find_all("image"))
    assert [a.get_text() for a in soup.select("nav.contents ol ol a")][:2] == ["1.1 Classes",
                                                                               "1.2 Training, validation and test splits"]

    pdf = _norm(" ".join(built.pdf_pages()))
    for text in ("Digits <b>data</b>", "Table 1. Images per class, all splits together", "1,797",
                 "Per-channel mean and standard deviation", "PCA and t-SNE projections"):
        assert text in pdf

    from reportgen.grading.check.command import check_submission  # every dataset number is keyed and checks clean

    report = check_submission(out)
    assert not report.findings, [f.message for f in report.findings]
    keys = {s["data-key"].rsplit(".", 1)[0] for s in sec.select("span[data-key]")}
    assert {"dataset.exploration.counts.per_class", "dataset.exploration.counts.split_share.train",
            "dataset.exploration.channels.all.mean"} <= keys

    (cached,) = (out / "cache" / "exploration").glob("*.json")
    stamp = cached.stat().st_mtime_ns
    again = cli("build", manifest, "--out", out)
    assert again.exit_code == 0, again.output
    assert cached.stat().st_mtime_ns == stamp and len(list(cached.parent.glob("*.json"))) == 1
    assert (out / "report.html").read_text("utf-8") == built.html  # byte-identical on rebuild
