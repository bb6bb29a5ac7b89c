"""Smoke builds of the shipped manifests: every page says so, and each whole manifest runs in about a minute."""

from __future__ import annotations

import re

import pytest

from conftest import REPO, Built, cli


@pytest.mark.slow
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
    finetuned = ["resnet18_finetuned", "densenet121_finetuned", "googlenet_finetuned"]
    assert set(r["runs"]) == {"adam_lr_0.00025", "lr_study/lr=0.0001", "lr_study/lr=0.001",
                            "lr_study/lr=0.01", "lr_study/lr=0.1", *finetuned}
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
    # the fine-tuned networks: ImageNet weights (absent here, so the smoke build says it used random ones),
    # a 10-class head, and the measured trade-off table with the custom CNN
    for rid, net in zip(finetuned, ("resnet18", "densenet121", "googlenet")):
        run = r["runs"][rid]
        assert run["weights"]["name"] == net and run["weights"]["weights"] == "imagenet"
        assert r["models"][net]["blocks"][-1]["params"] == r["models"][net]["blocks"][-1]["trainable"]
        assert run["measured"]["params"] == r["models"][net]["total_params"]
    rows = soup.select("table.tradeoff-table tbody tr")
    assert [tr["data-run"] for tr in rows] == ["adam_lr_0.00025", *finetuned]
    for tr in rows:
        run = r["runs"][tr["data-run"]]
        assert tr.select_one('td[data-col="params"]').text == f"{run['measured']['params']:,}"
        assert float(tr.select_one('td[data-col="latency"]').text) > 0
    assert "Trade-off between the custom model and the pretrained models" in text
    # the PDF shows every test accuracy and parameter total the HTML shows: no table runs off the page
    # (the trade-off table's accuracy column once did), and every shown number matches its results key
    from reportgen.grading.check.command import check_submission

    assert [f.check for f in check_submission(out).findings] == ["build"]


@pytest.mark.slow
def test_fast_response_smoke_build_has_the_transfer_chain_and_results_table(tmp_path):
    from bs4 import BeautifulSoup

    out = tmp_path / "fr"
    result = cli("build", REPO / "experiments" / "fast-response.yaml", "--smoke", "--no-pdf", "--out", out)
    assert result.exit_code == 0, result.output
    built = Built(REPO / "experiments" / "fast-response.yaml", out, result.output)
    r = built.results
    assert len(r["runs"]) == 16
    parent, child = r["runs"]["parent_cifar100"], r["runs"]["child_cifar10"]
    assert parent["dataset"]["name"] == "cifar100" and len(parent["dataset"]["classes"]) == 100
    assert child["dataset"]["name"] == "cifar10" and child["transfer"]["from"] == "parent_cifar100"
    # the 100-way head cannot carry over to 10 classes; everything else does
    assert set(child["transfer"]["reinitialised"]) == {"classifier.1.weight", "classifier.1.bias"}
    assert child["measured"]["trainable_params"] < child["measured"]["params"]
    assert r["models"]["mobilenet_v2_modified"]["inverted_residual"]["custom"][2] == [6, 32, 1, 2]
    soup = BeautifulSoup(built.html, "html.parser")
    table = soup.select_one("section.results-table table")
    assert [th.text for th in table.select("thead th")] == ["Architecture", "Learning rate", "Optimizer",
                                                            "Test accuracy", "Parameters", "Latency, batch 1 (ms)"]
    assert len(table.select("tbody tr")) == 8
    assert "Proposed MobileNet" in table.text and "Adadelta" in table.text
    assert len(soup.select("table.tradeoff-table tbody tr")) == 5
    assert soup.select_one("table.irtable") is not None


@pytest.mark.slow
def test_realwaste_smoke_build_explores_the_folder_dataset(tmp_path):
    from bs4 import BeautifulSoup

    import timm  # noqa: F401 - InceptionResNetV2 comes from timm, which the test extra installs
    out = tmp_path / "rw"
    # the report's 256×256 images make a CPU smoke build slow; 32×32 checks the same wiring
    result = cli("build", REPO / "experiments" / "realwaste.yaml", "--smoke", "--no-pdf", "--out", out,
                 "--set", "dataset.image_size=32")
    assert result.exit_code == 0, result.output
    built = Built(REPO / "experiments" / "realwaste.yaml", out, result.output)
    r = built.results
    assert r["dataset"]["classes"][0] == "Cardboard" and len(r["dataset"]["classes"]) == 9
    assert r["runs"]["inception_resnet_v2"]["weights"]["source"] == "timm"
    dense = r["models"]["densenet121"]
    head = 1024 * 128 + 128 + 128 * 9 + 9
    assert dense["trainable_params"] == head
    soup = BeautifulSoup(built.html, "html.parser")
    assert soup.select_one("section.dataset") is not None
    assert len(soup.select("table.tradeoff-table tbody tr")) == 3


def test_smoke_never_overwrites_the_real_report_by_default():
    from reportgen.build import default_out, load

    loaded = load(REPO / "experiments" / "en3150.yaml")
    assert default_out(loaded, smoke=True).name == "en3150-smoke"
    assert default_out(loaded, smoke=False).name == "en3150"


def test_cnn_lab_models_match_the_notebook_parameter_counts():
    from reportgen.models.build import model_record

    loaded = load_for("cnn-lab.yaml")
    # totals printed by the hand-made notebook's Keras summaries (no BatchNorm, so both conventions agree)
    expected = {"baseline": 122_570, "one_block": 462_410, "wide_channels": 1_151_690, "narrow_channels": 20_810,
                "big_pool": 61_130, "gelu_cnn": 122_570, "dense_256": 321_290, "own_cnn": 146_122}
    for name, total in expected.items():
        assert model_record(loaded, name)["total_params"] == total, name
    assert len(loaded.runs) == 17


@pytest.mark.slow  # test_mistakes validates each shipped manifest in the fast tier
def test_every_shipped_manifest_validates():
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        result = cli("validate", path)
        assert result.exit_code == 0 and "ok" in result.output, result.output


def load_for(name: str):
    from reportgen.build import load

    return load(REPO / "experiments" / name)
