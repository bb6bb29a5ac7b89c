"""The look of reportgen's own HTML pages (grade's overview, diff's page, serve's message pages): one light and one
dark palette with AA contrast, tables that scroll in their own box, visually hidden text; and long ids made
breakable after their separators, as the report's tables break them too."""

from __future__ import annotations

import re
from html import escape

from reportgen.textsafe import break_points

# every colour pair below is 4.5:1 or more (text on each background it is shown on), light and dark
CSS = """\
:root { color-scheme: light; --fg: #1a1a1a; --bg: #fff; --muted: #5c5c5c; --line: #c4c4c4; --head: #f0f0f0;
  --panel: #f6f6f6; --bad: #a8001c; --bad-bg: #fde8e8; --good: #0a6b2d; --good-bg: #e6f6e6; --warn: #8a4b00;
  --hunk: #3d3d66; --hunk-bg: #eef; --link: #0b57b0; --visited: #6b2aa3; }
@media screen and (prefers-color-scheme: dark) {
  :root { color-scheme: dark; --fg: #e6e6e6; --bg: #17191c; --muted: #a3a8b0; --line: #4a4f57; --head: #25282d;
    --panel: #202328; --bad: #ff8f8f; --bad-bg: #3b1d21; --good: #6fd38f; --good-bg: #1b3323; --warn: #f2b25c;
    --hunk: #c0c6ee; --hunk-bg: #23263b; --link: #8ab4f8; --visited: #d0a4f7; }
}
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body { color: var(--fg); background: var(--bg); }
p, li, dd, pre, caption, h1, h2, h3 { overflow-wrap: break-word; }
a { color: var(--link); } a:visited { color: var(--visited); }
:focus-visible { outline: 2px solid var(--link); outline-offset: 2px; }
h1 { font-size: 1.6em; line-height: 1.25; margin: 0 0 0.6em; }
.scroll { position: relative; overflow-x: auto; max-width: 100%; margin: 0.5rem 0 1.2rem; }
.scroll > table { margin: 0; }
table { border-collapse: collapse; }
caption { text-align: left; font-weight: bold; padding: 0 0 0.3em; }
th, td { border: 1px solid var(--line); padding: 3px 6px; text-align: left; vertical-align: top; }
thead th { background: var(--head); }
.muted { color: var(--muted); } .nw { white-space: nowrap; }
.visually-hidden { position: absolute; width: 1px; height: 1px; margin: -1px; padding: 0; overflow: hidden;
  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
@media print { .scroll { overflow: visible; max-height: none; } }
@media (prefers-reduced-motion: reduce) {
  *, *::before, *::after { animation: none !important; transition: none !important; scroll-behavior: auto !important; }
}"""

_WORD = re.compile(r"\S+")
# punctuation with more after it (but a decimal point): where a browser may wrap inside a word
_INSIDE = re.compile(r"[^\w.](?=.)|\.(?=\D)")


def _word(word: str, keep: bool) -> str:
    """One word, escaped, with <wbr> after the separators of a long one; with `keep`, each piece between them that
    a browser could wrap inside (after a hyphen, between brackets, ...) in a span that does not wrap."""
    pieces = break_points(word)
    return "<wbr>".join(f'<span class="nw">{escape(p)}</span>' if keep and _INSIDE.search(p.rstrip("/=.")) else
                        escape(p) for p in pieces)


def _words(text: str, keep: bool) -> str:
    out, end = [], 0
    for m in _WORD.finditer(text):
        out += [escape(text[end:m.start()]), _word(m.group(), keep)]
        end = m.end()
    out.append(escape(text[end:]))
    return "".join(out)


def breakable(text: str) -> str:
    """Escaped running text (a paragraph, a heading, a message) with a line-break opportunity (<wbr>) after each
    separator of its long words (a browser already wraps after hyphens)."""
    return _words(text, keep=False)


def cell(text: str) -> str:
    """Escaped text for a table cell: it wraps between words and after the separators of long ones, never inside a
    word otherwise (its table scrolls in its box when a word does not fit)."""
    return _words(text, keep=True)


def scroll_box(label: str, table: str, classes: str = "") -> str:
    """A table in a box of its own that scrolls sideways when the table is wider, focusable so that a keyboard can
    scroll it too."""
    cls = f"scroll {classes}".strip()
    return f'<div class="{cls}" role="region" tabindex="0" aria-label="{escape(label)}">{table}</div>'
