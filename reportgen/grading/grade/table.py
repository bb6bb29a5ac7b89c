"""The class overview as CSV: one row per submission, one best-accuracy column per experiment seen in the class."""

from __future__ import annotations

import csv
import io

from reportgen.grading.grade.rows import experiments
from reportgen.textsafe import one_line

BEFORE = ["folder", "team", "ids", "title", "manifest", "manifest_sha256", "smoke", "models"]
AFTER = ["diverged", "stalled", "failed", "findings", "findings_summary", "check_level", "identical_to", "verification",
         "error"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


def accuracy(value) -> str:
    """A fraction as a percentage with two decimals (93.12), or empty."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
        return f"{value * 100:.2f}"
    return ""


def safe(text) -> str:
    """A user-supplied string for a spreadsheet cell: control characters shown escaped, and one that would start a
    formula gets a leading quote."""
    text = one_line("" if text is None else str(text))
    return "'" + text if text.startswith(_FORMULA) else text


def criteria(rows: list[dict]) -> list:
    """The rubric's criteria, from the first scored row (every row is scored against the same rubric)."""
    scored = next((r["rubric"] for r in rows if r.get("rubric") is not None), None)
    return [] if scored is None else list(scored.criteria)


def columns(rows: list[dict]) -> list[str]:
    """The header: fixed columns, best_acc[<experiment>] for every experiment seen, the problems, then the rubric's
    points (its total and each criterion's) and the similarity when they ran."""
    scored = [f"score[{c.id}]" for c in criteria(rows)]
    scored = ["score", "score_possible", "score_manual_possible", *scored] if scored else []
    similar = ["similarity", "similar_to"] if any("similar_to" in r for r in rows) else []
    return BEFORE + [f"best_acc[{e}]" for e in experiments(rows)] + AFTER + scored + similar


def _number(value) -> str:
    """A number for a cell (points, a score), or empty when there is none."""
    return "" if value is None else f"{value:g}"


def extra_cells(r: dict, rows: list[dict]) -> list[str]:
    """The rubric's and the similarity's cells of one row, in the order of `columns`."""
    out = []
    if criteria(rows):
        scored = r["rubric"]
        out += [_number(scored.earned), _number(scored.possible), _number(scored.manual),
                *(_number(c.points_earned) for c in scored.criteria)]
    if any("similar_to" in x for x in rows):
        out += [_number(None if r.get("similarity") is None else round(r["similarity"], 4)),
                safe("; ".join(f"{s['folder']} ({s['score']:.2f})" for s in r.get("similar_to") or []))]
    return out


def cells(r: dict, exps: list[str]) -> list[str]:
    """One row's cells, in the order of `columns`."""
    smoke = "" if r["smoke"] is None else ("yes" if r["smoke"] else "no")
    models = "; ".join(f"{name}: {total}" for name, total in r["models"].items())
    best = [accuracy(r["best_accuracy"].get(e, {}).get("accuracy")) for e in exps]
    return [safe(r["folder"]), safe("; ".join(m["name"] for m in r["team"])),
            safe("; ".join(m["id"] for m in r["team"])), safe(r["title"]), safe(r["manifest"]["file"] or ""),
            safe(r["manifest"]["sha256"] or ""), smoke, safe(models), *best, safe("; ".join(r["diverged"])),
            safe("; ".join(r["stalled"])), safe("; ".join(r["failed"])), "" if r["error"] else str(r["findings"]),
            safe("; ".join(r["findings_summary"])), safe(r["check_level"]), safe("; ".join(r["identical_to"])),
            r["verification"],
            safe(r["error"] or "")]


def to_csv(rows: list[dict]) -> str:
    """The CSV text (RFC 4180 quoting, \\r\\n line ends as the csv module writes them)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(columns(rows))
    exps = experiments(rows)
    for r in rows:
        writer.writerow(cells(r, exps) + extra_cells(r, rows))
    return buf.getvalue()
