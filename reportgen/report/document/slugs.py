"""Slugs: the stable, file-name-safe names of sections, tables and figures."""

from __future__ import annotations

import re
import unicodedata


def slug(text: str, limit: int = 48) -> str:
    """Lower-case ASCII words joined by hyphens, cut at a word boundary: 'Test metrics of base' → 'test-metrics-of-base'."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_.lower())
    out = ""
    for w in words:
        if out and len(out) + 1 + len(w) > limit:
            break
        out = f"{out}-{w}" if out else w[:limit]
    return out or "untitled"
