"""Render the document through Jinja templates (autoescaped, sandboxed) into one self-contained HTML file."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from reportgen.errors import UserError
from reportgen.report.document.keyed import DIGITS_ONLY_SPAN
from reportgen.report.document.tree import FOLDING

TEMPLATE_PACKS = ("assignment", "paper", "lab")
DEFAULT_PACK = "assignment"
BASE = "base"  # templates/base: the report template, section templates, partials and stylesheet every pack shares
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; "
       "form-action 'none'")
PAPER_SIZES = {"a4": "A4", "letter": "letter"}


def templates_root() -> Path:
    """Built-in templates: inside the installed package (wheel) or beside it (source checkout)."""
    package = Path(__file__).resolve().parents[2]  # reportgen/, from reportgen/report/writers/
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / BASE / "report.html.j2").is_file():
            return candidate
    raise FileNotFoundError(f"reportgen's templates are missing (looked in {package / 'templates'} and "
                            f"{package.parent / 'templates'}); reinstall reportgen")


def search_path(pack: str, override: Path | None = None) -> list[Path]:
    """Where templates are looked up, first match wins: the override folder, the pack, the shared base."""
    root = templates_root()
    dirs = [override] if override is not None else []
    return dirs + [root / pack, root / BASE]


def environment(pack: str, override: Path | None = None) -> jinja2.Environment:
    """Autoescaped, sandboxed Jinja: undefined names are errors; `builtin/NAME` is the pack's own NAME, `base/NAME`
    the shared base's.

    An override template may `{% extends "builtin/sections/cover.html.j2" %}` the file it replaces; a pack's template
    may `{% extends "base/sections/contents.html.j2" %}` and replace one block of it."""
    builtin = jinja2.FileSystemLoader([str(p) for p in search_path(pack)])
    base = jinja2.FileSystemLoader([str(templates_root() / BASE)])
    loader = jinja2.ChoiceLoader([
        jinja2.PrefixLoader({"builtin": builtin, "base": base}, delimiter="/"),
        jinja2.FileSystemLoader([str(p) for p in search_path(pack, override)]),
    ])
    env = SandboxedEnvironment(
        loader=loader, autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    # figures are SVG produced by our own figure stage, prose is sanitized HTML: both are trusted markup
    env.filters["trusted"] = Markup
    return env


def builtin_stylesheet(pack: str) -> str:
    """templates/base/style.css, then the pack's own style.css (its differences from the base)."""
    root = templates_root()
    css = (root / BASE / "style.css").read_text("utf-8")
    own = root / pack / "style.css"
    return css + "\n" + own.read_text("utf-8") if pack != BASE and own.is_file() else css


def fold_rules(bodies: int = FOLDING) -> str:
    """CSS that folds the k-th <tbody> of a table by the k-th checkbox before it: no :has(), no script."""
    def rule(selector: str, body: str) -> str:
        return ",".join(f".fold:nth-of-type({k}){selector}~table>tbody:nth-of-type({k}){body}"
                           for k in range(1, bodies + 1))
    return ("@media screen {\n" + rule(":not(:checked)", ">tr:not(.block-head)") + " { display: none; }\n"
            + rule(":not(:checked)", " label.fold-label::before") + ' { content: "▸ "; }\n'
            + rule(":focus-visible", " label.fold-label") + " { outline: 2px solid currentColor; }\n}\n")


def stylesheet(env: jinja2.Environment, paper: str) -> str:
    """The built-in stylesheet (base, then the pack's), or an override folder's style.css in its place; then
    templates/base/screen.css (focus, dark mode, reduced motion), extra.css if an override folder has one, then the
    page size."""
    css, filename, _ = env.loader.get_source(env, "style.css")
    folder = Path(filename).parent
    if folder.parent == templates_root():  # not an override: the pack's own, or the base's for a pack without one
        css = builtin_stylesheet(folder.name)
    css += "\n" + fold_rules() + (templates_root() / BASE / "screen.css").read_text("utf-8")  # every pack's too
    try:
        css += "\n" + env.loader.get_source(env, "extra.css")[0]
    except jinja2.TemplateNotFound:
        pass
    size = PAPER_SIZES[paper]
    return css + f"\n@page {{ size: {size}; }}\n@page landscape {{ size: {size} landscape; }}\n"


def _with_csp(html: str) -> str:
    """Put reportgen's Content-Security-Policy first in <head>, whatever an override template did."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
    match = re.search(r"<head\b[^>]*>", html, flags=re.IGNORECASE)
    if match:
        return html[:match.end()] + "\n" + meta + html[match.end():]
    return meta + "\n" + html


MEDIA = ("screen", "print")  # print: figures as their PNGs, which WeasyPrint lays out far faster than SVG


def _lightened_for_print(html: str) -> str:
    """The print HTML with fewer elements and the same PDF: each <wbr> as the zero-width space WeasyPrint's own
    stylesheet gives it (one text character instead of an element and its ::before box), digits-only keyed numbers
    without their span (it suppresses no break opportunity in them and the PDF carries no data-key; every element
    costs WeasyPrint a box, a style and a text run: benchmarks/pdf_speed.py)."""
    return DIGITS_ONLY_SPAN.sub(r"\1", html.replace("<wbr>", "\u200b"))


def render_html(document: dict, override: Path | None = None, medium: str = "screen") -> str:
    """The report as HTML text, through the manifest's template pack and optional override folder; for `medium`
    print, the version the PDF is made from."""
    report = document["report"]
    pack = report.get("template") or DEFAULT_PACK
    env = environment(pack, override)
    if medium not in MEDIA:
        raise ValueError(f"medium {medium!r}: one of {', '.join(MEDIA)}")
    env.globals["medium"] = medium
    css = stylesheet(env, report.get("paper") or "a4")
    try:
        html = env.get_template("report.html.j2").render(doc=document, css=Markup(css))
    except jinja2.TemplateError as exc:
        if override is None:
            raise  # a built-in template's error is reportgen's bug
        raise TemplateOverrideError(f"{_where(exc, override)}: {type(exc).__name__}: {exc}") from None
    # an override's stylesheet may style <wbr> or [data-key]: its print HTML keeps them
    return _with_csp(_lightened_for_print(html) if medium == "print" and override is None else html)


class TemplateOverrideError(UserError):
    """An override template that does not render (syntax error, unknown name, or a sandbox violation)."""


def _where(exc: jinja2.TemplateError, override: Path) -> str:
    """file:line of the error in the override folder, as far as Jinja can tell."""
    if getattr(exc, "filename", None) and getattr(exc, "lineno", None):
        return f"{exc.filename}:{exc.lineno}"
    tb, found = exc.__traceback__, None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith(str(override)):
            found = f"{name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found or str(override)
