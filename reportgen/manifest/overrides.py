"""Overrides of manifest data: `--set KEY=VALUE` by dotted path, and the deep merge of nested settings."""

from __future__ import annotations

import copy
from typing import Any

import yaml

from reportgen.errors import ManifestError, Problem
from reportgen.manifest.yamlsource import Located


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override's values merged in, recursively for nested mappings."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def apply_overrides(data: dict, overrides: list[str], located: Located) -> None:
    """Apply `--set a.b.c=VALUE` overrides in place; VALUE is read as a YAML scalar."""
    for item in overrides:
        if "=" not in item:
            raise ManifestError([Problem("--set", 1, 1, item, "expected KEY=VALUE")])
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError):  # bad tags, dates, huge ints
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
    """The index a `--set` path segment names in a list: a position, or the item whose `id` it is."""
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, it in enumerate(items):
        if isinstance(it, dict) and it.get("id") == part:
            return i
    return None
