"""HTML → PDF with WeasyPrint, allowed to fetch nothing but inline data: URIs."""

from __future__ import annotations

import logging

import weasyprint
from weasyprint import urls

logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


class RefusedFetch(ValueError):
    """A resource outside the document was asked for and refused."""


def _check(url: str) -> None:
    if not url.startswith("data:"):
        raise RefusedFetch(f"reportgen does not let the PDF renderer fetch {url[:80]!r}")


if hasattr(urls, "URLFetcher"):  # WeasyPrint ≥ 66: a fetcher object

    class _Fetcher(urls.URLFetcher):
        def fetch(self, url, headers=None):
            _check(url)
            return super().fetch(url, headers)

    def _fetcher():
        return _Fetcher(allowed_protocols={"data"}, allow_redirects=False)
else:  # older WeasyPrint: a fetcher function

    def _fetcher():
        def fetch(url, timeout=10, ssl_context=None):
            _check(url)
            return urls.default_url_fetcher(url)
        return fetch


def render_pdf(html: str) -> bytes:
    """The PDF bytes of an HTML report."""
    doc = weasyprint.HTML(string=html, base_url="about:blank", url_fetcher=_fetcher())
    return doc.write_pdf()
