"""Gather a build's numbers into the results record: runs, the models they used, the dataset, the environment."""

from __future__ import annotations

from pathlib import Path

from reportgen.data.exploration import explore_cached
from reportgen.manifest.loaded import LoadedManifest
from reportgen.models.build import model_record
from reportgen.results.record import SCHEMA, Results
from reportgen.results.run_record import RunRecord
from reportgen.results.store import finite
from reportgen.run.environment import build_environment
from reportgen.run.paired import paired_comparisons


def dataset_record(loaded: LoadedManifest, splits) -> dict:
    """The manifest dataset's facts as loaded: source, classes, split sizes, statistics, fingerprint."""
    spec = loaded.manifest.dataset
    return {"name": splits.name, "source": splits.source, "classes": list(splits.classes), "sizes": splits.sizes(),
            "input_shape": list(spec.input_shape()), "synthetic": splits.synthetic, "fingerprint": splits.fingerprint(),
            "mean": list(splits.mean), "std": list(splits.std), "normalized": spec.normalize, "seed": spec.seed}


def collect(loaded: LoadedManifest, splits, runs: dict[str, RunRecord], smoke: bool, cache_dir: Path) -> Results:
    """The results record of a build (without its presentation parts, which build.present adds)."""
    used = list(dict.fromkeys(r.model for r in runs.values()))
    as_json = {rid: r.model_dump(mode="json", by_alias=True) for rid, r in runs.items()}
    dataset = dataset_record(loaded, splits)
    options = loaded.exploration_options
    if options is not None:  # the first `dataset` section's options decide the exploration's numbers
        dataset["exploration"] = explore_cached(splits, options, loaded.manifest.dataset.seed, cache_dir)
    return Results.model_validate(finite({
        "schema": SCHEMA,
        "smoke": smoke,
        "dataset": dataset,
        "models": {name: model_record(loaded, name) for name in used},
        "runs": as_json,
        "run_order": list(runs),  # results.json sorts keys; this keeps the manifest's order
        "paired": paired_comparisons(loaded, as_json, cache_dir),
        "environment": build_environment(as_json),
    }))
