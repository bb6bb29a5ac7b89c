"""The manifest: typed objects for report, dataset, models, training, experiments and sections."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator

from .errors import ManifestError, Problem
from .layers import ACTIVATIONS, IntPair, LayerItem, Strict, check_padding
from .sections import SECTION_KINDS, Section, SectionItem
from .yamlsource import Located, dotted, load_yaml


class TeamMember(Strict):
    name: str = Field(min_length=1)
    id: str | None = Field(default=None, description="student ID")


class ReportMeta(Strict):
    title: str = Field(min_length=1)
    subtitle: str | None = None
    course: str | None = None
    assignment: str | None = None
    institution: str | None = None
    department: str | None = None
    team: list[TeamMember] = Field(default_factory=list)
    date: str | None = Field(default=None, description="printed as written; a YAML date prints as '2 December 2023'")
    repository: str | None = Field(default=None, description="URL of the code repository (http or https)")
    template: Literal["assignment"] = "assignment"

    @field_validator("date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        if isinstance(v, (dt.date, dt.datetime)):
            return f"{v.day} {v.strftime('%B %Y')}"
        return v

    @field_validator("repository")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.lower().startswith(("http://", "https://")):
            raise ValueError("repository must be an http:// or https:// URL")
        return v


class DatasetSpec(Strict):
    name: Literal["digits", "cifar10"]
    root: str | None = Field(default=None, description="folder holding cifar-10-batches-py/ (relative to the manifest)")
    download: bool = False
    image_size: int | None = Field(default=None, ge=4, le=1024, description="resize to N×N (default: native size)")
    channels: Literal[1, 3] | None = Field(default=None, description="1 = grayscale, 3 = RGB (default: native)")
    val_fraction: float = Field(default=0.1, gt=0, lt=1, description="share of the training set held out for validation")
    validation: Literal["split", "test"] = Field(
        default="split", description="split: carve validation from train; test: validate on the test set (as some notebooks do)")
    test_fraction: float = Field(default=0.2, gt=0, lt=1, description="digits only: share held out as the test set")
    seed: int = 42
    normalize: bool = Field(default=True, description="standardise with per-channel mean/std of the training split")

    def native(self) -> tuple[int, int, int]:
        """(channels, image size, classes) as the dataset ships it."""
        return {"digits": (1, 8, 10), "cifar10": (3, 32, 10)}[self.name]

    def input_shape(self) -> tuple[int, int, int]:
        c, s, _ = self.native()
        return (self.channels or c, self.image_size or s, self.image_size or s)

    def num_classes(self) -> int:
        return self.native()[2]


class ModelSpec(Strict):
    """A custom CNN: its own `layers`, or `extends: OTHER` plus variant overrides."""

    description: str | None = None
    layers: list[LayerItem] | None = Field(default=None, min_length=1)
    extends: str | None = Field(default=None, description="derive from another model and override parts of it")
    blocks: int | None = Field(default=None, ge=1, description="keep the first N conv blocks (or repeat the last)")
    drop_blocks: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, description="remove conv blocks (1-based)")
    channels: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, description="out channels of each conv")
    kernel: IntPair | None = Field(default=None, description="kernel size of every conv")
    padding: Annotated[Union[int, Literal["same", "valid"]], BeforeValidator(check_padding)] | None = None
    pool: Union[Annotated[int, Field(ge=1)], list[IntPair]] | None = Field(
        default=None, description="kernel (= stride) of every pooling layer, or a list with one per layer")
    activation: Literal[ACTIVATIONS] | None = Field(default=None, description="replace every activation")  # type: ignore[valid-type]
    dense: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, description="widths of the hidden dense layers")
    dropout: float | None = Field(default=None, ge=0, lt=1, description="p of every dropout layer")

    @model_validator(mode="after")
    def _layers_or_extends(self) -> "ModelSpec":
        if (self.layers is None) == (self.extends is None):
            raise ValueError("a model needs exactly one of `layers` (its own) or `extends` (a variant of another)")
        return self

    def overrides(self) -> dict:
        """The variant overrides that are set, in the order they apply."""
        return {k: v for k, v in self.model_dump(exclude={"description", "layers", "extends"}).items() if v is not None}


OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]
LOSS_ALIASES = {
    "cross_entropy": "cross_entropy",
    "sparse_categorical_crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "nll": "cross_entropy",
}


class OptimizerSpec(Strict):
    name: OptimizerName = "adam"
    lr: float = Field(default=1e-3, gt=0)
    momentum: float = Field(default=0.0, ge=0)
    nesterov: bool = False
    weight_decay: float = Field(default=0.0, ge=0)
    betas: tuple[float, float] | None = None
    eps: float | None = Field(default=None, gt=0)


class ScheduleSpec(Strict):
    """Learning-rate schedule: step (every step_size epochs × gamma), cosine (to eta_min), one_cycle (per batch)."""

    name: Literal["step", "cosine", "one_cycle"]
    step_size: int = Field(default=10, ge=1)
    gamma: float = Field(default=0.1, gt=0)
    eta_min: float = Field(default=0.0, ge=0)
    max_lr: float | None = Field(default=None, gt=0, description="one_cycle peak (default: the optimizer's lr)")


class EarlyStoppingSpec(Strict):
    """Stop when validation loss has not improved by min_delta for `patience` epochs."""

    patience: int = Field(default=3, ge=1)
    min_delta: float = Field(default=0.0, ge=0)


class TrainSpec(Strict):
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec | None = None
    early_stopping: EarlyStoppingSpec | None = None
    loss: str = "cross_entropy"
    label_smoothing: float = Field(default=0.0, ge=0, lt=1)
    epochs: int = Field(default=10, ge=1, le=10_000)
    batch_size: int = Field(default=64, ge=1)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        if v not in LOSS_ALIASES:
            raise ValueError(f"unknown loss {v!r}; use one of {', '.join(LOSS_ALIASES)}")
        return LOSS_ALIASES[v]


class Experiment(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.=-]*$", max_length=80)
    model: str
    title: str | None = None
    description: str | None = None
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the top-level train settings")
    sweep: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = Field(
        default=None, description="dotted path → values; several keys form a grid, e.g. {optimizer.lr: [0.001, 0.01]}; "
                                  "`model.KEY` varies the model (activation, channels, dense, ...)")


DEFAULT_SECTIONS = ["cover", "contents", "architecture", "parameters", "training", "evaluation", "comparison",
                    "provenance"]


class Manifest(Strict):
    report: ReportMeta
    dataset: DatasetSpec
    models: dict[str, ModelSpec] = Field(min_length=1)
    train: TrainSpec = Field(default_factory=TrainSpec)
    experiments: list[Experiment] = Field(min_length=1)
    sections: list[SectionItem] = Field(default_factory=lambda: list(DEFAULT_SECTIONS))


class LoadedManifest:
    """A validated manifest with its source positions, folder, and resolved experiment configs."""

    def __init__(self, manifest: Manifest, located: Located, path: Path):
        self.manifest = manifest
        self.located = located
        self.path = path
        self.base_dir = path.parent
        self.stem = path.stem
        self.model_layers: dict[str, list] = {}
        self.runs: list = []  # sweeps.RunSpec, filled in by load_manifest
        problems: list[Problem] = []
        self.sections = [_section_of(i, s, located, problems) for i, s in enumerate(manifest.sections)]
        self.train = {e.id: _resolve_train(manifest.train, e, i, located, problems)
                      for i, e in enumerate(manifest.experiments)}
        if problems:
            raise ManifestError(problems)

    def experiment(self, exp_id: str) -> Experiment:
        return next(e for e in self.manifest.experiments if e.id == exp_id)

    def layers_of(self, model: str) -> list:
        """Normalised layers of a manifest model or of a swept variant such as `cnn[activation=gelu]`."""
        if model in self.model_layers:
            return self.model_layers[model]
        return next(r.layers for r in self.runs if r.model == model)

    def problem(self, path: tuple, message: str) -> Problem:
        return self.located.problem(path, message)


def _section_of(index: int, item: Any, located: Located, problems: list[Problem]) -> Section:
    kind, opts = (item, {}) if isinstance(item, str) else next(iter(item.items()))
    try:
        validated = SECTION_KINDS[kind].model_validate(opts or {})
    except ValidationError as exc:
        problems.extend(_problems(exc, located, ("sections", index, kind)))
        return Section(kind=kind)
    return Section(kind=kind, options=validated.model_dump())


def _resolve_train(defaults: TrainSpec, exp: Experiment, index: int, located: Located,
                   problems: list[Problem]) -> TrainSpec:
    merged = deep_merge(defaults.model_dump(), exp.train)
    try:
        return TrainSpec.model_validate(merged)
    except ValidationError as exc:
        problems.extend(_problems(exc, located, ("experiments", index, "train")))
        return defaults


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override's values merged in, recursively for nested mappings."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _problems(exc: ValidationError, located: Located, prefix: tuple = ()) -> list[Problem]:
    problems = []
    for err in exc.errors(include_url=False):
        path = prefix + tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {str(path[-1])!r}"
        elif err["type"] == "missing":
            msg = f"missing required key {str(path[-1])!r}"
        # drop the union-tag segments pydantic adds, which never appear in the YAML
        shown: tuple = ()
        for seg in path:
            if seg in ("bare", "item", "[key]") or (shown and seg == shown[-1] and isinstance(seg, str)):
                continue
            shown += (seg,)
        if "input" in err and err["type"] not in ("missing", "extra_forbidden") and not isinstance(err["input"], (dict, list)):
            msg += f" (got {err['input']!r})"
        problems.append(Problem(located.file, *located.where(path), dotted(shown), msg))
    # a union member that fails reports once per member; keep the first per location
    seen, unique = set(), []
    for p in problems:
        if (p.line, p.column, p.path) not in seen:
            seen.add((p.line, p.column, p.path))
            unique.append(p)
    return unique


def apply_overrides(data: dict, overrides: list[str], located: Located) -> None:
    """Apply `--set a.b.c=VALUE` overrides in place; VALUE is read as a YAML scalar."""
    for item in overrides:
        if "=" not in item:
            raise ManifestError([Problem("--set", 1, 1, item, "expected KEY=VALUE")])
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                idx = _list_index(node, part)
                if idx is None:
                    raise ManifestError([Problem("--set", 1, 1, key, f"no list item {part!r}")])
                if last:
                    node[idx] = value
                node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, {})
            else:
                raise ManifestError([Problem("--set", 1, 1, key, f"{'.'.join(parts[:i])} is not a mapping or list")])
        located.positions.setdefault(tuple(int(p) if p.isdigit() else p for p in parts), (1, 1))


def _list_index(items: list, part: str) -> int | None:
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, it in enumerate(items):
        if isinstance(it, dict) and it.get("id") == part:
            return i
    return None


def load_manifest(path: str | Path, overrides: list[str] | None = None) -> LoadedManifest:
    """Load, override and validate a manifest; raise ManifestError listing every problem."""
    path = Path(path)
    located = load_yaml(path)
    if not isinstance(located.data, dict):
        raise ManifestError([located.problem((), "a manifest is a mapping with report, dataset, models, ...")])
    if overrides:
        apply_overrides(located.data, overrides, located)
    try:
        manifest = Manifest.model_validate(located.data)
    except ValidationError as exc:
        raise ManifestError(_problems(exc, located)) from None
    loaded = LoadedManifest(manifest, located, path.resolve())
    problems = check_references(loaded) + _expand_runs(loaded)
    if problems:
        raise ManifestError(problems)
    return loaded


def _expand_runs(loaded: LoadedManifest) -> list[Problem]:
    """Resolve model variants and sweeps into `loaded.model_layers` and `loaded.runs`."""
    from .sweeps import expand
    from .variants import resolve_all

    layers, errors = resolve_all(loaded.manifest.models)
    problems = [loaded.problem(("models", name, key), msg) for name, (key, msg) in errors.items()]
    loaded.model_layers = layers
    loaded.runs = expand(loaded, layers, problems)
    run_ids = {r.id for r in loaded.runs} | {e.id for e in loaded.manifest.experiments}
    for i, sec in enumerate(loaded.sections):
        refs = [(("experiments", j), ref) for j, ref in enumerate(sec.options.get("experiments") or [])]
        refs += [(("items", k, "experiments", j), ref) for k, item in enumerate(sec.options.get("items") or [])
                 for j, ref in enumerate(item["experiments"])]
        for where, ref in refs:
            if ref not in run_ids:
                problems.append(loaded.problem(("sections", i, sec.kind) + where,
                                               f"unknown experiment {ref!r} (experiment ids and run ids such as "
                                               "`lr_sweep/lr=0.01` can be named)"))
    return problems


def check_references(loaded: LoadedManifest) -> list[Problem]:
    """Cross-checks pydantic cannot do: model and experiment names, prose files, duplicate ids."""
    m, problems = loaded.manifest, []
    ids: dict[str, int] = {}
    for i, exp in enumerate(m.experiments):
        if exp.model not in m.models:
            problems.append(loaded.problem(("experiments", i, "model"),
                                           f"unknown model {exp.model!r}; defined: {', '.join(m.models)}"))
        if exp.id in ids:
            problems.append(loaded.problem(("experiments", i, "id"),
                                           f"duplicate experiment id {exp.id!r} (also experiments[{ids[exp.id]}])"))
        ids.setdefault(exp.id, i)
    for i, sec in enumerate(loaded.sections):
        for key, known in (("models", m.models),):
            for j, name in enumerate(sec.options.get(key) or []):
                if name not in known:
                    problems.append(loaded.problem(("sections", i, sec.kind, key, j), f"unknown {key[:-1]} {name!r}"))
        if sec.kind == "prose" and sec.options.get("file"):
            target = (loaded.base_dir / sec.options["file"]).resolve()
            if not target.is_relative_to(loaded.base_dir):
                problems.append(loaded.problem(("sections", i, "prose", "file"), "prose files must lie inside the manifest's folder"))
            elif not target.is_file():
                problems.append(loaded.problem(("sections", i, "prose", "file"), f"prose file not found: {sec.options['file']}"))
    return problems


def json_schema() -> dict:
    """JSON Schema of the manifest."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reportgen manifest"
    return schema
