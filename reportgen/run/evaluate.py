"""Test-set metrics: accuracy, weighted precision/recall/F1, per-class report, confusion matrix."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def test_metrics(y_true, y_pred, classes: list[str], loss: float) -> dict:
    """Every number the evaluation section shows, as plain JSON-able values."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(classes)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    wp, wr, wf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    per_class = [
        {"class": name, "precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(classes)
    ]
    return {
        "loss": float(loss),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "precision_weighted": float(wp), "recall_weighted": float(wr), "f1_weighted": float(wf),
        "precision_macro": float(mp), "recall_macro": float(mr), "f1_macro": float(mf),
        "support": int(len(y_true)),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }
