"""Results embedded in a report: inert JSON in <script type="application/json"> elements."""

from __future__ import annotations

from reportgen.writer import to_json

EMBED_ID = "reportgen-results"  # <script type="application/json" id=...> holding results.json in every report
PROVENANCE_ID = "reportgen-provenance"  # its companion: manifest hash, version, device, seeds, smoke
_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def embed_json(data) -> str:
    """JSON for a <script type="application/json"> element: results.json's text with <, >, & (and U+2028/9) escaped."""
    text = to_json(data)
    for char, escaped in _ESCAPES.items():
        text = text.replace(char, escaped)
    return text
