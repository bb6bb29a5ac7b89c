"""The placeholders prose rendering leaves for formulas and live numbers (reportgen.report.prose.references.expand),
filled in after sanitizing: a formula's SVG, a number's keyed span; inside a tag (an image's alt text) plain text."""

from __future__ import annotations

import re
from html import escape
from typing import TYPE_CHECKING

from reportgen.report.document.keyed import SPAN

if TYPE_CHECKING:
    from reportgen.report.prose.references import Context


def place_math(html: str, ctx: Context) -> str:
    """Put the SVG of each formula where its placeholder ended up in the sanitized HTML (inside a tag, an image's
    alt text, its TeX), and each live number (see _place_numbers)."""
    def svg(m) -> str:
        kind, _, body = ctx.math[int(m[1])].partition(":")
        tag = "div" if kind == "display" else "span"
        return f'<{tag} class="math math-{kind}">{body}</{tag}>'

    html = re.sub(r"<p>REPORTGENMATH(\d+)X</p>", lambda m: svg(m), html)
    parts = re.split(r"(<[^>]*>)", html)  # inline formulas go in after the split: one in an alt text stays text
    return "".join(_place_numbers(part, ctx, True) if part.startswith("<") else
                   _place_numbers(re.sub(r"REPORTGENMATH(\d+)X", svg, part), ctx, False) for part in parts)


def _place_numbers(part: str, ctx: Context, in_tag: bool) -> str:
    """Each live number of a tag or text as a span carrying its results key; inside a tag (an image's alt text) as
    plain text, formulas as their TeX."""
    def number(m) -> str:
        text, key, spec = ctx.keyed[int(m[1])]
        if in_tag:
            return escape(text)
        return SPAN.format(escape(key), escape(spec), escape(text))

    if in_tag:
        part = re.sub(r"REPORTGENMATH(\d+)X", lambda m: escape(ctx.math_source[int(m[1])]), part)
    return re.sub(r"REPORTGENKEY(\d+)X", number, part)


def plain_references(text: str, ctx: Context) -> str:
    """Text holding placeholders (a prose figure's alt text) as plain text: live numbers as shown, formulas as TeX."""
    text = re.sub(r"REPORTGENMATH(\d+)X", lambda m: ctx.math_source[int(m[1])], text)
    return re.sub(r"REPORTGENKEY(\d+)X", lambda m: ctx.keyed[int(m[1])][0], text)
