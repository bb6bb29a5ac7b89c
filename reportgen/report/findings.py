"""Plain-English findings over run records: best and worst, divergence, chance level, over-fitting, efficiency."""

from __future__ import annotations

import math

from reportgen.report.formatting import DASH, dec, num, pct, sig

# the label a sweep gives a value (see sweeps.label) → where a plain run's config holds the same value
CONFIG_PATHS = {"lr": ("optimizer", "lr"), "optimizer": ("optimizer", "name"), "momentum": ("optimizer", "momentum"),
                "weight_decay": ("optimizer", "weight_decay"), "batch_size": ("batch_size",), "epochs": ("epochs",),
                "label_smoothing": ("label_smoothing",), "seed": ("seed",)}


def with_defaults(rid: str, run: dict) -> dict:
    """A shallow copy of a run record with `id`, `group`, `varied` and `stopped_epoch` filled in when absent."""
    out = dict(run)
    out["id"] = run.get("id") or rid
    out["group"] = run.get("group") or out["id"]
    out["varied"] = dict(run.get("varied") or {})
    out.setdefault("stopped_epoch", None)
    out.setdefault("diverged_epoch", None)
    out.setdefault("status", "completed")
    out.setdefault("error", None)
    if out.get("test") is None:  # a failed run (out of memory, ...) has no test results: every metric prints as a dash
        out["test"] = dict(NO_TEST)
    return out


NO_TEST = {"accuracy": None, "loss": None, "precision_weighted": None, "recall_weighted": None, "f1_weighted": None,
           "precision_macro": None, "recall_macro": None, "f1_macro": None, "support": None, "per_class": [],
           "confusion_matrix": None}


def varied_labels(runs: list[dict]) -> list[str]:
    """Every varied label of the runs, in order of first appearance."""
    return list(dict.fromkeys(k for r in runs for k in (r.get("varied") or {})))


def varied_value(run: dict, label: str):
    """The run's value for a varied label: from `varied`, else from its config where the label maps to one."""
    varied = run.get("varied") or {}
    if label in varied:
        return varied[label]
    value = run.get("config") or {}
    for part in CONFIG_PATHS.get(label, (None,)):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def show_value(value) -> str:
    """A varied value as a table cell: floats with significant figures, lists joined, others as text."""
    if value is None:
        return DASH
    if isinstance(value, float):
        return sig(value, 4)
    if isinstance(value, (list, tuple)):
        return "×".join(show_value(v) for v in value)
    return str(value)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def sweep_axis(runs: list[dict]) -> dict | None:
    """{'label', 'scale': log|linear|category} when the runs vary one label only, else None."""
    # runs that vary nothing join when they use a model of the varying runs and their config gives the value
    labels = varied_labels(runs)
    if len(runs) < 2 or len(labels) != 1:
        return None
    label = labels[0]
    swept = [r for r in runs if r.get("varied")]
    models = {r.get("model") for r in swept}
    if any(list(r["varied"]) != labels for r in swept) or any(r.get("model") not in models for r in runs):
        return None
    values = [varied_value(r, label) for r in runs]
    if all(isinstance(v, str) for v in values):
        return {"label": label, "scale": "category"}
    if not all(_is_number(v) for v in values):
        return None
    positive = all(v > 0 for v in values)
    wide = positive and max(values) / min(values) >= 100
    return {"label": label, "scale": "log" if (label == "lr" and positive) or wide else "linear"}


def _acc(run: dict):
    acc = (run.get("test") or {}).get("accuracy")
    return acc if _is_number(acc) else None


def num_classes(runs: list[dict]) -> int | None:
    """The number of classes, read from a run's confusion matrix."""
    for r in runs:
        cm = (r.get("test") or {}).get("confusion_matrix")
        if cm:
            return len(cm)
    return None


def best_run(runs: list[dict]) -> str | None:
    """Id of the run with the highest test accuracy (the first one on ties)."""
    ranked = [r for r in runs if _acc(r) is not None]
    return max(ranked, key=_acc)["id"] if ranked else None


def _names(runs: list[dict]) -> str:
    ids = [r["id"] for r in runs]
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def best_and_worst(runs: list[dict]) -> str | None:
    """The best and worst run by test accuracy and the margin between them (tied runs named together)."""
    ranked = [r for r in runs if _acc(r) is not None]
    if not ranked:
        return None
    high, low = max(map(_acc, ranked)), min(map(_acc, ranked))
    best, worst = [r for r in ranked if _acc(r) == high], [r for r in ranked if _acc(r) == low]
    if len(ranked) == 1:
        return f"{best[0]['id']} has a test accuracy of {pct(high)}."
    if high == low:
        return f"All {len(ranked)} runs have the same test accuracy, {pct(high)}."
    lead = f"{best[0]['id']} has" if len(best) == 1 else f"{_names(best)} share"
    return (f"{lead} the best test accuracy, {pct(high)}, {dec((high - low) * 100, 2)} percentage points above the "
            f"worst, {_names(worst)} ({pct(low)}).")


def diverged(run: dict) -> str | None:
    """A sentence for a run whose loss became infinite or NaN."""
    if run.get("status") != "diverged":
        return None
    at = f" at epoch {run['diverged_epoch']}" if run.get("diverged_epoch") is not None else ""
    kept = len(run.get("epochs") or [])
    epochs = "no finite epoch is" if not kept else "1 finite epoch is" if kept == 1 else f"{kept} finite epochs are"
    return (f"{run['id']} diverged{at}: its loss became infinite or NaN; {epochs} kept, and its test accuracy, "
            f"{pct(_acc(run))}, is that of the last finite weights.")


def stalled(runs: list[dict], classes: int | None) -> str | None:
    """One sentence naming every run that stayed at chance level, with its test accuracy."""
    flat = [r for r in runs if r.get("status") == "stalled"]
    if not flat:
        return None
    chance = f" ({pct(1 / classes, 0)} for {classes} classes)" if classes else ""
    if len(flat) == 1:
        return f"{flat[0]['id']} stayed at chance level{chance}: its test accuracy is {pct(_acc(flat[0]))}."
    listed = _names([{"id": f"{r['id']} ({pct(_acc(r))})"} for r in flat])
    return f"{len(flat)} runs stayed at chance level{chance}: {listed}."


def overfitting_onset(epochs: list[dict]) -> int | None:
    """The epoch after which validation loss never again reached its minimum while training loss kept falling."""
    rows = [e for e in epochs if _is_number(e.get("val_loss")) and _is_number(e.get("train_loss"))]
    if len(rows) < 2:
        return None
    low = min(e["val_loss"] for e in rows)
    at = max(i for i, e in enumerate(rows) if e["val_loss"] == low)
    if at == len(rows) - 1 or not rows[-1]["train_loss"] < rows[at]["train_loss"]:
        return None
    return rows[at]["epoch"]


def overfitting(run: dict) -> str | None:
    """A sentence naming the epoch from which a run over-fits, if it does."""
    if run.get("status") == "diverged":
        return None
    onset = overfitting_onset(run.get("epochs") or [])
    if onset is None:
        return None
    by_epoch = {e["epoch"]: e for e in run["epochs"]}
    first, last = by_epoch[onset], run["epochs"][-1]
    return (f"Validation loss of {run['id']} stopped improving after epoch {onset} ({dec(first['val_loss'])}; "
            f"{dec(last['val_loss'])} at epoch {last['epoch']}) while training loss kept falling "
            f"({dec(first['train_loss'])} → {dec(last['train_loss'])}): over-fitting from epoch {onset + 1}.")


def _millions(n: int) -> str:
    return dec(n / 1e6, 2) if n >= 10_000 else sig(n / 1e6, 2)


def efficiency(run: dict, params: int | None) -> str | None:
    """Test accuracy per million parameters of a completed run."""
    acc = _acc(run)
    if run.get("status") != "completed" or acc is None or not params:
        return None
    per = acc * 100 / (params / 1e6)
    shown = num(per) if per >= 1000 else dec(per, 1)
    return (f"{run['id']}: {pct(acc)} test accuracy with {num(params)} parameters ({_millions(params)} M), "
            f"{shown} % per million parameters.")


def early_stopped(run: dict) -> str | None:
    """A sentence for a run that early stopping ended before its last epoch."""
    if run.get("stopped_epoch") is None:
        return None
    cfg = run.get("config") or {}
    patience = (cfg.get("early_stopping") or {}).get("patience")
    why = f" after validation loss had not improved for {patience} epoch(s)" if patience else ""
    planned = f" of {cfg['epochs']}" if cfg.get("epochs") else ""
    return f"{run['id']} stopped early at epoch {run['stopped_epoch']}{planned}{why}."


def findings(runs: list[dict], models: dict) -> list[str]:
    """Every finding for a set of runs (records as `with_defaults` returns them), in a fixed order."""
    classes = num_classes(runs)
    params = {r["id"]: (models.get(r.get("model")) or {}).get("total_params") for r in runs}
    out = [best_and_worst(runs)]
    out += [diverged(r) for r in runs]
    out += [f"{r['id']} failed ({r.get('error') or 'no reason recorded'}) and has no test results."
            for r in runs if r.get("status") == "failed"]
    out += [stalled(runs, classes)]
    out += [early_stopped(r) for r in runs]
    out += [overfitting(r) for r in runs]
    out += [efficiency(r, params[r["id"]]) for r in runs]
    return [s for s in out if s]
