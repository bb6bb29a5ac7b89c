"""Sphinx extension: the manifest and results.json reference pages, written from reportgen's JSON Schemas at build time."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

MAP_KEY = "NAME"  # how a path names a key the user chooses (models.NAME, runs.NAME)


def map_values(node: dict) -> dict | None:
    """The schema of a map's values: its additionalProperties, or its one patternProperties entry (named keys)."""
    if isinstance(node.get("additionalProperties"), dict):
        return node["additionalProperties"]
    patterns = list((node.get("patternProperties") or {}).values())
    return patterns[0] if len(patterns) == 1 and isinstance(patterns[0], dict) else None


def manifest_schema() -> dict:
    """The manifest's JSON Schema, as `reportgen schema` prints it."""
    from reportgen.manifest.jsonschema import json_schema
    return json_schema()


def results_schema() -> dict:
    """results.json's JSON Schema, as `reportgen schema --results` prints it."""
    from reportgen.results.record import json_schema
    return json.loads(json_schema())


def cell(text: str) -> str:
    """Text made safe for one cell of a Markdown table."""
    return " ".join(str(text).split()).replace("|", "\\|")


def counted(n: int, one: str, many: str) -> str:
    """A count with its noun: 1 item, 2 items."""
    return f"{n} {one if n == 1 else many}"


def code(value: object) -> str:
    """A value as inline code: strings as written, everything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return f"`{text}`"


class SchemaReference:
    """Markdown of one JSON Schema: a table per object and per choice of kinds, in the order a reader meets them."""

    def __init__(self, schema: dict, prefix: str):
        self.schema, self.prefix, self.defs = schema, prefix, schema.get("$defs", {})
        self.def_paths: dict[str, list[str]] = {}  # def name -> every path it is used at, first one first
        self.union_paths: dict[str, str] = {}  # a kind union's members (canonical JSON) -> the path it is described at
        self.order: list[tuple[str, str]] = []  # ("def" | "union", name or canonical members), in reading order
        for key, node in schema.get("properties", {}).items():
            self.collect(node, key)

    def resolve(self, node: dict) -> tuple[str | None, dict]:
        """(def name or None, the schema itself) of a node that may be a $ref."""
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return name, self.defs[name]
        return None, node

    def wrapper(self, node: dict) -> tuple[str, dict, str] | None:
        """(kind, its value's schema, description) when the node is a one-key object `kind: value`, else None."""
        _, target = self.resolve(node)
        props = target.get("properties", {})
        if target.get("type") == "object" and len(props) == 1 and target.get("required") == list(props):
            kind, value = next(iter(props.items()))
            return kind, value, node.get("description") or value.get("description") or target.get("description", "")
        return None

    def kind_union(self, node: dict) -> list[dict] | None:
        """The members of a choice of two or more `kind: value` objects (with bare names beside them), else None."""
        members = node.get("oneOf") or node.get("anyOf") or []
        return members if sum(self.wrapper(m) is not None for m in members) >= 2 else None

    def is_object(self, name: str) -> bool:
        """Whether a def gets a table of its own: an object with keys, unless it is a bare `kind: value` wrapper."""
        target = self.defs[name]
        found = self.wrapper({"$ref": f"#/$defs/{name}"})
        return bool(target.get("properties")) and (found is None or bool(found[2]))

    def collect(self, node: dict, path: str) -> None:
        """Record, depth first, every object def and kind union reachable from a node at a path."""
        union = self.kind_union(node)
        if union is not None:
            key = json.dumps(union, sort_keys=True)
            if key in self.union_paths:
                return
            self.union_paths[key] = path
            self.order.append(("union", key))
            for member in union:
                found = self.wrapper(member)
                if found:
                    self.collect(found[1], f"{path}.{found[0]}")
            return
        name, target = self.resolve(node)
        if name is not None and self.is_object(name):
            seen = name in self.def_paths
            self.def_paths.setdefault(name, []).append(path)
            if seen:
                return
            self.order.append(("def", name))
        if name is not None and not self.is_object(name):
            found = self.wrapper(node)
            if found:
                self.collect(found[1], f"{path}.{found[0]}")
            return
        for member in target.get("anyOf", []) + target.get("oneOf", []) + target.get("prefixItems", []):
            self.collect(member, path)
        if isinstance(target.get("items"), dict):
            self.collect(target["items"], f"{path}[]")
        if map_values(target) is not None:
            self.collect(map_values(target), f"{path}.{MAP_KEY}")
        for key, prop in target.get("properties", {}).items():
            self.collect(prop, f"{path}.{key}")

    def label(self, kind: str, name: str) -> str:
        """The Sphinx label of a def's or a kind union's section."""
        text = name if kind == "def" else self.union_paths[name]
        return f"{self.prefix}-{kind}-" + re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")

    def title(self, kind: str, name: str) -> str:
        """A section's heading text: the path it is first met at, with the def's name where two defs share it."""
        if kind == "union":
            return self.union_paths[name]
        path = self.def_paths[name][0]
        shared = [other for other, paths in self.def_paths.items() if paths[0] == path]
        return f"{path} ({name})" if len(shared) > 1 else path

    def link(self, kind: str, name: str) -> str:
        """A cross-reference to a def's or a kind union's section."""
        return f"{{ref}}`{self.title(kind, name)} <{self.label(kind, name)}>`"

    def type_text(self, node: dict) -> str:
        """A node's type in words: scalars with their limits, lists, maps, choices and links to object tables."""
        union = self.kind_union(node)
        if union is not None:
            return self.link("union", json.dumps(union, sort_keys=True))
        name, target = self.resolve(node)
        if name is not None:
            if self.is_object(name):
                return self.link("def", name)
            if not target:
                return "any JSON value"
            found = self.wrapper(node)
            if found:
                return f"`{found[0]}:` {self.type_text(found[1])}"
        choices = target.get("anyOf") or target.get("oneOf")
        if choices:
            return " or ".join(self.type_text(choice) for choice in choices)
        if "const" in target:
            return code(target["const"])
        if "enum" in target:
            return "one of " + ", ".join(code(value) for value in target["enum"])
        kind = target.get("type")
        if kind == "array":
            if "prefixItems" in target:
                return "[" + ", ".join(self.type_text(item) for item in target["prefixItems"]) + "]"
            items = target.get("items")
            text = f"list of {self.type_text(items)}" if items else "list"
            return text + self.limits(target)
        if kind == "object":
            extra = map_values(target)
            if extra is not None:
                names = next(iter(target.get("patternProperties") or {}), None)
                named = f" (`{MAP_KEY}` matching `{names}`)" if names else ""
                return f"map of `{MAP_KEY}` → {self.type_text(extra)}{named}" + self.limits(target)
            return "mapping"
        if kind is None:
            return "any JSON value"
        return code(kind) + self.limits(target)

    @staticmethod
    def limits(node: dict) -> str:
        """A node's bounds in words: ranges, lengths, item counts and patterns."""
        words = []
        for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
            if key in node:
                words.append(f"{sign} {node[key]}")
        if node.get("minItems") is not None and node.get("minItems") == node.get("maxItems"):
            words.append(counted(node["minItems"], "item", "items"))
        else:
            if "minItems" in node:
                words.append("at least " + counted(node["minItems"], "item", "items"))
            if "maxItems" in node:
                words.append("at most " + counted(node["maxItems"], "item", "items"))
        if "minProperties" in node:
            words.append("at least " + counted(node["minProperties"], "entry", "entries"))
        if "maxLength" in node:
            words.append(f"at most {node['maxLength']} characters")
        if "pattern" in node:
            words.append(f"matching `{node['pattern']}`")
        return f" ({', '.join(words)})" if words else ""

    @staticmethod
    def description(node: dict) -> str:
        """A node's description, or that of the first choice that has one."""
        if node.get("description"):
            return node["description"]
        return next((choice["description"] for choice in node.get("anyOf", []) + node.get("oneOf", [])
                     if choice.get("description")), "")

    def table(self, target: dict) -> Iterator[str]:
        """The key table of an object: key, type, default (or required) and description."""
        required = set(target.get("required", []))
        yield "| Key | Type | Default | Description |"
        yield "|---|---|---|---|"
        for key, prop in target.get("properties", {}).items():
            default = "required" if key in required else code(prop["default"]) if "default" in prop else ""
            yield (f"| `{key}` | {cell(self.type_text(prop))} | {cell(default)} | {cell(self.description(prop))} |")

    def union_section(self, key: str) -> Iterator[str]:
        """A kind union's section: the bare names it takes and a row per `kind: value`."""
        members = json.loads(key)
        bare = [value for m in members if "enum" in m for value in m["enum"]]
        yield "Written as `kind: value`, one of the rows below" + (
            ", or as a bare name with its defaults: " + ", ".join(code(value) for value in bare) + "." if bare else ".")
        yield ""
        yield "| Kind | Value | Description |"
        yield "|---|---|---|"
        for member in members:
            found = self.wrapper(member)
            if found:
                kind, value, text = found
                yield f"| `{kind}` | {cell(self.type_text(value))} | {cell(text)} |"

    def markdown(self) -> str:
        """The whole reference: the root's keys, then a section per object def and kind union."""
        lines = [self.description(self.schema), "", *self.table(self.schema)] if self.description(self.schema) \
            else list(self.table(self.schema))
        for kind, name in self.order:
            lines += ["", f"({self.label(kind, name)})=", f"## `{self.title(kind, name)}`", ""]
            if kind == "union":
                lines += list(self.union_section(name))
                continue
            target = self.defs[name]
            if target.get("description"):
                lines += [" ".join(target["description"].split()), ""]
            others = [path for path in self.def_paths[name] if path != self.def_paths[name][0]]
            if others:
                lines += ["Also at " + ", ".join(f"`{path}`" for path in dict.fromkeys(others)) + ".", ""]
            lines += list(self.table(target))
        return "\n".join(lines) + "\n"

    def undescribed(self) -> list[str]:
        """Paths of the keys whose schema carries no description, in reading order."""
        found = [key for key, prop in self.schema.get("properties", {}).items() if not self.description(prop)]
        for kind, name in self.order:
            if kind == "def":
                found += [f"{self.title(kind, name)}.{key}" for key, prop in self.defs[name]["properties"].items()
                          if not self.description(prop)]
        return found


def manifest_reference() -> str:
    """Markdown of every manifest key, from the manifest's schema."""
    return SchemaReference(manifest_schema(), "manifest").markdown()


def results_reference() -> str:
    """Markdown of every results.json field, from the results schema."""
    return SchemaReference(results_schema(), "results").markdown()


GENERATED: dict[str, Callable[[], str]] = {"reference/manifest": manifest_reference, "reference/results": results_reference}


def append_generated(app, docname: str, source: list[str]) -> None:
    """Sphinx `source-read`: append a reference page's generated tables to its written introduction."""
    if docname in GENERATED:
        source[0] = source[0].rstrip("\n") + "\n\n" + GENERATED[docname]()


def always_outdated(app, env, added, changed, removed) -> list[str]:
    """Sphinx `env-get-outdated`: re-read the generated pages on every build, since the schema may have changed."""
    return [name for name in GENERATED if name in env.found_docs]


def setup(app) -> dict:
    """Register the source hook that writes the reference pages."""
    app.connect("source-read", append_generated)
    app.connect("env-get-outdated", always_outdated)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
