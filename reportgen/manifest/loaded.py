"""A loaded manifest: YAML read, `--set` applied, validated, cross-checked, and expanded into runs."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reportgen.errors import ManifestError, Problem
from reportgen.manifest.files import check_file, check_text, scan_classes
from reportgen.manifest.overrides import apply_overrides, deep_merge, relocate
from reportgen.manifest.problems import pydantic_problems, repair
from reportgen.manifest.schema import DatasetSpec, Experiment, Manifest, TrainSpec, WeightsFrom
from reportgen.manifest.sections import SECTION_KINDS, Section
from reportgen.manifest.static import (Gathered, check_images, figure_labels, label_clashes, mixed_datasets, names_of,
                                       prose_of, unused_prose)
from reportgen.manifest.suggest import close_ids, did_you_mean
from reportgen.manifest.sweeps import expand
from reportgen.manifest.variants import resolve_all
from reportgen.manifest.yamlsource import Located, load_yaml


COMPARING_KINDS = ("comparison", "results_table")  # section kinds whose runs get paired tests


class LoadedManifest:
    """A validated manifest with its source positions, folder, and resolved experiment configs."""

    def __init__(self, manifest: Manifest, located: Located, path: Path, problems: list[Problem] | None = None):
        self.manifest = manifest
        self.located = located
        self.path = path
        self.base_dir = path.parent
        self.stem = path.stem
        self.model_layers: dict[str, list] = {}
        self.runs: list = []  # sweeps.RunSpec, filled in by load_manifest
        self.overrides: list[str] = []  # the --set KEY=VALUE texts applied, as given: builds record them
        sink = problems
        problems = [] if sink is None else sink
        self.sections = [_section_of(i, s, located, problems) for i, s in enumerate(manifest.sections)]
        self.train = {e.id: _resolve_train(manifest.train, e, i, located, problems)
                      for i, e in enumerate(manifest.experiments)}
        self.datasets = {e.id: _resolve_dataset(manifest.dataset, e, i, located, problems)
                         for i, e in enumerate(manifest.experiments)}
        if problems and sink is None:
            raise ManifestError(problems)

    def template_override(self) -> Path | None:
        """The folder whose templates override the pack's: report.template_dir, else templates/ beside the manifest;
        a ManifestError, before Jinja reads anything, when a link in it leads out of the manifest's folder."""
        problem = template_problem(self)
        if problem is not None:
            raise ManifestError([problem])
        folder = (self.base_dir / (self.manifest.report.template_dir or "templates")).resolve()
        return folder if folder.is_dir() and folder.is_relative_to(self.base_dir) else None

    @property
    def comparisons(self) -> list[list[str] | None]:
        """What the run side tests pairwise, declared by the comparison and results-table sections: the experiment
        or run ids each compares (None: every run), in section order."""
        return [sec.options.get("experiments") for sec in self.sections if sec.kind in COMPARING_KINDS]

    @property
    def exploration_options(self) -> dict | None:
        """What the dataset exploration computes: the first `dataset` section's options, None without one."""
        return next((sec.options for sec in self.sections if sec.kind == "dataset"), None)

    def experiment(self, exp_id: str) -> Experiment:
        """The experiment with this id."""
        return next(e for e in self.manifest.experiments if e.id == exp_id)

    def layers_of(self, model: str) -> list:
        """Normalised layers of a manifest model or of a swept variant such as `cnn[activation=gelu]`."""
        if model in self.model_layers:
            return self.model_layers[model]
        return next(r.layers for r in self.runs if r.model == model)

    def problem(self, path: tuple, message: str) -> Problem:
        """A Problem at the position of the key path in the manifest."""
        return self.located.problem(path, message)


def template_problem(loaded: LoadedManifest) -> Problem | None:
    """Why the template override folder cannot be used: report.template_dir is no folder inside the manifest's
    folder, or a path in the folder (links followed, at any depth) leads outside it or is no regular file."""
    chosen, base = loaded.manifest.report.template_dir, loaded.base_dir
    folder = base / (chosen or "templates")
    if chosen is not None and not (Path(os.path.normpath(folder)).is_relative_to(base) and folder.resolve().is_dir()):
        return loaded.problem(("report", "template_dir"), "template_dir must be a folder inside the manifest's folder "
                              f"({chosen} is not)")
    if not os.path.lexists(folder):
        return None
    found = template_escape(folder, base)
    if found is None:
        return None
    path, why = found
    return loaded.problem(("report", "template_dir") if chosen else (),
                          f"template override {os.path.relpath(path, base)} is {why}")


def template_escape(folder: Path, root: Path) -> tuple[Path, str] | None:
    """The first path Jinja's FileSystemLoader could open under `folder` (it follows symbolic links, to files and to
    folders, at any depth) whose real location is outside `root`, or which is a FIFO or device that would block
    the render, with why; None when there is none."""
    pending, seen = [folder], set()
    while pending:
        path = pending.pop()
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(root):
            return path, (f"a symbolic link, or lies under one, resolving to {real} outside the manifest's folder; "
                          "template overrides may link only to files inside it: remove or replace the link")
        try:
            mode = os.stat(path).st_mode
            if stat.S_ISDIR(mode) and real not in seen:
                seen.add(real)  # a folder reached twice (links inside the manifest's folder) is walked once
                pending.extend(sorted((path / name for name in os.listdir(path)), reverse=True))
        except OSError:  # a dangling link inside the folder, or an unreadable folder: the loader finds nothing there
            continue
        if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
            return path, "neither a file nor a folder (reading it could block the render): remove it"
    return None


def _section_of(index: int, item: Any, located: Located, problems: list[Problem]) -> Section:
    """A section item validated against its kind's options (problems appended, not raised)."""
    kind, opts = (item, {}) if isinstance(item, str) else next(iter(item.items()))
    try:
        validated = SECTION_KINDS[kind].model_validate(opts or {})
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, located, ("sections", index, kind), SECTION_KINDS[kind]))
        return Section(kind=kind)
    return Section(kind=kind, options=validated.model_dump())


def _resolve_train(defaults: TrainSpec, exp: Experiment, index: int, located: Located,
                   problems: list[Problem]) -> TrainSpec:
    """An experiment's train settings: its overrides deep-merged over the top-level ones."""
    merged = deep_merge(defaults.model_dump(), exp.train)
    try:
        return TrainSpec.model_validate(merged)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, located, ("experiments", index, "train"), TrainSpec))
        return defaults


def _resolve_dataset(default: DatasetSpec, exp: Experiment, index: int, located: Located,
                     problems: list[Problem]) -> DatasetSpec:
    """An experiment's dataset: its overrides over the top-level dataset (another dataset keeps only the generic keys)."""
    if not exp.dataset:
        return default
    merged = default.model_dump(exclude_none=True)
    if "name" in exp.dataset and exp.dataset["name"] != default.name:  # another dataset: its own defaults
        merged = {k: v for k, v in merged.items() if k in ("seed", "val_fraction", "validation", "normalize",
                                                             "download", "image_size", "channels")}
    try:
        return DatasetSpec.model_validate({**merged, **exp.dataset})
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, located, ("experiments", index, "dataset"), DatasetSpec))
        return default


def load_manifest(path: str | Path, overrides: list[str] | None = None) -> LoadedManifest:
    """Load, override and validate a manifest; raise ManifestError listing every problem."""
    found = gather(path, overrides)
    if found.problems:
        raise ManifestError(found.problems)
    return found.loaded


def gather(path: str | Path, overrides: list[str] | None = None) -> Gathered:
    """Every problem of a manifest that can be found without training (a YAML syntax error stops at once), its
    warnings, its prose and its names; parts pydantic refuses are repaired so the cross-checks still run."""
    path = Path(path)
    located = load_yaml(path)
    found = Gathered()
    if not isinstance(located.data, dict):
        found.problems.append(located.problem((), "a manifest is a mapping with report, dataset, models, ..."))
        return found
    applied = apply_overrides(located.data, overrides or [], located)
    problems, broken, data, manifest = list(applied.problems), set(), located.data, None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        problems += pydantic_problems(exc, located, (), Manifest)
        for _ in range(8):
            data = repair(data, exc, broken)
            if data is None:
                break
            try:
                manifest = Manifest.model_validate(data)
                break
            except ValidationError as again:
                exc = again
    base = path.resolve().parent
    found.prose = prose_of(located, base)
    names = names_of(located.data)
    if manifest is not None:
        later: list[Problem] = []
        loaded = LoadedManifest(manifest, located, path.resolve(), later)
        loaded.overrides = list(overrides or [])
        later += _resolve_classes(loaded, broken) + check_references(loaded) + _expand_runs(loaded, names)
        if broken:  # a placeholder stands in for each broken model: what its variants and runs say is noise
            later = [p for p in later if not p.path.startswith("models.")]
        problems += later
        found.loaded, found.warnings = loaded, mixed_datasets(loaded) + label_clashes(loaded)
        names = names_of(located.data, loaded.runs)
        if problems:  # runs resolved around broken parts may show defaults (one seed) the manifest did not mean
            names["repeated"] = None
    images, refused = check_images(found.prose, base)
    for figure in figure_labels(found.prose):
        names["labels"].setdefault(figure, "figure")
    found.names = names
    found.problems = relocate(problems + images, applied)
    found.warnings += refused + unused_prose(located, base)
    found.complete = manifest is not None and not found.problems and not broken
    return found


def _expand_runs(loaded: LoadedManifest, names: dict) -> list[Problem]:
    """Resolve model variants and sweeps into `loaded.model_layers` and `loaded.runs`."""
    layers, errors = resolve_all(loaded.manifest.models)
    problems = [loaded.problem(("models", name, key), msg) for name, (key, msg) in errors.items()]
    loaded.model_layers = layers
    loaded.runs = expand(loaded, layers, problems)
    run_ids = {r.id for r in loaded.runs} | {e.id for e in loaded.manifest.experiments} | set(names["runs"]) | \
        set(names["groups"])
    for i, sec in enumerate(loaded.sections):
        refs = [(("experiments", j), ref) for j, ref in enumerate(sec.options.get("experiments") or [])]
        refs += [(("items", k, "experiments", j), ref) for k, item in enumerate(sec.options.get("items") or [])
                 for j, ref in enumerate(item["experiments"])]
        refs += [(("notes", key), key) for key in (sec.options.get("notes") or {})]
        for where, ref in refs:
            if ref not in run_ids:
                problems.append(loaded.problem(("sections", i, sec.kind) + where, unknown_run(ref, names)))
    return problems


def unknown_run(ref: str, names: dict) -> str:
    """Why an experiment or run id is unknown: the ids meant, the runs of its experiment, or the ids there are."""
    runs, groups = list(names["runs"]), names["groups"]
    group = ref.split("/", 1)[0]
    close = close_ids(ref, runs + [g for g in groups if g not in runs])
    if "/" in ref and group in groups:
        msg = f"unknown run {ref!r}: experiment {group!r} has the runs {', '.join(groups[group][:20])}"
    else:
        msg = f"unknown experiment {ref!r}; experiments: {', '.join(list(groups)[:20])}"
        swept = next((rid for rid in runs if "/" in rid), None)
        if swept:
            msg += f" (a single run of a sweep is named by its id, e.g. `{swept}`)"
    return msg + (f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "")


def _resolve_classes(loaded: LoadedManifest, broken: set[str] = frozenset()) -> list[Problem]:
    """Image-folder datasets without `classes`: read the class folder names from disk."""
    problems, found = [], {}
    for i, exp in enumerate(loaded.manifest.experiments):
        spec = loaded.datasets[exp.id]
        if spec.name != "imagefolder" or spec.classes is not None or "" in broken:
            continue
        key = "root" if spec.root else "train_root"
        where = ("experiments", i, "dataset", key) if exp.dataset and key in exp.dataset else ("dataset", key)
        root = (loaded.base_dir / (spec.root or spec.train_root)).resolve()
        if root not in found:
            found[root] = scan_classes(root) if root.is_dir() else None
            if found[root] is None or len(found[root]) < 2:
                what = "does not exist" if found[root] is None else f"has {len(found[root])} class folder(s)"
                problems.append(loaded.problem(where, f"cannot read the class names: {root} {what}; an image-folder "
                                               "dataset needs one folder per class (at least two), or list them "
                                               "under `classes:`"))
        if found[root] and len(found[root]) >= 2:
            loaded.datasets[exp.id] = spec.model_copy(update={"classes": found[root]})
    main = loaded.manifest.dataset
    if main.name == "imagefolder" and main.classes is None:
        first = next((loaded.datasets[e.id] for e in loaded.manifest.experiments if not e.dataset), None)
        if first is not None and first.classes:
            loaded.manifest = loaded.manifest.model_copy(update={"dataset": first})
    return problems


def check_references(loaded: LoadedManifest) -> list[Problem]:
    """Cross-checks pydantic cannot do: model and experiment names, prose files, duplicate ids."""
    m, problems = loaded.manifest, []
    ids: dict[str, int] = {}
    for i, exp in enumerate(m.experiments):
        if exp.model not in m.models:
            problems.append(loaded.problem(("experiments", i, "model"), f"unknown model {exp.model!r}"
                                           + did_you_mean(exp.model, list(m.models), "") + f"; defined: {', '.join(m.models)}"))
        if exp.id in ids:
            problems.append(loaded.problem(("experiments", i, "id"),
                                           f"duplicate experiment id {exp.id!r} (also experiments[{ids[exp.id]}])"))
        ids.setdefault(exp.id, i)
    for i, exp in enumerate(m.experiments):
        weights = exp.weights or (m.models[exp.model].weights if exp.model in m.models else None)
        if isinstance(weights, WeightsFrom) and weights.from_ not in ids:
            where = ("experiments", i, "weights") if exp.weights else ("models", exp.model, "weights")
            problems.append(loaded.problem(where, f"weights from unknown experiment {weights.from_!r}; "
                                           f"defined: {', '.join(ids)}"))
        for key in ("weights", "freeze"):
            if getattr(exp, key) is not None and exp.model in m.models and m.models[exp.model].source == "custom":
                problems.append(loaded.problem(("experiments", i, key), f"`{key}` applies to torchvision and timm "
                                               "models; layer-language models train every layer from random weights"))
    if (refused := template_problem(loaded)) is not None:
        problems.append(refused)
    for i, sec in enumerate(loaded.sections):
        for key, known in (("models", m.models),):
            for j, name in enumerate(sec.options.get(key) or []):
                if name not in known:
                    problems.append(loaded.problem(("sections", i, sec.kind, key, j), f"unknown {key[:-1]} {name!r}"
                                                   + did_you_mean(name, list(known), "") + f"; defined: {', '.join(known)}"))
        if sec.kind == "prose" and sec.options.get("file"):
            target = (loaded.base_dir / sec.options["file"]).resolve()
            if not target.is_relative_to(loaded.base_dir):
                problems.append(loaded.problem(("sections", i, "prose", "file"), "prose files must lie inside the manifest's folder"))
            elif not target.is_file():
                problems.append(loaded.problem(("sections", i, "prose", "file"), f"prose file not found: {sec.options['file']}"))
            elif why := check_file(target):  # size, UTF-8, bracket nesting
                problems.append(loaded.problem(("sections", i, "prose", "file"), why))
        if sec.kind == "prose" and sec.options.get("text") is not None and (why := check_text(sec.options["text"])):
            problems.append(loaded.problem(("sections", i, "prose", "text"), why))
    return problems
