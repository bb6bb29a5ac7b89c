"""Pydantic's errors as located problems with "did you mean", and the repairs that let the later checks run."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError

from reportgen.errors import Problem
from reportgen.manifest.layers import _ITEMS, BARE_LAYERS, Strict
from reportgen.manifest.layers import ID_PATTERN
from reportgen.manifest.schema import Manifest  # noqa: F401 - every spec class defined before _CLASSES is read
from reportgen.manifest.sections import SECTION_KINDS
from reportgen.manifest.suggest import did_you_mean, keys_at, suggestion
from reportgen.manifest.yamlsource import Located, dotted

UNION_TAGS = ("bare", "item", "[key]")
LAYER_KINDS = sorted({*_ITEMS, *BARE_LAYERS})


def _subclasses(cls: type) -> set[str]:
    return {c.__name__ for sub in cls.__subclasses__() for c in (sub,)} | \
        {n for sub in cls.__subclasses__() for n in _subclasses(sub)}


_CLASSES = _subclasses(Strict)  # union members pydantic names in a location, e.g. freeze.FreezeLast.train_last


def shown_path(loc: tuple) -> tuple:
    """A pydantic location without the union-tag segments it adds, which never appear in the YAML."""
    shown: tuple = ()
    for seg in loc:
        if seg in UNION_TAGS or (shown and seg == shown[-1] and isinstance(seg, str)) or \
                (isinstance(seg, str) and (seg in _CLASSES or seg.startswith(("literal[", "function-")))):
            continue
        shown += (seg,)
    return shown


def _kind_hint(err: dict, kinds: list[str], what: str) -> str:
    """An unknown layer or section kind named, with the kind meant."""
    value = err.get("input")
    word = value if isinstance(value, str) else next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None
    if word is None or word in kinds:
        return err["msg"]
    return f"unknown {what} {str(word)!r}{did_you_mean(word, kinds)}; {err['msg']}"


def pydantic_problems(exc: ValidationError, located: Located, prefix: tuple = (), root: Any = None) -> list[Problem]:
    """Located problems from a ValidationError: one per location and key, unknown keys with "did you mean"."""
    errors = exc.errors(include_url=False)
    implied = set()  # (object path, key): a missing key that an unknown key just misspells, reported once
    for err in errors:
        if err["type"] == "extra_forbidden" and root is not None:
            target = suggestion(err["loc"][-1], keys_at(root, tuple(err["loc"][:-1])))
            if target:
                implied.add((shown_path(tuple(err["loc"][:-1])), target.split(".")[0]))
    problems = []
    for err in errors:
        loc = tuple(err["loc"])
        path, shown = prefix + loc, prefix + shown_path(loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = keys_at(root, loc[:-1]) if root is not None else []
            where = dotted(shown[:-1])
            msg = f"unknown key {str(loc[-1])!r}" + (f" in {where}" if where else "") + did_you_mean(loc[-1], known)
        elif err["type"] == "missing":
            if (shown_path(loc[:-1]), loc[-1]) in implied:
                continue
            msg = f"missing required key {str(loc[-1])!r}"
        elif err["type"] == "layer":
            msg = _kind_hint(err, LAYER_KINDS, "layer kind")
        elif err["type"] == "section":
            msg = _kind_hint(err, list(SECTION_KINDS), "section kind")
        elif err["type"] == "string_pattern_mismatch" and err.get("ctx", {}).get("pattern") == ID_PATTERN:
            msg = "use letters, digits and `_ . = -`, starting with a letter or digit"
        elif err["type"] == "literal_error" and isinstance(err.get("input"), str):
            msg += did_you_mean(err["input"], [str(x).strip("'") for x in err.get("ctx", {}).get("expected", "")
                                              .replace(" or ", ", ").split(", ")])
        if "input" in err and err["type"] not in ("missing", "extra_forbidden", "layer", "section") and \
                not isinstance(err["input"], (dict, list)):
            msg += f" (got {err['input']!r})"
        problems.append(Problem(located.file, *located.where(path), dotted(shown), msg))
    # a union member that fails reports once per member; keep the first per location
    seen, unique = set(), []
    for p in problems:
        if (p.line, p.column, p.path) not in seen:
            seen.add((p.line, p.column, p.path))
            unique.append(p)
    return unique


def _drop_deepest(node: Any, path: tuple) -> bool:
    """Delete the deepest mapping key along path that exists (the value pydantic refused)."""
    trail = []
    for seg in path:
        if isinstance(node, dict) and seg in node:
            trail.append((node, seg))
            node = node[seg]
        elif isinstance(node, list) and isinstance(seg, int) and seg < len(node):
            node = node[seg]
        else:
            break
    dicts = [(d, k) for d, k in trail if isinstance(d, dict)]
    if not dicts:
        return False
    d, k = dicts[-1]
    del d[k]
    return True


def repair(data: dict, exc: ValidationError, broken: set[str]) -> dict | None:
    """A copy of the data with every refused part replaced by something valid (so cross-checks can still run),
    or None when the manifest is too far off; broken model names are added to `broken`."""
    data = copy.deepcopy(data)
    for err in exc.errors(include_url=False):
        loc = shown_path(tuple(err["loc"]))
        head = loc[0] if loc else None
        if head == "models" and len(loc) >= 2 and isinstance(data.get("models"), dict) and loc[1] in data["models"]:
            data["models"][loc[1]] = {"layers": ["flatten"]}  # a placeholder; its runs are not checked further
            broken.add(str(loc[1]))
        elif head == "report":
            refs = data.get("report", {}).get("references") if isinstance(data.get("report"), dict) else None
            data["report"] = {"title": "?", **({"references": refs} if isinstance(refs, dict) else {})}
            if len(loc) > 1 and loc[1] == "references":
                data["report"].pop("references", None)
        elif head == "sections" and len(loc) >= 2 and isinstance(loc[1], int) and isinstance(data.get("sections"), list):
            data["sections"][loc[1]] = "cover"
        elif head == "experiments" and len(loc) >= 3 and isinstance(loc[1], int) and loc[2] not in ("id", "model"):
            if not _drop_deepest(data, loc[:3]):
                return None
        elif head == "dataset" and len(loc) == 1:
            data["dataset"] = {"name": "digits"}
            broken.add("")  # the dataset itself: no shapes or class folders to check
        elif head in ("train", "dataset") or (len(loc) == 1 and head not in ("models", "experiments")):
            if not _drop_deepest(data, loc):
                return None
        else:
            return None
    return data
