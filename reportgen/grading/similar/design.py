"""Experiment design as comparable features: each model's definition, each experiment's effective settings with its
model's definition, each sweep; names, titles and descriptions left out, so a copied design under other names is
found whole, while two teams that share only the course's defaults share no feature."""

from __future__ import annotations

import json
from dataclasses import dataclass

from reportgen.hashing import json_digest

_NAMES = {"description", "title", "name", "id", "extends"}
MAX_DEPTH = 8  # `extends` chains followed at most this deep (a loop is cut too)
MAX_FEATURES = 2000
SHOWN = 2000  # characters of a feature's definition shown on a pair page


@dataclass(frozen=True)
class Feature:
    """One design feature of a manifest: what it is called there and its definition."""

    label: str  # "model cnn", "experiment adam", "sweep q4_more"
    definition: str  # canonical JSON, indented


def _plain(value, depth: int = 0):
    """YAML data as JSON data (dates and other scalars as text), key order irrelevant."""
    if depth > 64:
        return "…"
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value if not isinstance(value, float) or value == value else "nan"
    return str(value)


def _merge(base: dict, over: dict) -> dict:
    """Settings with an experiment's own laid over the manifest's, nested mappings merged."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _model(models: dict, name, seen: tuple = ()) -> dict | None:
    """A model's definition with what it extends laid under it, its names left out."""
    spec = models.get(name) if isinstance(name, str) else None
    if not isinstance(spec, dict) or name in seen or len(seen) > MAX_DEPTH:
        return None
    own = {k: v for k, v in spec.items() if k not in _NAMES}
    if "module" in own:  # the file's path is a name; its code is compared as code
        own["module"] = "module"
    parent = _model(models, spec.get("extends"), seen + (name,)) if "extends" in spec else None
    return _merge(parent, own) if parent else own


def _feature(out: dict[str, Feature], label: str, data: dict) -> None:
    if len(out) < MAX_FEATURES:
        out.setdefault(json_digest(data), Feature(label, json.dumps(data, indent=1, sort_keys=True)[:SHOWN]))


def features(manifest: dict | None) -> dict[str, Feature]:
    """Every design feature of a manifest, by the digest of its definition."""
    data = _plain(manifest) if isinstance(manifest, dict) else {}
    models = data.get("models") if isinstance(data.get("models"), dict) else {}
    train = data.get("train") if isinstance(data.get("train"), dict) else {}
    out: dict[str, Feature] = {}
    for name in models:
        model = _model(models, name)
        if model and model != {"module": "module"}:  # a bare module reference is no design of its own
            _feature(out, f"model {name}", {"model": model})
    experiments = data.get("experiments") if isinstance(data.get("experiments"), list) else []
    for exp in experiments:
        if not isinstance(exp, dict):
            continue
        model = _model(models, exp.get("model")) or {"name": exp.get("model")}
        own = exp.get("train") if isinstance(exp.get("train"), dict) else {}
        rest = {k: v for k, v in exp.items() if k not in _NAMES | {"model", "train"}}
        _feature(out, f"experiment {exp.get('id')}", {"model": model, "train": _merge(train, own), **rest})
        if exp.get("sweep"):
            _feature(out, f"sweep {exp.get('id')}", {"model": model, "sweep": exp["sweep"]})
    return out


def score(a: dict[str, Feature], b: dict[str, Feature], least: int = 3) -> float | None:
    """Shared features over the smaller side's (counted as at least `least`, so that one shared tweak is not a
    copied design); None when either side has no feature of its own."""
    if not a or not b:
        return None
    return len(a.keys() & b.keys()) / max(min(len(a), len(b)), least)
