"""Reading reports for `reportgen diff`: embedded JSON, and each section's visible text with timings masked."""

from __future__ import annotations

import difflib
import re

from reportgen.grading.htmlread import HtmlEvents, parse_html

_BLOCK = {"p", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "caption", "figcaption", "dt", "dd", "div", "pre",
          "blockquote", "table", "thead", "tbody", "tfoot", "ul", "ol", "dl", "figure", "br", "hr", "nav", "header",
          "footer", "section"}
_SKIP = {"script", "style", "svg", "title", "head", "template", "noscript", "math"}
# timing text masked in section text unless --strict (durations as formatting.secs writes them, latencies, ratios,
# throughputs)
_VOLATILE_TEXT = re.compile(r"\b\d+ h \d{2} min\b|\b\d+ min \d{2} s\b|\b\d+(?:\.\d+)? m?s\b|\b\d+(?:\.\d+)?× faster\b"
                            r"|\b\d[\d,]*(?:\.\d+)? images/s\b")
MASK = "…"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


class _Reader(HtmlEvents):
    """Collects JSON <script> elements by id, and the visible text of each top-level <section>, line by line."""

    def __init__(self, strict: bool = True):
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
    parse_html(reader, html)
    return reader.embedded


def sections(html: str, strict: bool = True, masks: list[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """Each top-level section's visible text as lines, keyed by its title without the number (or its class)."""
    reader = _Reader(strict)
    parse_html(reader, html)
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


def compare_sections(c) -> None:
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
