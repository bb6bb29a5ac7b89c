"""The results store: plain JSON-able records, a run cache keyed by everything that determines a run."""

from __future__ import annotations

import hashlib
import json
import math
import platform
from pathlib import Path

import torch

from . import __version__
from .writer import to_json, write_bytes, write_json

SCHEMA = "reportgen.results/1"
# the modules whose code decides a run's numbers; templates, figures and prose do not
_RUN_CODE = ("data.py", "cifar.py", "imagefolder.py", "layers.py", "models.py", "pretrained.py", "train.py", "evaluate.py",
             "measure.py", "runner.py")


def code_version() -> str:
    """Hash of the code that produces run numbers, plus the torch version."""
    h = hashlib.sha256(f"{__version__}|{torch.__version__}".encode())
    for name in _RUN_CODE:
        path = Path(__file__).parent / name
        if path.exists():
            h.update(path.read_bytes())
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


class RunCache:
    """Finished runs on disk: `<dir>/runs/<key>.json` (record) and `<key>.pt` (final weights)."""

    def __init__(self, root: Path):
        self.root = Path(root) / "runs"

    def record_path(self, key: str) -> Path:
        return self.root / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self.record_path(key)
        try:
            record = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return record if record.get("cache_key") == key else None

    def put(self, key: str, record: dict, state_dict: dict | None = None) -> None:
        if state_dict is not None:
            import io
            buf = io.BytesIO()
            torch.save({k: v.detach().cpu() for k, v in state_dict.items()}, buf)
            write_bytes(self.root / f"{key}.pt", buf.getvalue())
        write_json(self.record_path(key), record)

    def weights(self, key: str) -> dict | None:
        path = self.root / f"{key}.pt"
        return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def environment(devices: list[str]) -> dict:
    """Where and with what the numbers were produced."""
    import numpy
    import sklearn
    import torchvision

    env = {
        "reportgen": __version__,
        "code_version": code_version(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "scikit_learn": sklearn.__version__,
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
        "manifest": {"file": loaded.path.name, "stem": loaded.stem},
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
        "environment": environment([r.get("device", "cpu") for r in runs.values()]),
    })


def dumps(results: dict) -> str:
    """results.json text."""
    return to_json(results)
