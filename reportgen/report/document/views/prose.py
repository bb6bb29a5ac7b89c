"""The second pass over a document: prose is rendered once every number and label is known."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reportgen.report.prose import markdown as prose
from reportgen.errors import UserError
from reportgen.report.prose.placing import place_math, plain_references
from reportgen.report.prose.references import Context, Labels, ProseReferenceError, expand
from reportgen.results.record import Results


class ProseError(UserError):
    """An unknown reference (or formula that cannot be typeset) in prose, with file:line:column."""


class ProseWarnings(UserError):
    """Under --strict: the prose warnings (refused or missing images, ignored figure attributes), all at once."""

    def __init__(self, warnings: list[str]):
        super().__init__(f"{len(warnings)} prose warning{'' if len(warnings) == 1 else 's'} (--strict):\n  "
                         + "\n  ".join(warnings))
        self.warnings = list(warnings)


@dataclass
class ProseContext(Context):
    """The references' context plus the located warnings of every prose text rendered with it."""

    warnings: list[str] = field(default_factory=list)  # "intro.md:12:1: image 'x.svg' refused: ...", in order

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def labels(views: list[dict], sections) -> Labels:
    """Section numbers, figures and tables by the `label:` of the section that holds them, and each labelled prose
    figure (`{#fig:LABEL}`) by its own label; a label used twice is a ProseError naming both places."""
    out, places = Labels(), {}
    for view, sec in zip(views, sections):
        label = sec.options.get("label")
        if label and "number" in view:
            out.sections[label] = view["number"]
            out.figures[label] = view.get("_figures", [])
            out.tables[label] = [{"number": t.number, "id": t.id} for t in view.get("_tables", [])]
            places[label] = f"the label of section {view['number']}"
    for view in views:
        for fig in (view.get("_prose") or {}).get("figures", {}).values():
            label = fig["label"]
            if label is None:
                continue
            if label in places:
                raise ProseError(f"{fig['where']}: figure label {label!r} is already {places[label]}")
            out.figures[label] = [fig]
            places[label] = f"the label of the figure at {fig['where']}"
    return out


def _render(text: str, ctx: ProseContext, where: str, line_offset: int, **kw) -> str:
    try:
        expanded = expand(text, ctx)
    except ProseReferenceError as exc:
        raise ProseError(f"{where}:{exc.line + line_offset}:{exc.column}: {exc}") from None
    notes: list = []
    html = prose.to_html(expanded, notes=notes, **kw)
    for line, column, message in notes:
        ctx.warn(f"{where}:{line + line_offset}:{column}: {message}")
    for fig in (kw.get("figures") or {}).values():  # its alt text as its <img> states it, live numbers included
        fig["alt"] = plain_references(fig.get("alt") or "", ctx)
    return place_math(html, ctx)


def _where(source: Path | None, manifest_name: str, index: int) -> str:
    return str(source) if source else f"{manifest_name} (sections[{index}].prose.text)"


def section(view: dict, sec, results: Results, figures, num):
    """A prose section's first pass: its text is read and its figures numbered in document order; it is rendered in
    the second pass (render_all), once every label is numbered."""
    spec = {"file": sec.options.get("file"), "text": sec.options.get("text")}
    view["_prose"] = spec
    source, body, offset, shift = _read(view, sec, Path(num.base_dir or "."))
    where = _where(source, results.manifest.file, view["index"])
    found = {}
    for fig in prose.find_figures(body):
        item = num.fig(f"prose-figure/{view['index']}/{fig.line}", fig.caption, "")
        item.update(label=fig.label, width=fig.width, problems=fig.problems,
                    where=f"{where}:{fig.line + 1 + offset}:{fig.column}")
        found[fig.line] = item  # the document's own entry: rendering adds its image (`src`)
    spec.update(source=source, body=body, offset=offset, shift=shift, where=where, figures=found)


def _read(view: dict, sec, base_dir: Path) -> tuple[Path | None, str, int, int]:
    """(file or None, Markdown body, lines before the body, heading shift); a leading `# Title` titles the section
    and the text's `##` headings become h3."""
    spec = view["_prose"]
    source = base_dir / spec["file"] if spec["text"] is None else None
    text = prose.read_file(source) if source else spec["text"]
    md_title, body = prose.split_title(text)
    view["title"] = sec.options.get("title") or md_title or view["title"]
    offset = text[:len(text) - len(body)].count("\n") if text.endswith(body) else 0
    return source, body, offset, 1 if md_title else 2


def render_all(views: list[dict], sections, results: Results, base_dir: Path,
               manifest_name: str) -> tuple[str | None, ProseContext]:
    """Render every prose text (sections, notebook questions and comments, the abstract); returns the abstract and
    the context, whose `warnings` list every located prose warning (see `ProseWarnings`)."""
    report = results.report or {}
    ctx = ProseContext(results, labels(views, sections), dict(report.get("references") or {}))
    abstract = report.get("abstract")
    abstract_html = _render(abstract, ctx, f"{manifest_name} (report.abstract)", 0, shift=3) if abstract else None
    for view, sec in zip(views, sections):
        if "_prose" in view:
            spec = view.pop("_prose")
            source, where = spec["source"], spec["where"]
            for fig in spec["figures"].values():
                for problem in fig["problems"]:
                    ctx.warn(f"{fig['where']}: {problem}")
            view["html"] = _render(spec["body"], ctx, where, spec["offset"], shift=spec["shift"], base_dir=base_dir,
                                   source_dir=source.parent if source else None, figures=spec["figures"])
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
