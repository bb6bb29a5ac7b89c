"""`reportgen check SUBMISSION`: run every check on one submission and say what was found, as text or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from reportgen.grading.check import checks, htmldiff, pdfdiff, recompute
from reportgen.grading.check.facts import facts
from reportgen.grading.check.printed import Printed, read_pdf
from reportgen.grading.check.rerender import Rerendered, manifest, rerender
from reportgen.grading.check.submission import Submission, SubmissionUnusable, read_submission
from reportgen.grading.files import read_bytes

CHECK_TITLES = {"digest": "results digest", "results-file": "results.json", "manifest": "manifest",
                "rerender": "re-rendered report", "numbers": "shown numbers", "pdf": "PDF",
                "statistics": "recomputed statistics", "arithmetic": "parameter arithmetic", "build": "full build",
                "runs": "run outcomes"}


@dataclass
class Finding:
    """One problem: which check found it, a line saying what, and where (section, table, row, key, values)."""

    check: str
    message: str
    where: dict = field(default_factory=dict)


@dataclass
class CheckReport:
    """Everything check found in one submission."""

    submission: str
    findings: list[Finding]
    notes: list[str]
    checks: list[dict]
    facts: dict
    level: str = "embedded results only"  # "re-rendered", or "embedded results only (why)"

    def exit_code(self) -> int:
        """0 when nothing was found, 1 otherwise."""
        return 1 if self.findings else 0


def _rerendered(sub: Submission, again: Rerendered, numbers: list, notes: list[str]) -> tuple[list, str]:
    """The submitted page against its re-rendering, byte for byte; differences only in numbers the numbers check
    named are its, and line endings changed in transit (CRLF) are a note."""
    if again.html is None:
        reason = again.reason or "unknown"
        if reason == "the results name no manifest file" or reason.startswith("no "):
            return [], f"not re-rendered ({reason})"  # a class that hands in no manifests: the level column says so
        # anything else a student controls (a manifest that does not load, a generator line naming another
        # version) would otherwise turn every check of the prose and layout off without a word
        return [(f"the report cannot be re-rendered ({reason}): its prose, layout and figures are unchecked",
                 {"reason": reason})], "not re-rendered"
    submitted = read_bytes(sub.folder, sub.html_path)
    if submitted == again.html.encode("utf-8"):
        return [], "byte-identical to the report re-rendered from its results and manifest"
    text = submitted.decode("utf-8", "replace").replace("\r\n", "\n")
    if text == again.html:
        notes.append("report.html has other line endings (CRLF) than reportgen writes; otherwise it is its "
                     "re-rendering")
        return [], "identical to its re-rendering but for its line endings"
    keyed = {where["key"] for _, where in numbers if where.get("key")}
    found = htmldiff.compare(text, again.html, keyed)
    if not found:
        return [], "differs from its re-rendering only in numbers the shown-numbers check names"
    return found, f"{len(found)} difference(s) from the report re-rendered from its results and manifest"


def _pdf(sub: Submission, printed: Printed | None, again: Rerendered) -> tuple[list, str]:
    """The PDF's digest and key numbers, then its text page by page against the re-rendered report's."""
    found, detail = checks.pdf(sub, printed)
    if again.html is None or printed is None or printed.error or again.pdf_reason is not None:
        return found, detail
    more, compared = pdfdiff.compare(printed.page_texts, again.html)
    return found + more, f"{detail}; {compared}"


def _guarded(name: str, check, *args) -> tuple[list, str]:
    """A check run on hand-made data: whatever it raises is a finding, not a crash."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - results shaped like no build's must not stop the check
        why = f"{type(exc).__name__}: {str(exc)[:200]}"
        return [(f"the {name} check cannot run on these results ({why})", {})], "failed"


def check_submission(path: str | Path, with_pdf: bool = True) -> CheckReport:
    """Check a submission folder (or report.html); SubmissionUnusable (exit 2) when there is nothing to check."""
    sub = read_submission(path)
    printed = read_pdf(sub.pdf_path) if with_pdf and sub.pdf_path is not None else None
    again = rerender(sub, printed)
    try:
        outcomes, notes, runs_detail = checks.run_outcomes(sub.results)
        shown = facts(sub.results)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise SubmissionUnusable(f"{sub.html_path.name}: its embedded results are not shaped as reportgen writes "
                                 f"them ({type(exc).__name__}: {str(exc)[:200]})") from None
    notes = again.notes + notes
    numbers = _guarded("numbers", checks.numbers, sub)
    skipped = ([], f"not checked ({again.reason})")
    ran = {"digest": checks.digest(sub), "results-file": checks.results_file(sub),
           "manifest": _guarded("manifest", manifest, sub, again.loaded) if again.loaded is not None else skipped,
           "rerender": _rerendered(sub, again, numbers[0], notes), "numbers": numbers,
           "pdf": _pdf(sub, printed, again) if with_pdf else ([], "not checked (--no-pdf)"),
           "statistics": _guarded("statistics", recompute.statistics, sub.results, again.loaded),
           "arithmetic": _guarded("arithmetic", checks.arithmetic, sub.results),
           "build": _guarded("build", checks.build_kind, sub.results), "runs": (outcomes, runs_detail)}
    findings = [Finding(name, message, where) for name, (found, _) in ran.items() for message, where in found]
    summary = [{"name": name, "title": CHECK_TITLES[name], "passed": not found, "count": len(found), "detail": detail}
               for name, (found, detail) in ran.items()]
    sections = [sec.kind for sec in again.loaded.sections] if again.loaded is not None else None
    return CheckReport(str(path), findings, notes, summary, {**shown, "sections": sections, "check_level": again.level},
                       again.level)


def report_json(report: CheckReport) -> dict:
    """The report as plain JSON data."""
    return {"submission": report.submission, "clean": not report.findings, "level": report.level,
            "findings": [asdict(f) for f in report.findings], "notes": report.notes, "checks": report.checks,
            "facts": report.facts}


def report_text(report: CheckReport, limit: int = 20) -> str:
    """The report for a terminal: a verdict, one line per check, each finding (up to `limit` per check), the notes."""
    f = report.facts
    team = ", ".join(m["name"] or m["id"] or "?" for m in f["team"]) or "no team named"
    verdict = "clean" if not report.findings else f"{len(report.findings)} finding(s)"
    lines = [f"{report.submission}: {verdict}", f"  {f['title'] or '(untitled)'} — {team}",
             f"  level: {report.level}"]
    for c in report.checks:
        lines.append(f"  {'ok  ' if c['passed'] else 'FAIL'} {c['title']}: {c['detail']}")
        mine = [x for x in report.findings if x.check == c["name"]]
        lines += [f"       {x.message}" for x in mine[:limit]]
        if len(mine) > limit:
            lines.append(f"       … and {len(mine) - limit} more (--format json lists all)")
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
