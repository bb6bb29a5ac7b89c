"""The results store: plain JSON-able records, a run cache keyed by everything that determines a run."""

from __future__ import annotations

import hashlib
import io
import json
import math
import platform
from pathlib import Path

import torch

from reportgen import __version__
from reportgen.run.checkpoint import remove as remove_checkpoint
from reportgen.sourcehash import source_digest
from reportgen.writer import to_json, write_bytes, write_json

SCHEMA = "reportgen.results/1"
_INTEGRITY = "integrity"  # the cache record's field holding its checksums; never part of the record itself
RUN_CODE = ("data", "models", "run")  # the packages whose source decides a run's numbers; the report side does not


def code_version() -> str:
    """Hash of the code that produces run numbers, plus the torch version."""
    h = hashlib.sha256(f"{__version__}|{torch.__version__}|{source_digest(*RUN_CODE)}".encode())
    return h.hexdigest()[:16]


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


def _record_digest(record: dict) -> str:
    """SHA-256 of a record's canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RunCache:
    """Finished runs on disk: `<dir>/runs/<key>.json` (record) and `<key>.pt` (final weights), both checksummed;
    unfinished ones as `<dir>/partial/<key>.pt` (see reportgen.checkpoint)."""

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

    def put(self, key: str, record: dict, state_dict: dict | None = None) -> None:
        """Write weights, then the record that vouches for them (so a kill in between leaves no entry),
        then drop the run's partial checkpoint."""
        record = json.loads(to_json(record))
        sums = {"record": _record_digest(record), "weights": None}
        if state_dict is not None:
            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
            sums["weights"] = hashlib.sha256(buf.getvalue()).hexdigest()
            write_bytes(self.weights_path(key), buf.getvalue())
        write_json(self.record_path(key), {**record, _INTEGRITY: sums})
        remove_checkpoint(self.partial_path(key))

    def discard(self, key: str) -> None:
        """Delete an entry (a corrupt one, before it is recomputed)."""
        self.record_path(key).unlink(missing_ok=True)
        self.weights_path(key).unlink(missing_ok=True)

    def weights(self, key: str) -> dict | None:
        """The run's final weights, None when absent or when they fail the record's checksum."""
        try:
            sums = json.loads(self.record_path(key).read_text("utf-8")).get(_INTEGRITY) or {}
            data = self.weights_path(key).read_bytes()
        except (OSError, ValueError, AttributeError):
            return None
        if hashlib.sha256(data).hexdigest() != sums.get("weights"):
            return None
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def environment(devices: list[str]) -> dict:
    """Where and with what the numbers were produced."""
    from importlib.metadata import version  # not importing torchvision and sklearn saves seconds per render

    env = {
        "reportgen": __version__,
        "code_version": code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "numpy": version("numpy"),
        "scikit_learn": version("scikit-learn"),
        "cpu_threads": torch.get_num_threads(),
        "devices": sorted(set(devices)),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    env["device"] = ", ".join(env["devices"]) if env["devices"] else "cpu"
    return env


def assemble(loaded, splits, models: dict, runs: dict, smoke: bool) -> dict:
    """Gather every number the report shows into one JSON-able record."""
    manifest = loaded.manifest
    return finite({
        "schema": SCHEMA,
        "smoke": smoke,
        "manifest": {"file": loaded.path.name, "stem": loaded.stem,
                     "sha256": hashlib.sha256(loaded.path.read_bytes()).hexdigest()},
        "report": manifest.report.model_dump(),
        "dataset": {
            "name": splits.name, "source": splits.source, "classes": list(splits.classes),
            "sizes": splits.sizes(), "input_shape": list(manifest.dataset.input_shape()),
            "synthetic": splits.synthetic, "fingerprint": splits.fingerprint(),
            "mean": list(splits.mean), "std": list(splits.std), "normalized": manifest.dataset.normalize,
            "seed": manifest.dataset.seed,
        },
        "models": models,
        "runs": runs,
        "run_order": list(runs),  # results.json sorts keys; this keeps the manifest's order
        "environment": environment([r.get("device") or "cpu" for r in runs.values()]),  # a run never started has none
    })


def dumps(results: dict) -> str:
    """results.json text."""
    return to_json(results)
