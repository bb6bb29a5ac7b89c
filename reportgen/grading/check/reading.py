"""Reading a report's HTML for `check`: embedded JSON, the stated digest, each keyed number with where it stands,
and the visible text (for comparing with the PDF's)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reportgen.grading.htmlread import HtmlEvents, parse_html

DIGEST_META = "reportgen-results-sha256"
_SKIP = {"script", "style", "svg", "title", "head", "template", "noscript", "math"}
_BREAK = {"p", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "caption", "figcaption", "div", "br", "dt", "dd"}


def norm(text: str) -> str:
    """Text with non-breaking and other spaces collapsed to single spaces."""
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


@dataclass
class Shown:
    """One keyed number as the page shows it, with its place: section, table, row."""

    key: str
    spec: str
    text: str
    section: str | None
    table: str | None
    row: str | None


@dataclass
class Page:
    """What check reads off a report's HTML."""

    embedded: dict[str, str] = field(default_factory=dict)
    digest: str | None = None
    generator: str | None = None
    shown: list[Shown] = field(default_factory=list)
    text: str = ""


class _Reader(HtmlEvents):
    """One pass over the page: JSON scripts by id, <meta> digest, keyed spans with their context, visible text."""

    def __init__(self):
        self.page = Page()
        self._script: list | None = None
        self._skip: list | None = None  # [tag, depth] of the element whose content is not text
        self._section: str | None = None
        self._heading: list[str] | None = None
        self._depth = 0  # nesting of <section>
        self._table: list = []  # stack of [id, caption or None]
        self._caption: list[str] | None = None
        self._row: list | None = None  # [label or None, first-cell chunks or None, cells seen]
        self._span: list | None = None  # [key, spec, chunks, depth]
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta" and a.get("name") == DIGEST_META:
            self.page.digest = a.get("content")
        elif tag == "meta" and a.get("name") == "generator":
            self.page.generator = a.get("content")
        if tag == "script" and (a.get("type") or "").lower() == "application/json" and a.get("id"):
            self._script = [a["id"], []]
        if self._skip:
            self._skip[1] += tag == self._skip[0]
            return
        if tag in _SKIP:
            self._skip = [tag, 1]
            return
        if tag in _BREAK:
            self._text.append(" ")
        if tag == "section":
            self._depth += 1
        elif tag == "h2" and self._depth == 1:
            self._heading = []
        elif tag == "table":
            self._table.append([a.get("id"), None])
        elif tag == "caption" and self._table:
            self._caption = []
        elif tag == "tr":
            self._row = [a.get("data-run"), None, 0]
        elif tag in ("td", "th") and self._row is not None:
            self._row[2] += 1
            if self._row[2] == 1:
                self._row[1] = []
        if self._span is not None:
            self._span[3] += tag == "span"
        elif tag == "span" and "data-key" in a:
            self._span = [a["data-key"], a.get("data-fmt") or "num", [], 1]

    def handle_endtag(self, tag):
        if self._script is not None and tag == "script":
            self.page.embedded[self._script[0]] = "".join(self._script[1])
            self._script = None
        if self._skip:
            self._skip[1] -= tag == self._skip[0]
            if self._skip[1] == 0:
                self._skip = None
            return
        if tag in _BREAK:
            self._text.append(" ")
        if tag == "section":
            self._depth -= 1
            if self._depth == 0:
                self._section = None
        elif tag == "h2" and self._heading is not None:
            self._section = re.sub(r"^\d+(\.\d+)*\s+", "", norm("".join(self._heading)))
            self._heading = None
        elif tag == "caption" and self._caption is not None:
            self._table[-1][1] = norm("".join(self._caption))
            self._caption = None
        elif tag == "table" and self._table:
            self._table.pop()
        elif tag == "tr":
            self._row = None
        elif tag in ("td", "th") and self._row is not None and self._row[2] == 1 and isinstance(self._row[1], list):
            self._row[1] = norm("".join(self._row[1]))
        if self._span is not None and tag == "span":
            self._span[3] -= 1
            if self._span[3] == 0:
                key, spec, chunks, _ = self._span
                self._span = None
                self.page.shown.append(Shown(key, spec, norm("".join(chunks)), self._section, self._where_table(),
                                             self._where_row()))

    def _where_table(self) -> str | None:
        if not self._table:
            return None
        ident, caption = self._table[-1]
        return caption or ident

    def _where_row(self) -> str | None:
        if self._row is None:
            return None
        label, first, _ = self._row
        return label or (first if isinstance(first, str) else None)

    def handle_data(self, data):
        if self._script is not None:
            self._script[1].append(data)
            return
        if self._skip:
            return
        self._text.append(data)
        for sink in (self._heading, self._caption):
            if sink is not None:
                sink.append(data)
        if self._row is not None and isinstance(self._row[1], list):
            self._row[1].append(data)
        if self._span is not None:
            self._span[2].append(data)


def read_page(html: str) -> Page:
    """The page's embedded JSON, digest, keyed numbers and visible text."""
    reader = _Reader()
    parse_html(reader, html)
    reader.page.text = norm("".join(reader._text))
    return reader.page
