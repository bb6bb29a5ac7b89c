"""Where a PDF's text lands: the characters outside the text area of each page (tests' helper, pypdfium2)."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

MM = 72 / 25.4
# each pack's left and right page margins in mm (templates/<pack>/style.css): portrait pages, landscape pages
MARGINS = {"assignment": (20, 18), "paper": (16, 16), "lab": (16, 16)}
SLACK = 0.5  # points: a glyph's box may reach this far past the edge of the line it sits on


def text_outside(pdf: Path | bytes, pack: str = "assignment") -> dict[int, str]:
    """Page number → the characters printed left or right of the text area (none: every line fits the page)."""
    portrait, landscape = MARGINS[pack]
    document = pdfium.PdfDocument(pdf)
    outside = {}
    for number, page in enumerate(document, start=1):
        width, height = page.get_size()
        margin = (landscape if width > height else portrait) * MM
        text = page.get_textpage()
        chars = []
        for i in range(text.count_chars()):
            left, _, right, _ = text.get_charbox(i)
            if right > left and (left < margin - SLACK or right > width - margin + SLACK):
                chars.append(text.get_text_range(i, 1))
        if chars:
            outside[number] = "".join(chars)
    return outside
