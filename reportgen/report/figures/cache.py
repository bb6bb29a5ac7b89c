"""The figure cache: each figure is drawn once for the exact data it shows and kept on disk, as SVG for the HTML
and as PNG for the PDF (WeasyPrint lays out a raster image much faster than a plot's thousands of vector paths)."""

from __future__ import annotations

import base64
import functools
import html
import importlib
import io
import re
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Callable

import matplotlib

from reportgen.caching import JsonCache
from reportgen.hashing import cache_key
from reportgen.report.figures.style import STYLE
from reportgen.report.wording.alt import alt_text
from reportgen.sourcehash import source_digest

matplotlib.use("Agg")  # before anything imports pyplot: never a GUI backend


class _OnFirstUse:
    """A module imported when first used: pyplot and seaborn take seconds to import, a rebuild from the cache
    draws nothing."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str):
        return getattr(importlib.import_module(self._name), attr)


plt = _OnFirstUse("matplotlib.pyplot")
sns = _OnFirstUse("seaborn")

RASTER_DPI = 200  # the PDF's figures: sharp in print, a fraction of the vector figure's layout time
FIGURE_CODE = ("report/figures",)  # packages whose source decides a figure's pixels
PAD = 0.1  # margin around a figure, in inches


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the figure modules' source, matplotlib's and seaborn's versions and the style: what draws a figure."""
    return cache_key({"matplotlib": matplotlib.__version__, "seaborn": version("seaborn"), "dpi": RASTER_DPI,
                      "style": STYLE, "source": source_digest(*FIGURE_CODE)})


def figure_key(draw: Callable, args: tuple) -> str:
    """Key of the drawing function's name, the JSON of its inputs and the figure code's version."""
    return cache_key({"figure": f"{draw.__module__}.{draw.__qualname__}", "inputs": args, "code": code_version()})


def svg_text(fig, pad: float = PAD, bbox=None) -> str:
    """The figure as an <svg> element without XML prologue or metadata (ids not yet made unique); cut to `bbox`
    (inches) when given, else to its tight box plus `pad` inches."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches=bbox or "tight", pad_inches=pad,
                metadata={"Date": None, "Creator": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    return re.sub(r"\s*<metadata>.*?</metadata>", "", svg, flags=re.S).strip()  # RDF boilerplate, printed by some


def png_bytes(fig, bbox) -> bytes:
    """The figure cut to `bbox` (inches) as a deterministic RGB PNG at RASTER_DPI (no alpha: the PDF needs no mask)."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=RASTER_DPI, bbox_inches=bbox, facecolor="white")
    out = io.BytesIO()
    Image.open(io.BytesIO(buf.getvalue())).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def prefix_ids(svg: str, prefix: str) -> str:
    """Give every id of an SVG the prefix: several SVGs share one HTML document."""
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    seen: dict[str, int] = {}

    def rename(m) -> str:  # identical content (two equal images) gets one id twice: number the repeats
        seen[m[1]] = seen.get(m[1], 0) + 1
        return f'id="{prefix}-{m[1]}"' if seen[m[1]] == 1 else f'id="{prefix}-{m[1]}-{seen[m[1]]}"'

    svg = re.sub(r'\bid="([^"]+)"', rename, svg)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m[1]}{prefix}-{m[2]}" if m[2] in ids else m[0], svg)


def labelled_svg(svg: str, alt: str, title_id: str) -> str:
    """The <svg> as an image named by its text alternative: role="img" and aria-labelledby its first child, a <title>
    holding `alt` (escaped); unchanged without either."""
    start = re.match(r"<svg\b[^>]*?(/?)>", svg)
    if not alt or start is None or start[1]:
        return svg
    head = start[0][:-1].rstrip()
    return (f'{head} role="img" aria-labelledby="{html.escape(title_id)}">'
            f'<title id="{html.escape(title_id)}">{html.escape(alt)}</title>{svg[start.end():]}')


@dataclass(frozen=True)
class Entry:
    """One drawn figure: its SVG (ids unprefixed as cached, prefixed as FigureCache.figure hands it out), for print
    its PNG (empty when not rasterised), and its text alternative (reportgen.report.wording.alt)."""

    svg: str
    png: bytes
    alt: str = ""

    def img(self) -> str:
        """An <img> of the PNG with its text alternative, as wide as the vector figure (pixels at RASTER_DPI)."""
        width_px = int.from_bytes(self.png[16:20], "big")  # PNG IHDR: width, then height, big-endian
        width_pt = width_px * 72 / RASTER_DPI
        data = base64.b64encode(self.png).decode("ascii")
        return (f'<img class="figure-raster" alt="{html.escape(self.alt)}" src="data:image/png;base64,{data}" '
                f'style="width: {width_pt:.2f}pt; max-width: 100%; height: auto">')


def draw(draw_fn: Callable, args: tuple, raster: bool) -> Entry:
    """Run a drawing function (which returns a matplotlib figure) in the report's style and export it."""
    with plt.rc_context(STYLE):
        fig = draw_fn(*args)
        try:
            fig.draw_without_rendering()  # one layout pass gives the tight box of both exports
            bbox = fig.get_tightbbox().padded(PAD)
            return Entry(svg_text(fig, bbox=bbox), png_bytes(fig, bbox) if raster else b"")
        finally:
            plt.close(fig)


class FigureCache:
    """Figures by key under `<root>/figures/<key>.json` (root None: kept nowhere); with `raster`, each also as PNG."""

    def __init__(self, root: Path | None, raster: bool = False):
        self.entries = JsonCache(Path(root) / "figures") if root is not None else None
        self.raster = raster
        self.counts = {"drawn": 0, "cached": 0}

    def figure(self, draw_fn: Callable, *args, prefix: str) -> Entry:
        """draw_fn(*args) as the document holds it (SVG ids prefixed with `prefix`; its PNG when rasterising, else
        none; its text alternative): from the cache, or drawn now and cached."""
        key = figure_key(draw_fn, args)
        entry = self._load(key)
        if entry is None or (self.raster and not entry.png):  # an HTML-only build cached no PNG: draw it now
            entry = draw(draw_fn, args, self.raster)
            self.counts["drawn"] += 1
            self._store(key, entry)
        else:
            self.counts["cached"] += 1
        # the words are not cached: computed from the same arguments, they follow the wording code (not part of the key)
        return Entry(prefix_ids(entry.svg, prefix), entry.png if self.raster else b"", alt_text(draw_fn, args))

    def _load(self, key: str) -> Entry | None:
        """A sound entry, else None (absent, unreadable, truncated or failing its checksum: it is drawn again)."""
        record = self.entries.get(key) if self.entries is not None else None
        if record is None:
            return None
        try:
            entry = Entry(record["svg"], base64.b64decode(record["png"], validate=True))
        except (ValueError, KeyError, TypeError):
            return None
        return entry if isinstance(entry.svg, str) and entry.svg.startswith("<svg") else None

    def _store(self, key: str, entry: Entry) -> None:
        if self.entries is not None:  # the key in the record too: a reader of the file sees which figure it holds
            self.entries.put(key, {"key": key, "svg": entry.svg, "png": base64.b64encode(entry.png).decode("ascii")})
