"""The HTML page of `reportgen diff`: every difference, and section text side by side."""

from __future__ import annotations

from html import escape

from reportgen.grading.diff.compare import IGNORED_HELP, Comparison, grouped, value_text
from reportgen.toolpage import CSS as STYLE, breakable, cell, scroll_box


def _side_by_side(diff: list[str]) -> list[tuple[str, str, str]]:
    """(class, left, right) rows from a unified diff: context on both sides, removals beside additions."""
    rows: list[tuple[str, str, str]] = []
    removed: list[str] = []
    added: list[str] = []

    def pair():
        for i in range(max(len(removed), len(added))):
            rows.append(("change", removed[i] if i < len(removed) else "", added[i] if i < len(added) else ""))
        removed.clear()
        added.clear()

    for line in diff[2:]:
        if line.startswith("@@"):
            pair()
            rows.append(("hunk", line, line))
        elif line.startswith("-"):
            removed.append(line[1:])
        elif line.startswith("+"):
            added.append(line[1:])
        else:
            pair()
            rows.append(("same", line[1:], line[1:]))
    pair()
    return rows


_CSS = """\
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 90rem; padding: 0 1rem; }
table { width: 100%; }
dl.sides { display: grid; grid-template-columns: auto 1fr; gap: 0.2em 0.8em; margin: 0 0 1em; }
dl.sides dt { font-weight: bold; } dl.sides dd { margin: 0; min-width: 0; }
td.value, td.num { font-family: ui-monospace, monospace; } .num { white-space: nowrap; } td.num { text-align: right; }
.verdict { font-weight: bold; font-size: 1.1em; } .equal { color: var(--good); } .different { color: var(--bad); }
table.sbs td { font-family: ui-monospace, monospace; font-size: 12px; width: 50%; white-space: pre-wrap; }
tr.change td:first-child { background: var(--bad-bg); } tr.change td:last-child { background: var(--good-bg); }
tr.hunk td { background: var(--hunk-bg); color: var(--hunk); }"""


def _side_value(d: dict, side: str) -> str:
    """What one side holds for a difference: its value, or whether the item is there at all."""
    if "only_in" in d:
        return "present" if d["only_in"] == side else "—"
    return value_text(d.get(side.lower()))


def _fields(title: str, fields: list[dict]) -> str:
    """The table of a group's field differences, A beside B, in a box that scrolls sideways."""
    rows = []
    for d in fields:
        delta = f"{d['delta']:+.6g}" if d.get("delta") is not None else ""
        rows.append(f'<tr><td>{cell(d["where"])}</td><td class="value">{cell(_side_value(d, "A"))}</td>'
                    f'<td class="value">{cell(_side_value(d, "B"))}</td><td class="num">{escape(delta)}</td>'
                    f'<td>{cell(d.get("note") or "")}</td></tr>')
    table = (f'<table class="diff"><caption class="visually-hidden">{escape(title)}: fields that differ</caption>'
             '<thead><tr><th scope="col">Field</th><th scope="col">A</th><th scope="col">B</th>'
             '<th scope="col" class="num">Δ (B − A)</th><th scope="col">Note</th></tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table>')
    return scroll_box(f"{title}: fields that differ", table)


def _text(d: dict) -> str:
    """A section's text A beside B, each changed line beside its replacement, in a box that scrolls sideways."""
    rows = "".join(f'<tr class="{cls}"><td>{cell(left)}</td><td>{cell(right)}</td></tr>'
                   for cls, left, right in _side_by_side(d["diff"]))
    table = (f'<table class="sbs"><caption class="visually-hidden">{escape(d["where"])}: A beside B</caption>'
             f'<thead><tr><th scope="col">A</th><th scope="col">B</th></tr></thead><tbody>{rows}</tbody></table>')
    return f"<h3>{breakable(d['where'])}</h3>\n" + scroll_box(f"{d['where']}: A beside B", table)


def page(c: Comparison) -> str:
    """A standalone side-by-side page: escaped, no scripts, no remote loads, reportgen's CSP."""
    from reportgen.report.writers.html import CSP

    e = escape
    verdict = (f'<p class="verdict equal">No differences (within tolerance {c.tolerance:g}).</p>' if c.equal else
               f'<p class="verdict different">{len(c.differences)} difference(s).</p>')
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>",
           f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>reportgen diff</title>", f"<style>\n{STYLE}\n{_CSS}\n</style>", "</head>", "<body>", "<main>",
           "<h1>reportgen diff</h1>", '<dl class="sides">',
           f"<dt>A</dt><dd>{breakable(c.a.what)}</dd>", f"<dt>B</dt><dd>{breakable(c.b.what)}</dd>", "</dl>", verdict,
           f'<p class="muted">Tolerance {c.tolerance:g} (absolute). '
           + ("Strict: every field compared." if c.strict else
              f"Ignored (use --strict to compare): {breakable(IGNORED_HELP)}.") + "</p>"]
    out += [f'<p class="note">{breakable(n)}</p>' for n in c.notes]
    for title, items in grouped(c):
        out.append(f"<h2>{e(title)}</h2>")
        fields = [d for d in items if "diff" not in d]
        if fields:
            out.append(_fields(title, fields))
        out += [_text(d) for d in items if "diff" in d]
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
