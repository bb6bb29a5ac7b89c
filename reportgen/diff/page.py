"""The HTML side of `reportgen diff`: read reports (embedded JSON, section text), write the side-by-side page."""

from __future__ import annotations

import difflib
import re
from html import escape
from html.parser import HTMLParser

from reportgen.diff.compare import IGNORED_HELP, Comparison, grouped, value_text

_BLOCK = {"p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "figcaption", "dt", "dd", "div", "pre",
          "blockquote", "table", "thead", "tbody", "tfoot", "ul", "ol", "dl", "figure", "br", "hr", "nav", "header",
          "footer", "section"}
_SKIP = {"script", "style", "svg", "title", "head", "template", "noscript", "math"}
# timing text masked in section text unless --strict (durations as formatting.secs writes them, latencies, ratios)
_VOLATILE_TEXT = re.compile(r"\b\d+ h \d{2} min\b|\b\d+ min \d{2} s\b|\b\d+(?:\.\d+)? m?s\b|\b\d+(?:\.\d+)?× faster\b")
MASK = "…"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


class _Reader(HTMLParser):
    """Collects JSON <script> elements by id, and the visible text of each top-level <section>, line by line."""

    def __init__(self, strict: bool = True):
        super().__init__(convert_charrefs=True)
        self.strict = strict
        self.embedded: dict[str, str] = {}
        self.sections: list[list] = []  # [title or None, class, lines]
        self._script: list | None = None  # [id, chunks] of the JSON script being read
        self._skip: list | None = None  # [tag, depth] of the element whose content is skipped
        self._depth = 0
        self._line: list[str] = []
        self._title: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and (attrs.get("type") or "").lower() == "application/json" and attrs.get("id"):
            self._script = [attrs["id"], []]
        if self._skip:
            self._skip[1] += tag == self._skip[0]
            return
        if tag in _SKIP or (not self.strict and "data-volatile" in attrs):
            self._skip = [tag, 1]
            return
        if tag == "section":
            if self._depth == 0:
                self._flush()
                self.sections.append([None, attrs.get("class") or "", []])
            self._depth += 1
        if not self._depth:
            return
        if tag in _BLOCK:
            self._flush()
        elif tag in ("td", "th") and "".join(self._line).strip():
            self._line.append(" | ")
        if tag == "h2" and self.sections[-1][0] is None and self._title is None:
            self._title = []

    def handle_endtag(self, tag):
        if self._script is not None and tag == "script":
            self.embedded.setdefault(self._script[0], "".join(self._script[1]))
            self._script = None
        if self._skip:
            self._skip[1] -= tag == self._skip[0]
            if self._skip[1] <= 0:
                self._skip = None
            return
        if not self._depth:
            return
        if tag in _BLOCK:
            self._flush()
        if tag == "h2" and self._title is not None:
            self.sections[-1][0] = _norm("".join(self._title))
            self._title = None
        if tag == "section":
            self._depth -= 1

    def handle_data(self, data):
        if self._script is not None:
            self._script[1].append(data)
        elif not self._skip and self._depth:
            self._line.append(data)
            if self._title is not None:
                self._title.append(data)

    def _flush(self):
        text = _norm("".join(self._line))
        self._line = []
        if text and self.sections:
            self.sections[-1][2].append(text)


def embedded(html: str) -> dict[str, str]:
    """The raw text of every <script type="application/json" id=...> element, by id."""
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.embedded


def sections(html: str, strict: bool = True, masks: list[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """Each top-level section's visible text as lines, keyed by its title without the number (or its class)."""
    reader = _Reader(strict)
    reader.feed(html)
    reader.close()
    out: dict[str, tuple[str, list[str]]] = {}
    for i, (title, cls, lines) in enumerate(reader.sections, 1):
        key = re.sub(r"^\d+(?:\.\d+)*\s+", "", title) if title else (cls or f"section {i}")
        base, n = key, 2
        while key in out:
            key, n = f"{base} ({n})", n + 1
        out[key] = (title or key, [_mask(line, masks) for line in lines] if masks is not None else lines)
    return out


def _mask(line: str, masks: list[str]) -> str:
    for value in masks:
        line = re.sub(rf"(?<![\w.,]){re.escape(value)}(?![\w.,]*\w| ?%)", MASK, line)
    return _VOLATILE_TEXT.sub(MASK, line)


def _masks(*records: dict) -> list[str]:
    """Printed forms of the ignored values (latencies, throughputs, cache keys, environment strings)."""
    found: set[str] = set()
    for results in records:
        for value in (results.get("environment") or {}).values():
            if isinstance(value, str) and len(value) >= 6:
                found.add(_norm(value))
        for run in results["runs"].values():
            if not isinstance(run, dict):
                continue
            if isinstance(run.get("cache_key"), str):
                found.add(run["cache_key"])
            measured = run.get("measured") if isinstance(run.get("measured"), dict) else {}
            if isinstance(measured.get("latency_ms"), (int, float)):
                found.add(f"{measured['latency_ms']:.2f}")
            if isinstance(measured.get("throughput"), (int, float)):
                found.add(f"{measured['throughput']:,.0f}")
    return sorted(found, key=len, reverse=True)


def compare_sections(c: Comparison) -> None:
    """Add a unified diff per section whose text differs (both sides need an HTML report)."""
    missing = [f"{s.label} is {s.what}" for s in (c.a, c.b) if s.html is None]
    if missing:
        c.notes.append("section text not compared: " + "; ".join(missing) + " without an HTML report")
        return
    masks = None if c.strict else _masks(c.a.results, c.b.results)
    sa, sb = sections(c.a.html, c.strict, masks), sections(c.b.html, c.strict, masks)
    for key in list(dict.fromkeys([*sa, *sb])):
        if key not in sb or key not in sa:
            side, (title, _) = ("A", sa[key]) if key in sa else ("B", sb[key])
            c.differences.append({"kind": "section", "where": f"section {title}", "section": key, "only_in": side})
            continue
        (ta, la), (tb, lb) = sa[key], sb[key]
        diff = list(difflib.unified_diff(la, lb, f"A: {ta}", f"B: {tb}", lineterm="", n=2))
        if diff:
            c.differences.append({"kind": "section", "where": f"section {ta}", "section": key, "diff": diff})


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
    from reportgen.report.html import CSP

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

