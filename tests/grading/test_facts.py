"""The facts grade compares submissions by: identical runs only when every seed of every run is identical."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from reportgen.grading.check.facts import runs_fingerprint

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "results-small.json"


def _repeated() -> dict:
    """The committed golden results with run `adam` repeated over three seeds, as a repeated run records them."""
    results = json.loads(FIXTURE.read_text("utf-8"))
    run = results["runs"]["adam"]
    run["repeats"] = [{"seed": seed, "status": run["status"], "stopped_epoch": None, "diverged_epoch": None,
                       "epochs": copy.deepcopy(run["epochs"]), "test": copy.deepcopy(run["test"]),
                       "train_seconds": run["train_seconds"], "cache_key": f"key-{seed}"} for seed in (0, 1, 2)]
    for offset, seed in enumerate(run["repeats"][1:], 1):  # later seeds trained to other numbers
        for epoch in seed["epochs"]:
            epoch["train_loss"] += 0.01 * offset
    return results


def test_a_copy_with_other_timings_is_identical():
    results = _repeated()
    copied = copy.deepcopy(results)
    for run in copied["runs"].values():
        for epoch in run["epochs"] + [e for s in run["repeats"] or [] for e in s["epochs"]]:
            epoch["seconds"] *= 3
            epoch["images_per_s"] = None if epoch["images_per_s"] is None else epoch["images_per_s"] / 3
    assert runs_fingerprint(copied) == runs_fingerprint(results)


@pytest.mark.parametrize("edit", ["later seed's loss", "later seed's confusion matrix", "first seed's accuracy"])
def test_editing_any_seed_or_its_predictions_makes_runs_differ(edit):
    results = _repeated()
    edited = copy.deepcopy(results)
    run = edited["runs"]["adam"]
    if edit == "later seed's loss":
        run["repeats"][2]["epochs"][-1]["val_loss"] += 1e-6
    elif edit == "later seed's confusion matrix":
        matrix = run["repeats"][1]["test"]["confusion_matrix"]
        matrix[0][0] -= 1
        matrix[0][1] += 1
    else:
        run["test"]["accuracy"] = round(run["test"]["accuracy"] - 0.01, 6)
    assert runs_fingerprint(edited) != runs_fingerprint(results)
