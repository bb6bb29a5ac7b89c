"""Overrides of manifest data: `--set KEY=VALUE` by dotted path, and the deep merge of nested settings."""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

import yaml

from reportgen.errors import Problem
from reportgen.manifest.yamlsource import Located, dotted


@dataclass(frozen=True)
class SetProblem(Problem):
    """A problem in a `--set` argument, shown at that argument rather than in the manifest."""

    def __str__(self) -> str:
        return f"--set {self.path}: {self.message}"


def deep_merge(base: dict, override: dict) -> dict:
    """Return base with override's values merged in, recursively for nested mappings."""
    out = copy.deepcopy(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def split_key(key: str) -> list[str] | None:
    """`experiments[adam_lr_0.00025].train.epochs` → [experiments, adam_lr_0.00025, train, epochs]; a plain
    dotted path splits at every dot; None when a bracket is not closed."""
    parts: list[str] = []
    for m in re.finditer(r"\[([^\]]*)\]|([^.\[\]]+)|(\[)", key):
        if m[3] is not None:
            return None
        parts.append(m[1] if m[1] is not None else m[2])
    return parts or None


@dataclass
class Applied:
    """What the `--set` arguments did: their problems, and the key paths each one set."""

    problems: list[Problem]
    new: dict[str, str]  # dotted path of a key the manifest did not have → the argument that set it
    replaced: dict[str, str]  # dotted path of a key the manifest had → the argument that changed it


def apply_overrides(data: dict, overrides: list[str], located: Located) -> Applied:
    """Apply `--set a.b.c=VALUE` (or `list[ID].key=VALUE`) overrides in place; VALUE is read as a YAML scalar.
    A bad argument is skipped and reported; the others still apply."""
    done = Applied([], {}, {})
    for item in overrides:
        if "=" not in item:
            done.problems.append(SetProblem("--set", 0, 0, item, "expected KEY=VALUE, e.g. train.epochs=3"))
            continue
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError):  # bad tags, dates, huge ints
            value = raw
        parts = split_key(key)
        if parts is None:
            done.problems.append(SetProblem("--set", 0, 0, item, "a `[` without its `]`"))
            continue
        where = _apply(data, parts, value, item)
        if isinstance(where, Problem):
            done.problems.append(where)
            continue
        shown = dotted(where)
        (done.replaced if where in located.positions else done.new)[shown] = item
        located.positions.setdefault(where, (1, 1))
    return done


def _apply(data: dict, parts: list[str], value: Any, item: str) -> tuple | Problem:
    """Set one value; the key path it set (list items by index), or the problem."""
    node: Any = data
    path: tuple = ()
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            idx = _list_index(node, part)
            if idx is None:
                return SetProblem("--set", 0, 0, item, _no_item(node, parts, i, item))
            path += (idx,)
            if last:
                node[idx] = value
            node = node[idx]
        elif isinstance(node, dict):
            path += (part,)
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
        else:
            return SetProblem("--set", 0, 0, item, f"{dotted(path)} is not a mapping or list")
    return path


def _no_item(items: list, parts: list[str], i: int, item: str) -> str:
    """Why a path segment names no list item: and the bracket form when the id it meant contains dots."""
    ids = [it["id"] for it in items if isinstance(it, dict) and isinstance(it.get("id"), str)]
    for j in range(len(parts), i + 1, -1):
        joined = ".".join(parts[i:j])
        if joined in ids:
            fixed = ".".join(parts[:i]) + f"[{joined}]" + "".join("." + p for p in parts[j:])
            return (f"no list item {parts[i]!r}: the id {joined!r} contains dots, so write it in brackets: "
                    f"--set {fixed}={item.split('=', 1)[1]}")
    known = f"; ids: {', '.join(ids[:12])}{' ...' if len(ids) > 12 else ''}" if ids else ""
    return f"no list item {parts[i]!r} (a position from 0 to {len(items) - 1} or an id){known}"


def _list_index(items: list, part: str) -> int | None:
    """The index a `--set` path segment names in a list: a position, or the item whose `id` it is."""
    if part.isdigit() and int(part) < len(items):
        return int(part)
    for i, it in enumerate(items):
        if isinstance(it, dict) and it.get("id") == part:
            return i
    return None


def relocate(problems: list[Problem], applied: Applied) -> list[Problem]:
    """Problems in keys that `--set` added, shown at the argument; in keys it changed, naming the argument."""
    out = []
    for p in problems:
        hit = next((arg for path, arg in applied.new.items()
                    if p.path == path or p.path.startswith((path + ".", path + "["))), None)
        if hit is not None:
            out.append(SetProblem("--set", 0, 0, hit, p.message.replace("unknown key", "no key", 1)))
            continue
        hit = applied.replaced.get(p.path)
        out.append(p if hit is None else Problem(p.file, p.line, p.column, p.path, f"{p.message} (set by --set {hit})"))
    return out
