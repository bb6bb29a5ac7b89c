"""Results keys: the dotted path that names one number of a results record, e.g. runs.adam_lr_0.001.test.accuracy."""

from __future__ import annotations

from pydantic import BaseModel

MISSING = object()


def key_of(*parts) -> str:
    """The dotted key of a path: ('runs', 'adam_lr_0.001', 'test', 'accuracy') → 'runs.adam_lr_0.001.test.accuracy'."""
    return ".".join(str(p) for p in parts)


def field_named(model: BaseModel, name: str):
    """The value of a record's field by the name results.json gives it (its alias: `class`, `from`), else MISSING."""
    fields = type(model).model_fields
    for attr, info in fields.items():
        if (info.alias or attr) == name:
            return getattr(model, attr)
    return MISSING


def _walk(node, parts: list[str], i: int):
    if i == len(parts):
        return node
    if isinstance(node, BaseModel):
        found = field_named(node, parts[i])
        return MISSING if found is MISSING else _walk(found, parts, i + 1)
    if isinstance(node, dict):
        # run ids and class names may hold dots: try the longest segment that is a key first
        for j in range(len(parts), i, -1):
            name = ".".join(parts[i:j])
            if name in node:
                found = _walk(node[name], parts, j)
                if found is not MISSING:
                    return found
        return MISSING
    if isinstance(node, list) and parts[i].lstrip("-").isdigit():
        index = int(parts[i])
        if -len(node) <= index < len(node):
            return _walk(node[index], parts, i + 1)
    return MISSING


def resolve(results, key: str):
    """The value at a dotted key of a results record (typed, or its JSON); KeyError when it has none there."""
    found = _walk(results, key.split("."), 0)
    if found is MISSING:
        raise KeyError(key)
    return found
