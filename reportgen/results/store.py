"""The results store: results.json, the JSON of the typed results record, read and written; no torch here."""

from __future__ import annotations

import math
from pathlib import Path

from reportgen import strictjson
from reportgen.errors import ResultsMissing, UserError
from reportgen.hashing import cache_key, digest
from reportgen.results.record import SCHEMA, SCHEMA_PREFIX, RecordInvalid, Results, parse_results
from reportgen.writer import to_json


def run_key(material: dict) -> str:
    """Cache key of a run: the cache key of its JSON description."""
    return cache_key(material)


def finite(value):
    """Replace NaN/inf (a diverged run's last loss) with None, recursively, so JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(results: Results | dict) -> str:
    """results.json text of a record (or of its JSON form)."""
    return to_json(results.as_json() if isinstance(results, Results) else results)


class ResultsUnreadable(UserError):
    """A results.json that exists but is not a reportgen results record of this schema."""


def read_results(path: Path) -> Results:
    """The results record in `path`; ResultsMissing when absent or from another version of reportgen,
    ResultsUnreadable when it is not a results record or does not fit the schema (naming where)."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise ResultsMissing(f"no results in {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsUnreadable(f"cannot read {path}: {exc}") from None
    try:
        data = strictjson.loads(text)
    except RecursionError:
        raise ResultsUnreadable(f"{path} nests its JSON too deeply to read") from None
    except ValueError as exc:
        raise ResultsUnreadable(f"{path} is not valid JSON ({exc})") from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not (isinstance(schema, str) and schema.startswith(SCHEMA_PREFIX)):
        raise ResultsUnreadable(f"{path} is not a reportgen results record")
    if schema != SCHEMA:
        raise ResultsMissing(f"{path} was written by another version of reportgen ({schema}, this one reads "
                             f"{SCHEMA})")
    try:
        return parse_results(data)
    except RecordInvalid as exc:
        raise ResultsUnreadable(f"{path} does not fit the results schema: {exc}") from None


def results_digest(results: Results | dict) -> str:
    """The content digest a report carries: sha256 of the record's results.json text (key order and whitespace
    fixed by `dumps`, so a re-serialised copy has the same digest and any edited number a different one)."""
    return "sha256:" + digest(dumps(results))


def recorded_overrides(results: dict) -> list[str]:
    """The --set overrides a build recorded (manifest.overrides) in results.json's parsed JSON; [] when none."""
    found = (results.get("manifest") or {}).get("overrides") if isinstance(results.get("manifest"), dict) else None
    return [str(o) for o in found] if isinstance(found, list) else []
