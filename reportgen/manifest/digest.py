"""What in a manifest decides a run's numbers, hashed: the key that ties results to the manifest they came from."""

from __future__ import annotations

import hashlib
import json


def run_digest(run, smoke: bool, parent_digest: str | None = None) -> str:
    """SHA-256 of a run's settings, layers, dataset, network and parent as the manifest declares them."""
    # no data fingerprint and no code version: those join the cache key on the run side; render needs neither
    material = {
        "model": run.model, "train": run.train.model_dump(mode="json"), "layers": run.layers,
        "dataset": run.dataset.model_dump(mode="json"), "smoke": smoke, "parent": parent_digest,
        "network": run.network.model_dump(mode="json", by_alias=True) if run.network else None,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()


def run_digests(loaded, smoke: bool) -> dict[str, str]:
    """run id → run_digest for every run of the manifest, parents hashed into their children."""
    by_group = {r.group: r for r in loaded.runs}
    digests: dict[str, str] = {}

    def digest(run, depth: int = 0) -> str:
        """The run's digest, its parent's first."""
        if run.id not in digests:
            parent = by_group.get(run.parent) if run.parent and depth <= len(loaded.runs) else None
            digests[run.id] = run_digest(run, smoke, digest(parent, depth + 1) if parent is not None else None)
        return digests[run.id]

    for run in loaded.runs:
        digest(run)
    return digests
