"""`reportgen grade` on a class folder of real builds: each planted problem found by name, identical runs flagged,
the CSV, HTML and Gradescope outputs, resuming after a kill, verification, and the benchmark script."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from browser import needs_axe, open_page
from conftest import REPO, cli

FILES = ("report.html", "report.pdf", "results.json")
HOSTILE_TEAM = "Mallory <script>alert('grade')</script>"
STATE = ".reportgen-grade"
LONG_RUN = "lr_study/lr=0.0003_batch=64_augment=flip-crop"


def _submit(source: Path, folder: Path, manifest: Path | None = None) -> Path:
    """A team's hand-in: the build's three files, and its manifest with the prose beside it."""
    folder.mkdir(parents=True)
    for name in FILES:
        shutil.copy2(source / name, folder / name)
    if manifest is not None:
        shutil.copy2(manifest, folder / manifest.name)
        shutil.copy2(manifest.parent / "intro.md", folder / "intro.md")
    return folder


def _edit_results(folder: Path) -> float:
    """Change runs.base.test.accuracy in results.json (not in the report); the new value."""
    results = json.loads((folder / "results.json").read_text("utf-8"))
    results["runs"]["base"]["test"]["accuracy"] = new = 0.5 if results["runs"]["base"]["test"]["accuracy"] != 0.5 else 0.25
    (folder / "results.json").write_text(json.dumps(results, indent=2), "utf-8")
    return new


def _edit_cell(folder: Path) -> str:
    """Change the text of the first <span data-key="runs.base.test.accuracy"> in report.html; the text shown now."""
    html = (folder / "report.html").read_text("utf-8")
    pattern = re.compile(r'(<span data-key="runs\.base\.test\.accuracy"[^>]*>)([^<]*)(</span>)')
    match = pattern.search(html)
    assert match, "the tiny report shows base's test accuracy in a keyed span"
    shown = "12.34 %" if match[2] != "12.34 %" else "43.21 %"
    (folder / "report.html").write_text(html[:match.start(2)] + shown + html[match.end(2):], "utf-8")
    return shown


def _common(tiny_build, root: Path) -> Path:
    """clean, results (results.json edited), cell (a table cell edited), broken (results.json truncated)."""
    root.mkdir(parents=True)
    _submit(tiny_build.out, root / "clean", tiny_build.manifest)
    _edit_results(_submit(tiny_build.out, root / "results", tiny_build.manifest))
    _edit_cell(_submit(tiny_build.out, root / "cell", tiny_build.manifest))
    broken = _submit(tiny_build.out, root / "broken", tiny_build.manifest)
    text = (broken / "results.json").read_bytes()
    (broken / "results.json").write_bytes(text[: len(text) // 3])
    return root


@pytest.fixture(scope="module")
def fast_class(tiny_build, tmp_path_factory) -> Path:
    """The four edited copies, an empty folder, and a folder whose report.html another tool made."""
    root = _common(tiny_build, tmp_path_factory.mktemp("grade-fast") / "class")
    (root / "empty").mkdir()
    (root / "foreign").mkdir()
    (root / "foreign" / "report.html").write_text("<!DOCTYPE html><html><body><h1>Made by hand</h1></body></html>",
                                                  "utf-8")
    return root


@pytest.fixture(scope="module")
def full_class(tiny_build, tiny_smoke_build, tmp_path_factory) -> Path:
    """The six submissions: clean, results, cell, broken, a smoke build, and the clean runs under another team."""
    tmp = tmp_path_factory.mktemp("grade-full")
    root = _common(tiny_build, tmp / "class")
    _submit(tiny_smoke_build.out, root / "smoke", tiny_build.manifest)
    # the clean team's runs under another team name: copy the manifest and the out folder (cache included), rename
    # a member, re-render (render reuses the runs; it trains nothing), hand in what it wrote
    work = tmp / "renamed-work"
    work.mkdir()
    shutil.copy2(tiny_build.manifest.parent / "intro.md", work / "intro.md")
    manifest = work / tiny_build.manifest.name
    text = tiny_build.manifest.read_text("utf-8")
    assert "name: Bob Builder" in text
    manifest.write_text(text.replace("name: Bob Builder", f"name: {json.dumps(HOSTILE_TEAM)}"), "utf-8")
    shutil.copytree(tiny_build.out, work / "out")
    result = cli("render", manifest, "--out", work / "out")
    assert result.exit_code == 0, result.output
    _submit(work / "out", root / "renamed", manifest)
    return root


def _grade(folder: Path, *args: str):
    """Run grade in-process: (exit code, stdout, stdout and stderr, CSV rows by folder)."""
    result = cli("grade", folder, *args)
    out = folder / "grades.csv"
    if "--out" in args:
        out = Path(args[args.index("--out") + 1])
    rows = {}
    if out.is_file():
        rows = {r["folder"]: r for r in csv.DictReader(io.StringIO(out.read_text("utf-8")))}
    return result.exit_code, result.stdout, result.output, rows


@pytest.mark.slow
def test_each_planted_problem_is_found_by_name(fast_class, tiny_build):
    code, stdout, _, rows = _grade(fast_class, "--jobs", "2", "--fresh")
    assert code == 1
    assert sorted(rows) == ["broken", "cell", "clean", "empty", "foreign", "results"]
    findings = {name: (r["findings"], r["findings_summary"]) for name, r in rows.items()}
    assert findings == {"clean": ("0", ""), "results": ("1", "results-file"), "cell": ("1", "numbers"),
                        "broken": ("1", "results-file"), "empty": ("", ""), "foreign": ("", "")}
    assert "no report.html" in rows["empty"]["error"]
    assert "holds no reportgen results" in rows["foreign"]["error"]
    assert all(not rows[n]["error"] for n in ("clean", "results", "cell", "broken"))
    # what each finding says, from the findings files
    texts = {n: (fast_class / "grades-findings" / f"{n}.txt").read_text("utf-8") for n in rows}
    assert "runs.base.test.accuracy" in texts["results"] and "12.34 %" in texts["cell"]
    assert "results.json is not valid JSON" in texts["broken"]
    assert "could not be checked" in texts["empty"] and "clean" in texts["clean"].splitlines()[0]
    lines = {ln.split()[0]: ln for ln in stdout.splitlines() if ln and ln.split()[0] in rows}
    assert "0 findings" in lines["clean"] and "1 finding (numbers)" in lines["cell"]
    assert "unusable: " in lines["empty"] and "verification: not verified" in lines["clean"]
    assert "6 submissions: 0 from the previous run, 6 checked" in stdout
    assert "1 clean, 3 with findings, 2 unusable" in stdout
    # the four copies of one build hand in the same runs
    assert "broken, cell, clean and results hand in identical runs" in stdout
    assert rows["clean"]["identical_to"] == "broken; cell; results" and rows["empty"]["identical_to"] == ""
    # nothing was written into a submission
    handed_in = {"empty": [], "foreign": ["report.html"]}
    for name in rows:
        expected = handed_in.get(name, [*FILES, "tiny.yaml", "intro.md"])
        assert sorted(p.name for p in (fast_class / name).iterdir()) == sorted(expected)


@pytest.mark.slow
def test_a_second_run_reuses_what_is_unchanged(fast_class):
    _grade(fast_class)
    code, stdout, _, rows = _grade(fast_class)
    assert code == 1 and len(rows) == 6
    assert "6 submissions: 6 from the previous run, 0 checked" in stdout
    _edit_results(fast_class / "results")  # another value at the same key: still one finding
    code, stdout, _, rows = _grade(fast_class)
    assert "6 submissions: 5 from the previous run, 1 checked" in stdout and rows["results"]["findings"] == "1"
    _, stdout, _, _ = _grade(fast_class, "--fresh")
    assert "6 submissions: 0 from the previous run, 6 checked" in stdout


def test_csv_columns_and_values(fast_class, tiny_build):
    _grade(fast_class)
    text = (fast_class / "grades.csv").read_text("utf-8")
    header = next(csv.reader(io.StringIO(text)))
    results = tiny_build.results
    experiments = list(dict.fromkeys(r.get("group") or r["experiment"] for r in results["runs"].values()))
    assert header == ["folder", "team", "ids", "title", "manifest", "manifest_sha256", "smoke", "models",
                      *(f"best_acc[{e}]" for e in experiments), "diverged", "stalled", "failed", "findings",
                      "findings_summary", "check_level", "identical_to", "verification", "error"]
    clean = {r["folder"]: r for r in csv.DictReader(io.StringIO(text))}["clean"]
    team = results["report"]["team"]
    assert clean["team"] == "; ".join(m["name"] for m in team) and clean["ids"] == "T001; T002"
    assert clean["title"] == results["report"]["title"] and clean["manifest"] == "tiny.yaml"
    assert clean["manifest_sha256"] == hashlib.sha256(tiny_build.manifest.read_bytes()).hexdigest()
    assert clean["smoke"] == "no"
    assert clean["models"] == "; ".join(f"{n}: {m['total_params']}" for n, m in results["models"].items())
    for e in experiments:
        accuracy = max(r["test"]["accuracy"] for r in results["runs"].values()
                       if (r.get("group") or r["experiment"]) == e and r["test"].get("accuracy") is not None)
        assert clean[f"best_acc[{e}]"] == f"{accuracy * 100:.2f}"
    for status in ("diverged", "stalled", "failed"):
        assert clean[status] == "; ".join(rid for rid, r in results["runs"].items() if r["status"] == status)
    assert clean["diverged"] == "wild"
    assert clean["verification"] == "not verified" and clean["error"] == ""


def test_html_overview_escapes_links_and_marks_problems(fast_class):
    _grade(fast_class)
    html = (fast_class / "grades.html").read_text("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    assert "default-src 'none'" in csp and "script-src 'unsafe-inline'" in csp
    assert len(soup.find_all("script")) == 1 and not soup.find_all("img")  # Eve's "><img ...> stays text
    assert not soup.select("[onerror]") and "&lt;img" in html
    assert 'Eve "><img src=x onerror=alert(1)>' in soup.select_one("#row-clean").get_text()  # shown as text
    rows = {tr["id"][4:]: tr for tr in soup.select("table.grades tbody tr")}
    assert sorted(rows) == ["broken", "cell", "clean", "empty", "foreign", "results"]
    assert "problem" not in (rows["clean"].get("class") or [])
    assert all("problem" in rows[n]["class"] for n in ("broken", "cell", "empty", "foreign", "results"))
    for name, tr in rows.items():
        links = {a.text: a["href"] for a in tr.find_all("a")}
        target = (fast_class / links["findings"]).resolve()
        assert target.is_file() and target.parent == (fast_class / "grades-findings").resolve()
        if name == "empty":
            assert "report" not in links
        else:
            assert links["report"] == f"{name}/report.html" and (fast_class / links["report"]).is_file()


@needs_axe
@pytest.mark.slow
def test_html_overview_fits_390_and_1280_px_and_passes_axe(tiny_build, tmp_path):
    """A clean row, a forged number, an unusable folder and a long folder with a long run id: no sideways scroll at
    390 px (the table scrolls in its own box), no word broken inside, no WCAG 2.1 A/AA violation, dark too."""
    root = tmp_path / "class"
    root.mkdir()
    _submit(tiny_build.out, root / "clean", tiny_build.manifest)
    _edit_cell(_submit(tiny_build.out, root / "cell", tiny_build.manifest))
    (root / "empty").mkdir()
    long = _submit(tiny_build.out, root / "team-07_with-a-rather-long-folder-name")
    for name in ("report.html", "results.json"):  # the run and experiment `wild` renamed: a forged long id
        (long / name).write_text(re.sub(r"\bwild\b", LONG_RUN, (long / name).read_text("utf-8")), "utf-8")
    code, _, output, rows = _grade(root, "--out", str(tmp_path / "out" / "grades.csv"))
    assert code == 1 and "numbers" in rows["cell"]["findings_summary"] and rows["empty"]["error"], output
    page = tmp_path / "out" / "grades.html"
    assert LONG_RUN in BeautifulSoup(page.read_text("utf-8"), "html.parser").get_text()
    for width, dark in ((390, False), (1280, False), (1280, True)):
        seen = open_page(page, width, dark=dark)
        assert seen["dark"] is dark and seen["scrollWidth"] <= seen["clientWidth"], (width, dark, seen)
        assert seen["outside"] == [], (width, dark, seen)
        assert seen["broken"] == [] and seen["violations"] == [], (width, dark, seen)


def test_json_format_lists_every_row(fast_class):
    result = cli("grade", fast_class, "--format", "json")
    record = json.loads(result.stdout)
    assert record["submissions"] == 6 and record["exit_code"] == result.exit_code == 1
    rows = {r["folder"]: r for r in record["rows"]}
    assert rows["cell"]["findings"] == 1 and rows["cell"]["finding_list"][0]["check"] == "numbers"
    assert rows["cell"]["finding_list"][0]["where"]["key"] == "runs.base.test.accuracy"
    assert rows["empty"]["error"] and rows["clean"]["problem"] is False
    assert ["broken", "cell", "clean", "results"] in record["identical"]


def test_a_clean_class_exits_0_and_an_unusable_folder_exits_2(fast_class, tmp_path):
    clean = tmp_path / "clean-class"
    clean.mkdir()
    shutil.copytree(fast_class / "clean", clean / "team01", ignore=shutil.ignore_patterns(".*"))
    out = tmp_path / "elsewhere" / "overview.csv"
    code, stdout, _, rows = _grade(clean, "--out", str(out))
    assert code == 0 and list(rows) == ["team01"] and (tmp_path / "elsewhere" / "overview.html").is_file()
    assert (tmp_path / "elsewhere" / "overview-findings" / "team01.txt").is_file()
    assert not (clean / "grades.csv").exists()
    assert "1 clean, 0 with findings, 0 unusable" in stdout
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / ".git").mkdir()
    (tmp_path / "a-file").write_text("x", "utf-8")
    for target, says in ((tmp_path / "missing", "no such folder"), (tmp_path / "a-file", "is not a folder"),
                         (tmp_path / "nothing", "holds no submission folders")):
        result = cli("grade", target)
        assert result.exit_code == 2 and says in result.output, result.output
    result = cli("grade", clean, "--out", clean / "team01" / "grades.csv")
    assert result.exit_code == 2 and "inside the submission folder" in result.output


@pytest.mark.slow
def test_full_class_identical_runs_smoke_and_gradescope(full_class):
    code, stdout, _, rows = _grade(full_class, "--jobs", "2", "--gradescope")
    assert code == 1
    assert sorted(rows) == ["broken", "cell", "clean", "renamed", "results", "smoke"]
    findings = {name: (r["findings"], r["findings_summary"]) for name, r in rows.items()}
    assert findings == {"clean": ("0", ""), "results": ("1", "results-file"), "cell": ("1", "numbers"),
                        "broken": ("1", "results-file"), "smoke": ("1", "build"), "renamed": ("0", "")}
    assert rows["smoke"]["smoke"] == "yes" and all(rows[n]["smoke"] == "no" for n in rows if n != "smoke")
    # the renamed team hands in the clean team's runs (and so do the edited copies of the clean build)
    assert "clean" in rows["renamed"]["identical_to"].split("; ")
    assert "renamed" in rows["clean"]["identical_to"].split("; ")
    assert rows["smoke"]["identical_to"] == ""
    assert "broken, cell, clean, renamed and results hand in identical runs" in stdout
    assert HOSTILE_TEAM in rows["renamed"]["team"]
    html = (full_class / "grades.html").read_text("utf-8")
    assert HOSTILE_TEAM not in html and "&lt;script&gt;alert(&#x27;grade&#x27;)&lt;/" in html
    soup = BeautifulSoup(html, "html.parser")
    assert len(soup.find_all("script")) == 1 and HOSTILE_TEAM in soup.select_one("#row-renamed").get_text()
    for name in rows:
        record = json.loads((full_class / "gradescope" / name / "results.json").read_text("utf-8"))
        assert record["visibility"] == "visible" and "score" not in record
        assert record["extra_data"]["folder"] == name
        statuses = {t["name"]: t["status"] for t in record["tests"]}
        assert set(statuses.values()) <= {"passed", "failed"}
        failed = sorted(n for n, s in statuses.items() if s == "failed")
        assert failed == ([] if name in ("clean", "renamed") else [rows[name]["findings_summary"]])
    assert not any((full_class / n / "gradescope").exists() for n in rows)
    # the gradescope folder beside the submissions is grade's own: never taken for a team
    _, stdout, _, rows = _grade(full_class, "--gradescope")
    assert "6 submissions: 6 from the previous run, 0 checked" in stdout and len(rows) == 6


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}


def _recorded(folder: Path) -> int:
    state = folder / STATE
    return len([p for p in state.glob("*.json") if not p.name.startswith(".")]) if state.is_dir() else 0


def _start(folder: Path, *args: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as fh:
        return subprocess.Popen([sys.executable, "-m", "reportgen.cli", "grade", str(folder), *args], cwd=REPO,
                                env=_env(), stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(folder: Path, at_least: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _recorded(folder) < at_least:
        assert proc.poll() is None, "grade finished before it could be interrupted"
        assert time.monotonic() < deadline, "grade recorded nothing in time"
        time.sleep(0.02)


def _workers(parent: int) -> set[int]:
    """The pids of the grade worker processes that `parent` started and that are still running."""
    found = set()
    for proc in Path("/proc").iterdir():
        try:
            line = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            status = (proc / "status").read_text()
        except (OSError, ValueError):
            continue
        ppid = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("PPid:"))
        if "reportgen.grading.grade.worker" in line and ppid == parent:
            found.add(int(proc.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    """Those of pids that still exist (zombies aside)."""
    alive = set()
    for pid in pids:
        try:
            if "State:\tZ" not in Path(f"/proc/{pid}/status").read_text():
                alive.add(pid)
        except OSError:
            pass
    return alive


@pytest.mark.slow
def test_resume_after_ctrl_c_and_a_kill(tiny_build, tmp_path):
    folder = tmp_path / "class"
    clean = _submit(tiny_build.out, tmp_path / "clean")
    (clean / "report.pdf").unlink()  # reading the PDF is most of check's time; resuming is what is tested here
    for i in range(1, 51):
        shutil.copytree(clean, folder / f"team{i:02d}")
    # Ctrl-C (SIGINT to grade itself, with worker processes): exit 130, finished submissions stay recorded
    proc = _start(folder, "--jobs", "2", log=tmp_path / "first.log")
    _wait_for(folder, 3, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130, (tmp_path / "first.log").read_text("utf-8")
    assert "interrupted; finished submissions are recorded" in (tmp_path / "first.log").read_text("utf-8")
    first = _recorded(folder)
    assert 3 <= first < 50
    # SIGKILL of grade alone (no chance to clean up): what was recorded is complete, and no worker outlives it
    proc = _start(folder, "--jobs", "2", log=tmp_path / "second.log")
    _wait_for(folder, first + 3, proc)
    workers = _workers(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # the workers die with grade (PR_SET_PDEATHSIG, reportgen/grading/sandbox.py): poll until the kernel has ended
    # them; the deadline only bounds a hang (a worker that outlives grade stays alive past it)
    deadline = time.monotonic() + 10
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not _alive(workers)
    second = _recorded(folder)
    assert first + 3 <= second < 50
    assert f"50 submissions: {first} from the previous run, {50 - first} to check" in (
        tmp_path / "second.log").read_text("utf-8")
    for state in (folder / STATE).glob("*.json"):
        assert json.loads(state.read_text("utf-8"))["report"]["facts"]["title"]
    done = subprocess.run([sys.executable, "-m", "reportgen.cli", "grade", str(folder), "--jobs", "2"], cwd=REPO,
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"50 submissions: {second} from the previous run, {50 - second} checked" in done.stdout
    rows = list(csv.DictReader(io.StringIO((folder / "grades.csv").read_text("utf-8"))))
    assert [r["folder"] for r in rows] == [f"team{i:02d}" for i in range(1, 51)]
    assert {r["findings"] for r in rows} == {"0"} and all(len(r["identical_to"].split("; ")) == 49 for r in rows)


@pytest.mark.slow
def test_verify_reproduces_the_clean_build_and_catches_the_edited_one(tiny_build, tmp_path):
    folder = tmp_path / "class"
    _submit(tiny_build.out, folder / "clean", tiny_build.manifest)
    _edit_results(_submit(tiny_build.out, folder / "results", tiny_build.manifest))
    n = str(len(tiny_build.results["runs"]))
    code, stdout, output, rows = _grade(folder, "--verify", "--sample", n)
    assert code == 1, output
    assert rows["clean"]["verification"] == "reproduced", (folder / "grades-findings" / "clean.txt").read_text()
    assert rows["results"]["verification"] == "differs"
    assert "verification: 1 reproduced, 1 differs" in stdout
    # the verification is recorded with its sample: reused by the same request, not by another one
    _, stdout, _, rows = _grade(folder, "--verify", "--sample", n)
    assert "2 submissions: 2 from the previous run, 0 checked" in stdout
    assert rows["clean"]["verification"] == "reproduced"
    _, stdout, _, rows = _grade(folder)
    assert "2 from the previous run" in stdout and rows["clean"]["verification"] == "not verified"


@pytest.mark.slow
def test_benchmark_script_measures_check_and_grade(tiny_build, tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "grade.py"), "--submission", str(tiny_build.out),
                           "--copies", "4", "--check-repeats", "2", "--json", str(out)], cwd=tmp_path, env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text("utf-8"))
    assert report["copies"] == 4 and len(report["check_s"]) == 2 and report["check_median_s"] > 0
    assert report["grade_jobs1_s"] > 0 and report["grade_jobs2_s"] > 0 and report["grade_exit"] == [0]
    assert abs(report["ratio"] - report["grade_jobs1_s"] / report["grade_jobs2_s"]) < 1e-9
    assert f"| {report['ratio']:.2f}× |" in proc.stdout


def test_no_submission_can_hide_or_take_an_output_name(tiny_build, tmp_path):
    """A hidden folder, one holding grade's marker file and ones named like grade's outputs are all rows; grade's
    own output folders, marked with a secret kept outside the class folder, are not."""
    root = tmp_path / "class"
    for name in (".sneaky", "marked", "grades-findings", "gradescope"):
        _submit(tiny_build.out, root / name)
    (root / "marked" / ".reportgen-grade-output").write_text("written by reportgen grade; not a submission\n")
    out = tmp_path / "out" / "grades.csv"
    code, _, output, rows = _grade(root, "--out", str(out), "--gradescope")
    assert sorted(rows) == [".sneaky", "grades-findings", "gradescope", "marked"], output
    assert code == 0 and all(r["findings"] == "0" and not r["error"] for r in rows.values())  # identical copies
    assert _grade(root, "--out", str(out), "--gradescope")[3].keys() == rows.keys()  # and on the next run
    # grade's outputs in the class folder itself would land on the submissions by those names: refused
    code, _, output, _ = _grade(root, "--gradescope")
    assert code == 2 and "grade did not make" in output and "gradescope" in output
    assert sorted(p.name for p in (root / "gradescope").iterdir()) == sorted(FILES)


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, so that grade draws its bar."""

    def isatty(self) -> bool:
        return True


def test_the_grading_bar_on_a_terminal_counts_submissions_and_prints_no_control_character_of_a_folder_name():
    from reportgen.grading.grade.progress import Progress

    stream = _Terminal()
    with Progress(3, 1, stream=stream) as progress:
        progress.finished({"folder": "team01", "report": {"findings": []}})
        progress.finished({"folder": "team\x1b]0;pwned\x0702\x1b[2J", "error": "no report.html"})
    shown = stream.getvalue()
    assert "grading" in shown and "3/3" in shown and "team01: clean" not in shown.split("3/3")[-1]
    assert "team\\x1b]0;pwned\\x0702\\x1b[2J: unusable: no report.html" in shown
    assert "\x1b]0;" not in shown and "\x07" not in shown and "\x1b[2J" not in shown
