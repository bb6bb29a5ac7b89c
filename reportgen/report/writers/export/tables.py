"""The report's numbered tables, read back from the rendered HTML with the stdlib parser: each
`<table class="data …" id="tab-N">` with its caption and its header, body and footer rows, every cell's text
exactly as the HTML shows it (so an exported number is the printed one, never formatted a second time)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

SKIPPED = {"svg", "script", "style", "math"}  # drawn or inert content: no cell text
WHITESPACE = re.compile(r"[ \t\n\r\f]+")  # HTML's whitespace; a no-break space is kept as printed


def shown_text(parts: list[str]) -> str:
    """Text as a browser shows it: runs of HTML whitespace collapsed to one space, trimmed."""
    return WHITESPACE.sub(" ", "".join(parts)).strip(" ")


@dataclass
class Cell:
    text: str
    header: bool = False  # a <th>
    numeric: bool = False  # class="num": right-aligned
    span: int = 1  # colspan


@dataclass
class Table:
    """One numbered table: number, caption (without its "Table N." label) and rows by part."""

    number: int
    caption: str = ""
    head: list[list[Cell]] = field(default_factory=list)
    body: list[list[Cell]] = field(default_factory=list)
    foot: list[list[Cell]] = field(default_factory=list)

    def rows(self) -> list[list[Cell]]:
        return [*self.head, *self.body, *self.foot]

    def width(self) -> int:
        return max((sum(c.span for c in row) for row in self.rows()), default=0)

    def numeric_columns(self) -> list[bool]:
        """Whether each column holds numbers (its body cells are class="num"), for right alignment."""
        columns = [False] * self.width()
        for row in self.body or self.foot:
            i = 0
            for cell in row:
                if cell.numeric and cell.span == 1 and i < len(columns):
                    columns[i] = True
                i += cell.span
        return columns


class _TableReader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.table: Table | None = None
        self.depth = 0  # <table> nesting inside the current numbered table
        self.part = "body"
        self.row: list[Cell] | None = None
        self.cell: tuple[Cell, list[str]] | None = None
        self.caption: list[str] | None = None
        self.label_depth = 0  # inside the caption's <span class="label">
        self.skip = 0  # inside svg/script/style

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.skip or tag in SKIPPED:
            self.skip += 1
            return
        if tag == "table":
            if self.table is not None:
                self.depth += 1
                return
            m = re.fullmatch(r"tab-(\d+)", a.get("id") or "")
            if m and "data" in (a.get("class") or "").split():
                self.table, self.depth, self.part = Table(int(m[1])), 0, "body"
            return
        if self.table is None or self.depth:
            return
        if tag == "caption":
            self.caption = []
        elif self.caption is not None and tag == "span" and ("label" in (a.get("class") or "").split()
                                                              or self.label_depth):
            self.label_depth += 1
        elif tag in ("thead", "tbody", "tfoot"):
            self.part = tag[1:]
        elif tag == "tr":
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            span = int(a["colspan"]) if (a.get("colspan") or "").isdigit() and int(a["colspan"]) > 0 else 1
            self.cell = (Cell("", tag == "th", "num" in (a.get("class") or "").split(), span), [])
        elif tag == "br":
            self.handle_data(" ")

    def handle_startendtag(self, tag, attrs):
        if self.skip or tag in SKIPPED:
            return
        if tag == "br":
            self.handle_data(" ")
        else:
            self.handle_starttag(tag, attrs)
            if tag in ("td", "th", "tr", "table", "caption", "span"):
                self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if self.skip:
            self.skip -= 1
            return
        if self.table is None:
            return
        if tag == "table":
            if self.depth:
                self.depth -= 1
                return
            self.tables.append(self.table)
            self.table = None
        elif self.depth:
            return
        elif tag == "caption" and self.caption is not None:
            self.table.caption, self.caption = shown_text(self.caption), None
        elif tag == "span" and self.label_depth:
            self.label_depth -= 1
        elif tag in ("td", "th") and self.cell is not None:
            cell, parts = self.cell
            cell.text, self.cell = shown_text(parts), None
            self.row.append(cell)
        elif tag == "tr" and self.row is not None:
            if self.cell is not None:
                self.handle_endtag("td")
            getattr(self.table, self.part).append(self.row)
            self.row = None

    def handle_data(self, data):
        if self.skip or self.table is None:
            return
        if self.cell is not None:
            self.cell[1].append(data)
        elif self.caption is not None and not self.label_depth:
            self.caption.append(data)


def read_tables(html: str) -> list[Table]:
    """Every numbered data table of a report, in document order."""
    reader = _TableReader()
    reader.feed(html)
    reader.close()
    return reader.tables
