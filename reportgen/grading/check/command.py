"""`reportgen check SUBMISSION`: run every check on one submission and say what was found, as text or JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from reportgen.grading.check import checks
from reportgen.grading.check.facts import facts
from reportgen.grading.check.printed import read_pdf
from reportgen.grading.check.submission import read_submission

CHECK_TITLES = {"digest": "results digest", "results-file": "results.json", "numbers": "shown numbers",
                "pdf": "PDF", "arithmetic": "parameter arithmetic", "build": "full build", "runs": "run outcomes"}


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

    def exit_code(self) -> int:
        """0 when nothing was found, 1 otherwise."""
        return 1 if self.findings else 0


def check_submission(path: str | Path, with_pdf: bool = True) -> CheckReport:
    """Check a submission folder (or report.html); SubmissionUnusable (exit 2) when there is nothing to check."""
    sub = read_submission(path)
    printed = read_pdf(sub.pdf_path) if with_pdf and sub.pdf_path is not None else None
    outcomes, notes, runs_detail = checks.run_outcomes(sub.results)
    ran = {"digest": checks.digest(sub), "results-file": checks.results_file(sub), "numbers": checks.numbers(sub),
           "pdf": checks.pdf(sub, printed) if with_pdf else ([], "not checked (--no-pdf)"),
           "arithmetic": checks.arithmetic(sub.results), "build": checks.build_kind(sub.results),
           "runs": (outcomes, runs_detail)}
    findings = [Finding(name, message, where) for name, (found, _) in ran.items() for message, where in found]
    summary = [{"name": name, "title": CHECK_TITLES[name], "passed": not found, "count": len(found), "detail": detail}
               for name, (found, detail) in ran.items()]
    return CheckReport(str(path), findings, notes, summary, facts(sub.results))


def report_json(report: CheckReport) -> dict:
    """The report as plain JSON data."""
    return {"submission": report.submission, "clean": not report.findings, "findings": [asdict(f) for f in report.findings],
            "notes": report.notes, "checks": report.checks, "facts": report.facts}


def report_text(report: CheckReport, limit: int = 20) -> str:
    """The report for a terminal: a verdict, one line per check, each finding (up to `limit` per check), the notes."""
    f = report.facts
    team = ", ".join(m["name"] or m["id"] or "?" for m in f["team"]) or "no team named"
    verdict = "clean" if not report.findings else f"{len(report.findings)} finding(s)"
    lines = [f"{report.submission}: {verdict}", f"  {f['title'] or '(untitled)'} — {team}"]
    for c in report.checks:
        lines.append(f"  {'ok  ' if c['passed'] else 'FAIL'} {c['title']}: {c['detail']}")
        mine = [x for x in report.findings if x.check == c["name"]]
        lines += [f"       {x.message}" for x in mine[:limit]]
        if len(mine) > limit:
            lines.append(f"       … and {len(mine) - limit} more (--format json lists all)")
    lines += [f"  note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"
