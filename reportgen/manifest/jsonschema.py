"""The manifest's JSON Schema, as `reportgen schema` prints it."""

from __future__ import annotations

from reportgen.manifest.schema import Manifest


def json_schema() -> dict:
    """JSON Schema (draft 2020-12) of the manifest."""
    schema = Manifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "reportgen manifest"
    return schema
