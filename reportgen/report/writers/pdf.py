"""HTML → PDF with WeasyPrint, allowed to fetch nothing but inline data: URIs."""

# Every resource WeasyPrint loads goes through the fetcher below: <img>, <object>/<embed>, stylesheets, CSS url()
# (backgrounds, @import, @font-face), SVG <image>/<use>, and attachments (<link rel=attachment> and
# <a rel=attachment>). Only data: URIs pass, so no file is read and no request is made; redirects therefore
# cannot happen (and are switched off too). A refused fetch is logged by WeasyPrint and the resource left out.

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
from dataclasses import dataclass

from reportgen.hashing import digest

logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


class RefusedFetch(ValueError):
    """A resource outside the document was asked for and refused."""


def _check(url: str) -> None:
    if not url.lower().startswith("data:"):
        raise RefusedFetch(f"reportgen does not let the PDF renderer fetch {url[:80]!r}")


def _fetcher():
    """WeasyPrint's URL fetcher, refusing everything but data: URIs (imported here: WeasyPrint takes a second to
    import, and builds without a PDF never need it)."""
    from weasyprint import urls

    if hasattr(urls, "URLFetcher"):  # WeasyPrint ≥ 66: a fetcher object

        class _Fetcher(urls.URLFetcher):
            def fetch(self, url, headers=None):
                _check(url)
                return super().fetch(url, headers)

        return _Fetcher(allowed_protocols={"data"}, allow_redirects=False)

    def fetch(url, timeout=10, ssl_context=None):  # older WeasyPrint: a fetcher function
        _check(url)
        return urls.default_url_fetcher(url)

    return fetch


def _epoch(date: str | None) -> int:
    """Seconds since 1970 of the report's date ('2 December 2023' or ISO), else 0: never the wall clock."""
    for fmt in ("%d %B %Y", "%Y-%m-%d"):
        try:
            return int(dt.datetime.strptime((date or "").strip(), fmt).replace(tzinfo=dt.timezone.utc).timestamp())
        except ValueError:
            continue
    return 0


@contextlib.contextmanager
def _source_date(epoch: int):
    """SOURCE_DATE_EPOCH while rendering: fontTools stamps subset fonts with it instead of the current time."""
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(epoch)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


PDF_DIGEST_KEY = "ReportgenResultsSHA256"  # the PDF's document-information entry holding the results digest


def render_pdf(html: str, date: str | None = None, results_sha256: str | None = None, tagged: bool = True) -> bytes:
    """The PDF bytes of an HTML report: the same HTML and date give byte-identical PDFs; the results digest goes
    into the PDF's metadata, where `reportgen check` reads it. Tagged (PDF/UA-1, for screen readers) unless not
    `tagged` (benchmarks/pdf.py times both)."""
    import weasyprint

    epoch = _epoch(date)
    with _source_date(epoch):
        document = weasyprint.HTML(string=html, base_url="about:blank", url_fetcher=_fetcher()).render()
        document.metadata.attachments = []  # a report attaches no files: drop <link rel=attachment> ones unread
        stamp = dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        document.metadata.created = document.metadata.modified = stamp
        # only reportgen's own entry: a template's <meta> names never reach the PDF's metadata
        document.metadata.custom = {PDF_DIGEST_KEY: results_sha256} if results_sha256 else {}
        # the document identifier is derived from the content, not from time or randomness; 32 hex digits, as long
        # as the MD5 identifiers pydyf (WeasyPrint's PDF writer) makes
        return document.write_pdf(pdf_identifier=digest(html)[:32].encode(), custom_metadata=True,
                                  pdf_variant="pdf/ua-1" if tagged else None)


@dataclass(frozen=True)
class PrintJob:
    """A PDF still to render: the report's print HTML, its date and its results digest."""

    html: str
    date: str | None
    results_sha256: str | None

    def render(self) -> bytes:
        """The PDF's bytes (render_pdf)."""
        return render_pdf(self.html, self.date, self.results_sha256)
