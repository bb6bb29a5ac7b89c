"""End to end: real training on tiny data, the HTML and PDF read back and checked against results.json."""

from __future__ import annotations

import re

from pathlib import Path

import pytest
import torch
from bs4 import BeautifulSoup

from reportgen.report.wording.formatting import num, pct

from conftest import cli


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def test_results_json_has_every_required_field(tiny_build):
    r = tiny_build.results
    assert r["smoke"] is False
    model = r["models"]["tiny_cnn"]
    for key in ("layers", "total_params", "trainable_params", "non_trainable_params", "buffer_params"):
        assert key in model
    for layer in model["layers"]:
        assert {"name", "type", "output_shape", "params", "formula"} <= set(layer)
    assert set(r["runs"]) == {"base", "sgd", "wild"}
    base = r["runs"]["base"]
    assert base["experiment"] == "base" and base["model"] == "tiny_cnn" and base["status"] == "completed"
    assert [e["epoch"] for e in base["epochs"]] == [1, 2, 3]
    assert len(r["runs"]["sgd"]["epochs"]) == 2  # the experiment's own override of epochs
    wild = r["runs"]["wild"]
    assert wild["status"] == "diverged" and wild["diverged_epoch"] == 1 and wild["epochs"] == []
    for e in base["epochs"]:
        assert {"epoch", "train_loss", "val_loss", "train_acc", "val_acc", "seconds"} <= set(e)
    test = base["test"]
    for key in ("accuracy", "loss", "precision_weighted", "recall_weighted", "f1_weighted", "confusion_matrix",
                "per_class"):
        assert key in test
    cm = test["confusion_matrix"]
    assert len(cm) == 10 and sum(map(sum, cm)) == r["dataset"]["sizes"]["test"] == test["support"]
    assert abs(sum(cm[i][i] for i in range(10)) / test["support"] - test["accuracy"]) < 1e-12
    assert r["environment"]["device"] == "cpu" and r["environment"]["torch"] == torch.__version__


def test_parameter_totals_equal_the_instantiated_model(tiny_build):
    from reportgen.build import load
    from reportgen.models.build import build_manifest_model

    model = build_manifest_model(load(tiny_build.manifest), "tiny_cnn")
    rec = tiny_build.results["models"]["tiny_cnn"]
    assert rec["total_params"] == sum(p.numel() for p in model.parameters())
    assert sum(layer["params"] for layer in rec["layers"]) == rec["total_params"]
    conv = rec["layers"][0]
    assert conv["formula"] == "1 × 4 × 3 × 3 + 4 = 40" and conv["output_shape"] == [4, 8, 8]


def test_html_shows_the_numbers_from_results(tiny_build):
    soup = BeautifulSoup(tiny_build.html, "html.parser")
    runs = tiny_build.results["runs"]
    cells = soup.select('td[data-metric="accuracy"]')
    assert [_norm(c.text) for c in cells] == [_norm(pct(runs[r]["test"]["accuracy"])) for r in ("base", "sgd", "wild")]
    assert all(re.fullmatch(r"\d{1,3}\.\d{2} %", _norm(c.text)) for c in cells)
    text = _norm(soup.get_text(" "))
    assert num(tiny_build.results["models"]["tiny_cnn"]["total_params"]) in text
    # the epoch log holds one row per epoch, with the logged losses
    log_rows = soup.select("table.log")[0].select("tbody tr")
    assert len(log_rows) == 3
    assert _norm(log_rows[0].select("td")[1].text) == f"{runs['base']['epochs'][0]['train_loss']:.4f}"


def test_html_is_self_contained_with_numbered_figures_and_tables(tiny_build):
    soup = BeautifulSoup(tiny_build.html, "html.parser")
    assert soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"].startswith("default-src 'none'")
    # the only scripts are the inert embedded results and provenance (JSON; the CSP forbids scripts anyway)
    assert all(tag.get("type") == "application/json" for tag in soup.find_all("script"))
    assert not soup.find_all("link") and not soup.find_all("img")
    figures = soup.select("figure.figure")
    # per run: loss, accuracy, confusion matrix; comparison: overlay, bars and the confusion-matrix grid
    assert len(figures) == 3 * 3 + 3
    assert all(f.find("svg") is not None for f in figures)
    captions = [_norm(f.figcaption.text) for f in figures]
    assert [c.split(".")[0] for c in captions] == [f"Figure {i}" for i in range(1, len(figures) + 1)]
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert len(ids) == len(set(ids)), "ids must be unique across inline SVGs"
    tables = [_norm(c.text) for c in soup.select("table.data caption")]
    assert [t.split(".")[0] for t in tables] == [f"Table {i}" for i in range(1, len(tables) + 1)]


def test_user_text_is_escaped_and_prose_sanitized(tiny_build):
    soup = BeautifulSoup(tiny_build.html, "html.parser")
    html = re.sub(r'<script type="application/json"[^>]*>.*?</script>', "", tiny_build.html, flags=re.S)
    assert "<script>" not in html
    assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert soup.find("h1").text == "Tiny <script>alert('x')</script> report"
    assert 'Eve "><img src=x onerror=alert(1)>' in [td.text for td in soup.select("table.team td")]
    links = {a.text: a.get("href") for a in soup.select("section.prose a")}
    assert links["link"] == "https://example.org" and "bad link" not in links
    assert all(a.get("rel") == ["noopener", "noreferrer"] for a in soup.select("section.prose a"))
    assert soup.select("section.prose table")  # Markdown tables render


def test_pdf_has_cover_contents_with_page_numbers_and_footer(tiny_build):
    pages = [_norm(p) for p in tiny_build.pdf_pages()]
    cover = pages[0]
    for text in ("Tiny <script>alert('x')</script> report", "EN0000 Testing", "Bob Builder", "T002", "15 January 2024"):
        assert text in cover
    assert "Page 1" not in cover  # no footer on the cover
    contents = pages[1]
    assert "Table of Contents" in contents
    entries = dict(re.findall(r"\d+ (Model Training|Model Evaluation|Provenance) [. ]*(\d+)", contents))
    assert set(entries) == {"Model Training", "Model Evaluation", "Provenance"}
    for title, page in entries.items():
        assert title in pages[int(page) - 1], f"contents says {title} is on page {page}"
    assert all(f"Page {i} of {len(pages)}" in p for i, p in enumerate(pages, 1) if i > 1)
    text = " ".join(pages)
    acc = _norm(pct(tiny_build.results["runs"]["base"]["test"]["accuracy"]))
    assert acc in text
    assert "SMOKE" not in text


def test_build_log_reports_progress(tiny_build):
    assert "base: epoch 3/3" in tiny_build.log and "trained 3 run(s)" in tiny_build.log
    assert "wild: diverged" in tiny_build.log


def test_diverged_run_is_reported_as_such(tiny_build):
    soup = BeautifulSoup(tiny_build.html, "html.parser")
    notes = [_norm(p.text) for p in soup.select("p.status-diverged")]
    assert notes and all("diverged at epoch 1" in n for n in notes)
    row = next(tr for tr in soup.select("table.compare tbody tr") if tr.td.text.startswith("wild"))
    assert "(diverged)" in _norm(row.td.text)


@pytest.mark.slow
def test_rebuild_trains_nothing_and_render_reuses_cache(tiny_build, tmp_path):
    import shutil

    copy = Path(shutil.copytree(tiny_build.manifest.parent, tmp_path / "tiny"))  # the shared build stays as built
    manifest, out = copy / tiny_build.manifest.name, copy / tiny_build.out.name
    prose = copy / "intro.md"
    prose.write_text(prose.read_text("utf-8") + "\nA new closing sentence.\n", "utf-8")
    result = cli("build", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    assert "all 3 runs were cached; nothing was trained" in result.output
    assert "A new closing sentence." in (out / "report.html").read_text("utf-8")
    html, pdf = (out / "report.html").read_bytes(), (out / "report.pdf").read_bytes()
    rendered = cli("render", manifest, "--out", out)
    assert rendered.exit_code == 0, rendered.output
    # the same results render to byte-identical HTML and PDF: no clock, no random identifier, stable font subsets
    assert (out / "report.html").read_bytes() == html
    assert (out / "report.pdf").read_bytes() == pdf
    import io

    from pypdf import PdfReader

    meta = PdfReader(io.BytesIO(pdf)).metadata
    assert meta.creation_date.date().isoformat() == "2024-01-15"  # the manifest's date, not the build's
    # a changed training value is a different run: render refuses, naming it
    changed = cli("render", manifest, "--out", out, "--set", "experiments.sgd.train.epochs=3")
    assert changed.exit_code == 2
    assert "(1 problem):\n  sgd: the manifest's settings for it changed since it ran" in changed.output
    assert "Traceback" not in changed.output


def test_render_without_results_fails_clearly_and_writes_nothing(tmp_path):
    from conftest import write_manifest

    manifest = write_manifest(tmp_path / "m")
    out = tmp_path / "out"
    result = cli("render", manifest, "--out", out)
    assert result.exit_code == 2
    assert f"no results in {out / 'results.json'}" in result.output and "reportgen run" in result.output
    assert not (out / "report.html").exists() and not (out / "report.pdf").exists()
