"""The HTML page of `reportgen diff`: every difference, and section text side by side."""

from __future__ import annotations

from html import escape

from reportgen.grading.diff.compare import IGNORED_HELP, Comparison, grouped, value_text


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


_CSS = """body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 90rem; padding: 0 1rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1.2rem; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
thead th { background: #f0f0f0; } td.num { font-family: ui-monospace, monospace; white-space: nowrap; }
.verdict { font-weight: bold; font-size: 1.1em; } .equal { color: #0a6b2d; } .different { color: #b00020; }
table.sbs td { font-family: ui-monospace, monospace; font-size: 12px; width: 50%; white-space: pre-wrap; }
tr.change td:first-child { background: #fde8e8; } tr.change td:last-child { background: #e6f6e6; }
tr.hunk td { background: #eef; color: #446; } .muted { color: #666; }"""


def _cell(d: dict, side: str) -> str:
    if "only_in" in d:
        return "present" if d["only_in"] == side else "—"
    return value_text(d.get(side.lower()))


def page(c: Comparison) -> str:
    """A standalone side-by-side page: escaped, no scripts, no remote loads, reportgen's CSP."""
    from reportgen.report.writers.html import CSP

    e = escape
    verdict = (f'<p class="verdict equal">No differences (within tolerance {c.tolerance:g}).</p>' if c.equal else
               f'<p class="verdict different">{len(c.differences)} difference(s).</p>')
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>",
           f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>reportgen diff</title>", f"<style>\n{_CSS}\n</style>", "</head>", "<body>",
           "<h1>reportgen diff</h1>", '<table class="sides"><tbody>',
           f"<tr><th scope=\"row\">A</th><td>{e(c.a.what)}</td></tr>",
           f"<tr><th scope=\"row\">B</th><td>{e(c.b.what)}</td></tr>", "</tbody></table>", verdict,
           f'<p class="muted">Tolerance {c.tolerance:g} (absolute). '
           + ("Strict: every field compared." if c.strict else f"Ignored (use --strict to compare): {e(IGNORED_HELP)}.")
           + "</p>"]
    out += [f'<p class="note">{e(n)}</p>' for n in c.notes]
    for title, items in grouped(c):
        out.append(f"<h2>{e(title)}</h2>")
        fields = [d for d in items if "diff" not in d]
        if fields:
            out.append('<table class="diff"><thead><tr><th>Field</th><th>A</th><th>B</th><th>Δ</th><th>Note</th>'
                       "</tr></thead><tbody>")
            for d in fields:
                delta = f"{d['delta']:+.6g}" if d.get("delta") is not None else ""
                out.append(f"<tr><td>{e(d['where'])}</td><td class=\"num\">{e(_cell(d, 'A'))}</td>"
                           f"<td class=\"num\">{e(_cell(d, 'B'))}</td><td class=\"num\">{e(delta)}</td>"
                           f"<td>{e(d.get('note') or '')}</td></tr>")
            out.append("</tbody></table>")
        for d in (d for d in items if "diff" in d):
            out += [f"<h3>{e(d['where'])}</h3>",
                    '<table class="sbs"><thead><tr><th>A</th><th>B</th></tr></thead><tbody>']
            out += [f'<tr class="{cls}"><td>{e(left)}</td><td>{e(right)}</td></tr>'
                    for cls, left, right in _side_by_side(d["diff"])]
            out.append("</tbody></table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"

