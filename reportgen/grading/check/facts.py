"""What a submission claims, read off its results for a grader's overview: team, models, best accuracies, outcomes."""

from __future__ import annotations

from reportgen.hashing import canonical_json, digest
from reportgen.results.store import results_digest

_TIMINGS = ("seconds", "images_per_s")


def _seed_content(seed: dict) -> dict:
    """One seed's numbers without its timings: its epoch logs, status and test metrics (the confusion matrix, which
    is what a submission holds of its predictions, among them)."""
    epochs = [{k: v for k, v in e.items() if k not in _TIMINGS} for e in seed.get("epochs") or []]
    return {"epochs": epochs, "test": seed.get("test"), "status": seed.get("status")}


def _run_content(run: dict) -> str:
    """A run's numbers without its timings, every seed of a repeated run included: equal for two hand-ins of the
    same run only when every seed is the same."""
    seeds = [_seed_content(s) for s in run.get("repeats") or [] if isinstance(s, dict)]
    return canonical_json({**_seed_content(run), "seeds": seeds})


def runs_fingerprint(results: dict) -> str | None:
    """sha256 over every run's epoch logs and test metrics, every seed's (timings left out); None without runs with
    epochs."""
    contents = sorted(_run_content(r) for r in results["runs"].values() if r.get("epochs"))
    if not contents:
        return None
    return digest("\n".join(contents))


def seed_count(run: dict) -> int:
    """How many seeds a run was trained with: its aggregate's n, else its repeats, else one."""
    n = (run.get("aggregate") or {}).get("n") if isinstance(run.get("aggregate"), dict) else None
    if isinstance(n, int) and not isinstance(n, bool):
        return n
    return len(run["repeats"]) if isinstance(run.get("repeats"), list) and run["repeats"] else 1


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
        "repeated_runs": {rid: seed_count(r) for rid, r in runs.items() if seed_count(r) > 1},
        "comparisons": [list(p.get("runs") or []) for p in results.get("paired") or [] if isinstance(p, dict)],
        "runs_fingerprint": runs_fingerprint(results),
        "run_digests": sorted(r["digest"] for r in runs.values() if r.get("digest")),
        "results_sha256": results_digest(results),
    }
