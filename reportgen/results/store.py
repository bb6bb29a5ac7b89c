"""The results store: results.json as plain JSON records of numbers and structured facts; no torch here."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from reportgen.errors import ResultsMissing, UserError
from reportgen.writer import to_json

SCHEMA = "reportgen.results/2"
SCHEMA_PREFIX = "reportgen.results/"


def run_key(material: dict) -> str:
    """Cache key of a run: hash of its canonical JSON description."""
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:24]


def finite(value):
    """Replace NaN/inf (a diverged run's last loss) with None, recursively, so JSON stays valid."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(results: dict) -> str:
    """results.json text."""
    return to_json(results)


def canonical(results: dict) -> dict:
    """The record as results.json reads back (sorted keys, runs in the manifest's order): build renders this, so
    its report is byte for byte the one render makes from the file."""
    results = json.loads(dumps(results))
    order = [rid for rid in results.get("run_order", []) if rid in results["runs"]]
    results["runs"] = {rid: results["runs"][rid] for rid in [*order, *(r for r in results["runs"] if r not in order)]}
    return results


class ResultsUnreadable(UserError):
    """A results.json that exists but is not a reportgen results record of this schema."""


def read_results(path: Path) -> dict:
    """The results record in `path`; ResultsMissing when absent, ResultsUnreadable when it is not one."""
    try:
        text = Path(path).read_text("utf-8")
    except FileNotFoundError:
        raise ResultsMissing(f"no results in {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsUnreadable(f"cannot read {path}: {exc}") from None
    try:
        results = json.loads(text)
    except ValueError as exc:
        raise ResultsUnreadable(f"{path} is not valid JSON ({exc})") from None
    if not (isinstance(results, dict) and isinstance(results.get("runs"), dict)
            and isinstance(results.get("models"), dict) and str(results.get("schema", "")).startswith(SCHEMA_PREFIX)):
        raise ResultsUnreadable(f"{path} is not a reportgen results record")
    if results["schema"] != SCHEMA:
        raise ResultsMissing(f"{path} was written by another version of reportgen ({results['schema']}, "
                             f"this one reads {SCHEMA})")
    return canonical(results)


def results_digest(results: dict) -> str:
    """The content digest a report carries: sha256 of the record's results.json text (key order and whitespace
    fixed by `dumps`, so a re-serialised copy has the same digest and any edited number a different one)."""
    return "sha256:" + hashlib.sha256(dumps(results).encode("utf-8")).hexdigest()


def recorded_overrides(results: dict) -> list[str]:
    """The --set overrides a build recorded (manifest.overrides), as given; [] when it had none."""
    found = (results.get("manifest") or {}).get("overrides") if isinstance(results.get("manifest"), dict) else None
    return [str(o) for o in found] if isinstance(found, list) else []
