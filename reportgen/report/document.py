"""Turn results + figures into the document the templates print: numbered sections, tables, figures."""

from __future__ import annotations

from pathlib import Path

from reportgen.report.views import dataset as document_dataset
from reportgen.report.views import prose as document_prose
from reportgen.report.views import runs as runs_views
from reportgen.report.views import tradeoff as document_tradeoff
from reportgen.report import prose
from reportgen.diff.compare import embed_json, provenance
from reportgen.report.views.runs import runs_for, sub as _sub
from reportgen.manifest.sections import Section

__all__ = ["DEFAULT_TITLES", "PACK_TITLES", "Numbering", "build", "runs_for"]

DEFAULT_TITLES = {
    "contents": "Table of Contents", "architecture": "CNN Model", "parameters": "Model Parameters",
    "training": "Model Training", "evaluation": "Model Evaluation", "comparison": "Comparison",
    "repository": "Code Repository", "provenance": "Provenance", "prose": "Notes", "notebook": "Lab Notebook",
    "results_table": "Results", "dataset": "Dataset",
    "tradeoff": "Trade-off: Cost against Accuracy", "references": "References",
}
# a template pack's own default titles, where the assignment's would read oddly (a paper has no "CNN Model")
PACK_TITLES = {
    "paper": {"architecture": "Model", "parameters": "Parameters", "training": "Training", "evaluation": "Evaluation",
              "repository": "Code", "provenance": "Reproducibility", "notebook": "Experiments"},
    "lab": {"notebook": "Questions"},
}


class Numbering:
    """Hands out section, figure and table numbers in document order."""

    def __init__(self):
        self.section = self.figure = self.table = 0
        self.figures: list[dict] = []
        self.tables: list[dict] = []

    def next_section(self) -> int:
        self.section += 1
        return self.section

    def fig(self, key: str, caption: str, svg: str) -> dict:
        self.figure += 1
        self.figures.append({"number": self.figure, "id": f"fig-{self.figure}", "key": key, "caption": caption,
                             "svg": svg})
        return self.figures[-1]

    def tab(self, caption: str) -> dict:
        self.table += 1
        self.tables.append({"number": self.table, "id": f"tab-{self.table}", "caption": caption})
        return self.tables[-1]


def _model_names(results: dict, names: list[str] | None) -> list[str]:
    used = list(dict.fromkeys(r["model"] for r in results["runs"].values()))
    return [n for n in (names or used) if n in results["models"]]


def build(results: dict, sections: list[Section], figures: dict[str, str], base_dir: Path) -> dict:
    """The document: report metadata and a list of numbered section views."""
    num = Numbering()
    views = []
    titles = DEFAULT_TITLES | PACK_TITLES.get(results["report"].get("template"), {})
    for index, sec in enumerate(sections):
        view = {"kind": sec.kind, "index": index, "title": sec.options.get("title") or titles.get(sec.kind)}
        if sec.kind in ("cover", "contents"):
            views.append(view)
            continue
        if sec.kind == "prose":
            source = base_dir / sec.options["file"] if sec.options.get("text") is None else None
            text = prose.read_file(source) if source else sec.options["text"]
            md_title, body = prose.split_title(text)
            view["title"] = sec.options.get("title") or md_title or DEFAULT_TITLES["prose"]
            # rendered in the second pass, when every label is numbered; with its `# Title` taken as the section
            # title, a file's `##` headings become h3
            offset = text[:len(text) - len(body)].count("\n") if text.endswith(body) else 0
            view["_prose"], view["_shift"] = (source, body, offset), 1 if md_title else 2
        view["number"] = num.next_section()
        view["anchor"] = f"sec-{view['number']}"
        view["subsections"] = []
        first_fig, first_tab = len(num.figures), len(num.tables)
        builder = _BUILDERS.get(sec.kind)
        if builder:
            builder(view, sec, results, figures, num)
        view["_figures"], view["_tables"] = num.figures[first_fig:], num.tables[first_tab:]
        views.append(view)
    abstract_html, ctx = document_prose.render_all(views, sections, results, base_dir, results["manifest"]["file"])
    if ctx.cited:
        refs = next((v for v in views if v["kind"] == "references"), None)
        if refs is None:  # citations without a references section: the list closes the document
            refs = {"kind": "references", "index": len(views), "title": titles["references"],
                    "number": num.next_section(), "subsections": []}
            refs["anchor"] = f"sec-{refs['number']}"
            views.append(refs)
        refs["entries"] = document_prose.bibliography(ctx)
    for v in views:
        v.pop("_figures", None), v.pop("_tables", None)
        v.setdefault("entries", []) if v["kind"] == "references" else None
    prov = provenance(results, base_dir)
    return {"report": results["report"], "abstract_html": abstract_html,
            "smoke": results["smoke"], "dataset": results["dataset"],
            "environment": results["environment"], "sections": views, "runs": list(results["runs"].values()),
            "toc": [v for v in views if "number" in v], "provenance": prov,
            "embedded": {"results": embed_json(results), "provenance": embed_json(prov)}}


def _model_tables(caption: str):
    """Section builder for per-model tables (architecture, parameters)."""

    def builder(view, sec, results, figures, num):
        view["models"] = []
        for name in _model_names(results, sec.options.get("models")):
            m = results["models"][name]
            text = caption.format(name=name, shape=m["input_shape"])
            if m.get("blocks"):
                text = text.replace("layer by layer", "block by block").replace("Layers of", "Blocks of")
            view["models"].append({"name": name, "summary": m, "sub": _sub(view, name), "table": num.tab(text)})

    return builder


def _provenance(view, sec, results, figures, num):
    view["table"] = num.tab("Environment and cache keys")


_BUILDERS = {"architecture": _model_tables("Layers of {name}, input {shape}"),
             "parameters": _model_tables("Parameters of {name}, layer by layer"), "training": runs_views.training,
             "evaluation": runs_views.evaluation, "comparison": runs_views.comparison,
             "results_table": runs_views.results_table, "notebook": runs_views.notebook, "provenance": _provenance,
             "dataset": document_dataset.dataset, "tradeoff": document_tradeoff.tradeoff}
