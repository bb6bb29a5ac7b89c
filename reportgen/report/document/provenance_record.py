"""The provenance block: where a report's numbers come from, gathered from its results record."""

from __future__ import annotations

from reportgen.results.record import Results


def provenance(results: Results) -> dict:
    """Where the numbers come from: manifest file and sha256, reportgen version, device, seeds, smoke or not."""
    manifest, env = results.manifest, results.environment
    seeds = {rid: run.config.get("seed") for rid, run in results.runs.items()}
    return {"manifest": {"file": manifest.file if manifest else None, "sha256": manifest.sha256 if manifest else None},
            "reportgen": env.reportgen, "code_version": env.code_version,
            "device": env.device, "gpu": env.gpu, "smoke": results.smoke,
            "seeds": {"dataset": results.dataset.seed, "runs": seeds,
                      "training": sorted({s for s in seeds.values() if s is not None})}}
