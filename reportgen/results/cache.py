"""The run cache: finished runs as checksummed JSON records beside their weights' bytes; no torch here."""

from __future__ import annotations

from pathlib import Path

from reportgen.caching import JsonCache


class RunCache:
    """Finished runs on disk: `<dir>/runs/<key>.json` (record) and `<key>.pt` (final weights), both checksummed;
    unfinished ones as `<dir>/partial/<key>.pt` (see reportgen.run.checkpoint)."""

    def __init__(self, root: Path):
        self.root = Path(root) / "runs"
        self.partial_root = Path(root) / "partial"
        self._entries = JsonCache(self.root, blob_suffix=".pt", blob_name="weights")

    def record_path(self, key: str) -> Path:
        return self._entries.path(key)

    def weights_path(self, key: str) -> Path:
        return self._entries.blob_path(key)

    def partial_path(self, key: str) -> Path:
        return self.partial_root / f"{key}.pt"

    def lookup(self, key: str) -> tuple[dict | None, str | None]:
        """(record, None) for a sound entry, (None, None) for none, (None, why) for a corrupt one."""
        return self._entries.lookup(key)

    def get(self, key: str) -> dict | None:
        return self._entries.get(key)

    def put(self, key: str, record: dict, weights: bytes | None = None) -> None:
        """Write the weights (as the run side serialised them), then the record that vouches for them, so a kill
        in between leaves no entry."""
        self._entries.put(key, record, weights)

    def discard(self, key: str) -> None:
        """Delete an entry (a corrupt one, before it is recomputed)."""
        self._entries.discard(key)

    def weights(self, key: str) -> bytes | None:
        """The run's final weights as saved, None when absent or when they fail the record's checksum."""
        return self._entries.blob(key)
