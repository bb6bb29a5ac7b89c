"""Paired tests between the runs each comparison section compares, on their stored test-set predictions."""

from __future__ import annotations

from pathlib import Path

from reportgen.caching import JsonCache
from reportgen.hashing import cache_key
from reportgen.results.picking import pick_runs
from reportgen.run.statistics import LEVEL, RESAMPLES, decode_predictions, holm, paired_test
from reportgen.sourcehash import source_digest

def _pair_cached(a: dict, b: dict, cache_dir: Path | None) -> dict:
    """paired_test on two runs' stored predictions, read from or stored in cache_dir/paired/<key>.json."""

    def test() -> dict:
        (pa, labels), (pb, _) = decode_predictions(a), decode_predictions(b)
        return paired_test(pa == labels, pb == labels)

    if cache_dir is None:
        return test()
    key = cache_key([a, b, source_digest("run/statistics")])
    return JsonCache(Path(cache_dir) / "paired").get_or_compute(key, test)


def compare_runs(ids: list[str], runs: dict, cache_dir: Path | None = None) -> dict:
    """Every pair of the runs (in order) tested on the same test items, Holm-corrected over those pairs; runs
    without predictions (failed) or on another test set than the first are listed under `excluded`."""
    stored = {rid: runs[rid].get("predictions") for rid in ids}
    first = next((s for s in stored.values() if s), None)
    same = [rid for rid in ids if stored[rid] and first and stored[rid]["labels"] == first["labels"]]
    pairs = [{"a": a, "b": b, **_pair_cached(stored[a], stored[b], cache_dir)}
             for i, a in enumerate(same) for b in same[i + 1:]]
    for pair, adjusted in zip(pairs, holm([p["p"] for p in pairs])):
        pair["p_holm"] = adjusted
    return {"runs": ids, "tested": same, "excluded": [rid for rid in ids if rid not in same], "pairs": pairs,
            "level": LEVEL, "test": "mcnemar_exact", "interval": "paired_bootstrap_percentile",
            "resamples": RESAMPLES, "correction": "holm"}


def paired_comparisons(loaded, runs: dict, cache_dir: Path | None = None) -> list[dict]:
    """One entry per distinct set of two or more runs that the manifest's comparisons name."""
    groups = {rid: r["group"] for rid, r in runs.items()}
    out, seen = [], set()
    for names in loaded.comparisons:
        ids = pick_runs(groups, names)
        if len(ids) >= 2 and tuple(ids) not in seen:
            seen.add(tuple(ids))
            out.append(compare_runs(ids, runs, cache_dir))
    return out
