"""A pair's page: its scores by kind, the matching runs, and the matching passages side by side (stacked on a narrow
screen), matched spans marked; self-contained, every student string escaped, control characters shown escaped."""

from __future__ import annotations

from html import escape

from reportgen.grading.similar.compare import KINDS, Pair
from reportgen.grading.similar.passages import Passage, Side
from reportgen.textsafe import one_line, printable
from reportgen.toolpage import CSS as STYLE, breakable, cell, scroll_box

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
TITLES = {"prose": "Prose", "code": "Code", "design": "Experiment design", "runs": "Runs"}
# the marked text: 4.5:1 or more on its background, light and dark
_CSS = """\
:root { --mark-fg: #1a1a1a; --mark-bg: #ffe27a; }
@media screen and (prefers-color-scheme: dark) { :root { --mark-fg: #fff; --mark-bg: #6b5300; } }
body { font: 15px/1.5 system-ui, sans-serif; margin: 1.5rem auto; max-width: 100rem; padding: 0 1rem; }
.pair { display: grid; grid-template-columns: minmax(0, 1fr); gap: 0.8rem; margin: 0 0 1.6rem; }
@media (min-width: 48em) { .pair { grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); } }
.side { border: 1px solid var(--line); background: var(--panel); padding: 0.4rem 0.7rem; min-width: 0; }
.side h4 { margin: 0 0 0.3rem; font-size: 0.95em; }
pre.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0; font: 13px/1.45 ui-monospace, monospace; }
mark { color: var(--mark-fg); background: var(--mark-bg); }
.flag { color: var(--bad); font-weight: bold; }
td.num { font-family: ui-monospace, monospace; text-align: right; white-space: nowrap; }"""


def _name(text: str) -> str:
    return breakable(one_line(text))


def _marked(side: Side) -> str:
    """The side's text escaped, its matched spans in <mark>."""
    out, at = [], 0
    for start, end in side.marks:
        if start < at or end <= start:
            continue
        out += [escape(printable(side.text[at:start])), f"<mark>{escape(printable(side.text[start:end]))}</mark>"]
        at = end
    out.append(escape(printable(side.text[at:])))
    return "".join(out)


def _side(folder: str, side: Side) -> str:
    where = f", lines {side.lines[0]}–{side.lines[1]}" if side.lines else ""
    return (f'<div class="side"><h4>{_name(folder)}: {_name(side.source)}{escape(where)}</h4>'
            f'<pre class="text">{_marked(side)}</pre></div>')


def _passages(pair: Pair, kind: str, passages: list[Passage]) -> list[str]:
    out = [f'<h2 id="{kind}">{TITLES[kind]}: matching passages</h2>']
    for i, p in enumerate(passages, 1):
        what = "shared definition" if kind == "design" else f"{p.size} shared fingerprints"
        out += [f"<h3>{TITLES[kind]} {i}: {what}</h3>", '<div class="pair">', _side(pair.a, p.a), _side(pair.b, p.b),
                "</div>"]
    return out


def _scores(pair: Pair, threshold: float) -> str:
    rows = []
    for kind in KINDS:
        value = pair.scores.get(kind)
        shown = "not compared (nothing of this kind on one side)" if value is None else f"{value:.2f}"
        flag = ' class="flag"' if value is not None and value >= threshold else ""
        rows.append(f'<tr><th scope="row">{TITLES[kind]}</th><td class="num"><span{flag}>{escape(shown)}</span>'
                    "</td></tr>")
    table = ('<table><caption>Scores by kind</caption><thead><tr><th scope="col">Kind</th><th scope="col">Score'
             f'</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return scroll_box("Scores by kind", table)


def _runs(pair: Pair) -> list[str]:
    if not pair.runs:
        return []
    head = "".join(f'<th scope="col">{h}</th>' for h in (_name(pair.a), _name(pair.b), "Relation", "Settings"))
    rows = "".join(f"<tr><td>{cell(one_line(m.a))}</td><td>{cell(one_line(m.b))}</td><td>{escape(m.relation)}</td>"
                   f"<td>{'same' if m.same_settings else 'different'}</td></tr>" for m in pair.runs)
    table = f"<table><caption>Seeds found again</caption><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return ['<h2 id="runs">Runs: seeds found again</h2>',
            "<p>Epoch logs (timings aside) and test evaluations, confusion matrices included, compared seed by seed."
            "</p>", scroll_box("Seeds found again", table)]


def pair_page(pair: Pair, threshold: float) -> str:
    """The complete page of one pair."""
    a, b = _name(pair.a), _name(pair.b)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>",
           f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>Similarity: {escape(one_line(pair.a))} and {escape(one_line(pair.b))}</title>",
           f"<style>\n{STYLE}\n{_CSS}\n</style>", "</head>", "<body>", "<main>",
           f"<h1>Similarity of {a} and {b}</h1>",
           f"<p>Score {pair.score:.2f} (the highest of the kinds; pairs from {threshold:.2f} are listed).</p>"]
    if pair.identical_runs:
        out.append(f'<p class="flag">{a} and {b} hand in identical runs, seed by seed.</p>')
    out.append(_scores(pair, threshold))
    out += _runs(pair)
    for kind in ("prose", "code", "design"):
        if pair.passages.get(kind):
            out += _passages(pair, kind, pair.passages[kind])
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
