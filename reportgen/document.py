"""Turn results + figures into the document the templates print: numbered sections, tables, figures."""

from __future__ import annotations

from pathlib import Path

from . import document_dataset, document_runs as runs_views, document_tradeoff, prose
from .document_runs import runs_for, sub as _sub
from .sections import Section

__all__ = ["DEFAULT_TITLES", "Numbering", "build", "runs_for"]

DEFAULT_TITLES = {
    "contents": "Table of Contents", "architecture": "CNN Model", "parameters": "Model Parameters",
    "training": "Model Training", "evaluation": "Model Evaluation", "comparison": "Comparison",
    "repository": "Code Repository", "provenance": "Provenance", "prose": "Notes", "notebook": "Lab Notebook",
    "results_table": "Results", "dataset": "Dataset",
    "tradeoff": "Trade-off: Cost against Accuracy",
}


class Numbering:
    """Hands out section, figure and table numbers in document order."""

    def __init__(self):
        self.section = self.figure = self.table = 0

    def next_section(self) -> int:
        self.section += 1
        return self.section

    def fig(self, key: str, caption: str, svg: str) -> dict:
        self.figure += 1
        return {"number": self.figure, "id": f"fig-{self.figure}", "key": key, "caption": caption, "svg": svg}

    def tab(self, caption: str) -> dict:
        self.table += 1
        return {"number": self.table, "id": f"tab-{self.table}", "caption": caption}


def _model_names(results: dict, names: list[str] | None) -> list[str]:
    used = list(dict.fromkeys(r["model"] for r in results["runs"].values()))
    return [n for n in (names or used) if n in results["models"]]


def build(results: dict, sections: list[Section], figures: dict[str, str], base_dir: Path) -> dict:
    """The document: report metadata and a list of numbered section views."""
    num = Numbering()
    views = []
    for index, sec in enumerate(sections):
        view = {"kind": sec.kind, "index": index, "title": sec.options.get("title") or DEFAULT_TITLES.get(sec.kind)}
        if sec.kind in ("cover", "contents"):
            views.append(view)
            continue
        if sec.kind == "prose":
            text = sec.options["text"] if sec.options.get("text") is not None else \
                (base_dir / sec.options["file"]).read_text("utf-8")
            md_title, body = prose.split_title(text)
            view["title"] = sec.options.get("title") or md_title or DEFAULT_TITLES["prose"]
            # with its `# Title` taken as the section title, a file's `##` headings become h3
            view["html"] = prose.to_html(body, shift=1 if md_title else 2)
        view["number"] = num.next_section()
        view["anchor"] = f"sec-{view['number']}"
        view["subsections"] = []
        builder = _BUILDERS.get(sec.kind)
        if builder:
            builder(view, sec, results, figures, num)
        views.append(view)
    return {"report": results["report"], "smoke": results["smoke"], "dataset": results["dataset"],
            "environment": results["environment"], "sections": views, "runs": list(results["runs"].values()),
            "toc": [v for v in views if "number" in v]}


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
