"""`reportgen diff` on a real build and edited copies of it, and the results JSON embedded in every report."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest
from bs4 import BeautifulSoup

from reportgen import __version__
from browser import needs_axe, open_page
from conftest import cli

HOSTILE = "</script><script>alert(1)</script>"
LONG_RUN = "lr_study/lr=0.0003_batch=64_augment=flip-crop"


@pytest.fixture()
def a(tiny_build, tmp_path):
    """A copy of the tiny build's results.json and report.html (other tests rewrite the build folder)."""
    folder = tmp_path / "a"
    folder.mkdir()
    for name in ("results.json", "report.html"):
        shutil.copy(tiny_build.out / name, folder / name)
    return folder


def _copy(a, tmp_path, name="b", edit_results=None, edit_html=None):
    """A second folder like `a`, with its results and/or HTML edited."""
    folder = tmp_path / name
    shutil.copytree(a, folder)
    if edit_results:
        results = json.loads((folder / "results.json").read_text("utf-8"))
        edit_results(results)
        (folder / "results.json").write_text(json.dumps(results), "utf-8")
    if edit_html:
        html = (folder / "report.html").read_text("utf-8")
        edited = edit_html(html)
        assert edited != html
        (folder / "report.html").write_text(edited, "utf-8")
    return folder


def _json(*args):
    result = cli("diff", *args, "--format", "json")
    return result.exit_code, json.loads(result.output)


def test_embedded_json_is_results_json_and_inert(a, tiny_build):
    html = (a / "report.html").read_text("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    scripts = soup.find_all("script")
    assert {s["id"] for s in scripts} == {"reportgen-results", "reportgen-provenance"}
    assert all(s["type"] == "application/json" for s in scripts)
    element = soup.find("script", id="reportgen-results")
    expected = json.loads((a / "results.json").read_text("utf-8"))
    assert json.loads(element.string) == expected
    # the tiny report's title holds "</script>": escaped inside the JSON, so it cannot close the element
    assert "</script>" in expected["report"]["title"] and "<" not in element.string
    assert "\\u003c/script\\u003e" in element.string
    prov = json.loads(soup.find("script", id="reportgen-provenance").string)
    sha256 = hashlib.sha256(tiny_build.manifest.read_bytes()).hexdigest()
    assert prov["manifest"] == {"file": "tiny.yaml", "sha256": sha256}
    assert prov["reportgen"] == __version__ and prov["device"] == "cpu" and prov["smoke"] is False
    assert prov["seeds"] == {"dataset": 7, "runs": {"base": 0, "sgd": 0, "wild": 0}, "training": [0]}
    section = soup.select_one("section.provenance")
    assert section.select_one('[data-provenance="manifest-sha256"]').text == prov["manifest"]["sha256"]
    assert section.select_one('[data-provenance="smoke"]').text == "full build"


def test_hostile_strings_cannot_leave_the_embedded_json(tiny_build):
    from reportgen.report.document import assemble as document
    from reportgen.report.writers import html as render
    from reportgen.build import load
    from reportgen.grading.diff.sections import embedded
    from reportgen.results.record import parse_results

    loaded = load(tiny_build.manifest)
    results = json.loads(json.dumps(tiny_build.results))
    results["report"]["title"] = HOSTILE
    results["runs"]["base"]["title"] = "<!--<script>alert(2)</script>-->\u2028&amp;"
    sections = [s for s in loaded.sections if s.kind in ("cover", "provenance")]
    html = render.render_html(document.build(parse_results(results), sections, {}, loaded.base_dir))
    soup = BeautifulSoup(html, "html.parser")
    assert [s.get("type") for s in soup.find_all("script")] == ["application/json"] * 2
    assert json.loads(soup.find("script", id="reportgen-results").string) == results
    assert json.loads(embedded(html)["reportgen-results"]) == results
    assert "<script>alert" not in html and "<!--<script>" not in html
    assert soup.find("h1").text == HOSTILE


def test_a_build_equals_itself_in_every_form(a):
    for left, right in ((a, a), (a, a / "report.html"), (a / "results.json", a / "results.json"),
                        (a / "report.html", a / "results.json")):
        result = cli("diff", left, right)
        assert result.exit_code == 0, result.output
        assert "no differences" in result.output
    assert cli("diff", a, a / "report.html", "--strict").exit_code == 0


def test_changed_accuracy_is_named_and_tolerance_applies(a, tmp_path):
    def bump(r):
        r["runs"]["base"]["test"]["accuracy"] += 0.01

    b = _copy(a, tmp_path, edit_results=bump)
    result = cli("diff", a / "results.json", b / "results.json", "--full")
    assert result.exit_code == 1
    assert "Test metrics:" in result.output and "runs.base.test.accuracy" in result.output
    code, record = _json(a / "results.json", b / "results.json")
    assert code == 1 and record["equal"] is False
    (d,) = record["differences"]
    assert (d["kind"], d["run"], d["path"]) == ("test", "base", ["runs", "base", "test", "accuracy"])
    assert d["delta"] == pytest.approx(0.01)
    assert cli("diff", a / "results.json", b / "results.json", "--tolerance", "0.011").exit_code == 0


def test_parameter_count_epoch_loss_and_removed_run_are_reported(a, tmp_path):
    def edit(r):
        model = r["models"]["tiny_cnn"]
        model["layers"][0]["params"] += 1
        model["total_params"] += 1
        r["runs"]["base"]["epochs"][1]["train_loss"] += 0.5
        del r["runs"]["sgd"]
        r["run_order"].remove("sgd")

    b = _copy(a, tmp_path, edit_results=edit)
    text = cli("diff", a / "results.json", b / "results.json", "--full").output
    for line in ("models.tiny_cnn.layers[conv1].params: 40 → 41 (Δ +1)", "models.tiny_cnn.total_params",
                 "runs.base.epochs[epoch=2].train_loss", "runs.sgd: only in A"):
        assert line in text
    code, record = _json(a / "results.json", b / "results.json")
    found = {(d["kind"], d["where"]) for d in record["differences"]}
    assert {("params", "models.tiny_cnn.layers[conv1].params"), ("params", "models.tiny_cnn.total_params"),
            ("epochs", "runs.base.epochs[epoch=2].train_loss"), ("presence", "runs.sgd")} == found
    assert code == 1


def test_timings_and_cache_keys_only_count_with_strict(a, tmp_path):
    def edit(r):
        run = r["runs"]["base"]
        run["train_seconds"] += 5
        run["epochs"][0]["seconds"] += 1
        run["measured"]["latency_ms"] *= 2
        run["cache_key"] = "0" * 24
        r["environment"]["python"] = "0.0.0"
        run["epochs"][0]["images_per_s"] *= 3
        run["execution"] = {"executor": "local", "jobs": 4, "threads": 1}
        run["compute"]["device_name"] = "Some GPU"

    b = _copy(a, tmp_path, edit_results=edit)
    assert cli("diff", a / "results.json", b / "results.json").exit_code == 0
    strict = cli("diff", a / "results.json", b / "results.json", "--strict", "--full")
    assert strict.exit_code == 1
    for field in ("runs.base.train_seconds", "runs.base.epochs[epoch=1].seconds", "runs.base.measured.latency_ms",
                  "runs.base.cache_key", "environment.python", "runs.base.epochs[epoch=1].images_per_s",
                  "runs.base.execution", "runs.base.compute.device_name"):
        assert field in strict.output
    assert "--strict" in cli("diff", "--help").output and "train_seconds" in cli("diff", "--help").output
    c = _copy(a, tmp_path, "c", edit_results=lambda r: r["runs"]["base"]["compute"].update(precision="bf16"))
    assert "runs.base.compute.precision" in cli("diff", a / "results.json", c / "results.json").output, \
        "the precision that produced the numbers is a real difference"


def test_section_text_change_shows_as_a_unified_diff(a, tmp_path):
    b = _copy(a, tmp_path, edit_html=lambda h: h.replace("Some <strong>bold</strong> prose",
                                                         "Some <strong>bold</strong> edited prose", 1))
    result = cli("diff", a, b / "report.html", "--full")
    assert result.exit_code == 1
    assert "Section text:" in result.output
    assert "-Some bold prose with a link and a [bad link](javascript:alert(1))." in result.output.splitlines()
    assert "+Some bold edited prose with a link and a [bad link](javascript:alert(1))." in result.output.splitlines()
    code, record = _json(a, b)
    (d,) = record["differences"]
    assert code == 1 and d["kind"] == "section" and d["section"] == "Introduction"
    note = cli("diff", a / "results.json", b).output
    assert "section text not compared" in note


def test_html_format_is_a_safe_standalone_page(a, tmp_path):
    def hostile(r):
        r["runs"][HOSTILE] = r["runs"].pop("sgd")
        r["run_order"][r["run_order"].index("sgd")] = HOSTILE
        r["runs"]["base"]["test"]["accuracy"] += 0.01

    b = _copy(a, tmp_path, edit_results=hostile,
              edit_html=lambda h: h.replace("Some <strong>bold</strong> prose", "Some &lt;script&gt;x() prose", 1))
    out = tmp_path / "diff.html"
    result = cli("diff", a, b, "--format", "html", "--out", out)
    assert result.exit_code == 1 and f"wrote {out}" in result.output
    page = out.read_text("utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert not soup.find_all(["script", "link", "img", "iframe", "object", "embed"])
    assert "<script>" not in page
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert csp.startswith("default-src 'none'")
    cells = [td.text for td in soup.select("table.diff td")]
    assert f"runs.{HOSTILE}" in cells and "runs.sgd" in cells and "runs.base.test.accuracy" in cells
    changed = [[td.text for td in tr.find_all("td")] for tr in soup.select("table.sbs tr.change")]
    assert ["Some bold prose with a link and a [bad link](javascript:alert(1)).",
            "Some <script>x() prose with a link and a [bad link](javascript:alert(1))."] in changed


@needs_axe
@pytest.mark.slow
def test_html_page_fits_390_and_1280_px_and_passes_axe(a, tmp_path):
    """Long run ids, changed values and section text: no sideways scroll at 390 px (the tables scroll in their own
    boxes), no word broken inside, no WCAG 2.1 A/AA violation, in the dark palette too."""
    def long_ids(r):
        r["runs"][LONG_RUN] = r["runs"].pop("wild")
        r["run_order"][r["run_order"].index("wild")] = LONG_RUN
        r["runs"]["base"]["test"]["accuracy"] += 0.01

    b = _copy(a, tmp_path, "team-07_with-a-long-folder-name", edit_results=long_ids,
              edit_html=lambda h: h.replace("Some <strong>bold</strong>", "Some state-of-the-art &lt;b&gt;", 1))
    out = tmp_path / "diff.html"
    assert cli("diff", a, b, "--format", "html", "--out", out).exit_code == 1
    assert f"runs.{LONG_RUN}" in BeautifulSoup(out.read_text("utf-8"), "html.parser").get_text()
    for width, dark in ((390, False), (1280, False), (390, True)):
        seen = open_page(out, width, dark=dark)
        assert seen["dark"] is dark and seen["scrollWidth"] <= seen["clientWidth"], (width, dark, seen)
        assert seen["outside"] == [], (width, dark, seen)
        assert seen["broken"] == [] and seen["violations"] == [], (width, dark, seen)


def test_unreadable_or_foreign_inputs_exit_2_with_one_message(a, tmp_path):
    noise = tmp_path / "noise.txt"
    noise.write_bytes(b"just some words\n\x00\x01 not a report")
    other = tmp_path / "other.json"
    other.write_text('{"runs": {}}', "utf-8")
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body><section><h2>Hi</h2></section></body></html>", "utf-8")
    binary = tmp_path / "binary.bin"
    binary.write_bytes(bytes(range(256)))
    for bad, says in ((noise, "neither a reportgen results.json nor"), (tmp_path / "missing", "no such file"),
                      (other, "not a reportgen results record"), (page, "holds no reportgen results"),
                      (binary, "not UTF-8"), (tmp_path, "neither results.json nor report.html")):
        result = cli("diff", a, bad)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.output


def test_text_leads_with_the_causes_then_one_line_per_run(a, tmp_path):
    def more_epochs(r):
        run = r["runs"]["base"]
        run["config"]["epochs"] = 30
        run["test"]["accuracy"] += 0.02
        run["test"]["loss"] -= 0.1
        run["epochs"][0]["train_loss"] += 0.5
        r["environment"]["cpu_threads"] = [1]

    b = _copy(a, tmp_path, edit_results=more_epochs)
    text = cli("diff", a / "results.json", b / "results.json").output
    lines = text.splitlines()
    cause = lines.index("  runs.base.config.epochs: 3 → 30 (Δ +27)")
    assert lines.index("What differs in the inputs:") < cause
    assert any(x.startswith("  environment: CPU threads:") for x in lines)
    headline = next(x for x in lines if x.startswith("  base: "))
    assert "test accuracy" in headline and "(Δ +2.00 points)" in headline and "test loss" in headline
    assert lines.index(headline) > cause
    assert "runs.base.epochs[epoch=1].train_loss" not in text and "--full lists every one" in text
    full = cli("diff", a / "results.json", b / "results.json", "--full").output
    assert "runs.base.epochs[epoch=1].train_loss" in full and full.index("What differs") < full.index("Epoch logs:")


def test_builds_that_differ_only_in_threads_say_so_first(a, tmp_path):
    def threads(r):
        r["environment"]["cpu_threads"] = [7]
        r["runs"]["base"]["test"]["loss"] += 1e-6

    b = _copy(a, tmp_path, edit_results=threads)
    text = cli("diff", a / "results.json", b / "results.json").output
    assert "The inputs are the same: the builds differ only in CPU threads:" in text
    assert "nothing: the same manifest settings and dataset" in text
