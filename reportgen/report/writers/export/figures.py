"""The report's numbered figures as image files, read from the print version of the HTML (where the figure
cache has put each figure's 200-dpi PNG in place of its SVG): `<figure id="fig-N">`, its PNG and its caption."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from html.parser import HTMLParser

from reportgen.report.writers.export.tables import shown_text

PNG_URI = "data:image/png;base64,"


@dataclass
class Figure:
    number: int
    caption: str
    png: bytes | None  # None: the figure has no raster version (only its SVG)
    svg: str | None = None


class _FigureReader(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.html = html
        self.figures: list[Figure] = []
        self.current: Figure | None = None
        self.depth = 0
        self.caption: list[str] | None = None
        self.label = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self.current is None:
            m = re.fullmatch(r"fig-(\d+)", a.get("id") or "")
            if tag == "figure" and m:
                self.current, self.depth = Figure(int(m[1]), "", None), 1
            return
        if tag == "figure":
            self.depth += 1
        elif tag == "img" and self.current.png is None and (a.get("src") or "").startswith(PNG_URI):
            try:
                self.current.png = base64.b64decode(a["src"][len(PNG_URI):], validate=True)
            except (binascii.Error, ValueError):
                pass
        elif tag == "figcaption":
            self.caption = []
        elif self.caption is not None and tag == "span" and ("label" in (a.get("class") or "").split() or self.label):
            self.label += 1

    def handle_endtag(self, tag):
        if self.current is None:
            return
        if tag == "figure":
            self.depth -= 1
            if self.depth == 0:
                self.figures.append(self.current)
                self.current = None
        elif tag == "figcaption" and self.caption is not None:
            self.current.caption, self.caption = shown_text(self.caption), None
        elif tag == "span" and self.label:
            self.label -= 1

    def handle_data(self, data):
        if self.caption is not None and not self.label:
            self.caption.append(data)


def read_figures(printed_html: str) -> list[Figure]:
    """Every numbered figure, in document order, with its PNG when the HTML carries one."""
    reader = _FigureReader(printed_html)
    reader.feed(printed_html)
    reader.close()
    return reader.figures


def svg_of(html: str, number: int) -> str | None:
    """The inline <svg> of figure `number` in the screen HTML (for a figure that has no PNG)."""
    m = re.search(rf'<figure id="fig-{number}"[^>]*>\s*(<svg\b.*?</svg>)', html, flags=re.S)
    return m[1] if m else None
