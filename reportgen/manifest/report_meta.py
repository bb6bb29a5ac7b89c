"""The report's metadata in the manifest: title, team, course, template pack, paper size, bibliography, export."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from reportgen.manifest.layers import Strict


class TeamMember(Strict):
    """One author of the report."""

    name: str = Field(min_length=1, description="printed in the cover's team table, the lab header or the paper's "
                      "author list")
    id: str | None = Field(default=None, description="student ID")
    affiliation: str | None = Field(default=None, description="paper template: the author's institution")
    email: str | None = Field(default=None, description="paper template: printed in the author list")


class ReportMeta(Strict):
    """What the report says about itself (cover, title block, metadata) and how it is laid out."""

    title: str = Field(min_length=1, description="the report's title: on the cover and as the HTML page's title")
    subtitle: str | None = Field(default=None, description="printed under the title")
    course: str | None = Field(default=None, description="printed with the assignment (cover, lab header or the "
                               "paper's line under the authors), e.g. EN3150 Pattern Recognition")
    assignment: str | None = Field(default=None, description="printed after the course, e.g. Assignment 03")
    institution: str | None = Field(default=None, description="on the assignment cover and the lab header; paper "
                                    "template: the affiliation of authors without their own")
    department: str | None = Field(default=None, description="on the assignment cover and the lab header (the paper "
                                   "template leaves it out)")
    team: list[TeamMember] = Field(default_factory=list, description="the authors, in order")
    date: str | None = Field(default=None, description="printed as written; a YAML date prints as '2 December 2023'")
    repository: str | None = Field(default=None, description="URL of the code repository (http or https)")
    template: Literal["assignment", "paper", "lab"] = Field(
        default="assignment", description="assignment (cover page, contents, numbered sections), paper (two-column "
        "conference layout) or lab (notebook-style questions and answers)")
    template_dir: str | None = Field(default=None, description="folder of templates overriding the pack's files by "
                                     "name (default: templates/ beside the manifest, if there is one)")
    paper: Literal["a4", "letter"] = Field(default="a4", description="page size of the PDF (and of the printed "
                                           "HTML): A4 or US Letter")
    abstract: str | None = Field(default=None, description="Markdown; the paper template prints it under the title")
    keywords: list[str] = Field(default_factory=list, description="paper template: printed under the abstract")
    references: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_:.-]+$")], str] = Field(
        default_factory=dict, description="bibliography: key → reference text (Markdown); prose cites [@key]")
    export: list[Literal["latex", "csv", "markdown"]] = Field(
        default_factory=list, description="also write OUT/export/: latex (booktabs tables, numbers.tex with one "
        "\\newcommand per live-reference value, PNG figures), csv (the tables, numbers as numbers) and/or markdown "
        "(report.md and its figures); `--export` overrides it")

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        """A YAML date prints as '2 December 2023'; strings stay as written."""
        if isinstance(v, (dt.date, dt.datetime)):
            return f"{v.day} {v.strftime('%B %Y')}"
        return v

    @field_validator("repository")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        """The repository must be an http or https URL."""
        if v is not None and not v.lower().startswith(("http://", "https://")):
            raise ValueError("repository must be an http:// or https:// URL")
        return v
