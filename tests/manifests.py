"""The tests' shared manifests as data, and a builder that lays a test's differences over one of them."""

from __future__ import annotations

import copy
import datetime
from pathlib import Path

import yaml

from reportgen.manifest.yamlsource import parse_yaml

TINY_MANIFEST = (Path(__file__).resolve().parent / "fixtures" / "tiny.yaml").read_text("utf-8")
TINY = parse_yaml(TINY_MANIFEST, "tiny.yaml").data  # the tiny build's manifest: three runs, every cheap section

DATE = datetime.date(2024, 1, 15)  # TINY's report date: YAML reads `2024-01-15` as a date
NET = {"layers": [{"conv": {"out": 4, "kernel": 3, "padding": "same"}}, "relu", {"maxpool": 2}, "flatten",
                  {"linear": "classes"}]}
MOB = {"torchvision": "mobilenet_v2", "weights": "none", "inverted_residual": [[1, 8, 1, 1], [6, 16, 1, 2]],
       "width_mult": 0.25, "input_size": 16}  # a tiny MobileNetV2
MEASURE = {"warmup": 1, "latency_repeats": 3, "throughput_batch": 4, "throughput_repeats": 1}
SMALL = {  # one run of one small network, one epoch, a cover page
    "report": {"title": "Small"},
    "dataset": {"name": "digits", "image_size": 8, "channels": 1, "seed": 7},
    "models": {"net": NET},
    "train": {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 1, "batch_size": 64, "seed": 0, "device": "cpu",
              "measure": MEASURE},
    "experiments": [{"id": "base", "model": "net"}],
    "sections": ["cover"],
}
BARE = {  # SMALL without its optional settings: no seeds, no optimizer, no measure settings, the default sections
    "report": {"title": "Bare"},
    "dataset": {"name": "digits", "image_size": 8, "channels": 1},
    "models": {"net": NET},
    "train": {"epochs": 1, "batch_size": 64, "device": "cpu"},
    "experiments": [{"id": "base", "model": "net"}],
}
MERGED = ("report", "dataset", "train")  # the keys whose changes are laid over the base's; the others replace it


def _merge(base: dict, changes: dict) -> dict:
    """base with changes laid over it, mappings key by key; a None deletes the key."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def variant(base: dict = TINY, **changes) -> dict:
    """base with changes: report, dataset and train merged into the base's (a None deletes a key), the rest replaced."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key, {}), value) if key in MERGED else value
    return copy.deepcopy(out)


def manifest_text(base: dict = TINY, **changes) -> str:
    """variant(base, **changes) as YAML that reportgen reads back as exactly that data (TINY_MANIFEST for TINY)."""
    if base is TINY and not changes:
        return TINY_MANIFEST
    data = variant(base, **changes)
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)
    assert parse_yaml(text, "manifest.yaml").data == data, text  # no value read back as another type
    return text
