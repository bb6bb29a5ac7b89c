"""The class overview as one self-contained HTML page: escaped, inline CSS and a small inline sort script."""

from __future__ import annotations

import os
from html import escape as html_escape
from pathlib import Path
from urllib.parse import quote

from dataclasses import dataclass

from reportgen.grading.grade.folders import findings_name
from reportgen.grading.grade.rows import experiments, identical_line
from reportgen.grading.grade.table import accuracy
from reportgen.textsafe import one_line
from reportgen.toolpage import CSS as STYLE, breakable, scroll_box
from reportgen.toolpage import cell as cell_text

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_CSS = """\
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 110rem; padding: 0 1rem; }
table.grades { width: 100%; }
thead th { position: sticky; top: 0; z-index: 1; }
thead th button { font: inherit; font-weight: bold; color: inherit; background: none; border: 0; padding: 0;
  margin: 0; text-align: left; cursor: pointer; }
thead th[aria-sort=ascending] button::after { content: " ▲"; }
thead th[aria-sort=descending] button::after { content: " ▼"; }
/* a squeezed column of prose or ids is a tower of words */
td.team { min-width: 8em; } td.prose { min-width: 11em; } td.runs { min-width: 9em; }
td.num { font-family: ui-monospace, monospace; white-space: nowrap; text-align: right; }
table.grades td { background: var(--bg); }
tr.problem td { background: var(--bad-bg); } tr.problem td:first-child { border-left: 4px solid var(--bad); }
.flag { color: var(--bad); font-weight: bold; } .ok { color: var(--good); }
.summary li { margin: 0.15rem 0; }
ul.crit { margin: 0.2rem 0 0; padding-left: 1.1rem; font-size: 0.92em; min-width: 14em; }
summary { cursor: pointer; }
h2 { font-size: 1.25em; margin: 1.6rem 0 0.4rem; }
@media (min-width: 40em) {  /* the header and each row's submission stay in sight as the table scrolls */
  .scroll.tall { max-height: 85vh; overflow-y: auto; }
  table.grades td:first-child, table.grades th:first-child { position: sticky; left: 0; z-index: 1; }
  table.grades th:first-child { z-index: 2; }
}"""
# a header's button (a click, or Enter or Space) sorts by it, numbers as numbers and empty cells last; again reverses
_SCRIPT = """\
document.querySelectorAll("table.grades thead th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], rows = Array.prototype.slice.call(body.rows);
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    th.parentNode.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    function key(row) {
      var cell = row.cells[col], text = cell.getAttribute("data-sort");
      if (text === null) text = cell.textContent.trim();
      var n = parseFloat(text);
      return text === "" ? null : (isNaN(n) || !/^-?[0-9.]/.test(text) ? text.toLowerCase() : n);
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null || y === null) return x === y ? 0 : (x === null ? 1 : -1);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});"""


def escape(text, quote: bool = True) -> str:
    """A student's string for the page: HTML-escaped, control and bidi characters shown escaped (`cat` of the page
    in a terminal must not run them)."""
    return html_escape(one_line(str(text)), quote)


def cell(text) -> str:
    """A student's string for a table cell: as escape() makes it, its words never wrapped inside (the table
    scrolls)."""
    return cell_text(one_line(str(text)))


def href(target: Path, page_dir: Path) -> str:
    """A relative link from the page's folder to a file, percent-encoded (then HTML-escaped by the caller)."""
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(page_dir))
    return quote(Path(rel).as_posix(), safe="/")


@dataclass
class Links:
    """What the page links to besides the reports and findings: the similar pairs' pages, and whether a rubric and a
    similarity comparison ran (their columns)."""

    similarity_dir: Path
    across: object  # classwide.Across

    @property
    def compared(self) -> bool:
        """Whether the class was compared for similarity."""
        return self.across.similarity is not None

    @property
    def scored(self) -> bool:
        """Whether the rows carry rubric scores."""
        return self.across.rubric is not None

    def pair(self, slug: str, page_dir: Path) -> str:
        """The relative, escaped link to one pair's side-by-side page."""
        return escape(href(self.similarity_dir / f"{slug}.html", page_dir))


def _similar(r: dict, links: Links, page_dir: Path) -> str:
    """The similar-to cell: each partner at or above the threshold, its score, linked to the pair's page."""
    items = [f'<a href="{links.pair(s["slug"], page_dir)}">{cell(s["folder"])}</a> '
             f'<span class="num">{s["score"]:.2f}</span>' for s in r.get("similar_to") or []]
    return "<br>".join(items)


def _score(r: dict) -> str:
    """The rubric cell: points earned of the automatic total, opening on each criterion's points (the row stays
    short)."""
    scored = r.get("rubric")
    if scored is None:
        return ""
    parts = "".join(f"<li>{cell(c.title)}: {cell(c.shown)}</li>" for c in scored.criteria)
    total = escape(f"{scored.earned:g} / {scored.possible:g}")
    return f'<details><summary class="num">{total}</summary><ul class="crit">{parts}</ul></details>'


def _status(r: dict) -> str:
    """The status cell: clean, the findings by check, or why the submission is unusable."""
    if r["error"]:
        return f'<span class="flag">unusable</span>: {cell(r["error"])}'
    if r["findings"]:
        items = "; ".join(r["findings_summary"])
        return f'<span class="flag">{r["findings"]} finding(s)</span>: {cell(items)}'
    return '<span class="ok">clean</span>'


def _row(r: dict, exps: list[str], page_dir: Path, class_dir: Path, findings_dir: Path, links: Links) -> str:
    """One submission's table row, every user-supplied string escaped."""
    e, c = escape, cell
    report = class_dir / r["folder"] / "report.html"
    anchors = [f'<a href="{e(href(report, page_dir))}">report</a>'] if report.is_file() else []
    anchors.append(f'<a href="{e(href(findings_dir / findings_name(r["folder"]), page_dir))}">findings</a>')
    team = "<br>".join(f"{c(m['name'])} <span class=\"muted\">{c(m['id'])}</span>" for m in r["team"])
    smoke = "" if r["smoke"] is None else ('<span class="flag">smoke</span>' if r["smoke"] else "no")
    models = "<br>".join(f"{c(name)}: {c(total)}" for name, total in r["models"].items())
    best = "".join(f'<td class="num">{e(accuracy(r["best_accuracy"].get(x, {}).get("accuracy")))}</td>' for x in exps)
    runs = "<br>".join(f"{label}: {c(', '.join(r[key]))}" for key, label in
                       (("diverged", "diverged"), ("stalled", "stalled"), ("failed", "failed")) if r[key])
    verification = c(r["verification"])
    if r["verification_detail"]:
        verification = f'<span title="{e(str(r["verification_detail"]))}">{verification}</span>'
    if r["verification"] in ("differs", "could not run"):
        verification = f'<span class="flag">{verification}</span>'
    identical = c(", ".join(r["identical_to"]))
    identical = f'<span class="flag">{identical}</span>' if identical else ""
    findings = "" if r["error"] else str(r["findings"])
    extra = (f'<td class="prose" data-sort="{r["rubric"].earned if r.get("rubric") else ""}">{_score(r)}</td>'
             if links.scored else "")
    if links.compared:
        extra += f'<td data-sort="{r.get("similarity") or ""}">{_similar(r, links, page_dir)}</td>'
    cls = ' class="problem"' if r["problem"] else ""
    mark = '<span class="flag" role="img" aria-label="needs a look">⚠</span> ' if r["problem"] else ""
    return (f'<tr{cls} id="row-{e(quote(r["folder"], safe=""))}"><td data-sort="{e(r["folder"])}">{mark}'
            f'{c(r["folder"])}<br>{" · ".join(anchors)}</td><td class="team">{team}</td>'
            f'<td class="prose">{c(r["title"])}</td><td>{smoke}</td><td>{models}</td>{best}<td class="runs">{runs}</td>'
            f'<td class="num">{findings}</td><td class="prose">{_status(r)}</td>'
            f'<td class="prose">{c(r["check_level"])}</td><td>{verification}</td><td>{identical}</td>{extra}</tr>')


KINDS = ("prose", "code", "design", "runs")


def _kind(value) -> str:
    """One kind's score in a pair's row: two decimals, or a dash when one side has nothing of that kind."""
    return "—" if value is None else f"{value:.2f}"


def _pairs(links: Links, page_dir: Path) -> list[str]:
    """The similar pairs, ranked: each with its score per kind and a link to its side-by-side page."""
    sim = links.across.similarity
    out = ['<h2 id="similar">Similar submissions</h2>',
           f'<p class="muted">Pairs at or above {sim.threshold:.2f} on any kind, the closest first; the starter\'s '
           "content and what most of the class shares are not counted. Follow a pair to read the matching passages "
           "side by side.</p>"]
    noted = {k: v for k, v in sorted(sim.notes.items()) if v}
    if noted:  # what was left out may hide a copy (a submission padded past the budget): the grader sees it here
        items = "".join(f"<li>{cell(folder)}: {cell('; '.join(notes))}</li>" for folder, notes in noted.items())
        out.append(f'<details class="notes"><summary>{len(noted)} submission{"s" if len(noted) != 1 else ""} not '
                   f"compared in full</summary><ul>{items}</ul></details>")
    if not sim.pairs:
        return out + [f"<p>No pair of submissions reaches {sim.threshold:.2f}.</p>"]
    table = ['<table class="pairs"><caption>Similar pairs</caption><thead><tr>']
    table += [f'<th scope="col">{h}</th>' for h in ("Rank", "Submissions", "Score", *(k.title() for k in KINDS),
                                                    "Passages")]
    table += ["</tr></thead><tbody>"]
    for rank, pair in enumerate(sim.pairs, 1):
        names = " and ".join(f'<a href="#row-{escape(quote(n, safe=""))}">{cell(n)}</a>' for n in (pair.a, pair.b))
        kinds = "".join(f'<td class="num">{_kind(pair.scores.get(k))}</td>' for k in KINDS)
        table.append(f'<tr><td class="num">{rank}</td><td>{names}</td><td class="num">{pair.score:.2f}</td>{kinds}'
                     f'<td><a href="{links.pair(pair.slug, page_dir)}">side by side</a></td></tr>')
    table.append("</tbody></table>")
    return out + [scroll_box("Similar pairs table", "\n".join(table))]


def _head(rows: list[dict], links: Links) -> list[str]:
    """The table's column headers."""
    return ["Submission", "Team", "Title", "Smoke", "Models (parameters)",
            *(f"Best accuracy % {x}" for x in experiments(rows)), "Diverged / stalled / failed", "Findings", "Status",
            "Check level", "Verification", "Identical to", *(["Rubric score"] if links.scored else []),
            *(["Similar to"] if links.compared else [])]


def page(rows: list[dict], groups: list[list[str]], summary: list[str], page_dir: Path, class_dir: Path,
         findings_dir: Path, links: Links) -> str:
    """The overview page: summary lines, identical submissions, the sortable table of every submission, and the
    similar pairs when the class was compared."""
    e = escape
    exps = experiments(rows)
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>",
           f'<meta http-equiv="Content-Security-Policy" content="{e(CSP)}">', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>reportgen grade</title>", f"<style>\n{STYLE}\n{_CSS}\n</style>", "</head>", "<body>", "<main>",
           f"<h1>Class overview: {breakable(one_line(class_dir.name or str(class_dir)))}</h1>", '<ul class="summary">']
    out += [f"<li>{breakable(one_line(line))}</li>" for line in summary]
    out += [f'<li class="flag">{breakable(one_line(identical_line(g)))}</li>' for g in groups]
    if links.compared:
        out.append('<li><a href="#similar">Similar submissions</a></li>')
    out += ["</ul>", '<p class="muted">Select a column header to sort by it. Rows marked ⚠ have findings, could '
            "not be checked, or did not verify.</p>"]
    table = ['<table class="grades"><caption>Submissions</caption><thead><tr>']
    table += [f'<th scope="col"><button type="button">{cell(h)}</button></th>' for h in _head(rows, links)]
    table += ["</tr></thead><tbody>"]
    table += [_row(r, exps, page_dir, class_dir, findings_dir, links) for r in rows]
    table += ["</tbody></table>"]
    out.append(scroll_box("Submissions table", "\n".join(table), "tall"))
    out += _pairs(links, page_dir) if links.compared else []
    out += ["</main>", f"<script>\n{_SCRIPT}\n</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
