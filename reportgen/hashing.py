"""The one hashing helper: canonical JSON, SHA-256 digests of bytes, text, JSON and files, and cache keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterable

# Every cache key is this many hex characters of a SHA-256: 128 bits, far beyond any chance of two entries of
# one cache colliding, and short enough for readable file names. One length for all, so no key is cut differently.
KEY_LENGTH = 32
_CHUNK = 1 << 20


def canonical_json(obj) -> str:
    """JSON with sorted keys, json's default separators and ASCII escapes: the text every digest is taken of."""
    # the same text as json.dumps(obj, sort_keys=True): run digests and dataset fingerprints already in results.json
    # files stay valid; no default=str, so material that is not JSON fails loudly instead of hashing a repr
    return json.dumps(obj, sort_keys=True)


def digest(data: bytes | str) -> str:
    """SHA-256 hex of bytes, or of text as UTF-8."""
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


def digest_parts(parts: Iterable[bytes | str]) -> str:
    """SHA-256 hex of the parts one after another (for content too large to join first)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8") if isinstance(part, str) else part)
    return h.hexdigest()


def json_digest(obj) -> str:
    """SHA-256 hex of an object's canonical JSON."""
    return digest(canonical_json(obj))


def file_digest(path: Path) -> str:
    """SHA-256 hex of a file's bytes, read in chunks."""
    with open(path, "rb") as fh:
        return digest_parts(iter(lambda: fh.read(_CHUNK), b""))


def cache_key(material) -> str:
    """The cache key of JSON material: KEY_LENGTH hex characters of its json_digest (key order irrelevant)."""
    return json_digest(material)[:KEY_LENGTH]
