"""Safe YAML loading that remembers where every value came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import re

import yaml

from .errors import ManifestError, Problem

MAX_MANIFEST_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_VALUES = 100_000  # values after expanding aliases: a few aliases can still nest exponentially

Path_ = tuple  # a key path: tuple of str keys and int indices


@dataclass
class Located:
    """Parsed YAML data plus a map from key path to (line, column), 1-based."""

    file: str
    data: Any
    positions: dict[tuple, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: tuple) -> tuple[int, int]:
        """Closest known position for a key path (skips segments YAML never had)."""
        best = self.positions.get((), (1, 1))
        probe: tuple = ()
        for seg in path:
            if probe + (seg,) in self.positions:
                probe = probe + (seg,)
                best = self.positions[probe]
        return best

    def problem(self, path: tuple, message: str) -> Problem:
        line, col = self.where(path)
        return Problem(self.file, line, col, dotted(path), message)


def dotted(path: tuple) -> str:
    """Render a key path as `models.cnn.layers[3].kernel`."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += ("." if out else "") + str(seg)
    return out


class _Loader(yaml.SafeLoader):
    """SafeLoader (no Python tags) that also reads `1e-3` as a float, as YAML 1.2 does."""


_Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _build(node: yaml.Node, path: tuple, loc: Located, loader: _Loader, problems: list[Problem]) -> Any:
    loc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if len(loc.positions) > MAX_VALUES:
        raise ManifestError([Problem(loc.file, 1, 1, "", f"YAML aliases expand to more than {MAX_VALUES:,} values; refusing to expand")])
    if isinstance(node, yaml.CollectionNode) and node.tag not in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
        # only plain mappings and lists: a tag such as !!python/object/apply:... must not be silently dropped
        raise yaml.constructor.ConstructorError(None, None, f"could not determine a constructor for the tag {node.tag!r}",
                                                node.start_mark)
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        seen: dict[Any, int] = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                problems.append(Problem(loc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                        dotted(path), "mapping keys must be plain scalars"))
                continue
            if key in seen:
                problems.append(Problem(loc.file, key_node.start_mark.line + 1, key_node.start_mark.column + 1,
                                        dotted(path + (key,)),
                                        f"duplicate key {key!r} (first defined on line {seen[key]})"))
                continue
            seen[key] = key_node.start_mark.line + 1
            out[key] = _build(value_node, path + (key,), loc, loader, problems)
            # errors about an entry point at its key, which is where a reader looks
            loc.positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(child, path + (i,), loc, loader, problems) for i, child in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _count_aliases(text: str) -> int:
    return sum(1 for tok in yaml.scan(text, Loader=yaml.SafeLoader) if isinstance(tok, yaml.AliasToken))


def parse_yaml(text: str, file: str) -> Located:
    """Parse YAML text safely into data with positions; raise ManifestError on any problem."""
    if len(text.encode("utf-8", "replace")) > MAX_MANIFEST_BYTES:
        raise ManifestError([Problem(file, 1, 1, "", f"manifest is larger than {MAX_MANIFEST_BYTES:,} bytes")])
    loc = Located(file=file, data=None)
    try:
        if _count_aliases(text) > MAX_ALIASES:
            raise ManifestError([Problem(file, 1, 1, "", f"more than {MAX_ALIASES} YAML aliases; refusing to expand")])
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            problems: list[Problem] = []
            loc.data = {} if root is None else _build(root, (), loc, loader, problems)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise ManifestError([Problem(file, line, col, "", f"invalid YAML: {msg}")]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Problem(file, 1, 1, "", f"invalid YAML: {exc}")]) from None
    if problems:
        raise ManifestError(problems)
    return loc


def load_yaml(path: Path) -> Located:
    """Read and parse a YAML file with positions."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError([Problem(str(path), 1, 1, "", f"cannot read manifest: {exc.strerror}")]) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError([Problem(str(path), 1, 1, "", f"manifest is larger than {MAX_MANIFEST_BYTES:,} bytes")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError([Problem(str(path), 1, 1, "", f"manifest is not UTF-8: {exc.reason}")]) from None
    return parse_yaml(text, str(path))
