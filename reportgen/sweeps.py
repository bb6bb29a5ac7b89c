"""Expand experiments (and their sweeps) into concrete runs with readable ids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from pydantic import ValidationError

from .errors import Problem
from .manifest import ModelSpec, TrainSpec, deep_merge
from .variants import Layer, VariantError, apply

MODEL_KEYS = tuple(k for k in ModelSpec.model_fields if k not in ("description", "layers", "extends"))


@dataclass(frozen=True)
class RunSpec:
    """One concrete run: its id, the experiment it came from, what was varied, its model and settings."""

    id: str
    group: str
    title: str
    varied: dict
    model: str
    train: TrainSpec
    layers: list[Layer] = field(hash=False, compare=False)
    model_overrides: dict = field(default_factory=dict, hash=False, compare=False)


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
                problems.append(loaded.problem(("experiments", i, "sweep", key),
                                               f"model sweeps vary one of {', '.join(MODEL_KEYS)}"))
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
            model_name, layers = exp.model, model_layers.get(exp.model)
            if layers is None:
                continue  # the model itself has problems, reported elsewhere
            if model_over:
                model_name = f"{exp.model}[{','.join(f'{k}={show(v)}' for k, v in model_over.items())}]"
                try:
                    layers = apply(layers, _validated_overrides(model_over))
                except (VariantError, ValidationError, ValueError) as exc:
                    problems.append(loaded.problem(where, f"run {run_id}: {exc}"))
                    continue
            title = exp.title or exp.id
            runs.append(RunSpec(run_id, exp.id, f"{title} ({suffix})" if suffix else title, varied, model_name,
                                spec, layers, model_over))
    seen: dict[str, int] = {}
    for run in runs:
        seen[run.id] = seen.get(run.id, 0) + 1
    for run_id, count in seen.items():
        if count > 1 and "/" in run_id:  # plain duplicate experiment ids are reported with the experiments
            problems.append(loaded.problem(("experiments",), f"run id {run_id!r} occurs {count} times"))
    return runs


def _validated_overrides(over: dict) -> dict:
    """Check model overrides with the same rules as a model's own keys."""
    spec = ModelSpec.model_validate({"extends": "_", **over})
    return spec.overrides()
