"""Safe YAML loading that remembers where every value came from."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
import re

import yaml

from reportgen.errors import ManifestError, Problem

MAX_MANIFEST_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_VALUES = 100_000  # values after expanding aliases: a few aliases can still nest exponentially
MAX_DEPTH = 64  # nesting levels: deeper input would exhaust Python's recursion limit in the YAML composer

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
        """A Problem at the position of the key path."""
        line, col = self.where(path)
        return Problem(self.file, line, col, dotted(path), message)


def dotted(path: tuple) -> str:
    """Render a key path as `models.cnn.layers[3].kernel`."""
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        elif not str(seg).isprintable() or not str(seg):  # a key with a line break or control character: quoted
            out += f"[{str(seg)!r}]"
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


def _scalar(node: yaml.Node, path: tuple, loc: Located, loader: _Loader, problems: list[Problem]) -> Any:
    """Construct a scalar (or a key); values YAML's constructors cannot read become located problems."""
    try:
        value = loader.construct_object(node, deep=True)
    except yaml.YAMLError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        # e.g. `2020-13-45` (looks like a date), `!!int abc`, an integer of more than 4,300 digits
        shown = node.value if isinstance(node.value, str) else ""
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        detail = "" if not isinstance(exc, (ValueError, OverflowError)) else \
            ": more than 4,300 digits" if "integer string conversion" in str(exc) else f": {exc}"
        problems.append(Problem(loc.file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path),
                                f"cannot read {shown!r} as {node.tag.rsplit(':', 1)[-1]}{detail}"))
        return None
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # "\ud800": a lone surrogate escape is no character and cannot be written out
            problems.append(Problem(loc.file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path),
                                    "text contains a lone surrogate escape (\\uD800-\\uDFFF), "
                                    "which is not a character"))
            return None
    return value


def _build(node: yaml.Node, path: tuple, loc: Located, loader: _Loader, problems: list[Problem],
           ancestors: set[int]) -> Any:
    """A node's Python value, recording its position; refuses too many values, recursive aliases, deep nesting."""
    loc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if len(loc.positions) > MAX_VALUES:
        raise ManifestError([Problem(loc.file, 1, 1, "", f"YAML aliases expand to more than {MAX_VALUES:,} values; refusing to expand")])
    if id(node) in ancestors:  # `a: &x [*x]`: an alias inside its own anchor
        raise ManifestError([Problem(loc.file, node.start_mark.line + 1, node.start_mark.column + 1, dotted(path),
                                     "a YAML alias refers to a value that contains it (recursive alias)")])
    if len(path) > MAX_DEPTH:
        raise ManifestError([Problem(loc.file, node.start_mark.line + 1, node.start_mark.column + 1,
                                     dotted(path[:3]) + "...", f"values are nested more than {MAX_DEPTH} levels deep")])
    if isinstance(node, yaml.CollectionNode) and node.tag not in ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
        # only plain mappings and lists: a tag such as !!python/object/apply:... must not be silently dropped
        raise yaml.constructor.ConstructorError(None, None, f"could not determine a constructor for the tag {node.tag!r}",
                                                node.start_mark)
    if not isinstance(node, yaml.CollectionNode):
        return _scalar(node, path, loc, loader, problems)
    ancestors.add(id(node))
    try:
        return _build_collection(node, path, loc, loader, problems, ancestors)
    finally:
        ancestors.discard(id(node))


def _build_collection(node: yaml.CollectionNode, path: tuple, loc: Located, loader: _Loader, problems: list[Problem],
                      ancestors: set[int]) -> Any:
    """A mapping's or list's Python value, its items built recursively; bad or duplicate keys become problems."""
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        seen: dict[Any, int] = {}
        loader.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = _scalar(key_node, path, loc, loader, problems)
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
            out[key] = _build(value_node, path + (key,), loc, loader, problems, ancestors)
            # errors about an entry point at its key, which is where a reader looks
            loc.positions[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    return [_build(child, path + (i,), loc, loader, problems, ancestors) for i, child in enumerate(node.value)]


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    """How many values a node stands for once every alias is expanded, counted on the shared node graph."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active or not isinstance(node, yaml.CollectionNode):
        return 1  # a scalar, or a recursive alias (which _build reports)
    children = [v for _, v in node.value] if isinstance(node, yaml.MappingNode) else node.value
    active.add(key)
    memo[key] = total = 1 + sum(_expanded_size(child, memo, active) for child in children)
    active.discard(key)
    return total


_OPEN = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
         yaml.FlowSequenceStartToken)
_CLOSE = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)


def _check_tokens(text: str, file: str) -> None:
    """Refuse too many aliases and too deep nesting before the (recursive) composer sees the text."""
    aliases = depth = 0
    for tok in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(tok, yaml.AliasToken):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ManifestError([Problem(file, 1, 1, "", f"more than {MAX_ALIASES} YAML aliases; "
                                             "refusing to expand")])
        elif isinstance(tok, _OPEN):
            depth += 1
            if depth > MAX_DEPTH:
                raise ManifestError([Problem(file, tok.start_mark.line + 1, tok.start_mark.column + 1, "",
                                             f"values are nested more than {MAX_DEPTH} levels deep")])
        elif isinstance(tok, _CLOSE):
            depth -= 1


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def explain(exc: yaml.MarkedYAMLError, text: str, file: str) -> Problem:
    """A YAML syntax error in plain words, at file:line:column, with the line and a caret under the column."""
    mark = exc.problem_mark or exc.context_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    raw = " ".join(str(x) for x in (exc.context, exc.problem) if x)
    lines = text.splitlines()
    here = lines[line - 1] if 0 < line <= len(lines) else ""
    above = next((ln for ln in reversed(lines[:line - 1]) if ln.strip() and not ln.lstrip().startswith("#")), "")
    problem = str(exc.problem or "")
    if "\t" in problem or "'\\t'" in problem:
        plain = "a tab character: YAML indents with spaces only"
    elif problem.startswith("mapping values are not allowed") and here.strip() and _indent(here) > _indent(above) \
            and not above.rstrip().endswith(":") and ":" in above:
        col = _indent(here) + 1
        plain = (f"bad indentation: a key at column {col} where the mapping above starts at column "
                 f"{_indent(above) + 1}")
    elif problem.startswith("mapping values are not allowed"):
        plain = "a value cannot start here; check the indentation or quote the text (a ': ' inside a value needs quotes)"
    elif "expected <block end>" in problem or "did not find expected key" in problem or \
            "did not find expected '-' indicator" in problem:
        start = _indent(here)
        col = start + 1
        plain = (f"bad indentation: a key at column {col} where the mapping above starts at column "
                 f"{_indent(above) + 1}" if start != _indent(above) else
                 "bad indentation: this line does not line up with the keys or list items above it")
    elif "could not find expected ':'" in problem:
        plain = "a key without its ':' (or a value that runs on to the next line; quote it)"
    elif "found undefined alias" in problem:
        plain = "an alias (*name) with no anchor (&name) before it"
    elif "expected ',' or ']'" in problem or "expected ',' or '}'" in problem:
        plain = "a [list] or {mapping} that is not closed, or items without a ',' between them"
    elif "found unexpected end of stream" in problem or "found unexpected end" in problem:
        plain = "a quoted text that is never closed"
    elif "could not determine a constructor" in problem:
        plain = "a YAML tag that is not allowed (only plain values, lists and mappings are read)"
    else:
        plain = "the YAML cannot be read here"
    where = f"\n      {here}\n      {' ' * (col - 1)}^" if here.strip() else ""
    return Problem(file, line, col, "", f"invalid YAML: {plain} (YAML: {raw}){where}")


def parse_yaml(text: str, file: str) -> Located:
    """Parse YAML text safely into data with positions; raise ManifestError on any problem."""
    if len(text.encode("utf-8", "replace")) > MAX_MANIFEST_BYTES:
        raise ManifestError([Problem(file, 1, 1, "", f"manifest is larger than {MAX_MANIFEST_BYTES:,} bytes")])
    loc = Located(file=file, data=None)
    try:
        _check_tokens(text, file)
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            problems: list[Problem] = []
            if root is not None and _expanded_size(root, {}, set()) > MAX_VALUES:
                raise ManifestError([Problem(file, 1, 1, "", f"YAML aliases expand to more than {MAX_VALUES:,} values; "
                                             "refusing to expand")])
            loc.data = {} if root is None else _build(root, (), loc, loader, problems, set())
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        raise ManifestError([explain(exc, text, file)]) from None
    except yaml.YAMLError as exc:
        raise ManifestError([Problem(file, 1, 1, "", f"invalid YAML: {exc}")]) from None
    except RecursionError:  # a last resort: the token check above keeps real manifests far from the limit
        raise ManifestError([Problem(file, 1, 1, "", "values are nested too deeply")]) from None
    if problems:
        raise ManifestError(problems)
    return loc


def read_yaml_text(path: Path, noun: str) -> str:
    """The text of a YAML file a user names ("manifest", "the rubric"): a regular file of at most
    MAX_MANIFEST_BYTES of UTF-8; otherwise a Problem at 1:1 saying why, raised as ValueError's argument."""
    try:
        # opened without blocking and read only when a regular file: a FIFO would wait forever, /dev/zero never end
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise ValueError(Problem(str(path), 1, 1, "", f"{noun} is not a regular file"))
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise ValueError(Problem(str(path), 1, 1, "", f"cannot read {noun}: {exc.strerror}")) from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ValueError(Problem(str(path), 1, 1, "", f"{noun} is larger than {MAX_MANIFEST_BYTES:,} bytes"))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(Problem(str(path), 1, 1, "", f"{noun} is not UTF-8: {exc.reason}")) from None


def load_yaml(path: Path) -> Located:
    """Read and parse a YAML file with positions."""
    try:
        text = read_yaml_text(path, "manifest")
    except ValueError as exc:
        raise ManifestError([exc.args[0]]) from None
    return parse_yaml(text, str(path))
