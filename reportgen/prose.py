"""Markdown prose to sanitized HTML: prose is data, never a template."""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "del", "sup", "sub",
}
ALLOWED_ATTRS = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").enable(
    "strikethrough")


def _shift_headings(tokens, by: int) -> None:
    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            level = min(int(tok.tag[1]) + by, 6)
            tok.tag = f"h{level}"


def split_title(text: str) -> tuple[str | None, str]:
    """A leading `# Title` line becomes the section title; the rest is the body."""
    m = re.match(r"\A\s*#\s+(.+?)\s*#*\s*(?:\n|\Z)", text)
    return (m.group(1), text[m.end():]) if m else (None, text)


def _style_filter(tag: str, attr: str, value: str) -> str | None:
    # markdown-it writes table alignment as style="text-align:…"; keep exactly that and nothing else
    if attr == "style":
        return value if re.fullmatch(r"text-align:(left|right|center)", value) else None
    return value


def to_html(text: str, shift: int = 2) -> str:
    """Render Markdown (raw HTML is shown as text) and sanitize the result with an allow-list."""
    tokens = _md.parse(text)
    _shift_headings(tokens, shift)  # the section title is h2; prose headings nest below it
    html = _md.renderer.render(tokens, _md.options, {})
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer", attribute_filter=_style_filter, strip_comments=True)
