"""Rubrics and gradebook exports, torch-free: a bad rubric is one located message, each automatic criterion is scored
from rows built as grade builds them (facts of the committed golden results), and the Gradescope tests and the Canvas
and Moodle CSVs read back against the formats docs/rubrics.md describes."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from golden import golden_manifest, golden_results
from reportgen.errors import UserError
from reportgen.grading.check.facts import facts
from reportgen.grading.grade.gradebook import (CANVAS_FIXED, CANVAS_POINTS_ROW, MOODLE_FIXED, canvas_csv,
                                               export_warnings, moodle_csv, unlisted)
from reportgen.grading.grade.rows import row
from reportgen.grading.grade.rubric import RubricError, load_rubric, parse_rubric, rubric_schema
from reportgen.grading.grade.scoring import gradescope_tests, gradescope_total, score

pytestmark = pytest.mark.unit

RUBRIC = """\
title: CNN assignment
criteria:
  - {id: clean, title: Every check passes, points: 10, auto: check_clean}
  - {id: reproduced, points: 10, auto: verify_reproduced}
  - {id: comparison, points: 5, auto: {section: comparison}}
  - {id: repeats, points: 5, auto: comparison_with_repeats}
  - {id: accuracy, points: 20, auto: {accuracy_above: 0.8, run: adam, partial: 0.5}}
  - {id: full, points: 5, auto: not_smoke}
  - {id: original, points: 10, auto: {similarity_below: 0.6}}
  - {id: discussion, title: Discussion of results, points: 35, manual: true}
"""


def problems(text: str) -> str:
    """The message of the RubricError a rubric text raises."""
    with pytest.raises(RubricError) as caught:
        parse_rubric(text, "rubric.yaml")
    assert isinstance(caught.value, UserError) and caught.value.exit_code == 2
    return str(caught.value)


def only(text: str) -> str:
    """The one problem of a rubric text, as its line shows it."""
    message = problems(text)
    lines = message.splitlines()
    assert lines[0] == "1 problem in the rubric:", message
    return lines[1].strip()


# --- the rubric file ------------------------------------------------------------------------------------------------

def test_a_rubric_reads_with_titles_and_totals(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_text(RUBRIC, "utf-8")
    rubric = load_rubric(path)
    assert [c.id for c in rubric.criteria] == ["clean", "reproduced", "comparison", "repeats", "accuracy", "full",
                                               "original", "discussion"]
    assert rubric.criteria[1].label == "Re-runs reproduce the results"
    assert rubric.criteria[4].label == "Test accuracy of adam at least 80 %"
    assert (rubric.auto_possible, rubric.manual_possible, rubric.needs_similarity) == (65, 35, True)


@pytest.mark.parametrize("text, expected", [
    ("criteria:\n  - {id: a, points: 1, auto: check_clean, titel: x}\n",
     "rubric.yaml:2:43: criteria[0].titel: unknown key 'titel' (did you mean 'title'?)"),
    ("criteria:\n  - id: a\n    points: 1\n    auto: {accuracy_above: 0.9, runn: base}\n",
     "rubric.yaml:4:33: criteria[0].auto.runn: unknown key 'runn' (did you mean 'run'?)"),
    ("criteria:\n  - {id: a, points: 1, auto: check_cleen}\n",
     "rubric.yaml:2:24: criteria[0].auto: unknown automatic criterion 'check_cleen' (did you mean 'check_clean'?)"),
    ("criteria:\n  - {id: a, points: 1, auto: {section: comparisn}}\n",
     "rubric.yaml:2:31: criteria[0].auto.section: unknown section kind 'comparisn' (did you mean 'comparison'?)"),
    ("criteria:\n  - {id: a, points: 1, auto: {accuracy: 0.9}}\n",
     "rubric.yaml:2:24: criteria[0].auto: unknown 'accuracy': auto is one of check_clean, verify_reproduced, "
     "comparison_with_repeats, not_smoke, or a mapping with one of section, accuracy_above, similarity_below "
     "(did you mean 'accuracy_above'?)"),
    ("criteria:\n  - {id: a, points: 1, auto: check_clean}\n  - {id: b, points: -5, auto: not_smoke}\n",
     "rubric.yaml:3:13: criteria[1].points: must be > 0 (got -5)"),
    ("criteria:\n  - {id: a, points: 1, auto: {accuracy_above: 90}}\n",
     "rubric.yaml:2:31: criteria[0].auto.accuracy_above: must be ≤ 1 (a fraction: 0.9 for 90 %) (got 90)"),
    ("criteria:\n  - {id: a, points: '10', manual: true}\n",
     "rubric.yaml:2:13: criteria[0].points: input should be a valid number (got '10')"),
    ("criteria:\n  - {id: a, points: 1, auto: check_clean}\n  - {id: a, points: 2, manual: true}\n",
     "rubric.yaml:3:6: criteria[1].id: duplicate id 'a' (first used by criteria[0])"),
    ("criteria:\n  - {id: a, points: 1, auto: check_clean, manual: true}\n",
     "rubric.yaml:2:24: criteria[0].auto: give exactly one of `auto` (scored by reportgen) and `manual: true` "
     "(left for the grader)"),
    ("criteria:\n  - {id: a, points: 1}\n",
     "rubric.yaml:2:5: criteria[0]: give exactly one of `auto` (scored by reportgen) and `manual: true` "
     "(left for the grader)"),
    ("criteria:\n  - {id: a, points: 1, auto: {accuracy_above: 0.8, partial: 0.9}}\n",
     "rubric.yaml:2:52: criteria[0].auto.partial: must be < accuracy_above (0.8): the accuracy that earns 0 points"),
    ("criteria:\n  - {id: a, points: 1, auto: {similarity_below: 0.6, partial: 0.4}}\n",
     "rubric.yaml:2:54: criteria[0].auto.partial: must be > similarity_below (0.6): the similarity that earns 0 "
     "points"),
    ("title: x\n", "rubric.yaml:1:1: missing required key 'criteria'"),
    ("- a\n- b\n", "rubric.yaml:1:1: a rubric is a mapping with `criteria:` (and an optional `title:`)"),
])
def test_a_bad_rubric_is_one_located_message(text, expected):
    assert only(text) == expected


def test_malformed_yaml_is_located():
    message = only("criteria:\n  - {id: a, points: 1, auto: [check_clean}\n")
    assert message.startswith("rubric.yaml:2:") and "invalid YAML" in message


def test_a_yaml_alias_bomb_is_refused_before_it_expands():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{k}: &{k} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, k in zip("abcdefgh", "bcdefghi")) + "criteria: []\n"
    assert "refusing to expand" in only(bomb)


def test_an_unreadable_rubric_is_a_user_error(tmp_path):
    path = tmp_path / "rubric.yaml"
    path.write_bytes(b"title: caf\xe9\n")
    with pytest.raises(RubricError, match="not UTF-8"):
        load_rubric(path)
    with pytest.raises(RubricError, match="cannot read the rubric"):
        load_rubric(tmp_path / "missing.yaml")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # nobody writes to it: a blocking open would wait forever
    with pytest.raises(RubricError, match="not a regular file"):
        load_rubric(fifo)
    with pytest.raises(RubricError, match="Is a directory"):
        load_rubric(tmp_path)


def test_the_schema_accepts_the_example_and_refuses_an_unknown_key():
    import jsonschema  # a test dependency

    schema = rubric_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    import yaml

    assert not list(validator.iter_errors(yaml.safe_load(RUBRIC)))
    assert list(validator.iter_errors({"criteria": [{"id": "a", "points": 1, "auto": "check_clean", "x": 1}]}))


# --- scoring rows as grade builds them --------------------------------------------------------------------------------

def outcome(results: dict, folder: str = "team01", **more) -> dict:
    """A recorded outcome as checking.grade_one writes it, its facts from real results (sections as check adds them)."""
    shown = {**facts(results), "sections": [s.kind for s in golden_manifest().sections], "check_level": "re-rendered"}
    record = {"facts": json.loads(json.dumps(shown)), "findings": [], "notes": [], "checks": [], "exit_code": 0}
    base = {"folder": folder, "path": f"/class/{folder}", "report": record, "error": None,
            "verification": {"status": "not verified"}, "seconds": 1.0}
    for key, value in more.items():
        (record if key in ("findings",) else record["facts"] if key in ("sections", "check_level", "smoke") else
         base)[key] = value
    return base


def graded(results: dict, folder: str = "team01", **more) -> dict:
    """grade's row, with the rubric's keys as rows.row() adds them."""
    o = outcome(results, folder, **more)
    r = row(o, False)
    f = (o["report"] or {}).get("facts") or {}
    r.setdefault("sections", [str(s) for s in f["sections"]] if isinstance(f.get("sections"), list) else None)
    r.setdefault("repeated_runs", dict(f["repeated_runs"]) if isinstance(f.get("repeated_runs"), dict) else None)
    r.setdefault("comparisons", [[str(x) for x in c] for c in f["comparisons"]]
                 if isinstance(f.get("comparisons"), list) else None)
    r.setdefault("run_accuracy", {str(k): v.get("test_accuracy") for k, v in (f.get("runs") or {}).items()})
    return r


@pytest.fixture(scope="module")
def rubric():
    return parse_rubric(RUBRIC, "rubric.yaml")


def repeated() -> dict:
    """The golden results as if both runs had 3 seeds and a comparison tested them."""
    results = golden_results()
    for run in results["runs"].values():
        run["aggregate"] = {"n": 3}
    results["paired"] = [{"runs": ["adam", "sgd"]}]
    return results


def by_id(scored) -> dict:
    return {c.id: c for c in scored.criteria}


def test_a_clean_full_build_scores_what_its_facts_show(rubric):
    r = graded(repeated(), verification={"status": "reproduced", "detail": "2 runs reproduced"})
    s = by_id(score(rubric, r, 0.2, True))
    assert {k: c.points_earned for k, c in s.items()} == {"clean": 10, "reproduced": 10, "comparison": 5,
                                                          "repeats": 5, "accuracy": 20, "full": 5, "original": 10,
                                                          "discussion": None}
    assert s["repeats"].detail == "compares adam (3 seeds), sgd (3 seeds)"
    assert s["accuracy"].detail == "adam: 85.83 % ≥ 80.00 %"
    assert s["comparison"].detail.startswith("a comparison section (section 8 of ")
    assert s["discussion"].status == "manual"
    assert [s[k].shown for k in ("clean", "discussion")] == ["10/10", "by hand (35)"]
    total = score(rubric, r, 0.2, True)
    assert (total.earned, total.possible, total.manual, total.not_scored) == (65, 65, 35, [])


def test_unknown_facts_are_not_scored_and_say_why(rubric):
    r = graded(golden_results(), sections=None, check_level="embedded results only (no manifest)")
    s = score(rubric, r, None, False)
    got = by_id(s)
    assert s.not_scored == ["reproduced", "comparison", "original"]
    assert got["reproduced"].detail == "not verified: grade with --verify to score it"
    assert got["reproduced"].shown == "not scored (10)"
    assert got["comparison"].detail.startswith("the report's sections are unknown")
    assert got["original"].detail == "similarity was not compared: grade with --similarity to score it"
    assert got["clean"].points_earned == 0 and "hand in the manifest" in got["clean"].detail
    assert got["repeats"].points_earned == 0 and got["repeats"].detail.startswith("the report compares no runs")


def test_each_failed_criterion_earns_nothing_with_its_reason(rubric):
    results = golden_results()
    results["smoke"] = True
    finding = {"check": "numbers", "message": "runs.adam.test.accuracy shows 99 %", "where": {}}
    r = graded(results, findings=[finding], verification={"status": "differs", "detail": "adam: accuracy 0.5 vs 0.8"})
    r["sections"] = ["cover", "training"]
    s = by_id(score(rubric, r, 0.9, True))
    assert {k: c.points_earned for k, c in s.items() if k != "discussion"} == {
        "clean": 0, "reproduced": 0, "comparison": 0, "repeats": 0, "accuracy": 20, "full": 0, "original": 0}
    assert s["clean"].detail == "1 finding(s): numbers"
    assert s["reproduced"].detail == "differs: adam: accuracy 0.5 vs 0.8"
    assert s["comparison"].detail == "no comparison section; the report has cover, training"
    assert s["full"].detail == "a smoke build (reportgen build --smoke)"
    assert s["original"].detail == "highest similarity 0.90 ≥ 0.6"


@pytest.mark.parametrize("auto, expected, detail", [
    ("{accuracy_above: 0.8, run: best}", 1, "adam: 85.83 % ≥ 80.00 %"),
    ("{accuracy_above: 0.9, run: sgd}", 0, "sgd: 50.28 % < 90.00 %"),
    ("{accuracy_above: 0.9, run: sgd, partial: 0.3}", 0.338,
     "sgd: 50.28 % < 90.00 %, 34 % of the points (0 at 30.00 %)"),
    ("{accuracy_above: 0.5, run: nope}", 0, "no run or experiment 'nope' in the results"),
    ("{similarity_below: 0.5, partial: 0.9}", 0.25, "highest similarity 0.80 ≥ 0.5, 25 % of the points (0 at 0.9)"),
    ("{similarity_below: 0.8}", 0, "highest similarity 0.80 ≥ 0.8"),
])
def test_thresholds_and_partial_credit(auto, expected, detail):
    rubric = parse_rubric(f"criteria:\n  - {{id: x, points: 10, auto: {auto}}}\n", "rubric.yaml")
    c = score(rubric, graded(golden_results()), 0.8, True).criteria[0]
    assert c.points_earned == pytest.approx(10 * expected, abs=0.01) and c.detail == detail


def test_an_unusable_submission_earns_nothing_but_its_similarity(rubric):
    o = {"folder": "broken", "path": "/class/broken", "report": None, "error": "no report.html",
         "verification": {"status": "not verified"}}
    s = score(rubric, row(o, False), 0.1, True)
    assert s.earned == 10 and by_id(s)["clean"].detail == "the submission could not be checked: no report.html"


def test_gradescope_tests_carry_score_and_max_score(rubric):
    s = score(rubric, graded(repeated()), None, False)
    tests = json.loads(json.dumps(gradescope_tests(s)))
    assert len(tests) == len(rubric.criteria) and len({t["name"] for t in tests}) == len(tests)
    assert all(t["status"] in ("passed", "failed") and isinstance(t["output"], str) for t in tests)
    scored = [t for t in tests if "score" in t]
    assert all(0 <= t["score"] <= t["max_score"] for t in scored)
    assert sum(t["score"] for t in scored) == gradescope_total(s) == s.earned == 45
    assert [t["name"] for t in tests if "score" not in t] == [
        "Re-runs reproduce the results [reproduced] (not scored, 10 points)",
        "Similarity to other submissions below 0.6 [original] (not scored, 10 points)",
        "Discussion of results [discussion] (graded by hand, 35 points)"]


# --- gradebook files -------------------------------------------------------------------------------------------------

def a_class(rubric):
    """Three teams: the golden one, one with a formula for a name and a shared id, one without ids."""
    first = graded(repeated(), "team01", verification={"status": "reproduced", "detail": ""})
    second = graded(golden_results(), "team02")
    second["team"] = [{"name": "=HYPERLINK(\"http://x\")", "id": "S100"}, {"name": "Carol", "id": "T002"}]
    third = graded(golden_results(), "team03")
    third["team"] = [{"name": "Dan", "id": ""}]
    rows = [first, second, third]
    return rows, [score(rubric, r, 0.2, True) for r in rows]


def read(text: str) -> list[list[str]]:
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text)))


def test_canvas_csv_has_canvas_columns_points_possible_and_one_line_per_student(rubric):
    rows, scored = a_class(rubric)
    lines = read(canvas_csv(rows, scored, rubric))
    assert lines[0] == CANVAS_FIXED + ["CNN assignment"] == ["Student", "ID", "SIS User ID", "SIS Login ID",
                                                              "Section", "CNN assignment"]
    assert lines[1] == [CANVAS_POINTS_ROW, "", "", "", "", "65"]
    students = lines[2:]
    # T002 is in team01 and team02: left out (and warned), as is team03's student without an id
    assert [line[2] for line in students] == ["T001", "S100"]
    assert all(len(line) == 6 and float(line[5]) >= 0 for line in students)
    assert students[0][0] == "Ada Lovelace" and float(students[0][5]) == 65
    assert students[1][0] == "'=HYPERLINK(\"http://x\")"
    with_id = rubric.model_copy(update={"canvas_assignment_id": 4321})
    assert read(canvas_csv(rows, scored, with_id))[0][-1] == "CNN assignment (4321)"


def test_moodle_csv_has_an_id_number_the_grade_and_its_feedback(rubric):
    rows, scored = a_class(rubric)
    lines = read(moodle_csv(rows, scored, rubric))
    assert lines[0] == MOODLE_FIXED + ["CNN assignment", "CNN assignment feedback"]
    assert [(line[0], line[1]) for line in lines[1:]] == [("T001", "Ada Lovelace"),
                                                          ("S100", "'=HYPERLINK(\"http://x\")")]
    feedback = lines[1][3]
    assert float(lines[1][2]) == 65 and feedback.startswith("65/65 automatic points, 35 more graded by hand. ")
    assert "Every check passes: 10/10 (every check passed" in feedback and "\n" not in feedback


def test_teams_without_ids_and_shared_ids_are_reported(rubric):
    rows, _ = a_class(rubric)
    assert unlisted(rows) == ["team03"]
    assert export_warnings(rows) == [
        "team03: its team lists no student ids, so the gradebook files leave it out",
        "student id T002 is in 2 submissions (team01, team02); left out of the gradebook files: grade that student "
        "by hand"]
    unverified = [score(rubric, r, 0.2, True) for r in rows[1:]]
    assert export_warnings(rows[1:], unverified)[1] == (
        "criterion reproduced is not scored in 2 submissions (not verified: grade with --verify to score it): the "
        "gradebook files count it as 0")


def test_similarity_is_not_scored_where_part_of_the_submission_was_not_compared_and_never_names_partners(rubric):
    r = graded(golden_results(), similar_to=[{"folder": "team07", "score": 0.3, "slug": "x"}])
    assert "team07" not in by_id(score(rubric, r, 0.3, True))["original"].detail  # the detail reaches students
    r["similarity_gaps"] = ["report.html, student text 1: over 512 KiB of prose and code, not compared", "other"]
    original = by_id(score(rubric, r, 0.3, True))["original"]
    assert original.points_earned is None and original.status == "not scored"
    assert original.detail == ("part of the submission was not compared (report.html, student text 1: over 512 KiB "
                               "of prose and code, not compared and 1 more): left for the grader")
    assert by_id(score(rubric, r, 0.9, True))["original"].points_earned == 0  # found similar all the same
