"""Results keys: the dotted path that names one number of a results record, e.g. runs.adam_lr_0.001.test.accuracy."""

from __future__ import annotations

_MISSING = object()


def key_of(*parts) -> str:
    """The dotted key of a path: ('runs', 'adam_lr_0.001', 'test', 'accuracy') → 'runs.adam_lr_0.001.test.accuracy'."""
    return ".".join(str(p) for p in parts)


def _walk(node, parts: list[str], i: int):
    if i == len(parts):
        return node
    if isinstance(node, dict):
        # run ids and class names may hold dots: try the longest segment that is a key first
        for j in range(len(parts), i, -1):
            name = ".".join(parts[i:j])
            if name in node:
                found = _walk(node[name], parts, j)
                if found is not _MISSING:
                    return found
        return _MISSING
    if isinstance(node, list) and parts[i].lstrip("-").isdigit():
        index = int(parts[i])
        if -len(node) <= index < len(node):
            return _walk(node[index], parts, i + 1)
    return _MISSING


def resolve(results: dict, key: str):
    """The value at a dotted key; KeyError when the record has none there."""
    found = _walk(results, key.split("."), 0)
    if found is _MISSING:
        raise KeyError(key)
    return found
