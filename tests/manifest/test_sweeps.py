"""Sweeps expand into readable runs; model variants derive from their base and are recomputed from modules."""

from __future__ import annotations

import math

import pytest
import torch

from reportgen.build import load
from reportgen.errors import ManifestError
from reportgen.models.build import build_manifest_model, model_record
from reportgen.run.train import at_chance

from conftest import cli
from manifests import BARE, manifest_text, variant

BASE_NET = {"layers": [{"conv": {"out": 4, "kernel": 3, "padding": "same"}}, "relu", {"maxpool": 2},
                       {"conv": {"out": 8, "kernel": 3, "padding": "same"}}, "relu", {"maxpool": 2}, "flatten",
                       {"linear": 16}, "relu", {"dropout": 0.2}, {"linear": "classes"}]}
SWEEPS = variant(BARE, report={"title": "Sweeps"}, train={"epochs": 2, "optimizer": {"name": "adam", "lr": 0.01}})


def manifest(tmp_path, experiments: list, models: dict | None = None, name: str = "m.yaml"):
    """The manifest of these experiments, with `base` and these models, written to tmp_path/name."""
    path = tmp_path / name
    text = manifest_text(SWEEPS, models={"base": BASE_NET, **(models or {})}, experiments=experiments)
    path.write_text(text, "utf-8")
    return path


def test_grid_sweep_expands_to_every_combination_with_readable_ids(tmp_path):
    loaded = load(manifest(tmp_path, [{"id": "grid", "model": "base",
                                       "sweep": {"optimizer.lr": [0.001, 0.01, 0.1], "batch_size": [16, 32]}}]))
    runs = loaded.runs
    assert len(runs) == 6
    assert [r.id for r in runs[:2]] == ["grid/lr=0.001,batch_size=16", "grid/lr=0.001,batch_size=32"]
    for r in runs:
        assert r.group == "grid" and r.train.optimizer.lr == r.varied["lr"] and r.train.batch_size == r.varied["batch_size"]
        assert r.train.optimizer.name == "adam" and r.train.epochs == 2  # untouched values keep their defaults


def test_sweep_over_names_and_train_prefix(tmp_path):
    loaded = load(manifest(tmp_path, [{"id": "opt", "model": "base",
                                       "sweep": {"optimizer.name": ["sgd", "adagrad"], "train.epochs": [1]}}]))
    assert [r.id for r in loaded.runs] == ["opt/optimizer=sgd,epochs=1", "opt/optimizer=adagrad,epochs=1"]
    assert [r.train.optimizer.name for r in loaded.runs] == ["sgd", "adagrad"]
    assert all(r.train.epochs == 1 for r in loaded.runs)


def _total(loaded, name):
    return sum(p.numel() for p in build_manifest_model(loaded, name).parameters())


def test_variants_are_derived_and_counted_from_the_modules(tmp_path):
    models = {"one": {"extends": "base", "blocks": 1},
              "wide": {"extends": "base", "channels": [16, 32], "dense": [64]},
              "three": {"extends": "base", "blocks": 3, "pool": [2, 2, 1]},
              "pools": {"extends": "base", "pool": [2, 4]},
              "pool1": {"extends": "base", "pool": 1},
              "nodrop": {"extends": "base", "drop_blocks": [2], "activation": "gelu", "dropout": 0.5},
              "wide_gelu": {"extends": "wide", "activation": "gelu"}}
    loaded = load(manifest(tmp_path, [{"id": run_id, "model": model} for run_id, model in zip(
        "abcdefg", ["one", "wide", "three", "nodrop", "wide_gelu", "pools", "pool1"])], models))
    kinds = lambda name: [k for k, _ in loaded.layers_of(name)]  # noqa: E731
    assert kinds("one").count("conv") == 1 and kinds("three").count("conv") == 3
    assert kinds("nodrop").count("conv") == 1 and "relu" not in kinds("nodrop") and kinds("nodrop").count("gelu") == 2
    # a two-value list gives one kernel per pooling layer, not one 2×4 window
    assert [o["kernel"] for k, o in loaded.layers_of("pools") if k == "maxpool"] == [(2, 2), (4, 4)]
    assert [o["kernel"] for k, o in loaded.layers_of("pool1") if k == "maxpool"] == [(1, 1), (1, 1)]
    assert [o["out"] for k, o in loaded.layers_of("wide_gelu") if k in ("conv", "linear")] == [16, 32, 64, "classes"]
    # one block: 4 channels at 4×4 after one pooling → flatten 64 → 16 → 10
    assert _total(loaded, "one") == (1 * 4 * 9 + 4) + (64 * 16 + 16) + (16 * 10 + 10)
    assert _total(loaded, "wide") == (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + (32 * 2 * 2 * 64 + 64) + (64 * 10 + 10)
    for name in ("one", "wide", "three", "nodrop", "wide_gelu"):
        rec = model_record(loaded, name)
        assert rec["total_params"] == _total(loaded, name) == sum(r["params"] for r in rec["layers"])
        # size on disk: the float32 tensors plus torch.save's small per-file and per-tensor overhead
        raw = 4 * rec["total_params"] + 4 * rec["buffer_params"]
        assert rec["extends"] is not None and raw < rec["size_bytes"] < raw + 8192


def test_model_sweeps_make_named_variants(tmp_path):
    loaded = load(manifest(tmp_path, [{"id": "act", "model": "base",
                                       "sweep": {"model.activation": ["tanh", "relu6"], "model.dense": [[32]]}}]))
    assert [r.model for r in loaded.runs] == ["base[activation=tanh,dense=32]", "base[activation=relu6,dense=32]"]
    rec = model_record(loaded, "base[activation=relu6,dense=32]")
    assert [r["type"] for r in rec["layers"]].count("ReLU6") == 3
    assert rec["variant"] == {"activation": "relu6", "dense": [32]} and rec["extends"] == "base"


@pytest.mark.parametrize("models, experiments, where, message", [
    ({"bad": {"extends": "base", "channels": [1, 2, 3]}}, [{"id": "a", "model": "bad"}], "models.bad.channels",
     "channels lists 3 values but the model has 2 conv layers"),
    ({"bad": {"extends": "nowhere"}}, [{"id": "a", "model": "base"}], "models.bad.extends", "unknown model 'nowhere'"),
    ({"x": {"extends": "y"}, "y": {"extends": "x"}}, [{"id": "a", "model": "base"}], "models.x.extends", "cycle"),
    ({"bad": {"extends": "base", "blocks": 4}}, [{"id": "a", "model": "bad"}], "models.bad",
     "cannot take an input of shape"),  # a fourth pooling of a 1×1 map
    ({}, [{"id": "s", "model": "base", "sweep": {"model.colour": ["red"]}}], "experiments[0].sweep.model.colour",
     "model sweeps vary one of"),
    ({}, [{"id": "s", "model": "base", "sweep": {"optimizer.lr": [0.01, -1]}}], "experiments[0].sweep.optimizer.lr",
     "run s/lr=-1"),
])
def test_variant_and_sweep_mistakes_are_located(tmp_path, models, experiments, where, message):
    path = manifest(tmp_path, experiments, models)
    with pytest.raises(ManifestError) as info:
        load(path)
    text = str(info.value)
    assert f": {where}:" in text and message in text, text
    assert f"{path}:" in text


def test_chance_level_detection():
    chance = math.log(10)
    assert at_chance([{"train_loss": chance * 1.02, "val_acc": 0.11}], 10)
    assert not at_chance([{"train_loss": 0.5, "val_acc": 0.11}], 10)
    assert not at_chance([{"train_loss": chance, "val_acc": 0.4}], 10)


def test_sweep_runs_train_schedules_stop_early_and_stall(tmp_path):
    path = manifest(tmp_path, [
        {"id": "lr", "model": "base", "sweep": {"optimizer.lr": [0.01, 1.0e+12]},
         "train": {"optimizer": {"name": "sgd"}, "epochs": 3,
                   "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}}},
        {"id": "stuck", "model": "base", "train": {"optimizer": {"name": "sgd", "lr": 1.0e-9}, "epochs": 2}},
        {"id": "patient", "model": "base",
         "train": {"epochs": 30, "early_stopping": {"patience": 1, "min_delta": 10}}}])
    import json
    out = tmp_path / "out"
    result = cli("run", path, "--out", out)
    assert result.exit_code == 0, result.output
    runs = json.loads((out / "results.json").read_text("utf-8"))["runs"]
    ok, wild = runs["lr/lr=0.01"], runs["lr/lr=1e+12"]
    assert ok["group"] == wild["group"] == "lr" and ok["varied"] == {"lr": 0.01}
    assert [e["lr"] for e in ok["epochs"]] == pytest.approx([0.01, 0.005, 0.0025])  # step schedule, per epoch
    assert wild["status"] == "diverged" and wild["diverged_epoch"] == 1 and wild["epochs"] == []
    assert runs["stuck"]["status"] == "stalled"
    # min_delta 10 can never be met: patience 1 stops after the second epoch
    assert runs["patient"]["stopped_epoch"] == 2 and len(runs["patient"]["epochs"]) == 2


def test_diverged_run_is_tested_with_its_last_finite_weights(tmp_path):
    from reportgen.run.plan import Datasets, plan_runs

    from conftest import execute_json as execute

    # epoch 1 trains at lr 0.01; the step schedule then multiplies it by 1e12, and epoch 2 diverges
    path = manifest(tmp_path, [{"id": "w", "model": "base", "train": {
        "optimizer": {"name": "sgd", "lr": 0.01}, "epochs": 3, "schedule": {"name": "step", "step_size": 1,
                                                                            "gamma": 1.0e+12}}}])
    loaded = load(path)
    datasets = Datasets(loaded, smoke=False)
    record, state = execute(loaded, plan_runs(loaded, datasets, False)[0], datasets.get(), lambda _: None)
    assert record["status"] == "diverged" and record["diverged_epoch"] == 2 and len(record["epochs"]) == 1
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
    assert record["test"]["loss"] is not None and math.isfinite(record["test"]["loss"])
