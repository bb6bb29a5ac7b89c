"""`reportgen check` re-renders a submission from its own results and manifest: an untouched build comes out byte for
byte, each forgery of the security issue is a finding located by section (or page, run and value), recomputed
statistics catch edited results, and a submission it cannot re-render falls back to the embedded results, saying why."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from reportgen.grading.check import htmldiff, recompute
from reportgen.grading.check.command import check_submission, report_json
from reportgen.grading.check.printed import Printed
from reportgen.grading.check.rerender import other_printer
from reportgen.grading.grade import rows, table

from conftest import Built, cli, write_manifest
from manifests import DATE, SMALL, manifest_text

REPEATS = manifest_text(SMALL, report={"title": "Repeated seeds", "date": DATE}, train={"measure": None},
                        experiments=[{"id": "adam", "model": "net"},
                                     {"id": "sgd", "model": "net", "train": {"optimizer": {"name": "sgd", "lr": 0.05}}}],
                        sections=[{"prose": {"text": "Adam: @{adam.accuracy} ± @{adam.accuracy.std}."}}, "comparison"])


def _hand_in(built: Built, folder: Path, pdf: bool = False) -> Path:
    """A team's hand-in: the build's report and results.json (and PDF), its manifest and the prose beside it."""
    folder.mkdir(parents=True)
    for name in ("report.html", "results.json", *(["report.pdf"] if pdf else [])):
        shutil.copy(built.out / name, folder / name)
    for source in (built.manifest, built.manifest.parent / "intro.md"):
        shutil.copy(source, folder / source.name)
    return folder


def _edit(folder: Path, change) -> None:
    """Rewrite report.html through `change`, which must change it."""
    html = (folder / "report.html").read_text("utf-8")
    edited = change(html)
    assert edited != html
    (folder / "report.html").write_text(edited, "utf-8")


def _by_check(report) -> dict[str, list]:
    """The report's findings grouped by the check that found them."""
    found: dict[str, list] = {}
    for f in report.findings:
        found.setdefault(f.check, []).append(f)
    return found


@pytest.fixture(scope="module")
def repeated(tmp_path_factory) -> Built:
    """Two settings trained with 3 seeds each, the repeats given with --set (recorded; check applies them again)."""
    folder = tmp_path_factory.mktemp("repeated")
    manifest = write_manifest(folder, REPEATS, "repeats.yaml")
    out = folder / "out"
    result = cli("build", manifest, "--out", out, "--no-pdf", "--set", "train.repeats=3")
    assert result.exit_code == 0, result.output
    return Built(manifest, out, result.output)


def test_render_is_byte_deterministic_and_an_untouched_build_checks_clean_re_rendered(tiny_build, tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(tiny_build.out / "results.json", tmp_path / name / "results.json")
        assert cli("render", tiny_build.manifest, "--out", tmp_path / name, "--no-pdf").exit_code == 0
    first = (tmp_path / "a" / "report.html").read_bytes()
    assert first == (tmp_path / "b" / "report.html").read_bytes() == (tiny_build.out / "report.html").read_bytes()
    report = check_submission(_hand_in(tiny_build, tmp_path / "team", pdf=True))
    assert not report.findings, [f.message for f in report.findings]
    assert report.level == "re-rendered" and report.facts["check_level"] == "re-rendered"
    details = {c["name"]: c["detail"] for c in report.checks}
    assert details["rerender"].startswith("byte-identical")
    assert details["pdf"].endswith("its text compared page by page with the re-rendered report's (0 difference(s))")
    assert details["manifest"] == "tiny.yaml: 3 run(s) declared, 0 problem(s)"
    data = report_json(report)
    assert data["level"] == "re-rendered" and data["clean"]
    assert not [p for p in (tmp_path / "team").iterdir() if p.name not in
                ("report.html", "report.pdf", "results.json", "tiny.yaml", "intro.md")]  # nothing written into it


SWEPT = manifest_text(SMALL, report={"title": "Two labels swept", "date": DATE}, train={"measure": None},
                      experiments=[{"id": "net", "model": "net",
                                    "sweep": {"optimizer.name": ["sgd", "adam"], "optimizer.lr": [0.1, 0.01]}}],
                      sections=["comparison"])


def test_a_sweep_over_two_labels_renders_as_it_was_built(tmp_path):
    # the labels were declared optimizer then lr; results.json sorts its keys: build and render must agree
    manifest = write_manifest(tmp_path, SWEPT, "swept.yaml")
    built = cli("build", manifest, "--out", tmp_path / "out", "--no-pdf")
    assert built.exit_code == 0, built.output
    html = (tmp_path / "out" / "report.html").read_bytes()
    assert cli("render", manifest, "--out", tmp_path / "out", "--no-pdf").exit_code == 0
    assert (tmp_path / "out" / "report.html").read_bytes() == html
    heads = re.findall(r'<th class="num varied" scope="col">(\w+)</th>', html.decode("utf-8"))
    assert heads[:2] == ["lr", "optimizer"]


def test_results_json_edited_and_re_rendered_is_caught_by_recomputed_statistics(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    results = json.loads((team / "results.json").read_text("utf-8"))
    results["runs"]["base"]["test"]["accuracy"] = 0.99
    (team / "results.json").write_text(json.dumps(results), "utf-8")
    assert cli("render", team / "tiny.yaml", "--out", team, "--no-pdf").exit_code == 0
    report = check_submission(team, with_pdf=False)
    assert set(_by_check(report)) == {"statistics"} and report.level == "re-rendered"
    wheres = [f.where for f in report.findings]
    assert {"run": "base", "value": "test.accuracy", "recorded": 0.99,
            "recomputed": tiny_build.results["runs"]["base"]["test"]["accuracy"]} in wheres
    assert any(w.get("runs", [None])[0] == "base" and w["value"] == "counts" for w in wheres)  # the paired counts


def test_an_edited_findings_sentence_is_located_in_its_section(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    sentence = re.compile(r"runner-up, sgd \((\d+\.\d+)(\s|\u00a0)%\)")
    _edit(team, lambda html: sentence.sub(lambda m: m[0].replace(m[1], "99.91"), html, count=1))
    report = check_submission(team, with_pdf=False)
    [finding] = report.findings
    assert finding.check == "rerender" and finding.where["section"] == "Comparison"
    assert "99.91" in finding.message and "runner-up, sgd" in finding.message
    assert finding.where["diff"].count("\n") <= 5 and len(finding.message) < 600


def test_a_css_after_overlay_is_a_finding(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    css = ('<style>span[data-key="runs.base.test.accuracy"] { font-size: 0 } '
           'span[data-key="runs.base.test.accuracy"]::after { content: "99.10 %"; font-size: 1rem }</style>\n')
    _edit(team, lambda html: html.replace("</head>", css + "</head>", 1))
    [finding] = check_submission(team, with_pdf=False).findings
    assert finding.check == "rerender" and finding.where["part"] == "stylesheet" and "::after" in finding.message


def test_a_hidden_real_number_beside_a_fake_one(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    keyed = re.compile(r'<span data-key="runs\.base\.test\.accuracy" data-fmt="pct">[^<]*</span>')

    def hide(html: str) -> str:
        """The evaluation table's accuracy hidden, a fake one shown beside it."""
        m = keyed.search(html, html.index("Model Evaluation"))
        return html[:m.start()] + f'<span style="display:none">{m[0]}</span>99.10 %' + html[m.end():]

    _edit(team, hide)
    [finding] = check_submission(team, with_pdf=False).findings
    assert finding.check == "rerender" and finding.where["section"] == "Model Evaluation"
    assert "display:none" in finding.message


def test_text_added_to_an_svg_figure(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    _edit(team, lambda html: html.replace("</svg>", '<text x="10" y="20">accuracy 99 %</text>\n</svg>', 1))
    [finding] = check_submission(team, with_pdf=False).findings
    assert finding.check == "rerender" and finding.where["section"] == "Model Training"
    assert finding.where["in"] == "figure" and "accuracy 99 %" in finding.message


def test_a_removed_content_security_policy_and_an_added_script(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    script = "<script>document.querySelectorAll('[data-key]').forEach(s => s.textContent = '99 %')</script>\n"

    def unlock(html: str) -> str:
        """No Content-Security-Policy, and a script that rewrites every keyed number."""
        html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>\n', "", html, count=1)
        return html.replace("</body>", script + "</body>", 1)

    _edit(team, unlock)
    found = check_submission(team, with_pdf=False).findings
    assert {f.check for f in found} == {"rerender"} and len(found) == 2
    assert found[0].where["part"] == "<head>" and "lacks" in found[0].message and "Content-Security-Policy" in \
        found[0].message
    assert found[1].where["section"] == "Provenance" and "adds «<script>" in found[1].message


def test_line_endings_changed_in_transit_are_a_note_and_an_edited_cell_is_left_to_the_numbers_check(tiny_build,
                                                                                                    tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    (team / "report.html").write_bytes((team / "report.html").read_bytes().replace(b"\n", b"\r\n"))
    report = check_submission(team, with_pdf=False)
    assert not report.findings and any("line endings (CRLF)" in n for n in report.notes)
    keyed = re.compile(r'(<span data-key="runs\.sgd\.test\.accuracy" data-fmt="pct">)[^<]*')
    _edit(team, lambda html: keyed.sub(lambda m: m[1] + "99.99 %", html, count=1))
    report = check_submission(team, with_pdf=False)
    assert [f.check for f in report.findings] == ["numbers"]
    assert next(c for c in report.checks if c["name"] == "rerender")["detail"].startswith("differs from its "
                                                                                          "re-rendering only in")


def test_a_manifest_changed_after_the_build(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    manifest = team / "tiny.yaml"
    manifest.write_text(manifest.read_text("utf-8").replace("epochs: 3", "epochs: 30", 1), "utf-8")
    report = check_submission(team, with_pdf=False)
    found = _by_check(report)
    assert "changed after the report was rendered" in found["manifest"][0].message
    assert [f.where["run"] for f in found["manifest"][1:]] == ["base"]
    assert "the manifest's settings for it changed since it ran" in found["manifest"][1].message
    assert "rerender" in found  # the manifest's hash, as the re-rendered provenance states it


def test_a_repeated_build_with_recorded_overrides_re_renders_clean(repeated, tmp_path):
    report = check_submission(_hand_in(repeated, tmp_path / "team"), with_pdf=False)
    assert not report.findings and report.level == "re-rendered", [f.message for f in report.findings]
    detail = next(c["detail"] for c in report.checks if c["name"] == "statistics")
    assert detail == ("2 run(s) from their confusion matrices, 2 repeated run(s) from their seeds, 1 paired test(s) "
                      "from their counts")


def test_a_raised_seed_and_mean_of_a_repeated_run_are_named(repeated, tmp_path):
    team = _hand_in(repeated, tmp_path / "team")
    results = json.loads((team / "results.json").read_text("utf-8"))
    adam = results["runs"]["adam"]
    second = adam["repeats"][1]
    second["test"]["accuracy"] += 0.05
    adam["aggregate"]["accuracy"]["values"][1] = second["test"]["accuracy"]
    adam["aggregate"]["accuracy"]["mean"] += 0.05 / 3
    (team / "results.json").write_text(json.dumps(results), "utf-8")
    assert cli("render", team / "repeats.yaml", "--out", team, "--no-pdf").exit_code == 0
    report = check_submission(team, with_pdf=False)
    assert set(_by_check(report)) == {"statistics"}
    named = {(f.where["run"], f.where.get("seed"), f.where.get("value")) for f in report.findings}
    assert ("adam", second["seed"], "test.accuracy") in named  # the seed against its confusion matrix
    assert ("adam", None, "aggregate.accuracy.std") in named  # the interval and spread no longer fit the values
    assert any(f"seed {second['seed']}" in f.message for f in report.findings)


def test_a_repeated_runs_mean_alone_is_named(repeated, tmp_path):
    results = json.loads((repeated.out / "results.json").read_text("utf-8"))
    results["runs"]["sgd"]["aggregate"]["accuracy"]["mean"] += 0.1
    found, _ = recompute.statistics(results)
    assert [(f[1]["run"], f[1]["value"]) for f in found] == [("sgd", "aggregate.accuracy.mean")]
    message = found[0][0]
    assert message.startswith("run sgd: aggregate.accuracy.mean is ") and "recomputed from its 3 seeds" in message


def test_paired_tests_are_recomputed_from_their_counts(repeated):
    results = json.loads((repeated.out / "results.json").read_text("utf-8"))
    assert recompute.statistics(results)[0] == []
    pair = results["paired"][0]["pairs"][0]
    pair["p"], pair["ci_low"] = pair["p"] / 10, pair["ci_low"] + 0.2
    values = sorted(f[1]["value"] for f in recompute.statistics(results)[0])
    assert values == ["paired.0.pairs.0.ci_low", "paired.0.pairs.0.p"]


def test_hand_made_shapes_of_statistics_are_findings_not_crashes(tiny_build):
    results = json.loads(json.dumps(tiny_build.results))
    results["runs"]["sgd"]["repeats"] = [{"seed": 1, "test": {"confusion_matrix": [[1, 2]]}}, 5]
    results["paired"] = [{"pairs": [{"a": "base", "b": "sgd", "n": 10 ** 12, "both": 1}]}, "junk"]
    messages = [m for m, _ in recompute.statistics(results)[0]]
    assert "run sgd, seed 1: its confusion matrix is not a square table of counts" in messages
    assert "paired test base − sgd: its counts are not counts of test items" in messages


def test_metrics_from_a_confusion_matrix_are_sklearns():
    from sklearn.metrics import precision_recall_fscore_support

    matrix = [[5, 1, 0], [2, 3, 1], [0, 0, 0]]
    true = [t for t, row in enumerate(matrix) for p, n in enumerate(row) for _ in range(n)]
    pred = [p for t, row in enumerate(matrix) for p, n in enumerate(row) for _ in range(n)]
    got = recompute.from_confusion(matrix)
    for average in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(true, pred, labels=[0, 1, 2], average=average, zero_division=0)
        assert [got[f"{k}_{average}"] for k in ("precision", "recall", "f1")] == pytest.approx([p, r, f])
    assert got["accuracy"] == pytest.approx(8 / 12) and got["support"] == 12 and got["per_class"][2]["f1"] == 0.0


def test_a_missing_manifest_falls_back_with_a_note_and_a_broken_one_is_a_finding(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "missing")
    (team / "tiny.yaml").unlink()
    report = check_submission(team, with_pdf=False)
    assert not report.findings
    assert report.level == "embedded results only (no tiny.yaml in the submission (the manifest its results name))"
    assert any(n.startswith("not re-rendered: no tiny.yaml") for n in report.notes)
    broken = _hand_in(tiny_build, tmp_path / "broken")
    (broken / "tiny.yaml").write_text("models: [unclosed\n", "utf-8")
    report = check_submission(broken, with_pdf=False)
    assert report.level.startswith("embedded results only (tiny.yaml cannot be loaded: ")
    # a manifest that is there but does not load must not turn the re-render off without a word
    [finding] = report.findings
    assert finding.check == "rerender" and "its prose, layout and figures are unchecked" in finding.message
    assert "YAML" in finding.message or "line 1" in finding.message


def test_another_reportgen_or_weasyprint_version_falls_back_and_says_so_in_a_finding(tiny_build, tmp_path):
    team = _hand_in(tiny_build, tmp_path / "team")
    _edit(team, lambda html: html.replace('content="reportgen ', 'content="reportgen 0.0.1-', 1))
    report = check_submission(team, with_pdf=False)
    assert report.level.startswith("embedded results only (made by reportgen 0.0.1-")
    # a generator line is the student's to write: a downgrade is never a clean report
    assert [f.check for f in report.findings] == ["rerender"] and "made by reportgen 0.0.1-" in report.findings[0].message
    assert other_printer(Printed(None, "", 1, producer="WeasyPrint 1.0")).startswith(
        "report.pdf was made by WeasyPrint 1.0, this machine has WeasyPrint ")


def test_a_pdf_made_from_an_edited_report_is_located_by_page(tiny_build, tmp_path):
    from reportgen.manifest.loaded import load_manifest
    from reportgen.report.document.assemble import build
    from reportgen.report.figures.cache import FigureCache
    from reportgen.report.figures.draw import draw_all
    from reportgen.report.writers.html import render_html
    from reportgen.report.writers.pdf import render_pdf
    from reportgen.results.record import parse_results

    team = _hand_in(tiny_build, tmp_path / "team", pdf=True)
    # printed as the build prints (figures as the PNGs of the build's figure cache), then edited
    loaded = load_manifest(tiny_build.manifest)
    cache = FigureCache(tiny_build.out / "cache", raster=True)
    record = parse_results(tiny_build.results)
    doc = build(record, loaded.sections, draw_all(record, loaded.sections, cache), loaded.base_dir)
    edited = render_html(doc, medium="print").replace("beats the runner-up", "crushes the runner-up")
    assert "crushes the runner-up" in edited
    digest = re.search(r'name="reportgen-results-sha256" content="([^"]+)"', edited)[1]
    (team / "report.pdf").write_bytes(render_pdf(edited, tiny_build.results["report"]["date"], digest))
    report = check_submission(team)
    assert {f.check for f in report.findings} == {"pdf"}
    [page] = report.findings
    assert "crushes the runnerup sgd" in page.where["shown"] and "beats the runnerup sgd" in page.where["rendered"]
    assert page.message.startswith(f"report.pdf page {page.where['page']}: ")


def test_pdf_text_is_compared_word_by_word_besides_page_furniture(tiny_build):
    from reportgen.grading.check import pdfdiff
    from reportgen.grading.check.printed import read_pdf

    pages = read_pdf(tiny_build.pdf_path).page_texts  # footers, contents page numbers, hyphenation, upper case
    assert pdfdiff.compare(pages, tiny_build.html)[0] == []
    edited = list(pages)
    edited[3] = edited[3].replace("1,258", "1,358", 1)
    edited[4] += "\nbest accuracy 99.10 %"
    edited[7] += "\nbest accuracy 99.10 %"  # on two pages: still not a running footer
    found = pdfdiff.compare(edited, tiny_build.html)[0]
    assert [w["page"] for _, w in found] == [4, 5, 8]
    assert "1,358" in found[0][1]["shown"] and "1,258" in found[0][1]["rendered"]
    assert all("99.10" in m for m, _ in found[1:])


@pytest.mark.unit
def test_html_differences_are_capped_per_section_and_keyed_numbers_left_to_the_numbers_check():
    page = ("<html><head><title>t</title></head>\n<body>\n<section>\n<h2><span>1</span> Results</h2>\n"
            + "".join(f'<p>row {i}: <span data-key="k{i}" data-fmt="num">{i}</span></p>\n' + "<p>same</p>\n" * 3
                      for i in range(12)) + "</section>\n</body></html>\n")
    numbers_only = page.replace('data-fmt="num">3<', 'data-fmt="num">4<')
    assert htmldiff.compare(numbers_only, page, {"k3"}) == []
    assert [w["section"] for _, w in htmldiff.compare(numbers_only, page)] == ["Results"]
    everywhere = page.replace("row ", "line ")
    found = htmldiff.compare(everywhere, page)
    assert len(found) == htmldiff.PER_SECTION + 1 and found[-1][1]["more"] == 12 - htmldiff.PER_SECTION
    assert found[0][0].startswith("Results: line 5: the submitted report has «<p>line 0")
    missing = page.replace("<h2><span>1</span> Results</h2>", "<h3>Results</h3>")
    assert any("lacks" in m and w["section"] == "Results" for m, w in htmldiff.compare(missing, page))


@pytest.mark.unit
def test_grade_rows_carry_the_check_level():
    outcome = {"folder": "team01", "report": {"facts": {"check_level": "re-rendered"}, "findings": []}}
    row = rows.row(outcome, reused=False)
    assert row["check_level"] == "re-rendered"
    header = table.columns([row])
    assert table.cells(row, [])[header.index("check_level")] == "re-rendered"
