"""Turn results + figures into the document the templates print: numbered sections, tables, figures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from reportgen.report.document import registry, selection
from reportgen.report.document.selection import runs_for
from reportgen.textsafe import slug
from reportgen.report.document.tree import Table, plain
from reportgen.report.document.views import prose as document_prose
from reportgen.report.figures.cache import labelled_svg
from reportgen.report.document.provenance_record import provenance
from reportgen.report.wording.describe import source_text
from reportgen.results.embedded import embed_json
from reportgen.results.record import Results
from reportgen.results.store import results_digest
from reportgen.manifest.sections import Section

__all__ = ["Numbering", "build", "runs_for"]


FIGURE_ROLES = {"acc": "accuracy", "cm": "confusion", "cmgrid": "confusion", "cmp": "curves", "lat": "latency",
                "par": "parameters", "nb": "curves"}  # a figure key's role as its name says it


class Numbering:
    """Hands out section, figure and table numbers in document order, and each table's and figure's stable name:
    its section's name and what it shows (`comparison-pairs`, `evaluation-adam-metrics`), never its caption."""

    def __init__(self, base_dir: Path | None = None):
        self.base_dir = base_dir  # the manifest's folder: prose sections read their files in the first pass
        self.section = self.figure = self.table = 0
        self.section_name = "report"
        self.figures: list[dict] = []
        self.tables: list[Table] = []
        self.names: dict[str, set[str]] = {"table": set(), "figure": set()}  # unique within tables/, figures/
        self.blocks: list[tuple[str, object]] = []  # ("table", Table) and ("figure", dict) in document order

    def next_section(self) -> int:
        self.section += 1
        return self.section

    def _name(self, kind: str, *parts) -> str:
        """A stable name not handed out to a table (or figure) before: the section's name and the parts as one
        slug."""
        name = slug("-".join(str(p) for p in (self.section_name, *parts) if p not in (None, "")), limit=80)
        unique, n = name, 2
        while unique in self.names[kind]:
            unique, n = f"{name}-{n}", n + 1
        self.names[kind].add(unique)
        return unique

    def fig(self, key: str, caption: str, drawing) -> dict:
        """The next numbered figure: its drawing (an SVG string, or a figures.cache.Entry with its PNG and text
        alternative) and its text alternative (`alt`: the Entry's, else the caption), which names its SVG."""
        self.figure += 1
        role, _, subject = key.partition("/")  # role/section index/subject (figures.keys)
        role = role.removeprefix("ds-").removeprefix("tradeoff-").removeprefix("prose-")
        if isinstance(drawing, str):
            svg, png, alt = drawing, b"", plain(caption)
        else:
            svg, png, alt = drawing.svg, drawing.png, drawing.alt or plain(caption)
        self.figures.append({"number": self.figure, "id": f"fig-{self.figure}", "key": key, "caption": caption,
                             "alt": alt, "svg": labelled_svg(svg, alt, f"fig-{self.figure}-alt"), "png": png,
                             "img": replace(drawing, alt=alt).img() if png else "",
                             "name": self._name("figure", subject.partition("/")[2],
                                                 FIGURE_ROLES.get(role, role))})
        self.blocks.append(("figure", self.figures[-1]))
        return self.figures[-1]

    def sub(self, view: dict, title: str) -> dict:
        """A numbered subsection of the section, in its place among the section's blocks."""
        item = selection.sub(view, title)
        self.blocks.append(("heading", item))
        return item

    def text(self, paragraph):
        """A sentence or paragraph a section prints (a note, a finding), in its place; returned as given."""
        if paragraph:
            self.blocks.append(("text", paragraph))
        return paragraph

    def items(self, entries: list) -> list:
        """A list a section prints (findings, skipped files), in its place; returned as given."""
        if entries:
            self.blocks.append(("list", entries))
        return entries

    def unnumbered(self, table: Table, *parts) -> Table:
        """A table without a number (a model's settings beside the original's), in its place, named by `parts`."""
        table.name = self._name("table", *parts)
        self.blocks.append(("table", table))
        return table

    def later(self, holder: dict, key: str) -> None:
        """Prose rendered in the document's second pass (a notebook question), placed here: holder[key]."""
        self.blocks.append(("prose", (holder, key)))

    def tab(self, caption, *parts, classes: str = "data") -> Table:
        """The next numbered table, its rows for the view to fill."""
        self.table += 1
        self.tables.append(Table(self.table, caption, self._name("table", *parts), classes))
        self.blocks.append(("table", self.tables[-1]))
        return self.tables[-1]


def section_names(sections: list[Section]) -> list[str]:
    """Each section's stable name: its `label:`, else its kind, numbered from the second of a kind on."""
    names, seen = [], {}
    for sec in sections:
        base = sec.options.get("label") or sec.kind.replace("_", "-")
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def build(results: Results, sections: list[Section], figures: dict[str, str], base_dir: Path) -> dict:
    """The document: report metadata and a list of numbered section views (see `_document` for its entries)."""
    num = Numbering(base_dir)
    views = []
    titles = registry.titles((results.report or {}).get("template"))
    for index, (sec, name) in enumerate(zip(sections, section_names(sections))):
        kind = registry.kind(sec.kind)
        num.section_name = name
        view = {"kind": sec.kind, "index": index, "title": sec.options.get("title") or titles.get(sec.kind),
                "template": kind.template}
        if not kind.numbered:
            views.append(view)
            continue
        view["number"] = num.next_section()
        view["anchor"] = f"sec-{view['number']}"
        view["subsections"] = []
        first_fig, first_tab, first_block = len(num.figures), len(num.tables), len(num.blocks)
        if kind.view:
            kind.view(view, sec, results, figures, num)
        view["_figures"], view["_tables"] = num.figures[first_fig:], num.tables[first_tab:]
        view["blocks"] = num.blocks[first_block:]
        views.append(view)
    abstract_html, ctx = document_prose.render_all(views, sections, results, base_dir, results.manifest.file)
    if ctx.cited:
        refs = next((v for v in views if v["kind"] == "references"), None)
        if refs is None:  # citations without a references section: the list closes the document
            refs = {"kind": "references", "index": len(views), "title": titles["references"],
                    "template": registry.kind("references").template, "number": num.next_section(),
                    "subsections": []}
            refs["anchor"] = f"sec-{refs['number']}"
            views.append(refs)
        refs["entries"] = document_prose.bibliography(ctx)
    for v in views:
        v.pop("_figures", None), v.pop("_tables", None)
        v.setdefault("entries", []) if v["kind"] == "references" else None
    return _document(results, views, num, abstract_html, ctx.warnings)


def _document(results: Results, views: list[dict], num: Numbering, abstract_html: str | None,
              warnings: list[str]) -> dict:
    """The document's entries: `report` the manifest's report metadata (a dict, or None), `dataset` the dataset's
    fields as a dict with its `source` in words, `environment` the typed BuildEnvironment, `runs` the typed
    RunRecords in the record's order, `results` the typed Results, `provenance` and `embedded` plain JSON."""
    prov = {**provenance(results), "results_sha256": results_digest(results)}
    dataset = results.dataset.model_dump() | {"source": source_text(results.dataset.source)}
    return {"report": results.report, "abstract_html": abstract_html, "smoke": results.smoke, "dataset": dataset,
            "warnings": warnings,
            "environment": results.environment, "sections": views, "runs": list(results.runs.values()),
            "toc": [v for v in views if "number" in v], "provenance": prov, "results": results,
            "tables": num.tables, "figures": num.figures,
            "embedded": {"results": embed_json(results.as_json()), "provenance": embed_json(prov)}}
