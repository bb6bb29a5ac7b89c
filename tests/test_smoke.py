"""Smoke builds of the real EN3150 manifest: every page says so, and the whole manifest runs in seconds."""

from __future__ import annotations

import re

from conftest import REPO, Built, cli


def test_en3150_smoke_build_marks_every_page(tmp_path):
    out = tmp_path / "en3150-smoke"
    result = cli("build", REPO / "experiments" / "en3150.yaml", "--smoke", "--out", out)
    assert result.exit_code == 0, result.output
    built = Built(REPO / "experiments" / "en3150.yaml", out, result.output)
    r = built.results
    assert r["smoke"] is True
    cifar_present = (REPO / "data" / "cifar10" / "cifar-10-batches-py").is_dir()
    assert r["dataset"]["synthetic"] is (not cifar_present)
    assert all(n <= 256 for n in r["dataset"]["sizes"].values())
    assert set(r["runs"]) == {"adam_lr_0.00025", "lr_study/lr=0.0001", "lr_study/lr=0.001",
                            "lr_study/lr=0.01", "lr_study/lr=0.1"}
    assert all(len(run["epochs"]) == 1 and run["config"]["epochs"] == 1 for run in r["runs"].values())
    assert r["models"]["en3150_cnn"]["total_params"] == 390_858
    pages = built.pdf_pages()
    assert len(pages) > 10
    assert all("SMOKE BUILD" in p for p in pages), "every page of a smoke report says it is a smoke build"
    assert 'class="smoke-banner"' in built.html
    text = re.sub(r"\s+", " ", " ".join(pages))
    for heading in ("Introduction", "CNN Model", "Model Parameters", "Model Training", "Design choices",
                    "For different learning rates", "Learning-rate comparison", "Discussion", "GitHub"):
        assert heading in text
    assert "3 × 32 × 5 × 5 + 32 = 2,432" in text
    # the learning-rate sweep is compared by its varied value: an lr column, accuracy against lr, a confusion grid
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(built.html, "html.parser")
    compare = soup.select_one("table.compare")
    assert "lr" in [th.text.strip() for th in compare.select("thead th")]
    assert len(compare.select("tbody tr")) == 5
    keys = {f["data-key"].split("/")[0] for f in soup.select("figure[data-key]")}
    assert {"vary", "cmgrid", "cmp"} <= keys
    assert "Findings" in text


def test_smoke_never_overwrites_the_real_report_by_default():
    from reportgen.build import default_out, load

    loaded = load(REPO / "experiments" / "en3150.yaml")
    assert default_out(loaded, smoke=True).name == "en3150-smoke"
    assert default_out(loaded, smoke=False).name == "en3150"


def test_cnn_lab_models_match_the_notebook_parameter_counts():
    from reportgen.models import model_record

    loaded = load_for("cnn-lab.yaml")
    # totals printed by the hand-made notebook's Keras summaries (no BatchNorm, so both conventions agree)
    expected = {"baseline": 122_570, "one_block": 462_410, "wide_channels": 1_151_690, "narrow_channels": 20_810,
                "big_pool": 61_130, "gelu_cnn": 122_570, "dense_256": 321_290, "own_cnn": 146_122}
    for name, total in expected.items():
        assert model_record(loaded, name)["total_params"] == total, name
    assert len(loaded.runs) == 17


def test_every_shipped_manifest_validates():
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        result = cli("validate", path)
        assert result.exit_code == 0 and "ok" in result.output, result.output


def load_for(name: str):
    from reportgen.build import load

    return load(REPO / "experiments" / name)
