"""`reportgen check`: a real tiny build checked clean, then each kind of tampering planted and caught by name."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.grading.check import checks
from reportgen.grading.check.command import check_submission
from reportgen.grading.check.printed import occurrences
from reportgen.report.wording.formatting import pct
from reportgen.results.embedded import EMBED_ID, embed_json

from conftest import cli


def _submission(built, folder: Path, manifest: bool = False) -> Path:
    """A grader's copy of a build: the report, its PDF and results.json, without the cache; with `manifest`, the
    manifest and its prose too (check then re-renders it; tests/grading/test_check_rerender.py covers that)."""
    folder.mkdir(parents=True)
    for name in ("report.html", "report.pdf", "results.json"):
        shutil.copy(built.out / name, folder / name)
    if manifest:
        for source in (built.manifest, built.manifest.parent / "intro.md"):
            shutil.copy(source, folder / source.name)
    return folder


def _replace_shown(html: str, key: str, new: str, nth: int = 0) -> str:
    spans = list(re.finditer(rf'(<span data-key="{re.escape(key)}" data-fmt="[^"]+">)([^<]*)(</span>)', html))
    m = spans[nth]
    return html[:m.start(2)] + new + html[m.end(2):]


def _edit_embedded(html: str, edit) -> str:
    m = re.search(rf'(<script type="application/json" id="{EMBED_ID}">)(.*?)(</script>)', html, re.DOTALL)
    results = json.loads(m[2])
    edit(results)
    return html[:m.start(2)] + embed_json(results) + html[m.end(2):]


def test_a_clean_build_checks_clean_with_every_check_run(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team01")
    result = cli("check", sub)
    assert result.exit_code == 0, result.output
    report = check_submission(sub)
    assert [c["name"] for c in report.checks] == ["digest", "results-file", "manifest", "rerender", "numbers", "pdf",
                                                 "statistics", "arithmetic", "build", "runs"]
    assert all(c["passed"] for c in report.checks) and not report.findings
    assert report.level.startswith("embedded results only (no tiny.yaml in the submission")
    numbers = next(c for c in report.checks if c["name"] == "numbers")
    assert int(numbers["detail"].split()[0]) > 200  # every table number and total is tied to its key
    assert "run wild diverged at epoch 1" in report.notes
    assert report.facts["team"][1] == {"name": "Bob Builder", "id": "T002"}
    assert report.facts["best_accuracy"]["base"]["accuracy"] == tiny_build.results["runs"]["base"]["test"]["accuracy"]
    assert report.facts["models"] == {"tiny_cnn": tiny_build.results["models"]["tiny_cnn"]["total_params"]}


def test_a_report_html_path_and_json_output(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team01")
    result = cli("check", sub / "report.html", "--format", "json")
    data = json.loads(result.output)
    assert result.exit_code == 0 and data["clean"] and data["facts"]["runs"]["base"]["status"] == "completed"
    assert data["level"] == data["facts"]["check_level"] and data["level"].startswith("embedded results only")


def test_an_edited_table_cell_is_named_with_section_table_row_and_both_values(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team02")
    html = (sub / "report.html").read_text("utf-8")
    (sub / "report.html").write_text(_replace_shown(html, "runs.base.test.accuracy", "99.10\u00a0%"), "utf-8")
    report = check_submission(sub)
    assert [f.check for f in report.findings] == ["numbers"]
    where = report.findings[0].where
    recorded = pct(tiny_build.results["runs"]["base"]["test"]["accuracy"])
    assert where["key"] == "runs.base.test.accuracy" and where["shown"] == "99.10 %"
    assert where["recorded"] == recorded and where["section"] == "Model Evaluation"
    assert "Test metrics of base" in where["table"] and where["row"] == "Test accuracy"
    result = cli("check", sub)
    assert result.exit_code == 1 and "shows 99.10 %" in result.output and "FAIL shown numbers" in result.output


def test_an_edited_epoch_log_and_parameter_count_are_caught(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team03")
    html = (sub / "report.html").read_text("utf-8")
    html = _replace_shown(html, "runs.sgd.epochs.1.val_loss", "0.0001")
    html = _replace_shown(html, "models.tiny_cnn.layers.0.params", "41")
    (sub / "report.html").write_text(html, "utf-8")
    keys = sorted(f.where["key"] for f in check_submission(sub).findings)
    assert keys == ["models.tiny_cnn.layers.0.params", "runs.sgd.epochs.1.val_loss"]


def test_edited_embedded_results_break_the_digest_and_no_longer_match_results_json(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team04")
    html = (sub / "report.html").read_text("utf-8")

    def edit(results):
        results["runs"]["base"]["test"]["accuracy"] = 0.99

    (sub / "report.html").write_text(_edit_embedded(html, edit), "utf-8")
    report = check_submission(sub)
    by_check = {f.check for f in report.findings}
    assert {"digest", "results-file", "numbers", "pdf"} <= by_check
    assert any(f.where.get("key") == "runs.base.test.accuracy" for f in report.findings if f.check == "results-file")


def test_an_edited_results_json_is_named_key_by_key(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team05")
    data = json.loads((sub / "results.json").read_text("utf-8"))
    data["runs"]["sgd"]["test"]["accuracy"] = 0.5
    (sub / "results.json").write_text(json.dumps(data), "utf-8")
    report = check_submission(sub)
    assert [(f.check, f.where["key"], f.where["file_value"]) for f in report.findings] == [
        ("results-file", "runs.sgd.test.accuracy", 0.5)]


def test_a_run_renamed_in_results_json_is_named_as_missing_on_one_side_not_as_null(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team06")
    data = json.loads((sub / "results.json").read_text("utf-8"))
    data["runs"] = {("sgd2" if rid == "sgd" else rid): run for rid, run in data["runs"].items()}
    (sub / "results.json").write_text(json.dumps(data), "utf-8")
    messages = sorted(f.message for f in check_submission(sub).findings)
    assert messages == ["results.json differs from the report's embedded results at runs.sgd (only in the report; "
                        "results.json has no such key)",
                        "results.json differs from the report's embedded results at runs.sgd2 (only in results.json; "
                        "the report has no such key)"], messages


def test_a_broken_results_json_beside_a_good_report_is_a_finding(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team06")
    (sub / "results.json").write_text((sub / "results.json").read_text("utf-8")[:500], "utf-8")
    report = check_submission(sub)
    assert [f.check for f in report.findings] == ["results-file"] and "not valid JSON" in report.findings[0].message


@pytest.fixture()
def smoke_build(tiny_smoke_build):
    return tiny_smoke_build.out


@pytest.mark.slow
def test_a_smoke_build_and_a_pdf_from_another_build(tiny_build, smoke_build, tmp_path):
    smoke = tmp_path / "smoke"
    smoke.mkdir()
    for name in ("report.html", "report.pdf", "results.json"):
        shutil.copy(smoke_build / name, smoke / name)
    assert [f.check for f in check_submission(smoke).findings] == ["build"]
    swapped = _submission(tiny_build, tmp_path / "swapped")
    shutil.copy(smoke_build / "report.pdf", swapped / "report.pdf")
    found = [f for f in check_submission(swapped).findings]
    assert {f.check for f in found} == {"pdf"}
    assert any("made from other results" in f.message for f in found)
    assert any(f.where.get("what") == "test accuracy of base" for f in found)


def test_the_pdf_carries_the_digest_and_the_key_numbers(tiny_build):
    from pypdf import PdfReader

    reader = PdfReader(str(tiny_build.pdf_path))
    html_digest = re.search(r'name="reportgen-results-sha256" content="([^"]+)"', tiny_build.html)[1]
    assert reader.metadata["/ReportgenResultsSHA256"] == html_digest
    text = " ".join(p.extract_text() for p in reader.pages)
    accuracy = pct(tiny_build.results["runs"]["base"]["test"]["accuracy"])
    assert occurrences(accuracy, text) >= 2  # evaluation and comparison tables


@pytest.mark.unit
def test_occurrences_counts_whole_numbers_only():
    assert occurrences("1,258", "1,258 and 11,258 and 1,2580 and (1,258)") == 2
    assert occurrences("90.00\u00a0%", "90.00 % 190.00 % 90.00\n%") == 2


def test_arithmetic_that_does_not_add_up_is_named(tiny_build):
    results = copy.deepcopy(tiny_build.results)
    assert checks.arithmetic(results)[0] == []
    model = results["models"]["tiny_cnn"]
    model["total_params"] += 1
    model["layers"][0]["formula"] = model["layers"][0]["formula"].rsplit("=", 1)[0] + "= 41"
    messages = [m for m, _ in checks.arithmetic(results)[0]]
    assert any("its layers add up to" in m and "total params" in m for m in messages)
    assert any("layer conv1" in m and "does not hold" in m for m in messages)


def test_failed_runs_are_findings_and_diverged_runs_notes(tiny_build):
    results = copy.deepcopy(tiny_build.results)
    results["runs"]["sgd"].update(status="failed", error="out of memory at batch size 64 on cpu", test=None)
    found, notes, _ = checks.run_outcomes(results)
    assert [m for m, _ in found] == ["run sgd failed: out of memory at batch size 64 on cpu"]
    assert notes == ["run wild diverged at epoch 1"]


@pytest.mark.unit
def test_unusable_input_exits_2_with_one_message(tmp_path):
    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "report.html").write_text("<html><body><p>made by hand</p></body></html>", "utf-8")
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "report.html").write_bytes(b"\xff\xfe\x00garbage")
    for folder, message in ((tmp_path / "empty", "no report.html"), (other, "is it a report made by reportgen"),
                            (binary, "not a UTF-8 HTML report"), (tmp_path / "missing", "no such file or folder")):
        result = cli("check", folder)
        assert result.exit_code == 2 and message in result.output, result.output


def test_check_does_not_import_torch_even_when_it_re_renders(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team07", manifest=True)
    code = ("import sys; from reportgen.cli import main; sys.argv = ['reportgen', 'check', sys.argv[1], '--no-pdf']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "banned = [m for m in ('torch', 'torchvision', 'timm', 'sklearn') if m in sys.modules]\n"
            "print('BANNED', banned); sys.exit(code)")
    out = subprocess.run([sys.executable, "-c", code, str(sub)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    assert "BANNED []" in out.stdout and "level: re-rendered" in out.stdout


def test_an_unreadable_pdf_is_a_finding_not_a_crash(tiny_build, tmp_path):
    sub = _submission(tiny_build, tmp_path / "team08")
    (sub / "report.pdf").write_bytes((sub / "report.pdf").read_bytes()[:2000])
    found = check_submission(sub).findings
    assert [f.check for f in found] == ["pdf"] and "report.pdf cannot be read" in found[0].message
