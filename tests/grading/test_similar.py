"""Similarity between submissions: planted relations found, unrelated and starter-only teams not, hostile input
survived, pair pages escaped."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser import needs_axe, open_page
from conftest import TINY_PROSE
from similar_class import own_team, starter, write_class, write_team

from reportgen.grading.grade.rubric import parse_rubric
from reportgen.grading.grade.scoring import score
from reportgen.grading.similar import DEFAULT_THRESHOLD, compare_class, pair_page
from reportgen.grading.similar.sources import FILE_LIMIT, TEXT_BUDGET, read_sources
from reportgen.grading.similar.winnow import code_tokens, prose_tokens, winnow
from reportgen.textsafe import json_text

unit = pytest.mark.unit  # torch-free


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return write_class(tmp_path_factory.mktemp("similar"))


@pytest.fixture(scope="module")
def result(planted):
    return compare_class(planted.folders(), base=planted.base)


@unit
def test_every_planted_pair_is_found_by_its_kind_and_no_other_pair(planted, result):
    found = {(p.a, p.b): p for p in result.pairs}
    for (a, b), kind in planted.pairs.items():
        assert (a, b) in found, (a, b, kind, [(p.a, p.b, p.scores) for p in result.pairs])
        assert found[(a, b)].scores[kind] >= DEFAULT_THRESHOLD, (a, b, found[(a, b)].scores)
        assert found[(a, b)].passages.get(kind) or kind == "runs", (a, b, kind)
    assert set(found) == set(planted.pairs), sorted(set(found) - set(planted.pairs))
    for name in [*planted.unrelated, planted.starter_only]:
        assert result.partners(name) == [] and result.highest(name) < DEFAULT_THRESHOLD, name
    assert result.pairs == sorted(result.pairs, key=lambda p: -p.score)


@unit
def test_the_starter_only_team_matches_nobody_and_base_content_is_not_counted(planted, result):
    assert result.highest(planted.starter_only) == 0.0
    a, b = planted.unrelated[:2]
    three = [planted.root / n for n in planted.unrelated[:3]]
    # every team holds the starter's introduction, module, model and run: without the base they match
    pair = next(p for p in compare_class(three).pairs if (p.a, p.b) == (a, b))
    assert pair.scores["prose"] == 1.0 and pair.scores["code"] == 1.0 and pair.scores["runs"] == 1.0
    assert pair.scores["design"] > 0
    assert compare_class(three, base=planted.base).pairs == []
    # in the whole class, the starter's introduction is held by more than a fifth: not counted even without base
    pair = next(p for p in compare_class(planted.folders()).pairs if (p.a, p.b) == (a, b))
    assert pair.scores["prose"] < DEFAULT_THRESHOLD and pair.scores["runs"] == 1.0
    assert result.highest(a) < DEFAULT_THRESHOLD


@unit
def test_passages_show_both_sides_with_marks_and_the_record_is_json_without_paths(planted, result):
    pair = next(p for p in result.pairs if (p.a, p.b) == ("t01", "t02"))
    top = pair.passages["prose"][0]
    assert top.a.source == "discussion.md" and top.b.source == "discussion.md"
    for side in (top.a, top.b):
        assert side.lines[0] >= 1 and side.marks and all(0 <= s < e <= len(side.text) for s, e in side.marks)
    code = next(p for p in result.pairs if (p.a, p.b) == ("t03", "t04")).passages["code"][0]
    assert code.a.source == "net.py" and "renamed_" in code.b.text and "renamed_" not in code.a.text
    text = json_text(result.record())
    assert str(planted.root) not in text and json.loads(text)["pairs"][0]["slug"].startswith("pair-")
    assert all(re.fullmatch(r"pair-[0-9a-f]{32}", p.slug) for p in result.pairs)


@unit
def test_identical_runs_only_when_every_seed_is_identical(tmp_path):
    start = starter()
    team = own_team("ta", 7)
    write_team(tmp_path / "base", start, start)
    write_team(tmp_path / "class" / "ta", team, start)
    write_team(tmp_path / "class" / "tb", own_team("tb", 8), start)
    copied = copy.deepcopy(team)
    copied.discussion, copied.code = own_team("tc", 9).discussion, ""
    write_team(tmp_path / "class" / "tc", copied, start)
    folders = sorted((tmp_path / "class").iterdir())
    same = compare_class(folders, base=tmp_path / "base")
    assert same.groups_identical == [["ta", "tc"]]
    pair = same.partners("ta")[0]
    assert (pair.a, pair.b, pair.identical_runs) == ("ta", "tc", True) and pair.scores["runs"] == 1.0

    # the first seed the same, a later one edited by a hair: not identical, but that seed is near-identical
    later = copied.results["runs"]["own"]["repeats"][2]
    later["epochs"][1]["train_loss"] *= 1.0001
    shutil.rmtree(tmp_path / "class" / "tc")
    write_team(tmp_path / "class" / "tc", copied, start)
    edited = compare_class(folders, base=tmp_path / "base")
    assert edited.groups_identical == []
    pair = edited.partners("ta")[0]
    assert pair.identical_runs is False
    relations = {(m.a, m.relation) for m in pair.runs}
    assert ("run own seed 3", "near-identical") in relations and ("run own seed 1", "identical") in relations


def _hostile(folder: Path, outside: Path) -> None:
    folder.mkdir()
    (folder / "notes.md").symlink_to(outside)
    os.mkfifo(folder / "pipe.md")
    with open(folder / "huge.md", "wb") as fh:
        fh.truncate(FILE_LIMIT + 1)
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [f"{c}: &{c} [{', '.join(['*' + p] * 9)}]"
                                                     for p, c in zip("abcdefgh", "bcdefghi")]
    (folder / "manifest.yaml").write_text("\n".join(levels) + "\n", "utf-8")
    (folder / "\x1b[2Jevil\u202e.md").write_text("Words \x1b]52;c;cm0=\x07 and more\n", "utf-8")
    (folder / "results.json").write_text("[" * 100_000 + "]" * 100_000, "utf-8")


@unit
def test_hostile_submissions_are_notes_or_unreadable_never_a_crash(tmp_path):
    secret = tmp_path / "secret.md"
    secret.write_text(" ".join(["secret words never to be read"] * 50), "utf-8")
    root = tmp_path / "class"
    root.mkdir()
    _hostile(root / "evil", secret)
    (root / "empty").mkdir()
    (root / "afile").write_text("not a folder", "utf-8")
    (root / "link").symlink_to(tmp_path)
    (root / "copy").mkdir()
    shutil.copy(secret, root / "copy" / "notes.md")
    found = compare_class(sorted(root.iterdir()))
    assert set(found.unreadable) == {"empty", "afile", "link"}, found.unreadable
    assert found.pairs == [] and found.highest("evil") == 0.0 and found.highest("empty") is None
    notes = "\n".join(found.notes["evil"])
    for says in ("notes.md is a link leading out", "pipe.md is a fifo", "huge.md is", "manifest.yaml not compared",
                 "results.json not compared"):
        assert says in notes, notes
    assert "\x1b" not in notes and "\x1b" not in json_text(found.record())
    evil = read_sources(root / "evil")
    assert [d.name for d in evil.documents] == ["\\x1b[2Jevil\\u202e.md"]


@unit
def test_a_class_that_hands_in_megabytes_of_prose_is_read_up_to_the_budget(tmp_path):
    """Each submission is read up to TEXT_BUDGET characters of prose and code, whatever it holds: three files of
    400 kB each, the same in both folders, are compared on their first 512 KiB and found, with a note."""
    words = [f"w{i:x}" for i in range(4096)]
    text = " ".join(words[(i * 7919) % 4096].replace("w", "q") for i in range(80_000))
    for team in ("big1", "big2"):
        for n in range(3):
            folder = tmp_path / "class" / team
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"part{n}.md").write_text(text[n:], "utf-8")
    found = compare_class(sorted((tmp_path / "class").iterdir()))
    read = read_sources(tmp_path / "class" / "big1")
    assert sum(len(d.text) for d in read.documents) == TEXT_BUDGET < 3 * len(text) - 3
    assert any("KiB of prose and code: the rest is not compared" in n for n in found.notes["big1"]), found.notes
    assert [(p.a, p.b) for p in found.pairs] == [("big1", "big2")]


@unit
def test_the_pair_page_escapes_prose_and_control_characters(tmp_path):
    start = starter()
    a, b = own_team("ta", 3), own_team("tb", 4)
    b.discussion = a.discussion = a.discussion + '\n<script>alert("x")</script> \x1b[2J ' + a.discussion[:400]
    for t in (a, b):
        write_team(tmp_path / "class" / t.name, t, start)
    found = compare_class(sorted((tmp_path / "class").iterdir()))
    page = pair_page(found.pairs[0], found.threshold)
    assert "<script" not in page and "&lt;script&gt;" in page and "\x1b" not in page and "\\x1b[2J" in page
    assert "<mark>" in page and "Content-Security-Policy" in page


@pytest.mark.slow
@needs_axe
def test_the_pair_page_fits_a_phone_and_passes_axe(planted, result, tmp_path):
    pair = next(p for p in result.pairs if (p.a, p.b) == ("t01", "t02"))
    out = tmp_path / f"{pair.slug}.html"
    out.write_text(pair_page(pair, result.threshold), "utf-8")
    for width, dark in ((390, False), (1280, False), (390, True)):
        seen = open_page(out, width, dark=dark)
        assert seen["scrollWidth"] <= seen["clientWidth"] and seen["outside"] == [], (width, seen)
        assert seen["broken"] == [] and seen["violations"] == [], (width, dark, seen)


@unit
def test_normalisation_survives_renaming_numbers_and_broken_files():
    one = code_tokens("import torch\nclass Net(torch.nn.Module):\n    def f(self, x):  # hi\n        return x + 1\n")
    two = code_tokens("import torch\nclass Other(torch.nn.Module):\n    def g(self, y):\n        '''doc'''\n"
                      "        return y + 2\n")
    assert one.words == two.words and "Module" in one.words and "Net" not in one.words
    assert code_tokens("def broken(:\n  x = 'unterminated\n").words[:2] == ["def", "V"]
    assert prose_tokens("Accuracy was 97.2 %, not 3x3.").words == ["accuracy", "was", "0", "not", "0"]


@unit
def test_fingerprints_are_the_same_in_every_process():
    words = prose_tokens(TINY_PROSE * 3).words
    here = sorted(winnow(words, 5, 4))
    code = ("import sys, json; from conftest import TINY_PROSE; from reportgen.grading.similar.winnow import *; "
            "print(json.dumps(sorted(winnow(prose_tokens(TINY_PROSE * 3).words, 5, 4))))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    there = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True).stdout)
    assert here == there and here


@pytest.mark.slow
def test_a_real_report_is_read_and_compared(tiny_build, tmp_path):
    for team in ("ta", "tb"):
        folder = tmp_path / "class" / team
        folder.mkdir(parents=True)
        for name in ("report.html", "results.json"):
            shutil.copy(tiny_build.out / name, folder / name)
        shutil.copy(tiny_build.manifest, folder / tiny_build.manifest.name)
    src = read_sources(tmp_path / "class" / "ta")
    report = [d for d in src.documents if d.name.startswith("report.html")]
    assert report and any("some bold prose with a link" in " ".join(d.tokens.words) for d in report), report
    assert src.manifest and src.results and not src.notes
    found = compare_class(sorted((tmp_path / "class").iterdir()))
    pair = found.pairs[0]
    assert pair.identical_runs and pair.scores["design"] == 1.0 and found.groups_identical == [["ta", "tb"]]


@unit
def test_a_rubric_scores_the_planted_class_by_its_similarity(planted, result):
    """`similarity_below` on the planted class: every planted partner loses the points (partially with `partial`),
    every unrelated team and the starter-only team keeps them."""
    rubric = parse_rubric("criteria:\n  - {id: original, points: 10, auto: {similarity_below: 0.5, partial: 1.0}}\n",
                          "rubric.yaml")
    row = {"error": None}
    earned = {name: score(rubric, row, result.highest(name), True).earned for name in (f.name for f in planted.folders())}
    partners = {name for pair in planted.pairs for name in pair}
    for name, points in earned.items():
        if name in partners:
            assert points < 10, (name, points, result.highest(name))
        else:
            assert points == 10, (name, points, result.highest(name))
    assert min(earned.values()) == 0, "an identical copy (score 1.0) earns nothing"


@unit
def test_hostile_runs_that_all_look_alike_are_compared_within_bounds(monkeypatch):
    """Teams of 300 seeds whose logs agree but for their last number (so every seed is a candidate for every other):
    near-identity is checked at most NEAR_CHECKS times and a seed copied outright is still found identical."""
    from reportgen.grading.similar import runs

    def seed(team: int, i: int):
        epochs = [{"epoch": e, "train_loss": 0.5, "val_loss": 0.5, "train_acc": 0.5, "val_acc": 0.5, "lr": 0.1,
                   "images": 64} for e in range(1, 41)]
        epochs[-1]["val_loss"] = 0.5 + 1e-6 * (team * 1000 + i)
        return {"seed": i, "epochs": epochs, "test": None}

    by_folder = {}
    for team in range(4):
        record = {"runs": {"r": {"digest": f"d{team}", "repeats": [seed(team, i) for i in range(300)]}}}
        by_folder[f"t{team}"] = runs.seeds(record)
    by_folder["t3"][7] = by_folder["t0"][7]  # one seed of t0 handed in by t3
    calls = [0]
    real_near = runs.near

    def counted(a, b):
        calls[0] += 1
        return real_near(a, b)

    monkeypatch.setattr(runs, "near", counted)
    found = runs.match_all(by_folder)
    assert 0 < calls[0] <= runs.NEAR_CHECKS
    assert any(m.relation == "identical" for m in found[("t0", "t3")]), found.get(("t0", "t3"))


@unit
def test_grade_writes_the_pairs_ascii_only_and_says_what_was_not_compared(tmp_path):
    """pairs.json holds the students' passages and names: every character past ASCII escaped (a bidi override or a
    C1 control in it reaches no terminal that shows the file); a file left out is said in grade's summary."""
    from reportgen.grading.grade.classwide import Across, similarity_files, similarity_lines

    start = starter()
    a, b = own_team("ta", 3), own_team("tb", 4)
    b.discussion = a.discussion = a.discussion + " \u202e\x9b31m evil " + a.discussion[:300]
    for t in (a, b):
        write_team(tmp_path / "class" / t.name, t, start)
    os.mkfifo(tmp_path / "class" / "tb" / "pipe.md")
    found = compare_class(sorted((tmp_path / "class").iterdir()))
    assert [(p.a, p.b) for p in found.pairs] == [("ta", "tb")]
    data = similarity_files(Across(similarity=found), tmp_path / "out", b"marker")[tmp_path / "out" / "pairs.json"]
    text = data.decode("ascii")  # nothing past ASCII
    assert "\\u202e" in text and "\\u009b" in text and json.loads(text)["pairs"][0]["a"] == "ta"
    lines = similarity_lines(Across(similarity=found))
    assert any("1 submission not compared in full" in line for line in lines), lines


@unit
def test_padding_the_report_or_hiding_files_cannot_take_a_copy_out_of_the_comparison(planted, tmp_path):
    (a, b), kind = next(((a, b), k) for (a, b), k in planted.pairs.items() if k == "code")
    for name in (a, b):
        shutil.copytree(planted.root / name, tmp_path / name)
    padded = tmp_path / b / "report.html"  # the budget is spent on the files first, the report's prose after
    html = padded.read_text("utf-8")
    padded.write_text(html.replace("<main>", "<main><section class=\"prose\"><p>" + "word " * 200_000 +
                                   "</p></section>", 1), "utf-8")
    hidden = tmp_path / b / "aa"
    hidden.mkdir()
    for i in range(5001):  # the listing's limit: the manifest's module is read all the same
        (hidden / f"{i}.txt").write_bytes(b"")
    deep = tmp_path / a
    for _ in range(70):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "notes.md").write_text("copied words", "utf-8")
    found = compare_class([tmp_path / a, tmp_path / b])
    assert found.pairs and found.pairs[0].scores[kind] >= DEFAULT_THRESHOLD
    notes = found.notes[b]
    assert any("files past the first 5,000 not listed" in n for n in notes), notes
    assert any("over 512 KiB" in n for n in notes), notes
    assert found.notes[a] == ["1 folder nested too deep to enter, not compared"]
