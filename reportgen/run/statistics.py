"""The statistics behind compared numbers: per-setting aggregates over seeds and paired tests on one test set."""

from __future__ import annotations

import base64
import math

import numpy as np

LEVEL = 0.95  # confidence level of every interval
RESAMPLES = 4999  # paired bootstrap resamples
BOOTSTRAP_SEED = 20240101  # fixed: the same predictions give the same interval in every build


def summary(values: list[float], bounds: tuple[float | None, float | None] = (None, None)) -> dict:
    """Mean, sample standard deviation and a 95 % confidence interval of the mean (Student t up to 30 values,
    normal beyond; clipped to `bounds`, e.g. 0–1 for an accuracy), with the values themselves; std and interval
    are None for fewer than two values."""
    from scipy import stats

    xs = [float(v) for v in values if v is not None and math.isfinite(v)]
    out = {"n": len(xs), "values": xs, "mean": float(np.mean(xs)) if xs else None, "std": None,
           "ci_low": None, "ci_high": None, "interval": "t" if len(xs) <= 30 else "normal"}
    if len(xs) < 2:
        return out
    std = float(np.std(xs, ddof=1))
    sem = std / math.sqrt(len(xs))
    if sem == 0:
        low = high = out["mean"]
    elif len(xs) <= 30:
        low, high = stats.t.interval(LEVEL, len(xs) - 1, loc=out["mean"], scale=sem)
    else:
        low, high = stats.norm.interval(LEVEL, loc=out["mean"], scale=sem)
    floor, ceiling = bounds
    low, high = max(low, floor) if floor is not None else low, min(high, ceiling) if ceiling is not None else high
    return {**out, "std": std, "ci_low": float(low), "ci_high": float(high)}


def encode_predictions(predicted, labels) -> dict:
    """Test-set predictions and true labels as compact base64 bytes (uint8, or uint16 past 255 classes)."""
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    top = int(max(predicted.max(initial=0), labels.max(initial=0)))
    dtype = "uint8" if top < 256 else "uint16"
    pack = lambda a: base64.b64encode(a.astype(dtype).tobytes()).decode("ascii")  # noqa: E731
    return {"n": int(len(labels)), "dtype": dtype, "predicted": pack(predicted), "labels": pack(labels)}


def decode_predictions(stored: dict) -> tuple[np.ndarray, np.ndarray]:
    """(predicted, labels) from encode_predictions' record."""
    unpack = lambda s: np.frombuffer(base64.b64decode(s), dtype=stored["dtype"]).astype(np.int64)  # noqa: E731
    return unpack(stored["predicted"]), unpack(stored["labels"])


def paired_test(correct_a, correct_b) -> dict:
    """McNemar's exact test on the disagreements of two classifiers on the same test items, and a paired
    percentile-bootstrap 95 % interval of their accuracy difference (a − b)."""
    from scipy import stats
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    a_only, b_only = table[0][1], table[1][0]
    p = 1.0 if a_only + b_only == 0 else float(mcnemar(table, exact=True).pvalue)
    diff = a.astype(np.int8) - b.astype(np.int8)
    if a_only + b_only == 0:  # every resample would give 0: scipy cannot bootstrap a constant
        low = high = 0.0
    else:
        ci = stats.bootstrap((diff,), np.mean, n_resamples=RESAMPLES, confidence_level=LEVEL, method="percentile",
                             random_state=np.random.default_rng(BOOTSTRAP_SEED), batch=max(1, 2_000_000 // len(diff)))
        low, high = float(ci.confidence_interval.low), float(ci.confidence_interval.high)
    return {"n": int(len(a)), "both": table[0][0], "a_only": a_only, "b_only": b_only, "neither": table[1][1],
            "difference": float(diff.mean()) if len(diff) else 0.0, "ci_low": low, "ci_high": high, "p": p}


def holm(pvalues: list[float]) -> list[float]:
    """Holm-adjusted p-values for a family of tests (statsmodels' multipletests)."""
    if not pvalues:
        return []
    from statsmodels.stats.multitest import multipletests

    return [float(p) for p in multipletests(pvalues, alpha=1 - LEVEL, method="holm")[1]]
