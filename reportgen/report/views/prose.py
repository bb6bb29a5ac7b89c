"""The second pass over a document: prose is rendered once every number and label is known."""

from __future__ import annotations

from pathlib import Path

from reportgen.report import prose
from reportgen.errors import UserError
from reportgen.report.references import Context, Labels, ProseReferenceError, expand, place_math


class ProseError(UserError):
    """An unknown reference (or formula that cannot be typeset) in prose, with file:line:column."""


def labels(views: list[dict], sections) -> Labels:
    """Section numbers, figures and tables by the `label:` of the section that holds them."""
    out = Labels()
    for view, sec in zip(views, sections):
        label = sec.options.get("label")
        if label and "number" in view:
            out.sections[label] = view["number"]
            out.figures[label] = view.get("_figures", [])
            out.tables[label] = view.get("_tables", [])
    return out


def _render(text: str, ctx: Context, where: str, line_offset: int, **kw) -> str:
    try:
        expanded = expand(text, ctx)
    except ProseReferenceError as exc:
        raise ProseError(f"{where}:{exc.line + line_offset}:{exc.column}: {exc}") from None
    return place_math(prose.to_html(expanded, **kw), ctx)


def section(view, sec, results, figures, num):
    """A prose section's first pass: its text is read and rendered in the second (render_all), once every label is
    numbered."""
    view["_prose"] = {"file": sec.options.get("file"), "text": sec.options.get("text")}


def _read(view: dict, sec, base_dir: Path) -> tuple[Path | None, str, int, int]:
    """(file or None, Markdown body, lines before the body, heading shift); a leading `# Title` titles the section
    and the text's `##` headings become h3."""
    spec = view.pop("_prose")
    source = base_dir / spec["file"] if spec["text"] is None else None
    text = prose.read_file(source) if source else spec["text"]
    md_title, body = prose.split_title(text)
    view["title"] = sec.options.get("title") or md_title or view["title"]
    offset = text[:len(text) - len(body)].count("\n") if text.endswith(body) else 0
    return source, body, offset, 1 if md_title else 2


def render_all(views: list[dict], sections, results: dict, base_dir: Path, manifest_name: str) -> tuple[str | None,
                                                                                                          Context]:
    """Render every prose text (sections, notebook questions and comments, the abstract); returns the abstract."""
    ctx = Context(results, labels(views, sections), dict(results["report"].get("references") or {}))
    abstract = results["report"].get("abstract")
    abstract_html = _render(abstract, ctx, f"{manifest_name} (report.abstract)", 0, shift=3) if abstract else None
    for view, sec in zip(views, sections):
        if "_prose" in view:
            source, body, offset, shift = _read(view, sec, base_dir)
            where = str(source) if source else f"{manifest_name} (sections[{view['index']}].prose.text)"
            view["html"] = _render(body, ctx, where, offset, shift=shift, base_dir=base_dir,
                                   source_dir=source.parent if source else None)
        for j, item in enumerate(view.get("questions") or []):
            for key in ("question", "comment"):
                if item.get(f"_{key}"):
                    where = f"{manifest_name} (sections[{view['index']}].notebook.items[{j}].{key})"
                    item[key] = _render(item.pop(f"_{key}"), ctx, where, 0, shift=3)
    return abstract_html, ctx


def bibliography(ctx: Context) -> list[dict]:
    """The cited references, in order of first citation."""
    return [{"number": n, "id": f"ref-{n}", "key": key, "html": prose.to_html(ctx.references[key], shift=3)}
            for n, key in enumerate(ctx.cited, 1)]
