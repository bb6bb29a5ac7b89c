"""`reportgen grade DIR`: check every submission (in parallel, resumably) and write the class overview."""

from __future__ import annotations

import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reportgen import messages
from reportgen.errors import UserError
from reportgen.grading.grade import classwide, folders
from reportgen.grading.grade.classwide import Across, rubric_lines, rubric_record, score_text, similarity_lines
from reportgen.grading.grade.checking import NOT_VERIFIED, verification
from reportgen.grading.sandbox import Limits, kill_all, run_child
from reportgen.grading.grade.gradescope import results as gradescope_results
from reportgen.grading.grade.page import Links, page
from reportgen.grading.grade.progress import Progress
from reportgen.grading.grade.rows import identical_line, mark_identical, public, row
from reportgen.grading.grade.table import to_csv
from reportgen.textsafe import json_text, one_line, printable
from reportgen.writer import write_all

# one submission's check: a report of a few MB takes seconds; a hostile one is stopped here
CHECK_LIMITS = Limits(wall_seconds=120.0, cpu_seconds=240, address_space=4 << 30, file_size=64 << 20)




@dataclass
class Options:
    """What `reportgen grade` was asked for."""

    class_dir: Path
    out_file: Path | None = None
    jobs: int = 1
    verify: dict | None = None  # {"sample": N, "seed": S} with --verify
    gradescope: bool = False
    fresh: bool = False
    similarity: bool = False
    base: Path | None = None  # the course's starter: never counted as similar
    threshold: float | None = None  # None: the comparison's default
    rubric: Path | None = None
    exports: tuple[str, ...] = ()

    @property
    def csv(self) -> Path:
        """The CSV to write: --out, or DIR/grades.csv."""
        return self.out_file or self.class_dir / "grades.csv"

    @property
    def out_dir(self) -> Path:
        """The folder of every output and of the state: the CSV's."""
        return self.csv.parent

    @property
    def findings_dir(self) -> Path:
        """Where each submission's findings text goes: <stem>-findings beside the CSV."""
        return self.out_dir / f"{self.csv.stem}-findings"

    @property
    def similarity_dir(self) -> Path:
        """Where the similar pairs' pages and pairs.json go: <stem>-similarity beside the CSV."""
        return self.out_dir / f"{self.csv.stem}-similarity"

    def gradebooks(self) -> list[Path]:
        """The gradebook CSVs asked for with --export, beside the CSV."""
        return [self.csv.with_name(f"{self.csv.stem}-{name}.csv") for name in self.exports]


@dataclass
class Graded:
    """The class overview: rows, identical groups, how many were reused, the class-wide results and the files."""

    rows: list[dict]
    groups: list[list[str]]
    reused: int
    checked: int
    across: Across = field(default_factory=Across)
    written: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every submission is clean, 1 when any has findings, errors or failed verification."""
        return 1 if any(r["problem"] for r in self.rows) else 0

    def summary(self) -> list[str]:
        """The summary lines: reused vs checked, clean vs findings vs unusable, verification, similarity, rubric."""
        n = len(self.rows)
        lines = [f"{n} submission{'s' if n != 1 else ''}: {self.reused} from the previous run, {self.checked} checked"]
        unusable = sum(bool(r["error"]) for r in self.rows)
        findings = sum(bool(r["findings"]) and not r["error"] for r in self.rows)
        lines.append(f"{n - unusable - findings} clean, {findings} with findings, {unusable} unusable")
        verified = [r["verification"] for r in self.rows if r["verification"] != NOT_VERIFIED["status"]]
        if verified:
            counts = {s: verified.count(s) for s in dict.fromkeys(verified)}
            lines.append("verification: " + ", ".join(f"{c} {s}" for s, c in counts.items()))
        return lines + similarity_lines(self.across) + rubric_lines(self.rows, self.across)

    def text(self) -> str:
        """stdout for --format text: one line per submission, then the summary and the identical groups."""
        out = []
        for r in self.rows:
            team = "; ".join(m["name"] for m in r["team"]) or "—"
            if r["error"]:
                status = f"unusable: {r['error'].splitlines()[0]}"
            else:
                status = f"{r['findings']} finding{'s' if r['findings'] != 1 else ''}"
                status += f" ({'; '.join(r['findings_summary'])})" if r["findings"] else ""
            line = f"{r['folder']}  {team}  {status}  verification: {r['verification']}"
            if r.get("rubric") is not None:
                line += f"  score: {score_text(r['rubric'])}"
            if r["identical_to"]:
                line += f"  identical to {', '.join(r['identical_to'])}"
            if r.get("similar_to"):
                line += "  similar to " + ", ".join(f"{s['folder']} ({s['score']:.2f})" for s in r["similar_to"])
            out.append(one_line(line))
        out += ["", *self.summary(), *(identical_line(g) for g in self.groups)]
        return "\n".join(out) + "\n"

    def record(self) -> dict:
        """stdout for --format json."""
        record = {"submissions": len(self.rows), "reused": self.reused, "checked": self.checked,
                  "identical": self.groups, "summary": self.summary(), "exit_code": self.exit_code,
                  "rows": [public(r) for r in self.rows], "written": [str(p) for p in self.written]}
        if self.across.similarity is not None:
            record["similarity"] = self.across.similarity.record()
        if self.across.rubric is not None:
            record["rubric"] = rubric_record(self.across.rubric)
        return record


def _reusable(stored: dict | None, verify: dict | None) -> dict | None:
    """A stored outcome that answers this run: verified with the same sample and seed when --verify asks."""
    if stored is None or verify is None:
        return stored
    v = stored.get("verification") or {}
    done = v.get("status") not in (None, NOT_VERIFIED["status"])
    return stored if done and v.get("sample") == verify["sample"] and v.get("seed") == verify["seed"] else None


def _guard_outputs(opts: Options, subs: list[Path], secret: str) -> None:
    """Refuse an --out that would write inside a submission folder, or over a submission named like an output."""
    out = opts.out_dir.resolve()
    for sub in subs:
        if out == sub.resolve() or sub.resolve() in out.parents:
            raise UserError(f"--out {opts.csv} is inside the submission folder {sub}; grade never writes into "
                            "submissions")
    taken = folders.collisions([opts.findings_dir, opts.out_dir / folders.STATE_DIR]
                               + ([opts.out_dir / "gradescope"] if opts.gradescope else [])
                               + ([opts.similarity_dir] if opts.similarity or opts.rubric else []), secret)
    taken += [p for p in opts.gradebooks() if p.parent.resolve() == opts.class_dir.resolve() and
              (p.is_dir() or p.is_symlink())]
    if taken:
        raise UserError(f"{', '.join(str(p) for p in taken)}: grade writes its outputs there, but grade did not make "
                        f"{'it' if len(taken) == 1 else 'them'} (a submission by that name?); give --out a CSV in "
                        "another folder")


def _checked(folder: Path, print_: str, code: str, verify: dict | None) -> dict:
    """One submission checked in a worker process under CHECK_LIMITS (then verified, in its own sandbox, when
    asked); a worker that is killed or answers nothing makes an error row."""
    request = {"folder": str(folder.absolute()), "print": print_, "code": code}  # the worker runs elsewhere
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="reportgen-grade-") as scratch:
        done = run_child([sys.executable, "-m", "reportgen.grading.grade.worker"], request, Path(scratch), None,
                         CHECK_LIMITS, lambda line: None)
    outcome = done.answer if isinstance(done.answer, dict) and done.answer.get("folder") == folder.name else None
    if outcome is None:
        why = done.error or "the worker's answer was not an outcome"
        outcome = failed(folder, print_, code, f"{why}; limits: {CHECK_LIMITS.wall_seconds:.0f} s, "
                                                f"{CHECK_LIMITS.address_space >> 30} GiB")
        outcome["seconds"] = time.perf_counter() - started
    if verify is not None:
        outcome["verification"] = verification(str(folder.absolute()), verify, outcome.get("error"))
    return outcome


def _run(todo: list[tuple[Path, str]], opts: Options, code: str, progress: Progress) -> list[dict]:
    """Check the submissions still to do, `jobs` at a time, recording each outcome as it finishes; Ctrl-C kills the
    workers and keeps what is recorded."""
    done = []
    pool = ThreadPoolExecutor(max_workers=max(1, min(opts.jobs, len(todo) or 1)))
    try:
        futures = {pool.submit(_checked, folder, print_, code, opts.verify): folder for folder, print_ in todo}
        with progress:
            for future in as_completed(futures):
                outcome = future.result()
                if not outcome.get("worker_failed"):  # a worker that failed is checked again next time
                    folders.save(opts.out_dir, outcome)
                done.append(outcome)
                progress.finished(outcome)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        kill_all()
        raise
    pool.shutdown()
    return done


def failed(folder: Path, print_: str, code: str, why: str) -> dict:
    """The outcome of a submission whose worker process failed (it is not recorded, so the next run retries it)."""
    return {"format": folders.STATE_FORMAT, "code": code, "folder": folder.name, "path": str(folder.resolve()),
            "fingerprint": print_, "report": None, "verification": dict(NOT_VERIFIED), "worker_failed": True,
            "error": f"not checked: {why}"}


def _submissions(opts: Options, secret: str) -> list[Path]:
    """The class's submission folders, less the --base folder when it is one of them (the starter is not a team)."""
    subs = folders.submissions(opts.class_dir, opts.out_dir, secret)
    if opts.base is not None:
        if opts.base.is_symlink():
            raise UserError(f"--base {opts.base}: a link; give the course's starter folder itself")
        if not opts.base.is_dir():
            raise UserError(f"--base {opts.base}: not a folder; give the course's starter folder")
        subs = [s for s in subs if s.resolve() != opts.base.resolve()]
    return subs


def _outcomes(opts: Options, subs: list[Path], code: str, say: Callable[[str], None]) -> tuple[dict, set[str]]:
    """Every submission's outcome, from the previous run where unchanged, else checked now; the names checked now."""
    outcomes: dict[str, dict] = {}
    todo = []
    for sub in subs:
        print_ = folders.fingerprint(sub)
        stored = None if opts.fresh else _reusable(folders.recorded(opts.out_dir, sub, print_, code), opts.verify)
        if stored is None:
            todo.append((sub, print_))
        else:
            outcomes[sub.name] = stored
    if outcomes:
        say(f"{len(subs)} submissions: {len(outcomes)} from the previous run, {len(todo)} to check")
    for outcome in _run(todo, opts, code, Progress(len(subs), len(outcomes), say=say)):
        outcomes[outcome["folder"]] = outcome
    return outcomes, {sub.name for sub, _ in todo}


def grade(opts: Options, say: Callable[[str], None] = messages.say) -> Graded:
    """Check (or take from the previous run) every submission, compare and score the class when asked, then write
    the CSV, HTML, findings files and whatever else was asked for."""
    if opts.csv.suffix.lower() == ".html":
        raise UserError(f"--out {opts.csv}: give the CSV's path; the HTML page is written beside it")
    across = Across(rubric=classwide.load(opts.rubric))
    if opts.exports and across.rubric is None:
        raise UserError("--export needs --rubric FILE: the gradebook columns are the rubric's totals")
    secret = folders.token(opts.out_dir)
    subs = _submissions(opts, secret)
    if opts.similarity or classwide.needs_similarity(across.rubric):
        across.base = classwide.read_base(opts.base)
    _guard_outputs(opts, subs, secret)
    marker = folders.marker_text(secret)
    own = [opts.out_dir / folders.STATE_DIR] + ([opts.out_dir] if opts.out_dir.resolve().parent ==
                                               opts.class_dir.resolve() else [])
    write_all({folder / folders.MARKER: marker for folder in own})
    outcomes, checked = _outcomes(opts, subs, folders.code_version(), say)
    rows = []
    for sub in subs:
        if opts.verify is None:  # an earlier run's verification is not this run's
            outcomes[sub.name] = {**outcomes[sub.name], "verification": dict(NOT_VERIFIED)}
        rows.append(row(outcomes[sub.name], reused=sub.name not in checked))
    if opts.similarity or classwide.needs_similarity(across.rubric):
        say(f"comparing {len(subs)} submissions for similarity")
        across.similarity = classwide.compare(subs, across.base, opts.threshold)
        groups = classwide.mark_similar(rows, across.similarity)
    else:
        groups = mark_identical(rows)
    if across.rubric is not None:
        classwide.mark_scores(rows, across)
    graded = Graded(rows, groups, len(subs) - len(checked), len(checked), across)
    graded.written = write_outputs(graded, outcomes, opts, marker)
    for line in across.warnings:
        say(line)
    return graded


def findings_text(r: dict, outcome: dict) -> str:
    """One submission's findings file: the check's own text, or why it could not be checked; then verification."""
    if r["error"]:
        lines = [f"{r['folder']}: the submission could not be checked", r["error"]]
    else:
        lines = [((outcome.get("report") or {}).get("text") or "").rstrip()]
    lines.append(f"verification: {r['verification']}" + (f": {r['verification_detail']}"
                                                         if r["verification_detail"] else ""))
    if r["identical_to"]:
        lines.append("identical runs to: " + ", ".join(r["identical_to"]))
    return "\n".join(lines) + "\n"


def write_outputs(graded: Graded, outcomes: dict[str, dict], opts: Options, marker: bytes) -> list[Path]:
    """The CSV, the HTML beside it, each submission's findings file, and as asked Gradescope results, the similar
    pairs' pages and the gradebook CSVs."""
    files: dict[Path, bytes] = {opts.findings_dir / folders.MARKER: marker}
    for r in graded.rows:
        files[opts.findings_dir / folders.findings_name(r["folder"])] = printable(
            findings_text(r, outcomes[r["folder"]])).encode("utf-8")
    written = [opts.csv, opts.csv.with_suffix(".html"), opts.findings_dir]
    if opts.gradescope:
        scope = opts.out_dir / "gradescope"
        files[scope / folders.MARKER] = marker
        for r in graded.rows:
            files[scope / one_line(r["folder"]) / "results.json"] = json_text(  # past ASCII escaped, as pairs.json
                gradescope_results(r, outcomes[r["folder"]])).encode("ascii")
        written.append(scope)
    if graded.across.similarity is not None:
        files.update(classwide.similarity_files(graded.across, opts.similarity_dir, marker))
        written.append(opts.similarity_dir)
    books = classwide.gradebook_files(graded.rows, graded.across, opts.exports, opts.csv)
    files.update(books)
    html = opts.csv.with_suffix(".html")
    files[opts.csv] = to_csv(graded.rows).encode("utf-8")
    files[html] = page(graded.rows, graded.groups, graded.summary(), html.parent, opts.class_dir, opts.findings_dir,
                       Links(opts.similarity_dir, graded.across)).encode("utf-8")
    write_all(files)
    return written + list(books)
