"""The run cache: finished runs as checksummed JSON records beside their weights' bytes; no torch here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from reportgen.writer import to_json, write_bytes, write_json

_INTEGRITY = "integrity"  # the cache record's field holding its checksums; never part of the record itself


def _record_digest(record: dict) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RunCache:
    """Finished runs on disk: `<dir>/runs/<key>.json` (record) and `<key>.pt` (final weights), both checksummed;
    unfinished ones as `<dir>/partial/<key>.pt` (see reportgen.run.checkpoint)."""

    def __init__(self, root: Path):
        self.root = Path(root) / "runs"
        self.partial_root = Path(root) / "partial"

    def record_path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def weights_path(self, key: str) -> Path:
        return self.root / f"{key}.pt"

    def partial_path(self, key: str) -> Path:
        return self.partial_root / f"{key}.pt"

    def lookup(self, key: str) -> tuple[dict | None, str | None]:
        """(record, None) for a sound entry, (None, None) for none, (None, why) for a corrupt one."""
        try:
            text = self.record_path(key).read_text("utf-8")
        except FileNotFoundError:
            return None, None
        except (OSError, UnicodeDecodeError):
            return None, "record is unreadable"
        try:
            record = json.loads(text)
        except ValueError:
            return None, "record is not valid JSON"
        sums = record.pop(_INTEGRITY, None) if isinstance(record, dict) else None
        if not isinstance(sums, dict):
            return None, "record has no checksum"
        if sums.get("record") != _record_digest(record):
            return None, "record fails its sha256 check"
        if record.get("cache_key") != key:
            return None, "record belongs to another cache key"
        if sums.get("weights") is not None:
            try:
                data = self.weights_path(key).read_bytes()
            except OSError:
                return None, "weights file is missing"
            if hashlib.sha256(data).hexdigest() != sums["weights"]:
                return None, "weights fail their sha256 check"
        return record, None

    def get(self, key: str) -> dict | None:
        return self.lookup(key)[0]

    def put(self, key: str, record: dict, weights: bytes | None = None) -> None:
        """Write the weights (as the run side serialised them), then the record that vouches for them, so a kill
        in between leaves no entry."""
        record = json.loads(to_json(record))
        sums = {"record": _record_digest(record), "weights": None}
        if weights is not None:
            sums["weights"] = hashlib.sha256(weights).hexdigest()
            write_bytes(self.weights_path(key), weights)
        write_json(self.record_path(key), {**record, _INTEGRITY: sums})

    def discard(self, key: str) -> None:
        """Delete an entry (a corrupt one, before it is recomputed)."""
        self.record_path(key).unlink(missing_ok=True)
        self.weights_path(key).unlink(missing_ok=True)

    def weights(self, key: str) -> bytes | None:
        """The run's final weights as saved, None when absent or when they fail the record's checksum."""
        try:
            sums = json.loads(self.record_path(key).read_text("utf-8")).get(_INTEGRITY) or {}
            data = self.weights_path(key).read_bytes()
        except (OSError, ValueError, AttributeError):
            return None
        if hashlib.sha256(data).hexdigest() != sums.get("weights"):
            return None
        return data
