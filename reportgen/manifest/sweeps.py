"""Expand experiments (and their sweeps) into concrete runs with readable ids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pydantic import ValidationError

from reportgen.errors import Problem
from reportgen.manifest.overrides import deep_merge
from reportgen.manifest.schema import VARIANT_KEYS, DatasetSpec, ModelSpec, TrainSpec, WeightsFrom
from reportgen.manifest.suggest import check_path, did_you_mean
from reportgen.manifest.variants import Layer, VariantError, apply

MODEL_KEYS = VARIANT_KEYS


@dataclass(frozen=True)
class RunSpec:
    """One concrete run: its id, the experiment it came from, what was varied, its model and settings."""

    id: str
    group: str
    title: str
    varied: dict
    model: str
    train: TrainSpec
    layers: list[Layer] | None = field(hash=False, compare=False)
    model_overrides: dict = field(default_factory=dict, hash=False, compare=False)
    dataset: DatasetSpec | None = field(default=None, hash=False, compare=False)
    network: ModelSpec | None = field(default=None, hash=False, compare=False)  # torchvision/timm, with overrides
    parent: str | None = None  # run whose final weights this run starts from


def label(path: str) -> str:
    """The short name of a swept value: `optimizer.lr` → lr, `optimizer.name` → optimizer."""
    parts = path.split(".")
    return parts[-2] if parts[-1] == "name" and len(parts) > 1 else parts[-1]


def show(value) -> str:
    """A swept value as it appears in run ids and model names."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(show(v) for v in value)
    return str(value)


def _nest(path: list[str], value) -> dict:
    """{a: {b: value}} from the path [a, b] and value."""
    out: dict = value
    for part in reversed(path):
        out = {part: out}
    return out


def expand(loaded, model_layers: dict[str, list[Layer]], problems: list[Problem]) -> list[RunSpec]:
    """Every run of the manifest, in manifest order; problems are appended with their locations."""
    m, runs = loaded.manifest, []
    for i, exp in enumerate(m.experiments):
        base_train = loaded.train[exp.id].model_dump()
        sweep = exp.sweep or {}
        keys = list(sweep)
        for key in keys:
            parts = key.split(".")
            if parts[0] == "model" and (len(parts) != 2 or parts[1] not in MODEL_KEYS):
                hint = did_you_mean(parts[-1], list(MODEL_KEYS)) if len(parts) == 2 else ""
                problems.append(loaded.problem(("experiments", i, "sweep", key),
                                               f"model sweeps vary one of {', '.join(MODEL_KEYS)}{hint}"))
            elif parts[0] != "model" and (why := sweep_key_problem(key)):
                problems.append(loaded.problem(("experiments", i, "sweep", key), why))
        if any(p.path.startswith(f"experiments[{i}].sweep") for p in problems):
            continue
        labels = [label(k) for k in keys]
        for combo in itertools.product(*(sweep[k] for k in keys)) if keys else [()]:
            varied = dict(zip(labels, combo))
            train, model_over = base_train, {}
            for key, value in zip(keys, combo):
                parts = key.split(".")
                if parts[0] == "model":
                    model_over[parts[1]] = value
                else:
                    train = deep_merge(train, _nest(parts[1:] if parts[0] == "train" else parts, value))
            suffix = ",".join(f"{lab}={show(v)}" for lab, v in varied.items())
            run_id = f"{exp.id}/{suffix}" if suffix else exp.id
            where = ("experiments", i, "sweep", keys[0]) if keys else ("experiments", i)
            try:
                spec = TrainSpec.model_validate(train)
            except ValidationError as exc:
                msg = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False))
                problems.append(loaded.problem(where, f"run {run_id}: {msg}"))
                continue
            crop, size = spec.augment.crop, loaded.datasets[exp.id].input_shape()[1]
            if crop is not None and crop.mode == "reflect" and crop.padding >= size:
                declared = ("experiments", i, "train") if "augment" in exp.train else ("train",)
                problems.append(loaded.problem(declared + ("augment", "crop"), (
                    f"run {run_id}: reflect padding of {crop.padding} px needs images larger than that (these are "
                    f"{size}×{size}); use a smaller padding or mode: zeros")))
                continue
            wanted, classes = spec.class_weights, loaded.datasets[exp.id].num_classes()
            if isinstance(wanted, list) and classes and len(wanted) != classes:
                declared = ("experiments", i, "train") if "class_weights" in exp.train else ("train",)
                problems.append(loaded.problem(declared + ("class_weights",), (
                    f"run {run_id}: class_weights lists {len(wanted)} weights, but the dataset has {classes} "
                    f"classes: give one weight per class, in the dataset's class order")))
                continue
            model_name, layers = exp.model, model_layers.get(exp.model)
            spec_m = m.models.get(exp.model)
            try:
                network = _network(spec_m, exp)
            except ValidationError as exc:
                msg = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors(include_url=False))
                problems.append(loaded.problem(("experiments", i, "weights" if exp.weights else "freeze"), msg))
                continue
            if layers is None and network is None:
                continue  # the model itself has problems, reported elsewhere
            if network is not None and model_over:
                problems.append(loaded.problem(where, f"model sweeps vary layer-language models; {exp.model} is a "
                                               f"{spec_m.source} network"))
                continue
            if exp.dataset or exp.weights is not None or exp.freeze is not None:
                model_name = f"{exp.model}@{exp.id}"  # another dataset or freezing: another head, other counts
            if model_over:
                model_name = f"{exp.model}[{','.join(f'{k}={show(v)}' for k, v in model_over.items())}]"
                try:
                    layers = apply(layers, _validated_overrides(model_over))
                except (VariantError, ValidationError, ValueError) as exc:
                    problems.append(loaded.problem(where, f"run {run_id}: {exc}"))
                    continue
            title = exp.title or exp.id
            parent = network.weights.from_ if network is not None and isinstance(network.weights, WeightsFrom) else None
            runs.append(RunSpec(run_id, exp.id, f"{title} ({suffix})" if suffix else title, varied, model_name,
                                spec, layers, model_over, loaded.datasets[exp.id], network, parent))
    _check_parents(loaded, runs, problems)
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.id] = seen.get(run.id, 0) + 1
    for run_id, count in seen.items():
        if count > 1 and "/" in run_id:  # plain duplicate experiment ids are reported with the experiments
            problems.append(loaded.problem(("experiments",), f"run id {run_id!r} occurs {count} times"))
    return runs


def sweep_key_problem(key: str) -> str | None:
    """Why a sweep key names no train setting (with the setting meant), or None when it does."""
    parts = key.split(".")
    parts = parts[1:] if parts[0] == "train" and len(parts) > 1 else parts
    bad = check_path(TrainSpec, parts)
    if bad is None:
        return None
    i, known = bad
    if not known:
        return f"unknown sweep key {key!r}: {'.'.join(parts[:i])} is a value, not a mapping"
    within = ".".join(parts[:i]) or "train"
    hint = did_you_mean(parts[i], known, f"; {within} has {', '.join(known)}")
    return f"unknown sweep key {key!r}: no {parts[i]!r} in {within}{hint} (`model.KEY` varies the model)"


def _network(spec: ModelSpec | None, exp) -> ModelSpec | None:
    """A torchvision/timm model with the experiment's weights and freeze overrides applied."""
    if spec is None or spec.source == "custom":
        return None
    update = {k: getattr(exp, k) for k in ("weights", "freeze") if getattr(exp, k) is not None}
    if not update:
        return spec
    merged = {**spec.model_dump(by_alias=True, exclude_none=True),
              **{k: v.model_dump(by_alias=True) if hasattr(v, "model_dump") else v for k, v in update.items()}}
    return ModelSpec.model_validate(merged)  # the model's own rules hold for the combination too


def _check_parents(loaded, runs: list[RunSpec], problems: list[Problem]) -> None:
    """`weights: {from: X}` names an experiment with exactly one run, and no cycle."""
    by_group: dict[str, list[RunSpec]] = {}
    for run in runs:
        by_group.setdefault(run.group, []).append(run)
    index = {e.id: i for i, e in enumerate(loaded.manifest.experiments)}
    for run in runs:
        if run.parent is None or run.parent not in by_group:
            continue
        where = ("experiments", index[run.group])
        if len(by_group[run.parent]) != 1:
            problems.append(loaded.problem(where, f"weights from {run.parent!r}: that experiment is a sweep of "
                                           f"{len(by_group[run.parent])} runs; name an experiment with one run"))
        chain, cur = [run.group], run.parent
        while cur is not None and cur in by_group:
            if cur in chain:
                problems.append(loaded.problem(where, "experiments take weights from each other in a cycle: "
                                               + " → ".join(chain + [cur])))
                break
            chain.append(cur)
            cur = by_group[cur][0].parent


def _validated_overrides(over: dict) -> dict:
    """Check model overrides with the same rules as a model's own keys."""
    try:
        spec = ModelSpec.model_validate({"extends": "_", **over})
    except ValidationError as exc:  # one readable line, not pydantic's report
        raise ValueError("; ".join(f"model.{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                                   for e in exc.errors(include_url=False))) from None
    return spec.overrides()
