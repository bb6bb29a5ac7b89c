"""Repeated runs: a setting trained with several seeds, each cached on its own, merged into one record with the
per-seed results and their aggregate."""

from __future__ import annotations

import hashlib

from reportgen.results.run_record import Aggregate, RunRecord
from reportgen.run.statistics import LEVEL, summary

TEST_METRICS = ("accuracy", "loss", "precision_weighted", "recall_weighted", "f1_weighted")
FINAL_METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")
CURVE_KEYS = ("train_loss", "val_loss", "train_acc", "val_acc")


def repeat_seeds(seed: int, repeats: int) -> list[int]:
    """The run's own seed, then one derived seed per further repeat (stable: adding a repeat keeps the others)."""
    derived = [int.from_bytes(hashlib.sha256(f"reportgen-repeat:{seed}:{k}".encode()).digest()[:4], "big")
               for k in range(1, repeats)]
    return [seed, *derived]


def repeat_id(run_id: str, k: int) -> str:
    """The plan id of the k-th repeat (0: the run itself)."""
    return run_id if k == 0 else f"{run_id}#{k + 1}"


def _epoch_seconds(record: dict) -> float | None:
    rows = record.get("epochs") or []
    return sum(e["seconds"] for e in rows) / len(rows) if rows else None


def _bounds(metric: str) -> tuple[float, float | None]:
    """Where a metric's confidence interval is clipped: fractions to 0–1, losses and times from 0."""
    return (0.0, None) if "loss" in metric else (0.0, 1.0)


def aggregate(seeds: list[dict]) -> dict:
    """Mean, std and confidence interval over the seeds that have test results, per metric, and mean ± std curves
    over the epochs every one of them ran."""
    tested = [s for s in seeds if s.get("test")]
    out = {"n": len(tested), "seeds": [s["seed"] for s in tested], "level": LEVEL}
    for name in TEST_METRICS:
        out[name] = summary([s["test"].get(name) for s in tested], _bounds(name))
    for name in FINAL_METRICS:
        out[name] = summary([(s["epochs"] or [{}])[-1].get(name) for s in tested if s.get("epochs")], _bounds(name))
    out["epoch_seconds"] = summary([_epoch_seconds(s) for s in tested if s.get("epochs")], (0.0, None))
    out["train_seconds"] = summary([s.get("train_seconds") for s in tested], (0.0, None))
    out["statuses"] = {status: sum(s.get("status") == status for s in seeds)
                       for status in dict.fromkeys(s.get("status") for s in seeds)}
    common = min((len(s.get("epochs") or []) for s in tested), default=0)
    out["curves"] = None
    if len(tested) >= 2 and common:
        curves = {"epoch": [tested[0]["epochs"][i]["epoch"] for i in range(common)]}
        for key in CURVE_KEYS:
            columns = [summary([s["epochs"][i].get(key) for s in tested]) for i in range(common)]
            curves[key] = {"mean": [c["mean"] for c in columns], "std": [c["std"] for c in columns]}
        out["curves"] = curves
    return out


def merge_repeats(plans: list, records: dict[str, RunRecord], digests: dict) -> dict[str, RunRecord]:
    """One record per manifest run: a repeated run's first seed as its record, with every seed's results under
    `repeats`, their aggregate under `aggregate`, and the digest (`digests`: run id → run_digest) and config
    (repeats included) the manifest declares."""
    by_run: dict[str, list] = {}
    for plan in plans:
        by_run.setdefault(plan.repeat_of or plan.id, []).append(plan)
    merged = {}
    for rid, group in by_run.items():
        record = records[rid]
        if len(group) > 1:
            seeds = [records[p.id].seed_record(p.spec.seed) for p in group]
            stats = aggregate([s.model_dump(mode="json", by_alias=True) for s in seeds])
            record = record.model_copy(update={"repeats": seeds, "aggregate": Aggregate.model_validate(stats),
                                               "digest": digests[rid], "config": {**record.config,
                                                                                  "repeats": len(group)}})
        merged[rid] = record
    return merged
