"""Gather a build's numbers into the results record: runs, the models they used, the dataset, the environment."""

from __future__ import annotations

from pathlib import Path

from reportgen.data.exploration import explore_cached
from reportgen.manifest.loaded import LoadedManifest
from reportgen.models.build import model_record
from reportgen.results.store import SCHEMA, finite
from reportgen.run.environment import build_environment
from reportgen.run.paired import paired_comparisons


def dataset_record(loaded: LoadedManifest, splits) -> dict:
    """The manifest dataset's facts as loaded: source, classes, split sizes, statistics, fingerprint."""
    spec = loaded.manifest.dataset
    return {"name": splits.name, "source": splits.source, "classes": list(splits.classes), "sizes": splits.sizes(),
            "input_shape": list(spec.input_shape()), "synthetic": splits.synthetic, "fingerprint": splits.fingerprint(),
            "mean": list(splits.mean), "std": list(splits.std), "normalized": spec.normalize, "seed": spec.seed}


def _without_predictions(run: dict) -> dict:
    """A run record as results keep it: its test predictions stay in the run cache."""
    return {k: v for k, v in run.items() if k != "predictions"}


def collect(loaded: LoadedManifest, splits, runs: dict, smoke: bool, cache_dir: Path) -> dict:
    """The results record of a build (without its presentation parts, which build.present adds)."""
    used = list(dict.fromkeys(r["model"] for r in runs.values()))
    paired = paired_comparisons(loaded, runs, cache_dir)
    runs = {rid: _without_predictions(r) for rid, r in runs.items()}
    results = {
        "schema": SCHEMA,
        "smoke": smoke,
        "dataset": dataset_record(loaded, splits),
        "models": {name: model_record(loaded, name) for name in used},
        "runs": runs,
        "run_order": list(runs),  # results.json sorts keys; this keeps the manifest's order
        "paired": paired,
        "environment": build_environment(runs),
    }
    options = next((s.options for s in loaded.sections if s.kind == "dataset"), None)
    if options is not None:  # the first `dataset` section's options decide the exploration's numbers
        results["dataset"]["exploration"] = explore_cached(splits, options, loaded.manifest.dataset.seed, cache_dir)
    return finite(results)
