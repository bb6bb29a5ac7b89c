"""The print HTML (what the PDF is made from) is lighter than the screen HTML and prints the same PDF: each <wbr> is
the zero-width space WeasyPrint gives it, and a keyed number of digits alone loses its span."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from golden import loaded, record  # noqa: F401 (fixtures)
from reportgen.report.document import assemble as document
from reportgen.report.figures import draw as figures
from reportgen.report.figures.cache import FigureCache
from reportgen.report.writers import html as render
from reportgen.report.writers import pdf

KEYED_DIGITS = re.compile(r'<span data-key="([^"]*)" data-fmt="[^"]*">([0-9.,]+)</span>')


@pytest.fixture(scope="module")
def doc(record, loaded) -> dict:
    drawn = figures.draw_all(record, loaded.sections, FigureCache(None, raster=True))
    return document.build(record, loaded.sections, drawn, loaded.base_dir)


def _pdf_text(html: str) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf.render_pdf(html))).pages]


@pytest.mark.unit
def test_print_html_drops_wbr_elements_and_the_spans_of_digits_only_numbers_but_keeps_the_screen_html_whole(doc):
    screen, printed = render.render_html(doc), render.render_html(doc, medium="print")
    keyed = KEYED_DIGITS.findall(screen)
    assert screen.count("<wbr>") > 0 and len(keyed) > 100
    assert "<wbr>" not in printed and printed.count("\u200b") >= screen.count("<wbr>")
    assert KEYED_DIGITS.findall(printed) == []
    assert 'data-key="models.' in printed  # keyed numbers with a space inside keep their span (no break inside)
    # the screen page is what check reads its keys from: untouched
    assert "\u200b" not in screen


@pytest.mark.slow  # two PDFs
def test_the_lighter_print_html_prints_the_same_text_on_the_same_pages(doc, monkeypatch):
    light = render.render_html(doc, medium="print")
    monkeypatch.setattr(render, "_lightened_for_print", lambda html: html)
    whole = render.render_html(doc, medium="print")
    assert whole != light and "<wbr>" in whole
    assert _pdf_text(light) == _pdf_text(whole)


def test_a_template_override_keeps_its_print_html_whole(doc, tmp_path):
    override = tmp_path / "templates"
    override.mkdir()
    (override / "extra.css").write_text("table.data [data-key] { color: #600; }\n", "utf-8")
    printed = render.render_html(doc, override, medium="print")
    assert "<wbr>" in printed and KEYED_DIGITS.search(printed)
