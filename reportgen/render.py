"""Render the document through Jinja templates (autoescaped) into one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from .formatting import FILTERS

TEMPLATE_PACKS = ("assignment",)


def templates_root() -> Path:
    """Built-in templates: inside the installed package (wheel) or beside it (source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "assignment" / "report.html.j2").is_file():
            return candidate
    raise FileNotFoundError(f"reportgen's templates are missing (looked in {here / 'templates'} and "
                            f"{here.parent / 'templates'}); reinstall reportgen")


def environment(pack: str) -> jinja2.Environment:
    """A sandboxed-by-design Jinja environment: autoescape on, undefined names are errors."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_root() / pack)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    # figures are SVG produced by our own figure stage, prose is sanitized HTML: both are trusted markup
    env.filters["trusted"] = Markup
    return env


def render_html(document: dict) -> str:
    """The report as HTML text."""
    pack = document["report"].get("template") or "assignment"
    env = environment(pack)
    css = (templates_root() / pack / "style.css").read_text("utf-8")
    return env.get_template("report.html.j2").render(doc=document, css=Markup(css))
