"""The one cache helper: a folder of JSON records, each optionally with bytes beside it, written atomically with
their key and checksums; a missing entry is a miss, and so is a corrupt one, which also says why."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from reportgen.hashing import digest, json_digest
from reportgen.writer import to_json, write_bytes, write_json

INTEGRITY = "integrity"  # the stored record's field holding its key and checksums; never part of the record itself


class JsonCache:
    """Entries by key: the record in `<folder>/<key>.json`, its bytes (if any) in `<folder>/<key><blob_suffix>`."""

    def __init__(self, folder: Path, blob_suffix: str = ".bin", blob_name: str = "bytes"):
        self.folder = Path(folder)
        self.blob_suffix = blob_suffix
        self.blob_name = blob_name  # what the bytes are, as the reasons for a miss name them ("weights")

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def blob_path(self, key: str) -> Path:
        return self.folder / f"{key}{self.blob_suffix}"

    def lookup(self, key: str) -> tuple[dict | None, str | None]:
        """(record, None) for a sound entry, (None, None) for none, (None, why) for a corrupt one."""
        record, checksum, why = self._read(key)
        if record is None or checksum is None:
            return record, why
        data, why = self._read_blob(key, checksum)
        return (record, None) if data is not None else (None, why)

    def get(self, key: str) -> dict | None:
        """The record of a sound entry, else None."""
        return self.lookup(key)[0]

    def blob(self, key: str) -> bytes | None:
        """The entry's bytes, None when it has none or they or its record fail their checksums."""
        record, checksum, _ = self._read(key)
        return self._read_blob(key, checksum)[0] if record is not None and checksum is not None else None

    def put(self, key: str, record: dict, blob: bytes | None = None) -> dict:
        """Store an entry (the bytes first, then the record that vouches for them, so a kill in between leaves no sound
        entry); returns the record as a lookup reads it back."""
        record = json.loads(to_json(record))
        if INTEGRITY in record:
            raise ValueError(f"a cached record cannot hold a field named {INTEGRITY!r}")
        sums = {"key": key, "record": json_digest(record), "bytes": None if blob is None else digest(blob)}
        if blob is not None:
            write_bytes(self.blob_path(key), blob)
        write_json(self.path(key), {**record, INTEGRITY: sums})
        return record

    def get_or_compute(self, key: str, compute: Callable[[], dict]) -> dict:
        """The record of a sound entry; else compute() stored (over a corrupt entry) and returned as read back."""
        record = self.get(key)
        return record if record is not None else self.put(key, compute())

    def discard(self, key: str) -> None:
        """Delete an entry (a corrupt one, before it is recomputed)."""
        self.path(key).unlink(missing_ok=True)
        self.blob_path(key).unlink(missing_ok=True)

    def _read(self, key: str) -> tuple[dict | None, str | None, str | None]:
        """(record, its bytes' checksum or None, None) when the record checks out; else (None, None, why or None)."""
        try:
            text = self.path(key).read_text("utf-8")
        except FileNotFoundError:
            return None, None, None
        except (OSError, UnicodeDecodeError):
            return None, None, "record is unreadable"
        try:
            record = json.loads(text)
        except ValueError:
            return None, None, "record is not valid JSON"
        sums = record.pop(INTEGRITY, None) if isinstance(record, dict) else None
        if not isinstance(sums, dict):
            return None, None, "record has no checksum"
        if sums.get("record") != json_digest(record):
            return None, None, "record fails its sha256 check"
        if sums.get("key") != key:
            return None, None, "record belongs to another cache key"
        return record, sums.get("bytes"), None

    def _read_blob(self, key: str, checksum: str) -> tuple[bytes | None, str | None]:
        """(the entry's bytes, None) when they match the checksum, else (None, why)."""
        try:
            data = self.blob_path(key).read_bytes()
        except OSError:
            return None, f"{self.blob_name} file is missing"
        if digest(data) != checksum:
            return None, f"{self.blob_name} fail their sha256 check"
        return data, None
