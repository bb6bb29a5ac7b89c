"""Every section kind the report knows, in one place: its default title (and a template pack's own), the view
builder that turns results into what its template prints, the function that draws its figures, and its template.

document.build, figures.draw.draw_all and the base template (templates/base/report.html.j2) read this table; a
section's options are validated by its schema in reportgen.manifest.sections.SECTION_KINDS (the manifest knows
nothing of the report), which `options` points back to.

A view builder is called as builder(view, sec, results, figures, num) and fills `view` (numbering tables and
figures through `num`); a figures function as figures(results, index, options, cache) and returns
{figure key: SVG}, keyed by reportgen.report.figures.keys."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping

from pydantic import BaseModel

from reportgen.manifest.sections import SECTION_KINDS
from reportgen.report.figures.dataset import dataset_figures
from reportgen.report.figures.runs import comparison_figures, evaluation_figures, notebook_figures, training_figures
from reportgen.report.figures.tradeoff import tradeoff_figures
from reportgen.report.document.views import comparison, dataset, models, prose, provenance, runs, tradeoff


@dataclass(frozen=True)
class SectionKind:
    """One kind of report section."""

    name: str
    title: str | None  # default title; None: the section has none (the cover)
    view: Callable | None = None  # builder(view, sec, results, figures, num); None: the template reads `doc` only
    figures: Callable | None = None  # figures(results, index, options, cache) -> {key: svg}
    pack_titles: Mapping[str, str] = field(default_factory=dict)  # template pack → its default title
    numbered: bool = True  # numbered, listed in the contents, with its figures and tables numbered in order

    @property
    def template(self) -> str:
        """The section's template, looked up in the override folder, then the pack, then templates/base."""
        return f"sections/{self.name}.html.j2"

    @property
    def options(self) -> type[BaseModel]:
        """The schema of the section's options in the manifest."""
        return SECTION_KINDS[self.name]

    def title_in(self, pack: str | None) -> str | None:
        """The default title in a template pack."""
        return self.pack_titles.get(pack or "", self.title)


_KINDS = [
    SectionKind("cover", None, numbered=False),
    SectionKind("contents", "Table of Contents", numbered=False),
    SectionKind("prose", "Notes", prose.section),
    SectionKind("architecture", "CNN Model", models.architecture, pack_titles={"paper": "Model"}),
    SectionKind("parameters", "Model Parameters", models.parameters, pack_titles={"paper": "Parameters"}),
    SectionKind("training", "Model Training", runs.training, training_figures, pack_titles={"paper": "Training"}),
    SectionKind("evaluation", "Model Evaluation", runs.evaluation, evaluation_figures,
                pack_titles={"paper": "Evaluation"}),
    SectionKind("comparison", "Comparison", comparison.comparison, comparison_figures),
    SectionKind("results_table", "Results", comparison.results_table),
    SectionKind("dataset", "Dataset", dataset.dataset, dataset_figures),
    SectionKind("tradeoff", "Trade-off: Cost against Accuracy", tradeoff.tradeoff, tradeoff_figures),
    SectionKind("notebook", "Lab Notebook", runs.notebook, notebook_figures,
                pack_titles={"paper": "Experiments", "lab": "Questions"}),
    SectionKind("repository", "Code Repository", provenance.repository, pack_titles={"paper": "Code"}),
    SectionKind("provenance", "Provenance", provenance.provenance, pack_titles={"paper": "Reproducibility"}),
    SectionKind("references", "References"),  # its entries: the cited references (document.build)
]
KINDS: Mapping[str, SectionKind] = MappingProxyType({k.name: k for k in _KINDS})  # tests: the manifest's kinds


def kind(name: str) -> SectionKind:
    """The registry entry of a section kind."""
    return KINDS[name]


def titles(pack: str | None) -> dict[str, str]:
    """Each kind's default title in a template pack (kinds without a title left out)."""
    return {k.name: t for k in _KINDS if (t := k.title_in(pack)) is not None}
