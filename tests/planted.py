"""Typed records planted for the report's pure-function tests: the golden fixture's first run and model with the
numbers a test needs changed, validated as results.json's records are (tests' helper)."""

from __future__ import annotations

import copy

from reportgen.results.record import LayerModel, Results, parse_results, parse_run
from reportgen.results.run_record import RunRecord

from golden import golden_results


def _golden_run() -> dict:
    return copy.deepcopy(next(iter(golden_results()["runs"].values())))


def epoch_rows(losses) -> list[dict]:
    """Complete epoch rows, numbered from 1, with these (train_loss, val_loss) pairs."""
    template = _golden_run()["epochs"][0]
    return [template | {"epoch": i, "train_loss": t, "val_loss": v} for i, (t, v) in enumerate(losses, 1)]


def planted_summary(mean, std=None, low=None, high=None, n: int = 1) -> dict:
    """One number's summary over n seeds."""
    return {"n": n, "values": [mean] * n, "mean": mean, "std": std, "ci_low": low, "ci_high": high, "interval": "t"}


def aggregate(accuracy: dict) -> dict:
    """A repeated run's aggregate with this accuracy summary; every other number over one seed only."""
    one = planted_summary(0.5)
    metrics = ("loss", "precision_weighted", "recall_weighted", "f1_weighted", "train_loss", "val_loss", "train_acc",
               "val_acc", "epoch_seconds", "train_seconds")
    return {"n": accuracy["n"], "seeds": list(range(accuracy["n"])), "level": 0.95, "accuracy": accuracy,
            **{m: one for m in metrics}, "statuses": {"completed": accuracy["n"]}, "curves": None}


def planted_run(rid: str, acc: float | None, epochs=(), status: str = "completed", model: str = "m",
                classes: int = 0, **changes) -> RunRecord:
    """A typed run: test accuracy `acc` (None: no test results), these (train, val) losses per epoch, a confusion
    matrix of `classes` classes (0: none), and any other fields changed."""
    run = _golden_run()
    test = None if acc is None else run["test"] | {"accuracy": acc,
                                                   "confusion_matrix": [[0] * classes for _ in range(classes)]}
    run.update(id=rid, experiment=rid, group=rid, title=rid, model=model, status=status, epochs=epoch_rows(epochs),
               test=test, config={"epochs": len(epochs)})
    run.update(changes)
    return parse_run(run)


def planted_model(total_params: int) -> LayerModel:
    """The golden fixture's model with another parameter count."""
    return LayerModel.model_validate(next(iter(golden_results()["models"].values())) | {"total_params": total_params},
                                     strict=True)


def paired(a: str, b: str, p_holm: float, diff: float, low: float, high: float) -> dict:
    """A comparison of two runs with one paired test, as results.json holds it."""
    test = {"a": a, "b": b, "n": 360, "both": 300, "a_only": 20, "b_only": 8, "neither": 32, "difference": diff,
            "ci_low": low, "ci_high": high, "p": p_holm, "p_holm": p_holm}
    return {"runs": [a, b], "tested": [a, b], "excluded": [], "pairs": [test], "level": 0.95, "test": "mcnemar_exact",
            "interval": "paired_bootstrap_percentile", "resamples": 4999, "correction": "holm"}


def planted_results(runs: list[RunRecord], paired_tests: list[dict] = ()) -> Results:
    """The golden results with these runs (in this order) and paired tests instead of its own."""
    data = golden_results()
    data["runs"] = {r.id: r.model_dump(mode="json", by_alias=True) for r in runs}
    data["run_order"] = [r.id for r in runs]
    data["paired"] = list(paired_tests)
    return parse_results(data)
