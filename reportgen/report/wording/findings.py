"""Plain-English findings over run records that never call noise a result: the lead and how sure it is,\ndivergence, chance level, over-fitting, efficiency."""

from __future__ import annotations

import statistics

from reportgen.report.wording.formatting import DASH, dec, num, pct, sig
from reportgen.report.wording.significance import Winner, accuracy, lead_sentence, pairs_sentence, winner
from reportgen.results.record import ModelRecord, Results
from reportgen.results.run_record import EpochRow, RunRecord, SeedRecord
from reportgen.units import is_number

# the label a sweep gives a value (see sweeps.label) → where a plain run's config holds the same value
CONFIG_PATHS = {"lr": ("optimizer", "lr"), "optimizer": ("optimizer", "name"), "momentum": ("optimizer", "momentum"),
                "weight_decay": ("optimizer", "weight_decay"), "batch_size": ("batch_size",), "epochs": ("epochs",),
                "label_smoothing": ("label_smoothing",), "seed": ("seed",), "repeats": ("repeats",), "loss": ("loss",),
                "checkpoint": ("checkpoint",), "focal_gamma": ("focal_gamma",), "max_norm": ("grad_clip", "max_norm")}


def varied_labels(runs: list[RunRecord]) -> list[str]:
    """Every varied label of the runs, in order of first appearance."""
    return list(dict.fromkeys(k for r in runs for k in r.varied))


def varied_value(run: RunRecord, label: str):
    """The run's value for a varied label: from `varied`, else from its config where the label maps to one."""
    if label in run.varied:
        return run.varied[label]
    value = run.config
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


def sweep_axis(runs: list[RunRecord]) -> dict | None:
    """{'label', 'scale': log|linear|category} when the runs vary one label only, else None."""
    # runs that vary nothing join when they use a model of the varying runs and their config gives the value
    labels = varied_labels(runs)
    if len(runs) < 2 or len(labels) != 1:
        return None
    label = labels[0]
    swept = [r for r in runs if r.varied]
    models = {r.model for r in swept}
    if any(list(r.varied) != labels for r in swept) or any(r.model not in models for r in runs):
        return None
    values = [varied_value(r, label) for r in runs]
    if all(isinstance(v, str) for v in values):
        return {"label": label, "scale": "category"}
    if not all(is_number(v) for v in values):
        return None
    positive = all(v > 0 for v in values)
    wide = positive and max(values) / min(values) >= 100
    return {"label": label, "scale": "log" if (label == "lr" and positive) or wide else "linear"}


def _test_accuracy(record: RunRecord | SeedRecord) -> float | None:
    """The one test accuracy of a run or seed (not a mean over seeds), None without test results."""
    return record.test.accuracy if record.test is not None else None


def num_classes(runs: list[RunRecord]) -> int | None:
    """The number of classes, read from a run's confusion matrix."""
    for r in runs:
        if r.test is not None and r.test.confusion_matrix:
            return len(r.test.confusion_matrix)
    return None


def _names(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]


def best_and_worst(runs: list[RunRecord], win: Winner | None = None) -> str | None:
    """The best run and how sure its lead is (over seeds or by a paired test), else the best and worst run by
    test accuracy and the margin between them (tied runs named together)."""
    ranked = [r for r in runs if accuracy(r) is not None]
    if not ranked:
        return None
    if win is not None and win.basis in ("seeds", "paired") and win.runner_up is not None:
        return lead_sentence(win, {r.id: r for r in ranked})
    high, low = max(map(accuracy, ranked)), min(map(accuracy, ranked))
    best, worst = [r for r in ranked if accuracy(r) == high], [r for r in ranked if accuracy(r) == low]
    if len(ranked) == 1:
        return f"{best[0].id} has a test accuracy of {pct(high)}."
    if high == low:
        return f"All {len(ranked)} runs have the same test accuracy, {pct(high)}."
    lead = f"{best[0].id} has" if len(best) == 1 else f"{_names([r.id for r in best])} share"
    return (f"{lead} the best test accuracy, {pct(high)}, {dec((high - low) * 100, 2)} percentage points above the "
            f"worst, {_names([r.id for r in worst])} ({pct(low)}).")


def diverged(run: RunRecord) -> str | None:
    """A sentence for a run whose loss became infinite or NaN."""
    if run.status != "diverged":
        return None
    at = f" at epoch {run.diverged_epoch}" if run.diverged_epoch is not None else ""
    kept = len(run.epochs)
    epochs = "no finite epoch is" if not kept else "1 finite epoch is" if kept == 1 else f"{kept} finite epochs are"
    return (f"{run.id} diverged{at}: its loss became infinite or NaN; {epochs} kept, and its test accuracy, "
            f"{pct(_test_accuracy(run))}, is that of the last finite weights.")


def seed_statuses(run: RunRecord) -> list[str]:
    """The status of each seed of a repeated run, or the run's one status."""
    return [s.status for s in run.repeats or []] or [run.status]


def learned(run: RunRecord) -> bool:
    """Whether the run (every seed of it) completed: neither stalled, diverged nor failed."""
    return all(status in (None, "completed") for status in seed_statuses(run))


def stalled(runs: list[RunRecord], classes: int | None) -> str | None:
    """One sentence naming every run that stayed at chance level (with every seed), with its test accuracy."""
    flat = [r for r in runs if set(seed_statuses(r)) == {"stalled"}]
    if not flat:
        return None
    chance = f" ({pct(1 / classes, 0)} for {classes} classes)" if classes else ""
    if len(flat) == 1:
        return f"{flat[0].id} stayed at chance level{chance}: its test accuracy is {pct(accuracy(flat[0]))}."
    listed = _names([f"{r.id} ({pct(accuracy(r))})" for r in flat])
    return f"{len(flat)} runs stayed at chance level{chance}: {listed}."


def partly_stalled(run: RunRecord) -> str | None:
    """A sentence for a repeated run that stalled or diverged with some seeds and learned with others."""
    seeds = run.repeats or []
    bad = [s for s in seeds if s.status in ("stalled", "diverged")]
    good = [s for s in seeds if s.status == "completed"]
    if not bad or not good:
        return None
    what = " or ".join(dict.fromkeys("stayed at chance level" if s.status == "stalled" else "diverged"
                                     for s in bad))
    shown = lambda group: ", ".join(pct(_test_accuracy(s)) for s in group)  # noqa: E731
    return (f"{run.id} {what} with {len(bad)} of its {len(seeds)} seeds ({shown(bad)}) and learned with the "
            f"other{'s' if len(good) > 1 else ''} ({shown(good)}): whether this setting trains depends on the seed.")


PATIENCE = 3  # epochs after the lowest (smoothed) validation loss before a rise counts as over-fitting


def _smoothed(values: list[float]) -> list[float]:
    """A centred three-epoch moving average (two epochs at the ends)."""
    return [sum(values[max(0, i - 1):i + 2]) / len(values[max(0, i - 1):i + 2]) for i in range(len(values))]


def overfitting_evidence(epochs: list[EpochRow]) -> dict | None:
    """The numbers behind an over-fitting finding, or None: the smoothed validation loss bottoms out at least
    PATIENCE epochs before the end and ends above that low by more than twice its epoch-to-epoch noise (the
    spread of the raw losses around the smoothed curve since the low), while the training loss falls by 1 % or more."""
    rows = [e for e in epochs if is_number(e.val_loss) and is_number(e.train_loss)]
    if len(rows) < PATIENCE + 2:
        return None
    val = [e.val_loss for e in rows]
    smooth = _smoothed(val)
    at = min(range(len(rows)), key=lambda i: (smooth[i], i))
    if len(rows) - 1 - at < PATIENCE:
        return None
    noise = statistics.pstdev([v - m for v, m in zip(val[at:], smooth[at:])])
    rise = smooth[-1] - smooth[at]
    first, last = rows[at], rows[-1]
    if rise <= 2 * noise or not last.train_loss < 0.99 * first.train_loss:
        return None
    return {"epoch": first.epoch, "low": smooth[at], "end": smooth[-1], "last_epoch": last.epoch,
            "noise": noise, "train_from": first.train_loss, "train_to": last.train_loss}


def overfitting_onset(epochs: list[EpochRow]) -> int | None:
    """The epoch after which the run over-fits (see overfitting_evidence), or None."""
    found = overfitting_evidence(epochs)
    return found["epoch"] if found else None


def overfitting(run: RunRecord) -> str | None:
    """A sentence naming the epoch from which a run that learned over-fits, with the numbers it rests on."""
    if not learned(run):  # a stalled, diverged or failed run (or seed) learned nothing to over-fit
        return None
    found = overfitting_evidence(run.epochs)
    if found is None:
        return None
    return (f"Validation loss of {run.id} (smoothed over 3 epochs) was lowest at epoch {found['epoch']} "
            f"({dec(found['low'])}) and rose to {dec(found['end'])} by epoch {found['last_epoch']}, more than twice "
            f"its epoch-to-epoch noise ({sig(found['noise'], 2)}), while training loss fell from "
            f"{dec(found['train_from'])} to {dec(found['train_to'])}: over-fitting from epoch {found['epoch'] + 1}.")


def _millions(n: int) -> str:
    return dec(n / 1e6, 2) if n >= 10_000 else sig(n / 1e6, 2)


def efficiency(runs: list[RunRecord], models: dict[str, ModelRecord]) -> str | None:
    """Test accuracy per million parameters of the best completed run of each network size, when the runs
    compare networks of different sizes (for one network the figure says nothing)."""
    best: dict[int, RunRecord] = {}
    for r in runs:
        model = models.get(r.model)
        params = model.total_params if model is not None else None
        if learned(r) and accuracy(r) is not None and params:
            if params not in best or accuracy(r) > accuracy(best[params]):
                best[params] = r
    if len(best) < 2:
        return None
    parts = []
    for params, r in sorted(best.items()):
        per = accuracy(r) * 100 / (params / 1e6)
        shown = num(per) if per >= 1000 else dec(per, 1)
        parts.append(f"{r.id} ({r.model}), {pct(accuracy(r))} with {num(params)} parameters "
                     f"({_millions(params)} M), {shown} % per million")
    return "Accuracy per million parameters, best run of each network size: " + "; ".join(parts) + "."


def early_stopped(run: RunRecord) -> str | None:
    """A sentence for a run that early stopping ended before its last epoch."""
    if run.stopped_epoch is None:
        return None
    cfg = run.config
    patience = (cfg.get("early_stopping") or {}).get("patience")
    why = f" after validation loss had not improved for {patience} epoch(s)" if patience else ""
    planned = f" of {cfg['epochs']}" if cfg.get("epochs") else ""
    return f"{run.id} stopped early at epoch {run.stopped_epoch}{planned}{why}."


def findings(runs: list[RunRecord], models: dict[str, ModelRecord], results: Results | None = None) -> list[str]:
    """Every finding for a set of runs, in a fixed order; with the results, comparisons say how sure they are
    (seeds' confidence intervals, paired tests)."""
    classes = num_classes(runs)
    win = winner(runs, results)
    out = [best_and_worst(runs, win), pairs_sentence(win)]
    out += [diverged(r) for r in runs]
    out += [f"{r.id} failed ({r.error or 'no reason recorded'}) and has no test results."
            for r in runs if r.status == "failed"]
    out += [stalled(runs, classes)]
    out += [partly_stalled(r) for r in runs]
    out += [early_stopped(r) for r in runs]
    out += [overfitting(r) for r in runs]
    out += [efficiency(runs, models)]
    return [s for s in out if s]
