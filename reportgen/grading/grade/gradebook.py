"""`grade --export canvas,moodle`: the rubric's totals as CSV files that Canvas's and Moodle's gradebook imports
read, one line per student of each team (docs/rubrics.md says how to import them and what they cannot carry)."""

from __future__ import annotations

import csv
import io
from collections import Counter

from reportgen.grading.grade.rubric import Rubric
from reportgen.grading.grade.scoring import Scored
from reportgen.grading.grade.table import safe
from reportgen.textsafe import one_line

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]  # as Canvas's own export names them
CANVAS_POINTS_ROW = "Points Possible"
MOODLE_FIXED = ["ID number", "Full name"]
MOST_FINDINGS = 10  # findings quoted in one feedback cell; the findings file has them all


def number(value: float) -> str:
    """Points as a plain number: 12, 7.5, 3.33 (a dot for decimals, no exponent, no thousands separator)."""
    value = round(float(value), 2)
    return str(int(value)) if value == int(value) else f"{value:.2f}".rstrip("0")


def _ids(rows: list[dict]) -> Counter:
    """How many submissions list each student id."""
    return Counter(m["id"] for r in rows for m in {m["id"]: m for m in r["team"] if m["id"]}.values())


def students(rows: list[dict], scored: list[Scored]) -> list[tuple[dict, dict, Scored]]:
    """(member, row, scored) for every team member with an id found in one submission only, in the rows' order."""
    counts, out = _ids(rows), []
    for r, s in zip(rows, scored, strict=True):
        seen = set()
        for m in r["team"]:
            if m["id"] and counts[m["id"]] == 1 and m["id"] not in seen:
                seen.add(m["id"])
                out.append((m, r, s))
    return out


def unlisted(rows: list[dict]) -> list[str]:
    """The submissions whose team gives no student id at all: the gradebook files cannot carry them."""
    return [r["folder"] for r in rows if not any(m["id"] for m in r["team"])]


def export_warnings(rows: list[dict], scored: list[Scored] | None = None) -> list[str]:
    """What the gradebook files leave out, one line each: teams without ids, members without one, ids in several
    submissions (left out, since the file cannot say whose grade counts), criteria not scored (their points missing)."""
    lines = [f"{folder}: its team lists no student ids, so the gradebook files leave it out"
             for folder in unlisted(rows)]
    missing: dict[str, list] = {}
    for s in scored or []:
        for c in s.criteria:
            if c.status == "not scored":
                missing.setdefault(c.id, []).append(c.detail)
    lines += [f"criterion {cid} is not scored in {len(why)} submission{'s' if len(why) != 1 else ''} ({why[0]}): "
              "the gradebook files count it as 0" for cid, why in missing.items()]
    for r in rows:
        nameless = [m["name"] or "?" for m in r["team"] if not m["id"]]
        if nameless and any(m["id"] for m in r["team"]):
            lines.append(f"{r['folder']}: no student id for {', '.join(nameless)}, left out of the gradebook files")
    for sid, n in _ids(rows).items():
        if n > 1:
            folders = [r["folder"] for r in rows if any(m["id"] == sid for m in r["team"])]
            lines.append(f"student id {sid} is in {n} submissions ({', '.join(folders)}); left out of the gradebook "
                         "files: grade that student by hand")
    return [one_line(line) for line in lines]  # for the terminal: control characters shown escaped


def comment(r: dict, s: Scored) -> str:
    """The feedback for one submission: the score, each criterion with why, then the findings."""
    parts = [f"{number(s.earned)}/{number(s.possible)} automatic points" +
             (f", {number(s.manual)} more graded by hand" if s.manual else "")]
    for c in s.criteria:
        got = "graded by hand" if c.manual else "not scored" if c.points_earned is None else \
            f"{number(c.points_earned)}/{number(c.points)}"
        parts.append(f"{c.title}: {got}" + ("" if c.manual else f" ({c.detail})"))
    findings = [str(f.get("message", "")) for f in r.get("finding_list") or [] if isinstance(f, dict)]
    if findings:
        more = len(findings) - MOST_FINDINGS
        parts.append("findings: " + "; ".join(findings[:MOST_FINDINGS]) + (f"; and {more} more" if more > 0 else ""))
    return safe(". ".join(parts))


def column(rubric: Rubric) -> str:
    """The grade column's header: the rubric's title, with the Canvas assignment id when it names one."""
    title = safe(rubric.title)
    return f"{title} ({rubric.canvas_assignment_id})" if rubric.canvas_assignment_id else title


def _write(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def canvas_csv(rows: list[dict], scored: list[Scored], rubric: Rubric) -> str:
    """Canvas's gradebook import: Student, ID, SIS User ID (the team id), SIS Login ID, Section, then one assignment
    column of automatic points, its Points Possible on the second line. No comments: Canvas's CSV import has none."""
    lines = [CANVAS_FIXED + [column(rubric)], [CANVAS_POINTS_ROW, "", "", "", "", number(rubric.auto_possible)]]
    for m, _, s in students(rows, scored):
        lines.append([safe(m["name"]), "", safe(m["id"]), "", "", number(s.earned)])
    return _write(lines)


def moodle_csv(rows: list[dict], scored: list[Scored], rubric: Rubric) -> str:
    """Moodle's CSV grade import: ID number (the team id, mapped to the users' ID number), Full name, the automatic
    points, and the feedback (mapped to "Feedback for" the grade item)."""
    title = safe(rubric.title)
    lines = [MOODLE_FIXED + [title, f"{title} feedback"]]
    for m, r, s in students(rows, scored):
        lines.append([safe(m["id"]), safe(m["name"]), number(s.earned), comment(r, s)])
    return _write(lines)
