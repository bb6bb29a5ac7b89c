"""Statistics a report states, recomputed from what its results hold: test metrics from each confusion matrix, a
repeated run's seeds, first-seed record and aggregate from its seeds, paired tests from their counts."""

from __future__ import annotations

import json
import math

Found = list[tuple[str, dict]]

TOLERANCE = 1e-9  # relative: the same numbers through the same formulas agree up to their last few bits
PER_RUN = 5  # differing values listed per run or comparison; the rest are counted
MAX_ITEMS = 5_000_000  # a paired test over more test items than this is not a report's
FIRST_SEED = ("status", "stopped_epoch", "diverged_epoch", "epochs", "test", "train_seconds", "cache_key")
COUNTS = ("n", "both", "a_only", "b_only", "neither")


def _close(a, b) -> bool:
    """Equal, numbers within TOLERANCE (booleans and None exactly)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not (math.isfinite(a) and math.isfinite(b)):
            return a == b or (math.isnan(a) and math.isnan(b))
        return abs(a - b) <= TOLERANCE * max(abs(a), abs(b))  # relative even for tiny p-values
    return a == b


def differences(recorded, recomputed, path: str = "") -> list[tuple[str, object, object]]:
    """(path, recorded, recomputed) of every value that differs, walking dicts and lists."""
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        return [d for key in sorted(set(recorded) | set(recomputed), key=str)
                for d in differences(recorded.get(key), recomputed.get(key), f"{path}.{key}" if path else str(key))]
    if isinstance(recorded, list) and isinstance(recomputed, list) and len(recorded) == len(recomputed):
        return [d for i, (x, y) in enumerate(zip(recorded, recomputed)) for d in differences(x, y, f"{path}.{i}")]
    return [] if _close(recorded, recomputed) else [(path, recorded, recomputed)]


def shown(value) -> str:
    """A value for a message: numbers to 6 significant digits, the rest as short JSON."""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


def _ratio(a: float, b: float) -> float:
    """a / b, 0 when b is 0 (sklearn's zero_division=0)."""
    return a / b if b else 0.0


def from_confusion(matrix: list[list[int]]) -> dict:
    """Accuracy, support, per-class and macro/weighted precision, recall and F1 of a confusion matrix (rows: true
    class), as reportgen.run.evaluate records them (sklearn's formulas, zero_division=0)."""
    k = len(matrix)
    true = [sum(row) for row in matrix]
    predicted = [sum(row[c] for row in matrix) for c in range(k)]
    hits = [matrix[c][c] for c in range(k)]
    total = sum(true)
    precision = [_ratio(hits[c], predicted[c]) for c in range(k)]
    recall = [_ratio(hits[c], true[c]) for c in range(k)]
    f1 = [_ratio(2 * p * r, p + r) for p, r in zip(precision, recall)]
    out = {"accuracy": _ratio(sum(hits), total), "support": total,
           "per_class": [{"precision": precision[c], "recall": recall[c], "f1": f1[c], "support": true[c]}
                         for c in range(k)]}
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        out[f"{name}_macro"] = _ratio(sum(values), k)
        out[f"{name}_weighted"] = _ratio(sum(v * t for v, t in zip(values, true)), total)
    return out


def _square(matrix) -> bool:
    """Whether a confusion matrix is a non-empty square table of counts."""
    return (isinstance(matrix, list) and bool(matrix) and all(isinstance(r, list) and len(r) == len(matrix)
            and all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in r) for r in matrix))


def test_metrics(what: str, test, where: dict) -> Found:
    """A test record's metrics against those of its own confusion matrix."""
    if not isinstance(test, dict) or "confusion_matrix" not in test:
        return []
    if not _square(test["confusion_matrix"]):
        return [(f"{what}: its confusion matrix is not a square table of counts", {**where, "value": "test"})]
    recomputed = from_confusion(test["confusion_matrix"])
    recorded = {key: test.get(key) for key in recomputed}
    recorded["per_class"] = [{k: row.get(k) for k in ("precision", "recall", "f1", "support")}
                             if isinstance(row, dict) else row for row in test.get("per_class") or []]
    return _listed(what, "test", differences(recorded, recomputed), where, "recomputed from its confusion matrix")


def _listed(what: str, prefix: str, diffs: list, where: dict, source: str) -> Found:
    """PER_RUN findings for the differences (`source`: where the other value comes from), then a count of the rest."""
    found = []
    for path, a, b in diffs[:PER_RUN]:
        value = f"{prefix}.{path}" if path else prefix
        found.append((f"{what}: {value} is {shown(a)}; {source}: {shown(b)}",
                      {**where, "value": value, "recorded": a, "recomputed": b}))
    if len(diffs) > PER_RUN:
        found.append((f"{what}: {len(diffs) - PER_RUN} more value(s) differ ({source})",
                      {**where, "more": len(diffs) - PER_RUN}))
    return found


def repeated(rid: str, run: dict) -> Found:
    """A repeated run: its seeds as derived from its own, its record as its first seed's, its aggregate as the
    seeds' (reportgen.run.repeats)."""
    from reportgen.run.repeats import aggregate, repeat_seeds

    seeds = [s for s in run["repeats"] if isinstance(s, dict)]
    where = {"run": rid}
    found: Found = []
    own = (run.get("config") or {}).get("seed")
    derived = repeat_seeds(own, len(seeds)) if isinstance(own, int) else None
    if derived is not None and [s.get("seed") for s in seeds] != derived:
        found.append((f"run {rid}: its seeds are {shown([s.get('seed') for s in seeds])}, a run of seed {own} "
                      f"repeated {len(seeds)} times trains with {shown(derived)}",
                      {**where, "value": "repeats.seed", "recorded": [s.get("seed") for s in seeds],
                       "recomputed": derived}))
    if seeds:
        mine = {k: run.get(k) for k in FIRST_SEED}
        found += _listed(f"run {rid}", "run", differences(mine, {k: seeds[0].get(k) for k in FIRST_SEED}), where,
                         "its first seed records")
    try:
        recomputed = aggregate(seeds)
    except (TypeError, KeyError, ValueError, AttributeError, IndexError) as exc:
        return found + [(f"run {rid}: its aggregate cannot be recomputed from its seeds ({type(exc).__name__})",
                         {**where, "value": "aggregate"})]
    diffs = differences(run.get("aggregate"), recomputed)
    return found + _listed(f"run {rid}", "aggregate", diffs, where, f"recomputed from its {len(seeds)} seeds")


def _ci_tolerance(pair: dict) -> float:
    """How far a paired bootstrap interval may move when its test items come in another order: two items, plus
    0.15 standard errors of the difference (at most 0.55 of it in 240 simulated reorderings)."""
    n = pair["n"]
    d = (pair["a_only"] - pair["b_only"]) / n
    sigma = math.sqrt(max(0.0, (pair["a_only"] + pair["b_only"]) / n - d * d) / n)
    return 2 / n + 0.15 * sigma


def _recomputed_pair(pair: dict) -> dict:
    """paired_test on correctness vectors with the pair's counts (McNemar's p and the difference do not depend on the
    items' order; the bootstrap interval does, within _ci_tolerance)."""
    from reportgen.run.statistics import paired_test

    both, a_only, b_only, neither = (pair[k] for k in COUNTS[1:])
    a = [True] * (both + a_only) + [False] * (b_only + neither)
    b = [True] * both + [False] * a_only + [True] * b_only + [False] * neither
    return paired_test(a, b)


def _pair_counts(pair, runs: dict) -> list[str]:
    """What is wrong with a pair's counts: not counts, not adding up, or not the runs' own test accuracies."""
    if not isinstance(pair, dict) or not all(isinstance(pair.get(k), int) and not isinstance(pair.get(k), bool)
                                             and 0 <= pair[k] <= MAX_ITEMS for k in COUNTS):
        return ["its counts are not counts of test items"]
    problems = []
    if sum(pair[k] for k in COUNTS[1:]) != pair["n"] or pair["n"] == 0:
        problems.append(f"its counts add up to {sum(pair[k] for k in COUNTS[1:])}, not to n = {pair['n']}")
    for side, right in (("a", pair["both"] + pair["a_only"]), ("b", pair["both"] + pair["b_only"])):
        test = (runs.get(pair.get(side)) or {}).get("test") or {}
        if test.get("support") == pair["n"] and not _close(test.get("accuracy"), _ratio(right, pair["n"])):
            problems.append(f"its counts give {pair.get(side)} a test accuracy of {shown(_ratio(right, pair['n']))}, "
                            f"its record {shown(test.get('accuracy'))}")
    return problems


def _entry(index: int, entry: dict, runs: dict) -> Found:
    """One comparison's pairs: counts, difference, p, Holm's p and the interval, each recomputed."""
    from reportgen.run.statistics import holm

    found: Found = []
    pairs = [p for p in entry.get("pairs") or []]
    good = []
    for k, pair in enumerate(pairs):
        name = f"paired test {pair.get('a')} − {pair.get('b')}" if isinstance(pair, dict) else f"paired.{index}.{k}"
        where = {"paired": index, "pair": k, "runs": [pair.get("a"), pair.get("b")] if isinstance(pair, dict) else []}
        problems = _pair_counts(pair, runs)
        found += [(f"{name}: {p}", {**where, "value": "counts"}) for p in problems]
        if not problems:
            good.append((k, name, where, pair, _recomputed_pair(pair)))
    adjusted = holm([r["p"] for *_, r in good]) if len(good) == len(pairs) else [None] * len(good)
    for (k, name, where, pair, got), p_holm in zip(good, adjusted):
        expected = {key: got[key] for key in ("difference", "p")}
        if p_holm is not None:
            expected["p_holm"] = p_holm
        diffs = differences({key: pair.get(key) for key in expected}, expected)
        tolerance = _ci_tolerance(pair)
        diffs += [(key, pair.get(key), got[key]) for key in ("ci_low", "ci_high")
                  if not isinstance(pair.get(key), (int, float)) or abs(pair[key] - got[key]) > tolerance]
        found += _listed(name, f"paired.{index}.pairs.{k}", diffs, where, "recomputed from its counts")
    return found


def paired(results: dict, loaded=None) -> Found:
    """Every recorded comparison recomputed from its counts; with the manifest, the comparisons are those its
    sections ask for."""
    entries = [e for e in results.get("paired") or [] if isinstance(e, dict)]
    found = [f for index, entry in enumerate(entries) for f in _entry(index, entry, results["runs"])]
    if loaded is not None:
        from reportgen.run.paired import paired_comparisons

        # in the build's run order (results.json's keys are sorted): the order picks which run is `a`
        order = [rid for rid in results.get("run_order") or [] if rid in results["runs"]]
        runs = {rid: results["runs"][rid] for rid in [*order, *(r for r in results["runs"] if r not in order)]}
        asked = [e["runs"] for e in paired_comparisons(loaded, runs)]
        recorded = [e.get("runs") for e in entries]
        if asked != recorded:
            found.append((f"the results compare {shown(recorded)}, the manifest's sections compare {shown(asked)}",
                          {"value": "paired", "recorded": recorded, "recomputed": asked}))
    return found


def statistics(results: dict, loaded=None) -> tuple[Found, str]:
    """Every run's (and seed's) test metrics, every repeated run and every paired test, recomputed."""
    found: Found = []
    runs = results["runs"]
    for rid, run in runs.items():
        if not isinstance(run, dict):
            continue
        found += test_metrics(f"run {rid}", run.get("test"), {"run": rid})
        repeats = run.get("repeats") if isinstance(run.get("repeats"), list) else []
        for seed in repeats:
            if isinstance(seed, dict):
                found += test_metrics(f"run {rid}, seed {seed.get('seed')}", seed.get("test"),
                                      {"run": rid, "seed": seed.get("seed")})
        if repeats:
            found += repeated(rid, run)
    found += paired(results, loaded)
    n_repeated = sum(bool(isinstance(r, dict) and r.get("repeats")) for r in runs.values())
    n_pairs = sum(len(e.get("pairs") or []) for e in results.get("paired") or [] if isinstance(e, dict))
    return found, (f"{len(runs)} run(s) from their confusion matrices, {n_repeated} repeated run(s) from their "
                   f"seeds, {n_pairs} paired test(s) from their counts")
