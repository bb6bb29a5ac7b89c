"""`grade --similarity --rubric --export --gradescope` end to end on real builds: two teams whose runs are the same,
one whose results were edited; the pages, the scores and the gradebook files read back."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from lxml import html as lxml_html

from browser import needs_axe, open_page
from conftest import cli
from test_grade import _edit_results, _submit

pytestmark = pytest.mark.slow

RUBRIC = """\
title: Tiny assignment
criteria:
  - {id: clean, points: 10, auto: check_clean}
  - {id: full, points: 5, auto: not_smoke}
  - {id: accuracy, points: 20, auto: {accuracy_above: 0.05, run: base}}
  - {id: comparison, points: 5, auto: {section: comparison}}
  - {id: original, points: 10, auto: {similarity_below: 0.6}}
  - {id: discussion, title: Discussion, points: 50, manual: true}
"""


@pytest.fixture(scope="module")
def graded(tiny_build, tmp_path_factory) -> Path:
    """A class of three graded with every class-wide option: `first` (the tiny build), `second` (the same runs
    re-rendered under another team with other ids) and `edited` (first's results edited); the output folder."""
    tmp = tmp_path_factory.mktemp("grade-class")
    root = tmp / "class"
    _submit(tiny_build.out, root / "first", tiny_build.manifest)
    _edit_results(_submit(tiny_build.out, root / "edited", tiny_build.manifest))
    work = tmp / "second-work"
    work.mkdir()
    shutil.copy2(tiny_build.manifest.parent / "intro.md", work / "intro.md")
    manifest = work / tiny_build.manifest.name
    text = tiny_build.manifest.read_text("utf-8")
    manifest.write_text(text.replace('id: "T001"', 'id: "T101"').replace('id: "T002"', 'id: "T102"')
                        .replace("name: Bob Builder", "name: Carol Copier"), "utf-8")
    shutil.copytree(tiny_build.out, work / "out")  # its cache: render trains nothing
    result = cli("render", manifest, "--out", work / "out")
    assert result.exit_code == 0, result.output
    _submit(work / "out", root / "second", manifest)
    (tmp / "rubric.yaml").write_text(RUBRIC, "utf-8")
    out = tmp / "out"
    result = cli("grade", root, "--out", out / "grades.csv", "--rubric", tmp / "rubric.yaml", "--export",
                 "canvas,moodle", "--gradescope", "--similarity")
    assert result.exit_code == 1, result.output  # `edited` has findings
    (out / "stdout.txt").write_text(result.output, "utf-8")
    return out


def _csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8"))))


def test_the_copied_runs_are_found_similar_and_identical(graded):
    pairs = json.loads((graded / "grades-similarity" / "pairs.json").read_text("utf-8"))
    found = {(p["a"], p["b"]): p for p in pairs["pairs"]}
    assert ("first", "second") in found, pairs
    first_second = found[("first", "second")]
    # the same manifest under another team, the same runs; the tiny prose is too short to count (under 30 prints)
    assert first_second["scores"]["runs"] == 1.0 and first_second["scores"]["design"] == 1.0
    assert first_second["scores"]["code"] is None
    assert any({"first", "second"} <= set(g) for g in pairs["identical_runs"]), pairs["identical_runs"]
    page = lxml_html.fromstring((graded / "grades.html").read_text("utf-8"))
    links = [a.get("href") for a in page.iter("a") if (a.get("href") or "").startswith("grades-similarity/")]
    assert links, "each similar row and pair links to its side-by-side page"
    for href in links:
        assert (graded / href).is_file(), href
    pair_page = lxml_html.fromstring((graded / links[0]).read_text("utf-8"))
    assert pair_page.xpath("//mark"), "the matching passages are highlighted"
    assert "identical to" in (graded / "stdout.txt").read_text("utf-8")


def test_rubric_scores_in_csv_and_gradescope(graded):
    rows = {r["folder"]: r for r in csv.DictReader(io.StringIO((graded / "grades.csv").read_text("utf-8")))}
    assert rows["first"]["score_possible"] == "50" and rows["first"]["score_manual_possible"] == "50"
    assert rows["first"]["score[clean]"] == "10" and rows["edited"]["score[clean]"] == "0"
    assert rows["first"]["score[original]"] == "0", "first's runs are the same as second's"
    assert float(rows["first"]["score"]) == sum(float(rows["first"][f"score[{c}]"])
                                                for c in ("clean", "full", "accuracy", "comparison", "original"))
    scope = json.loads((graded / "gradescope" / "first" / "results.json").read_text("utf-8"))
    scored = [t for t in scope["tests"] if "max_score" in t]
    assert {t["max_score"] for t in scored} == {10, 5, 20}
    assert all(0 <= t["score"] <= t["max_score"] for t in scored if "score" in t)
    assert scope["score"] == float(rows["first"]["score"])


def test_canvas_and_moodle_files_follow_their_import_formats(graded):
    canvas = _csv(graded / "grades-canvas.csv")
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[0][5] == "Tiny assignment"
    assert canvas[1][0].strip() == "Points Possible" and float(canvas[1][5]) == 50
    students = {r[2]: r for r in canvas[2:]}
    # first and edited share their team's ids: whose grade counts cannot be said, so both are left out
    assert set(students) == {"T101", "T102"}, canvas
    assert all(float(r[5]) >= 0 for r in students.values())
    moodle = _csv(graded / "grades-moodle.csv")
    assert moodle[0][0] == "ID number" and "Tiny assignment" in moodle[0]
    assert {r[0] for r in moodle[1:]} == {"T101", "T102"}
    assert "T001" in (graded / "stdout.txt").read_text("utf-8"), "the shared ids are named in a warning"


@needs_axe
def test_overview_and_pair_page_fit_390_and_1280_px_and_pass_axe(graded):
    """The overview with its rubric and similarity columns and pairs table, and a pair's side-by-side page: no
    sideways scroll, no word broken inside, no WCAG 2.1 A/AA violation, light and dark."""
    pair = next((graded / "grades-similarity").glob("pair-*.html"))
    for page in (graded / "grades.html", pair):
        for width, dark in ((390, False), (1280, False), (1280, True)):
            seen = open_page(page, width, dark=dark)
            assert seen["scrollWidth"] <= seen["clientWidth"], (page.name, width, dark, seen)
            assert seen["outside"] == [] and seen["broken"] == [], (page.name, width, dark, seen)
            assert seen["violations"] == [], (page.name, width, dark, seen)
