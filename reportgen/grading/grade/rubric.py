"""`grade --rubric FILE`: the rubric file's schema, read like a manifest, with located errors and "did you mean"."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from reportgen.errors import ManifestError, Problem, UserError
from reportgen.manifest.sections import SECTION_KINDS
from reportgen.manifest.suggest import did_you_mean, keys_at
from reportgen.manifest.yamlsource import Located, dotted, parse_yaml, read_yaml_text

NAMED = ("check_clean", "verify_reproduced", "comparison_with_repeats", "not_smoke")
SHAPES = ("section", "accuracy_above", "similarity_below")  # the key that tells which mapping an `auto:` is
_TAGS = ("named", *SHAPES)  # pydantic's union tags in error locations; never in the YAML


class _Strict(BaseModel):
    """Unknown keys are errors; numbers are not read from strings."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class SectionPresent(_Strict):
    """Full points when the report has a section of this kind."""

    section: Literal[tuple(SECTION_KINDS)] = Field(  # type: ignore[valid-type]
        description="a section kind of the manifest")


class AccuracyAbove(_Strict):
    """Full points when a run's test accuracy is at least the threshold; linear from `partial` (0 points) up."""

    accuracy_above: float = Field(gt=0, le=1, description="test accuracy as a fraction (0.9 for 90 %)")
    run: str = Field(default="best", min_length=1, max_length=200,
                     description="a run id, an experiment id (its best run), or `best` (the best run of the report)")
    partial: float | None = Field(default=None, ge=0, lt=1,
                                  description="below accuracy_above: the accuracy that earns 0 points; linear between")


class SimilarityBelow(_Strict):
    """Full points when the submission's highest similarity to another is below the threshold (`grade --similarity`)."""

    similarity_below: float = Field(gt=0, le=1, description="highest similarity to another submission, 0 to 1")
    partial: float | None = Field(default=None, gt=0, le=1,
                                  description="above similarity_below: the similarity that earns 0 points; linear "
                                              "between")


def _auto_tag(value: Any) -> str | None:
    """Which kind of automatic criterion a value is (None: none, reported as one clear error)."""
    if isinstance(value, str):
        return "named"
    if isinstance(value, BaseModel):  # serialising a rubric already read
        value = value.model_dump()
    if isinstance(value, dict):
        return next((key for key in SHAPES if key in value), None)
    return None


Auto = Annotated[
    Union[Annotated[Literal[NAMED], Tag("named")], Annotated[SectionPresent, Tag("section")],
          Annotated[AccuracyAbove, Tag("accuracy_above")], Annotated[SimilarityBelow, Tag("similarity_below")]],
    Discriminator(_auto_tag, custom_error_type="auto",
                  custom_error_message=f"auto is one of {', '.join(NAMED)}, or a mapping with one of "
                                       f"{', '.join(SHAPES)}"),
]


class Criterion(_Strict):
    """One criterion: an id, its points, and either how reportgen scores it (`auto`) or `manual: true`."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64, description="unique among the criteria")
    title: str | None = Field(default=None, min_length=1, max_length=200,
                              description="what the grader and the student read (default: said from `auto`)")
    points: float = Field(gt=0, le=1000, description="points of the criterion")
    auto: Auto | None = Field(default=None, description="how reportgen scores it")
    manual: Literal[True] | None = Field(default=None, description="left for the grader")

    @property
    def label(self) -> str:
        """The title, or one said from what is scored."""
        return self.title or default_title(self)


class Rubric(_Strict):
    """The rubric file: a title (the gradebook column) and its criteria."""

    title: str = Field(default="reportgen rubric", min_length=1, max_length=200,
                       description="the gradebook column's name (Canvas: the assignment's name)")
    canvas_assignment_id: int | None = Field(default=None, gt=0,
                                             description="an existing Canvas assignment's id: the column is "
                                                         "`title (id)` so that Canvas matches it")
    criteria: list[Criterion] = Field(min_length=1, max_length=100, description="the criteria, in order")

    @property
    def auto_possible(self) -> float:
        """Points of the automatic criteria."""
        return sum(c.points for c in self.criteria if c.auto is not None)

    @property
    def needs_similarity(self) -> bool:
        """Whether a criterion scores similarity (grade then compares the class even without --similarity)."""
        return any(isinstance(c.auto, SimilarityBelow) for c in self.criteria)

    @property
    def manual_possible(self) -> float:
        """Points of the criteria left for the grader."""
        return sum(c.points for c in self.criteria if c.manual)


class RubricError(UserError):
    """One or more problems in a rubric file, each at file:line:column."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column, p.path))
        n = len(self.problems)
        super().__init__("\n".join([f"{n} problem{'s' if n != 1 else ''} in the rubric:",
                                    *(f"  {p}" for p in self.problems)]))


def default_title(c: Criterion) -> str:
    """A criterion's title said from its automatic rule (or its id)."""
    auto = c.auto
    if isinstance(auto, SectionPresent):
        return f"A {auto.section} section"
    if isinstance(auto, AccuracyAbove):
        run = "the best run" if auto.run == "best" else auto.run
        return f"Test accuracy of {run} at least {auto.accuracy_above * 100:g} %"
    if isinstance(auto, SimilarityBelow):
        return f"Similarity to other submissions below {auto.similarity_below:g}"
    return {"check_clean": "Every check passes", "verify_reproduced": "Re-runs reproduce the results",
            "comparison_with_repeats": "A comparison of repeated runs",
            "not_smoke": "A full build (not --smoke)"}.get(str(auto), c.id)


def _shown(loc: tuple) -> tuple:
    """A pydantic location without the union tag it adds after `auto`."""
    return tuple(seg for i, seg in enumerate(loc) if not (i and loc[i - 1] == "auto" and seg in _TAGS))


def _message(err: dict, loc: tuple) -> str:
    """One pydantic error in plain words."""
    kind, ctx, value = err["type"], err.get("ctx") or {}, err.get("input")
    if kind == "extra_forbidden":
        return f"unknown key {str(loc[-1])!r}" + did_you_mean(str(loc[-1]), keys_at(Rubric, loc[:-1]))
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}"
    if kind == "auto":
        word = value if isinstance(value, str) else next(iter(value), None) if isinstance(value, dict) else None
        return (f"unknown {str(word)!r}: " if word is not None else "") + err["msg"] + \
            (did_you_mean(str(word), [*NAMED, *SHAPES]) if word is not None else "")
    if kind == "literal_error" and isinstance(value, str):
        known = list(SECTION_KINDS) if loc[-1:] == ("section",) else list(NAMED)
        return f"unknown {'section kind' if loc[-1:] == ('section',) else 'automatic criterion'} {value!r}" + \
            did_you_mean(value, known, f" (one of {', '.join(known)})")
    bounds = {"greater_than": ">", "greater_than_equal": "≥", "less_than": "<", "less_than_equal": "≤"}
    if kind in bounds:
        fraction = " (a fraction: 0.9 for 90 %)" if loc[-1] in ("accuracy_above", "similarity_below", "partial") else ""
        return f"must be {bounds[kind]} {next(iter(ctx.values())):g}{fraction} (got {value!r})"
    if kind == "string_pattern_mismatch":
        return f"use letters, digits and `_ . -`, starting with a letter or digit (got {value!r})"
    shown = f" (got {value!r})" if value is not None and not isinstance(value, (dict, list)) else ""
    return err["msg"][0].lower() + err["msg"][1:] + shown


def _problems(exc: ValidationError, located: Located) -> list[Problem]:
    """Located problems from pydantic's errors, one per place."""
    out: dict[tuple, Problem] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        shown = _shown(loc)
        line, col = located.where(shown)
        path = shown[:-1] if err["type"] == "missing" else shown  # a missing key is missing from its mapping
        out.setdefault((line, col, path), Problem(located.file, line, col, dotted(path), _message(err, loc)))
    return list(out.values())


def _cross_checks(rubric: Rubric, located: Located) -> list[Problem]:
    """What one criterion's fields cannot say alone: exactly one of auto and manual, unique ids, partial's side."""
    problems, seen = [], {}
    for i, c in enumerate(rubric.criteria):
        here = ("criteria", i)
        if (c.auto is None) == (c.manual is None):
            problems.append(located.problem(here + (("auto",) if c.auto else ()),
                                            "give exactly one of `auto` (scored by reportgen) and `manual: true` "
                                            "(left for the grader)"))
        if c.id in seen:
            problems.append(located.problem(here + ("id",),
                                            f"duplicate id {c.id!r} (first used by criteria[{seen[c.id]}])"))
        seen.setdefault(c.id, i)
        auto = c.auto
        if isinstance(auto, AccuracyAbove) and auto.partial is not None and auto.partial >= auto.accuracy_above:
            problems.append(located.problem(here + ("auto", "partial"), f"must be < accuracy_above "
                                            f"({auto.accuracy_above:g}): the accuracy that earns 0 points"))
        if isinstance(auto, SimilarityBelow) and auto.partial is not None and auto.partial <= auto.similarity_below:
            problems.append(located.problem(here + ("auto", "partial"), f"must be > similarity_below "
                                            f"({auto.similarity_below:g}): the similarity that earns 0 points"))
    return problems


def parse_rubric(text: str, file: str) -> Rubric:
    """A rubric from YAML text; RubricError with every problem located."""
    try:
        located = parse_yaml(text, file)
    except ManifestError as exc:
        raise RubricError(exc.problems) from None
    if not isinstance(located.data, dict):
        why = "a rubric is a mapping with `criteria:` (and an optional `title:`)"
        raise RubricError([Problem(file, 1, 1, "", why)])
    try:
        rubric = Rubric.model_validate(located.data)
    except ValidationError as exc:
        raise RubricError(_problems(exc, located)) from None
    problems = _cross_checks(rubric, located)
    if problems:
        raise RubricError(problems)
    return rubric


def load_rubric(path: str | Path) -> Rubric:
    """Read a rubric file (UTF-8 YAML of at most 1 MB, a regular file); RubricError, located, when it cannot be used."""
    try:
        text = read_yaml_text(Path(path), "the rubric")
    except ValueError as exc:
        raise RubricError([exc.args[0]]) from None
    return parse_rubric(text, str(path))


def rubric_schema() -> dict:
    """JSON Schema (draft 2020-12) of the rubric file, for `reportgen schema --rubric`."""
    schema = Rubric.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reportgen rubric"
    return schema
