"""The provenance block: where a report's numbers come from, gathered from its results record."""

from __future__ import annotations



def provenance(results: dict) -> dict:
    """Where the numbers come from: manifest file and sha256, reportgen version, device, seeds, smoke or not."""
    manifest = results.get("manifest") or {}
    digest = manifest.get("sha256")
    env = results.get("environment") or {}
    runs = results.get("runs") or {}
    seeds = {rid: (run.get("config") or {}).get("seed") for rid, run in runs.items()}
    return {"manifest": {"file": manifest.get("file"), "sha256": digest},
            "reportgen": env.get("reportgen"), "code_version": env.get("code_version"),
            "device": env.get("device"), "gpu": env.get("gpu"), "smoke": bool(results.get("smoke")),
            "seeds": {"dataset": (results.get("dataset") or {}).get("seed"), "runs": seeds,
                      "training": sorted({s for s in seeds.values() if s is not None})}}
