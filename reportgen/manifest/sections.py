"""Report sections in the manifest: `- cover`, `- training: {experiments: [...]}`, Markdown prose, ..."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Discriminator, Field, Tag, model_validator

from reportgen.manifest.layers import Strict

RunRefs = list[str] | None  # experiment ids (all runs of a sweep) or single run ids such as `lr_sweep/lr=0.01`


class _Titled(Strict):
    """A section's heading and cross-reference label."""

    title: str | None = Field(default=None, description="heading (default: the kind's own, e.g. Training)")
    label: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=60,
                              description="name for cross-references in prose: @sec:LABEL, @fig:LABEL, @tab:LABEL")


class CoverSection(Strict):
    """The title page: report title, course, team and date; it takes no options."""


class ContentsSection(_Titled):
    """The table of contents."""


class ModelSection(_Titled):
    """Architecture or parameter tables of models."""

    models: list[str] | None = Field(default=None, description="default: every model used by an experiment")


class RunsSection(_Titled):
    """Training curves, evaluation or comparison of runs."""

    experiments: RunRefs = Field(default=None, description="experiment or run ids; default: every run")


class NotebookItem(Strict):
    """One question of a lab notebook: its text, the runs that answer it, and comments."""

    title: str | None = Field(default=None, description="heading of the question")
    question: str | None = Field(default=None, description="Markdown")
    experiments: list[str] = Field(min_length=1, description="experiment or run ids")
    comment: str | None = Field(default=None, description="Markdown")


class NotebookSection(_Titled):
    """Lab-notebook questions, each answered by runs."""

    items: list[NotebookItem] = Field(min_length=1, description="the questions, in order")


RESULT_COLUMNS = ("run", "model", "architecture", "varied", "optimizer", "lr", "batch_size", "epochs", "params",
                  "train_loss", "val_loss", "accuracy", "precision", "recall", "f1", "time", "status", "dataset",
                  "trainable", "size", "macs", "latency", "throughput")


class ResultsTableSection(_Titled):
    """One table of chosen columns over runs."""

    experiments: RunRefs = Field(default=None, description="experiment or run ids; default: every run")
    columns: list[Literal[RESULT_COLUMNS]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: ["run", "architecture", "optimizer", "lr", "params", "accuracy"],
        description="the table's columns, in order")
    caption: str | None = Field(default=None, description="table caption (Markdown)")


class TradeoffSection(_Titled):
    """Accuracy against size, speed and compute, measured after training."""

    experiments: RunRefs = Field(default=None, description="experiment or run ids; default: every run")
    notes: dict[str, str] | None = Field(default=None, description="run or experiment id → a qualitative note "
                                         "printed beside the measured numbers")
    caption: str | None = Field(default=None, description="table caption (Markdown)")


class ProseSection(_Titled):
    """Markdown prose from a file or the manifest, with live references."""

    file: str | None = Field(default=None, description="Markdown file, relative to the manifest")
    text: str | None = Field(default=None, description="Markdown written in the manifest (instead of `file`)")

    @model_validator(mode="after")
    def _one_source(self) -> "ProseSection":
        """Prose comes from exactly one of `file` or `text`."""
        if (self.file is None) == (self.text is None):
            raise ValueError("prose needs exactly one of `file` or `text`")
        return self


class DatasetSection(_Titled):
    """Dataset exploration: class counts, split shares, samples, sizes, channel statistics, PCA and t-SNE."""

    grid: tuple[Annotated[int, Field(ge=1, le=10)], Annotated[int, Field(ge=1, le=10)]] = Field(
        default=(5, 5), description="rows and columns of the sample-image grid")
    pca: bool = Field(default=True, description="2-D PCA scatter of a subsample")
    tsne: bool = Field(default=True, description="2-D t-SNE scatter of a subsample (takes seconds; cached)")
    sample: int = Field(default=1000, ge=10, le=20_000, description="training images in the PCA scatter")
    tsne_sample: int = Field(default=500, ge=10, le=5_000, description="training images in the t-SNE scatter")


SECTION_KINDS: dict[str, type[BaseModel]] = {
    "cover": CoverSection, "contents": ContentsSection, "architecture": ModelSection,
    "parameters": ModelSection, "training": RunsSection, "evaluation": RunsSection,
    "comparison": RunsSection, "prose": ProseSection, "repository": _Titled, "provenance": _Titled,
    "notebook": NotebookSection, "results_table": ResultsTableSection,
    "dataset": DatasetSection, "tradeoff": TradeoffSection, "references": _Titled,
}


class Section(Strict):
    """One section: `kind` plus its options (after normalising `- cover` / `- training: {...}`)."""

    kind: Literal[tuple(SECTION_KINDS)]  # type: ignore[valid-type]
    options: dict[str, Any] = Field(default_factory=dict)


def _section_tag(v: Any) -> str | None:
    """Which section kind an item is, for the discriminated union (None: not a section)."""
    if isinstance(v, str):
        return "bare"
    if isinstance(v, dict) and len(v) == 1:
        return "item"
    return None


SectionItem = Annotated[
    Union[Annotated[Literal[tuple(SECTION_KINDS)], Tag("bare")],  # type: ignore[valid-type]
          Annotated[dict[Literal[tuple(SECTION_KINDS)], Union[dict[str, Any], None]], Tag("item")]],  # type: ignore[valid-type]
    Discriminator(_section_tag, custom_error_type="section",
                  custom_error_message=f"a section is one of {', '.join(SECTION_KINDS)}, as `kind` or `kind: {{options}}`"),
]

