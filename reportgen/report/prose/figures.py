"""Prose figures: `![Caption](file.png){#fig:label width=60% alt="…"}` alone in its paragraph, as a numbered
<figure>."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it.renderer import RendererHTML
from markdown_it.token import Token

from reportgen.report.prose.references import REF

MIN_WIDTH = 10
FIGURE_LABEL = re.compile(r"[A-Za-z0-9_.-]{0,99}[A-Za-z0-9_]")  # what `@fig:LABEL` can name (no `/`: LABEL/2)
_ATTR_BLOCK = re.compile(r"[ \t]*\{([^{}\n]{0,500})\}[ \t]*")
_ATTR_ITEM = re.compile(r"""([A-Za-z][\w-]{0,40})=("[^"]*"|'[^']*'|[^\s"']+)|(\S+)""")
FIGURE_STYLE = re.compile(r"width:(\d{1,3})%;margin-left:auto;margin-right:auto")
_AS_TEXT = RendererHTML()  # inline tokens as an image's alt text: markup dropped, text kept


@dataclass
class FigureSpec:
    """A figure paragraph found in prose: where it is, its label and width, its caption, attribute problems."""

    line: int  # 0-based line of its paragraph in the text
    column: int  # 1-based column of its `![`
    caption: str
    label: str | None = None
    width: int | None = None
    alt: str | None = None  # the image's own text alternative (`alt="…"`, plain text); else its caption
    problems: list[str] = field(default_factory=list)


def figure_paragraph(tokens, i: int) -> tuple[Token, str] | None:
    """(image token, attribute text) when tokens[i] opens a paragraph holding one image and an attribute block."""
    if tokens[i].type != "paragraph_open" or i + 1 >= len(tokens) or tokens[i + 1].type != "inline":
        return None
    children = tokens[i + 1].children or []
    if len(children) < 2 or children[0].type != "image" or any(c.type != "text" for c in children[1:]):
        return None
    m = _ATTR_BLOCK.fullmatch("".join(c.content for c in children[1:]))
    return (children[0], m[1]) if m else None


def read_attributes(text: str, spec: FigureSpec) -> None:
    """Read `#fig:label`, `width=NN%` and `alt="…"`; anything else is noted as a problem and ignored (never written
    out)."""
    for m in _ATTR_ITEM.finditer(text):
        item = m[0] if len(m[0]) <= 60 else m[0][:57] + "..."
        if m[3] is not None and m[3].startswith("#fig:") and spec.label is None:
            if FIGURE_LABEL.fullmatch(m[3][5:]):
                spec.label = m[3][5:]
            else:
                spec.problems.append(f"figure label {item!r} ignored: use letters, digits, `_`, `.` and `-`")
        elif m[1] == "width" and spec.width is None:
            value = m[2].strip("\"'")
            w = re.fullmatch(r"(\d{1,3})%", value)
            if w and MIN_WIDTH <= int(w[1]) <= 100:
                spec.width = int(w[1])
            else:
                spec.problems.append(f"figure attribute {item!r} ignored: width is a percentage from {MIN_WIDTH}% "
                                     "to 100%")
        elif m[1] == "alt" and spec.alt is None:
            spec.alt = m[2][1:-1] if m[2][:1] in "\"'" else m[2]
            if any(r[1] or r[2] or r[4] for r in REF.finditer(spec.alt)):  # a link in the block ends the figure
                spec.problems.append(f"figure attribute {item!r}: alt text is plain text, without references")
        else:
            spec.problems.append(f"figure attribute {item!r} ignored: a figure takes `#fig:LABEL`, `width=NN%` and "
                                 "`alt=\"…\"`")


def take_figures(tokens, figures: dict[int, dict]) -> dict[int, tuple[dict, list]]:
    """Drop the attribute blocks of the numbered figure paragraphs, naming each image by its `alt="…"` when given,
    else by its caption, and setting the figure's `alt` to that text; token index → (figure, caption tokens)."""
    out = {}
    for i, tok in enumerate(tokens):
        fig = figures.get(tok.map[0]) if tok.map and tok.type == "paragraph_open" else None
        found = figure_paragraph(tokens, i) if fig is not None else None
        if found:
            image, attributes = found
            tokens[i + 1].children = [image]
            out[i] = (fig, list(image.children or []))
            spec = FigureSpec(0, 0, "")
            read_attributes(attributes, spec)  # problems were noted in the first pass (find_figures)
            if spec.alt and spec.alt.strip():
                image.children = [Token("text", "", 0, content=spec.alt)]
            fig["alt"] = _AS_TEXT.renderInlineAsText(image.children or [], {}, {})
    return out


def wrap_figures(tokens, captions: dict[int, tuple[dict, list]]) -> None:
    """Each figure paragraph as <figure id="fig-N"> with its image and a numbered <figcaption>."""
    for i, (fig, caption) in captions.items():
        width = fig.get("width")
        style = f' style="width:{int(width)}%;margin-left:auto;margin-right:auto"' if width else ""
        opening = Token("html_block", "", 0)
        opening.content = f'<figure id="fig-{int(fig["number"])}" class="figure prose-figure"{style}>\n'
        closing = Token("html_block", "", 0)
        closing.content = "</figure>\n"
        inline = tokens[i + 1]
        image = inline.children[0]
        if image.type == "image":
            image.attrSet("style", "width:100%" if width else "max-width:100%")
            fig["src"] = str(image.attrGet("src") or "")  # the embedded data: URI, for the exported figure files
        label = Token("html_inline", "", 0)
        label.content = f'\n<figcaption><span class="label">Figure {int(fig["number"])}.</span> '
        end = Token("html_inline", "", 0)
        end.content = "</figcaption>"
        inline.children = [image, label, *caption, end]
        tokens[i], tokens[i + 2] = opening, closing
