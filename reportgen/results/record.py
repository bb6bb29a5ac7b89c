"""The typed results record: the one contract between running and rendering; results.json is its JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import Field, ValidationError, model_validator

from reportgen.results.run_record import Json, Record, RunRecord

SCHEMA = "reportgen.results/3"
SCHEMA_PREFIX = "reportgen.results/"


class Row(Record):
    """What every row of a model's table holds: a named part, its output shape and parameters."""

    name: str
    type: str
    output_shape: list[int] | None
    params: int
    trainable: int


class LayerRow(Row):
    """One layer of a model built from a layer list or a module, with its parameter arithmetic written out."""

    buffers: int
    formula: str
    buffer_formula: str
    formula_known: bool = True  # False: the formula writes out the tensors' sizes, not the layer's arithmetic
    config: Json


class GroupRow(Row):
    """A module holding a contiguous range of layer rows (a residual block), its sum written out."""

    buffers: int
    formula: str
    depth: int
    start: int
    end: int
    config: Json


class BlockRow(Row):
    """One block of a torchvision/timm network."""

    head: bool


class ModelTotals(Record):
    """Parameter totals, PyTorch- and Keras-style, shared by every kind of model."""

    input_shape: list[int]
    layers: list[LayerRow]
    total_params: int
    trainable_params: int
    non_trainable_params: int
    buffer_params: int
    keras_total_params: int
    keras_non_trainable_params: int
    size_bytes: int
    description: str | None
    label: str | None
    extends: str | None
    variant: Json


class LayerModel(ModelTotals):
    """A model from the manifest's layer list (`custom`) or a user's module file (`module`)."""

    source: Literal["custom", "module"]
    groups: list[GroupRow] = []
    module: str | None = None
    class_name: str | None = Field(default=None, alias="class")
    args: Json | None = None
    module_sha256: str | None = None


class NetworkModel(ModelTotals):
    """A torchvision or timm network: its blocks, head, frozen part and where its weights come from."""

    source: Literal["torchvision", "timm"]
    network: str
    base: str
    blocks: list[BlockRow]
    weights: str
    weights_from: str | None
    head: str
    head_dense: list[int] | None
    frozen: list[str]
    freeze: Json
    input_size: int
    dataset_size: int
    inverted_residual: Json | None


ModelRecord = Annotated[Union[LayerModel, NetworkModel], Field(discriminator="source")]


class DatasetRecord(Record):
    """The manifest's dataset as loaded: source, classes, split sizes, statistics, fingerprint, exploration."""

    name: str
    source: Json
    classes: list[str]
    sizes: dict[str, int]
    input_shape: list[int]
    synthetic: bool
    fingerprint: str
    mean: list[float]
    std: list[float]
    normalized: bool
    seed: int
    exploration: Json | None = None


class BuildEnvironment(Record):
    """The build's environment, gathered from its runs' own."""

    reportgen: str
    code_version: str
    python: str | None
    platform: str | None
    machine: str | None
    torch: str | None
    torchvision: str | None
    numpy: str | None
    scikit_learn: str | None
    cuda: str | None
    cpu_threads: list[int]
    devices: list[str]
    device: str
    gpu: str | None


class PairTest(Record):
    """McNemar's exact test and a paired bootstrap interval of two runs' accuracy difference (a − b)."""

    a: str
    b: str
    n: int
    both: int
    a_only: int
    b_only: int
    neither: int
    difference: float
    ci_low: float
    ci_high: float
    p: float
    p_holm: float


class PairedComparison(Record):
    """Every pair of the runs one comparison compares, tested on the same test items, Holm-corrected."""

    runs: list[str]
    tested: list[str]
    excluded: list[str]
    pairs: list[PairTest]
    level: float
    test: str
    interval: str
    resamples: int
    correction: str


class ManifestSource(Record):
    """The manifest a build came from: file name, stem, hash and the --set overrides it was built with."""

    file: str
    stem: str
    sha256: str
    overrides: list[str] = []


class Results(Record):
    """Every number of a build: the dataset, the models, the runs, their paired tests and the environment."""

    results_schema: Literal["reportgen.results/3"] = Field(alias="schema")
    smoke: bool
    dataset: DatasetRecord
    models: dict[str, ModelRecord]
    runs: dict[str, RunRecord]
    run_order: list[str]
    paired: list[PairedComparison]
    environment: BuildEnvironment
    report: Json | None = None  # the manifest's report metadata, added when presented
    manifest: ManifestSource | None = None

    @model_validator(mode="after")
    def _in_run_order(self) -> Results:
        """Runs in the manifest's order (results.json is written with sorted keys), the unlisted ones last."""
        order = [rid for rid in self.run_order if rid in self.runs]
        self.runs = {rid: self.runs[rid] for rid in [*order, *(r for r in self.runs if r not in order)]}
        return self

    def as_json(self) -> dict:
        """The record as results.json holds it (runs in the manifest's order, without test predictions)."""
        return self.model_dump(mode="json", by_alias=True, exclude={"runs": {"__all__": {"predictions"}}})


class RecordInvalid(ValueError):
    """A results record that does not fit the schema: the first problems, each with where it is."""


def problems_of(error: ValidationError, limit: int = 5) -> str:
    """A validation error as lines `runs.a.test.accuracy: Input should be a valid number`, at most `limit`."""
    lines = [f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()[:limit]]
    more = error.error_count() - len(lines)
    return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def parse_results(data: Any) -> Results:
    """The typed record of a parsed results.json; RecordInvalid naming what does not fit."""
    try:
        return Results.model_validate(data, strict=True)
    except ValidationError as exc:
        raise RecordInvalid(problems_of(exc)) from None


def parse_run(data: Any) -> RunRecord:
    """The typed record of one run (a run-cache entry); RecordInvalid naming what does not fit."""
    try:
        return RunRecord.model_validate(data, strict=True)
    except ValidationError as exc:
        raise RecordInvalid(problems_of(exc)) from None


def json_schema() -> str:
    """The JSON Schema of results.json, as `reportgen schema --results` prints it."""
    schema = Results.model_json_schema(by_alias=True, mode="serialization")
    schema["$id"] = SCHEMA
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
