"""Reading a report's PDF for `check`: the results digest and producer in its metadata, and its text (as shown, and
page by page as held)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from reportgen.grading.check.reading import norm

PDF_DIGEST_KEY = "ReportgenResultsSHA256"  # reportgen.report.writers.pdf.PDF_DIGEST_KEY (the report side is not imported)


@dataclass
class Printed:
    """What check reads off a PDF: its digest (None when it carries none), its shown text, and its producer and each
    page's whole text (what lies outside the page box too), or why it is unreadable."""

    digest: str | None
    text: str
    pages: int
    error: str | None = None
    producer: str | None = None
    page_texts: list[str] = field(default_factory=list)


def _info(document, key: str) -> str | None:
    """One entry of the PDF's document-information dictionary (pdfium hands it out as UTF-16)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    size = pdfium_c.FPDF_GetMetaText(document, key.encode("ascii"), None, 0)
    if size <= 2:  # absent: just the terminating NUL
        return None
    buffer = ctypes.create_string_buffer(size)
    pdfium_c.FPDF_GetMetaText(document, key.encode("ascii"), buffer, size)
    return buffer.raw[:size - 2].decode("utf-16-le")


def read_pdf(path: Path) -> Printed:
    """The PDF's digest, producer and text, read with pdfium (Chromium's PDF engine: fast and hardened); an
    unreadable file is recorded, not raised."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError, ValueError) as exc:
        return Printed(None, "", 0, f"{type(exc).__name__}: {exc}")
    try:
        shown, held = [], []
        for index in range(len(document)):
            page = document[index]
            text = page.get_textpage()
            shown.append(text.get_text_bounded())
            held.append(text.get_text_range())  # outside the page box too: text hidden there is compared
            text.close()
            page.close()
        return Printed(_info(document, PDF_DIGEST_KEY), norm(" ".join(shown)), len(shown),
                       producer=_info(document, "Producer"), page_texts=held)
    except pdfium.PdfiumError as exc:
        return Printed(None, "", 0, f"PdfiumError: {exc}")
    finally:
        document.close()


def occurrences(number: str, text: str) -> int:
    """How often a formatted number appears in text as a whole number ('1,258' not inside '11,258' or '1,2580')."""
    pattern = r"\s?".join(re.escape(part) for part in norm(number).split(" "))
    return len(re.findall(rf"(?<![\d.,]){pattern}(?![\d])", text))
