"""Markdown prose to sanitized HTML: prose is data, never a template; images only from the manifest's folder."""

from __future__ import annotations

import base64
import html
import io
import os
import re
import stat
import warnings
from pathlib import Path

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import image as _image_rule
from markdown_it.token import Token
from PIL import Image, ImageFile, UnidentifiedImageError

from reportgen.manifest.files import MAX_PROSE_BYTES, check_text
from reportgen.manifest.prose_rules import ImageRefused, image_path
from reportgen.report.prose.figures import (FIGURE_STYLE, MIN_WIDTH, FigureSpec, figure_paragraph, read_attributes,
                                             take_figures, wrap_figures)

MAX_HTML_CHARS = 4_000_000  # estimated before rendering: reference links can repeat one long URL many times
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # one image file
MAX_IMAGE_PIXELS = 25_000_000  # one image, read from its header before anything is decoded
MAX_IMAGES_BYTES = 20 * 1024 * 1024  # the data: URIs of all images embedded by one prose text
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}

ALLOWED_TAGS = {
    "p", "br", "hr", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "a", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "del", "sup", "sub", "img", "span", "figure", "figcaption",
}
ALLOWED_ATTRS = {"a": {"href", "title"}, "th": {"style"}, "td": {"style"}, "ol": {"start"},
                 "img": {"src", "alt", "title", "style"}, "figure": {"id", "style"}}
ALLOWED_CLASSES = {"span": {"image-refused", "label"}, "figure": {"figure", "prose-figure"}}
URL_SCHEMES = {"http", "https", "mailto", "data"}  # data: survives only in <img src>, see _attribute_filter
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/]*={0,2}")


class _Markdown(MarkdownIt):
    """CommonMark with tables and strikethrough; every image destination reaches prose.py, which judges it."""

    def __init__(self):
        super().__init__("commonmark", {"html": False, "linkify": False, "typographer": False})
        self.enable(["table", "strikethrough"])
        self._image_depth = 0

        def image(state, silent):
            self._image_depth += 1
            try:
                return _image_rule(state, silent)
            finally:
                self._image_depth -= 1

        self.inline.ruler.at("image", image)

    def validateLink(self, url: str) -> bool:
        # an image refused by markdown-it (file:, data:, javascript:) would silently stay text: let it through as
        # a token, then _embed_images replaces every image with an inline copy or a visible refusal
        return self._image_depth > 0 or super().validateLink(url)


_md = _Markdown()


def read_file(path: Path) -> str:
    """A prose file's text, reading no more than one byte past the limit (to_html then refuses it)."""
    with open(path, "rb") as f:
        return f.read(MAX_PROSE_BYTES + 1).decode("utf-8", "replace")


def _shift_headings(tokens, by: int) -> None:
    for tok in tokens:
        if tok.type in ("heading_open", "heading_close"):
            level = min(int(tok.tag[1]) + by, 6)
            tok.tag = f"h{level}"


def split_title(text: str) -> tuple[str | None, str]:
    """A leading `# Title` line becomes the section title; the rest is the body."""
    m = re.match(r"\s*#[ \t]+([^\n]*)\n?", text)  # linear: no two adjacent groups can take the same characters
    if not m:
        return None, text
    title = m.group(1).strip()
    closing = title.rstrip("#")  # an ATX closing sequence (`# Title ##`) needs a space before it
    if closing != title and (not closing or closing[-1] in " \t"):
        title = closing.rstrip()
    return (title, text[m.end():]) if title else (None, text)


def _attribute_filter(tag: str, attr: str, value: str) -> str | None:
    # markdown-it writes table alignment as style="text-align:…"; figures get exactly the styles _figure writes
    if attr == "style":
        if tag == "figure":
            m = FIGURE_STYLE.fullmatch(value)
            return value if m and MIN_WIDTH <= int(m[1]) <= 100 else None
        if tag == "img":
            return value if value in ("width:100%", "max-width:100%") else None
        return value if tag in ("th", "td") and re.fullmatch(r"text-align:(left|right|center)", value) else None
    if tag == "figure" and attr == "id":
        return value if re.fullmatch(r"fig-\d{1,6}", value) else None
    if tag == "img" and attr == "src":
        return value if _DATA_IMAGE.fullmatch(value) else None
    if attr == "href" and value.strip().lower().startswith("data:"):
        return None
    return value


def _short(src: str) -> str:
    return src if len(src) <= 80 else src[:77] + "..."


def _read(real: Path, src: str) -> bytes:
    """At most MAX_IMAGE_BYTES of a regular file (a FIFO or device is refused, never waited on)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise ImageRefused(f"file not found: {_short(src)}") from None
    except OSError as exc:
        raise ImageRefused(f"the file cannot be read ({exc.strerror or exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ImageRefused("not a regular file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_IMAGE_BYTES + 1) if st.st_size <= MAX_IMAGE_BYTES else b""
    if st.st_size > MAX_IMAGE_BYTES or len(data) > MAX_IMAGE_BYTES:
        raise ImageRefused(f"the file is {max(st.st_size, len(data)) / 2**20:.1f} MB; the limit is "
                       f"{MAX_IMAGE_BYTES // 2**20} MB")
    return data


def _data_uri(data: bytes, real: Path) -> str:
    """A data: URI for bytes that Pillow opens as PNG, JPEG, GIF or WebP within the pixel limit."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(IMAGE_TYPES)) as img:
                kind, (width, height) = img.format, img.size
                if width * height > MAX_IMAGE_PIXELS:  # from the header, before any pixel is decoded
                    raise ImageRefused(f"{width}×{height} is {width * height / 1e6:,.1f} megapixels; the limit is "
                                   f"{MAX_IMAGE_PIXELS // 1_000_000}")
                truncated, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, False
                try:  # WeasyPrint turns this on when imported; here a cut-off file is refused, not grey-filled
                    img.load()
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = truncated
        except ImageRefused:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRefused(f"more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels") from None
        except UnidentifiedImageError:
            if real.suffix.lower() in (".svg", ".svgz") or b"<svg" in data[:4096].lower():
                raise ImageRefused("SVG images are not embedded (they can carry scripts and links); "
                               "export the figure as PNG") from None
            raise ImageRefused("not a PNG, JPEG, GIF or WebP image") from None
        except Exception as exc:  # truncated or corrupt data: Pillow raises OSError, ValueError, SyntaxError, ...
            raise ImageRefused(f"the {real.suffix.lstrip('.').upper() or 'image'} file cannot be decoded "
                           f"({type(exc).__name__})") from None
    return f"data:{IMAGE_TYPES[kind]};base64,{base64.b64encode(data).decode('ascii')}"


def _position(lines: list[str], block_map, k: int) -> tuple[int, int]:
    """(line, column), 1-based, of the k-th image (`![`) in the block's source lines; the block's start if not found."""
    start, end = (block_map or (0, 1))[0], (block_map or (0, 1))[1]
    seen = 0
    for n in range(start, min(end, len(lines))):
        col = lines[n].find("![")
        while col >= 0:
            if seen == k:
                return n + 1, col + 1
            seen += 1
            col = lines[n].find("![", col + 2)
    return start + 1, 1


def _placeholder(reason: str, alt: str) -> Token:
    text = f"image not embedded: {reason}" + (f" (alt text: {alt})" if alt.strip() else "")
    tok = Token("html_inline", "", 0)
    tok.content = f'<span class="image-refused">{html.escape(text)}</span>'
    return tok


def _embed_images(tokens, root: Path | None, here: Path | None, lines: list[str], notes: list | None) -> None:
    """Replace each image by an inline data: copy of its file, or by a visible refusal saying why (also noted, with
    its line and column, in `notes`)."""
    cache: dict[Path, str | ImageRefused] = {}
    budget = MAX_IMAGES_BYTES
    where = None
    for block in tokens:
        where = block.map or where
        if block.type != "inline" or not block.children:
            continue
        k = -1
        for i, tok in enumerate(block.children):
            if tok.type != "image":
                continue
            k += 1
            src = str(tok.attrGet("src") or "")
            alt = _md.renderer.renderInlineAsText(tok.children or [], _md.options, {})
            try:
                real = image_path(src, root, here)
                if real not in cache:
                    try:
                        cache[real] = _data_uri(_read(real, src), real)
                    except ImageRefused as why:
                        cache[real] = why
                found = cache[real]
                if isinstance(found, ImageRefused):
                    raise found
                if len(found) > budget:
                    raise ImageRefused(f"the images of this prose exceed {MAX_IMAGES_BYTES / 2**20:g} MB of inline data")
                budget -= len(found)
                tok.attrSet("src", found)
            except ImageRefused as why:
                block.children[i] = _placeholder(str(why), alt)
                if notes is not None:
                    notes.append((*_position(lines, where, k), f"image {_short(src)!r} refused: {why}"))


def _weight(tokens) -> int:
    """Roughly how many characters the tokens render to (text, attributes, children)."""
    total = 0
    for tok in tokens:
        total += len(tok.content) + sum(len(str(v)) for v in (tok.attrs or {}).values()) + 8
        if tok.children:
            total += _weight(tok.children)
    return total


def _refused_prose(reason: str) -> str:
    return f'<p><span class="image-refused">{html.escape(f"prose not rendered: {reason}")}</span></p>'


def to_html(text: str, shift: int = 2, base_dir: Path | None = None, source_dir: Path | None = None,
            figures: dict[int, dict] | None = None, notes: list | None = None) -> str:
    """Render Markdown (raw HTML is shown as text), embed its images, and sanitize the result with an allow-list.

    Images come only from files inside `base_dir` (the manifest's folder), relative to `source_dir` (the prose
    file's folder, default `base_dir`); without `base_dir` every image is refused. `figures` (paragraph line →
    {"number", "id", "width"}, from `find_figures` on the same text before its references were expanded) makes
    those paragraphs numbered figures. Each refused image (or prose) appends (line, column, message) to `notes`.
    """
    why = check_text(text)
    if why:
        notes is not None and notes.append((1, 1, f"prose not rendered: {why}"))
        return _refused_prose(why)
    tokens = _md.parse(text)
    if _weight(tokens) > MAX_HTML_CHARS:
        why = f"it would render to more than {MAX_HTML_CHARS // 1_000_000} million characters"
        notes is not None and notes.append((1, 1, f"prose not rendered: {why}"))
        return _refused_prose(why)
    _shift_headings(tokens, shift)  # the section title is h2; prose headings nest below it
    captions = take_figures(tokens, figures or {})
    _embed_images(tokens, base_dir, source_dir, text.splitlines(), notes)
    wrap_figures(tokens, captions)
    return sanitize(_md.renderer.render(tokens, _md.options, {}))


def sanitize(markup: str) -> str:
    """The allow-list: prose tags only, <img> only with an inline PNG/JPEG/GIF/WebP, links marked noopener."""
    return nh3.clean(markup, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRS, url_schemes=URL_SCHEMES,
                     allowed_classes=ALLOWED_CLASSES, link_rel="noopener noreferrer",
                     attribute_filter=_attribute_filter, strip_comments=True)


def find_figures(text: str) -> list[FigureSpec]:
    """The figure paragraphs of a prose text, in order (the first pass numbers them before references expand)."""
    if check_text(text):
        return []
    tokens, lines, found = _md.parse(text), text.splitlines(), []
    for i in range(len(tokens)):
        hit = figure_paragraph(tokens, i)
        if hit:
            image, attrs = hit
            line = tokens[i].map[0]
            col = lines[line].find("![") + 1 if line < len(lines) else 1
            spec = FigureSpec(line, max(col, 1), _md.renderer.renderInlineAsText(image.children or [], _md.options, {}))
            read_attributes(attrs, spec)
            found.append(spec)
    return found
