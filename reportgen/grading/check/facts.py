"""What a submission claims, read off its results for a grader's overview: team, models, best accuracies, outcomes."""

from __future__ import annotations

from reportgen.hashing import canonical_json, digest
from reportgen.results.store import results_digest

_TIMINGS = ("seconds", "images_per_s")


def _run_content(run: dict) -> str:
    """A run's numbers without its timings: equal for two hand-ins of the same run."""
    epochs = [{k: v for k, v in e.items() if k not in _TIMINGS} for e in run.get("epochs") or []]
    return canonical_json({"epochs": epochs, "test": run.get("test"), "status": run.get("status")})


def runs_fingerprint(results: dict) -> str | None:
    """sha256 over every run's epoch logs and test metrics (timings left out); None without runs with epochs."""
    contents = sorted(_run_content(r) for r in results["runs"].values() if r.get("epochs"))
    if not contents:
        return None
    return digest("\n".join(contents))


def facts(results: dict) -> dict:
    """The submission's claims: title, team, manifest, smoke, models with totals, best accuracy per experiment."""
    report, runs = results.get("report") or {}, results["runs"]
    best: dict[str, dict] = {}
    for rid, run in runs.items():
        acc = (run.get("test") or {}).get("accuracy")
        group = run.get("group") or run.get("experiment") or rid
        if acc is not None and (group not in best or acc > best[group]["accuracy"]):
            best[group] = {"run": rid, "accuracy": acc}
    by_status = {s: [rid for rid, r in runs.items() if r.get("status") == s] for s in ("diverged", "stalled", "failed")}
    return {
        "title": report.get("title"),
        "team": [{"name": m.get("name"), "id": m.get("id")} for m in report.get("team") or [] if isinstance(m, dict)],
        "manifest": {k: (results.get("manifest") or {}).get(k) for k in ("file", "sha256")},
        "smoke": bool(results.get("smoke")),
        "models": {name: m.get("total_params") for name, m in results["models"].items()},
        "best_accuracy": best,
        "runs": {rid: {"experiment": r.get("group") or r.get("experiment"), "status": r.get("status"),
                       "test_accuracy": (r.get("test") or {}).get("accuracy"), "digest": r.get("digest")}
                 for rid, r in runs.items()},
        **by_status,
        "runs_fingerprint": runs_fingerprint(results),
        "run_digests": sorted(r["digest"] for r in runs.values() if r.get("digest")),
        "results_sha256": results_digest(results),
    }
