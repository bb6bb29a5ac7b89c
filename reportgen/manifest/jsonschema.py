"""The manifest's JSON Schema, as `reportgen schema` prints it: every section kind's options typed too."""

from __future__ import annotations

from pydantic.json_schema import models_json_schema

from reportgen.manifest.schema import Manifest
from reportgen.manifest.sections import SECTION_KINDS


def section_items() -> tuple[dict, dict]:
    """(schema of one `sections:` item, the $defs it refers to): a bare kind, or `kind: {options}` whose options
    are the kind's own typed object (no other keys)."""
    classes = list(dict.fromkeys(SECTION_KINDS.values()))
    refs, defs = models_json_schema([(cls, "validation") for cls in classes], ref_template="#/$defs/{model}")
    items = [{"enum": list(SECTION_KINDS), "type": "string", "description": "a section with its default options"}]
    for kind, cls in SECTION_KINDS.items():
        options = refs[(cls, "validation")]
        items.append({"type": "object", "title": kind, "description": (cls.__doc__ or f"the {kind} section").strip(),
                      "properties": {kind: {"anyOf": [options, {"type": "null"}]}},
                      "required": [kind], "additionalProperties": False})
    return {"oneOf": items}, defs.get("$defs", {})


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the manifest."""
    schema = Manifest.model_json_schema()
    items, defs = section_items()
    schema["properties"]["sections"]["items"] = items
    schema.setdefault("$defs", {}).update(defs)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reportgen manifest"
    return schema
