"""What in a manifest decides a run's numbers, hashed: the key that ties results to the manifest they came from."""

from __future__ import annotations

from pathlib import Path

from reportgen.hashing import file_digest, json_digest


def module_file_sha256(base_dir: Path, network) -> str | None:
    """SHA-256 of a `module:` model's file (None for other models; "missing" when the file is not there)."""
    if network is None or network.source != "module":
        return None
    try:
        return file_digest(Path(base_dir) / network.module_parts()[0])
    except OSError:
        return "missing"


def _network(network) -> dict | None:
    """The network's spec as data; without the `module:` keys when unset, so other networks hash as they always did."""
    if network is None:
        return None
    data = network.model_dump(mode="json", by_alias=True)
    for key in ("module", "args"):
        if data.get(key) is None:
            data.pop(key, None)
    return data


def _train(train) -> dict:
    """The training settings as data, without `cache_features`: it changes how a run computes, not its numbers
    (beyond floating-point rounding); the run side keys it where it applies (reportgen.run.features.key_material)."""
    data = train.model_dump(mode="json")
    data.pop("cache_features", None)
    return data


def run_digest(run, smoke: bool, parent_digest: str | None = None, module_sha256: str | None = None) -> str:
    """SHA-256 of a run's settings, layers, dataset, network (or module file) and parent as the manifest declares them."""
    # no data fingerprint and no code version: those join the cache key on the run side; render needs neither
    material = {
        "model": run.model, "train": _train(run.train), "layers": run.layers,
        "dataset": run.dataset.model_dump(mode="json"), "smoke": smoke, "parent": parent_digest,
        "network": _network(run.network),
    }
    if module_sha256 is not None:  # editing the module's file retrains it
        material["module_file"] = module_sha256
    return json_digest(material)


def run_digests(loaded, smoke: bool) -> dict[str, str]:
    """run id → run_digest for every run of the manifest, parents hashed into their children."""
    by_group = {r.group: r for r in loaded.runs}
    digests: dict[str, str] = {}

    def digest(run, depth: int = 0) -> str:
        """The run's digest, its parent's first."""
        if run.id not in digests:
            parent = by_group.get(run.parent) if run.parent and depth <= len(loaded.runs) else None
            digests[run.id] = run_digest(run, smoke, digest(parent, depth + 1) if parent is not None else None,
                                         module_file_sha256(loaded.base_dir, run.network))
        return digests[run.id]

    for run in loaded.runs:
        digest(run)
    return digests
