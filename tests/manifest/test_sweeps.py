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

BASE = """\
report: {title: Sweeps}
dataset: {name: digits, image_size: 8, channels: 1}
models:
  base:
    layers:
      - conv: {out: 4, kernel: 3, padding: same}
      - relu
      - maxpool: 2
      - conv: {out: 8, kernel: 3, padding: same}
      - relu
      - maxpool: 2
      - flatten
      - linear: 16
      - relu
      - dropout: 0.2
      - linear: classes
%MODELS%
train: {epochs: 2, batch_size: 64, device: cpu, optimizer: {name: adam, lr: 0.01}}
experiments:
%EXPERIMENTS%
"""


def manifest(tmp_path, experiments: str, models: str = "", name: str = "m.yaml"):
    path = tmp_path / name
    path.write_text(BASE.replace("%MODELS%", models).replace("%EXPERIMENTS%", experiments), "utf-8")
    return path


def test_grid_sweep_expands_to_every_combination_with_readable_ids(tmp_path):
    loaded = load(manifest(tmp_path, "  - id: grid\n    model: base\n"
                                     "    sweep: {optimizer.lr: [0.001, 0.01, 0.1], batch_size: [16, 32]}\n"))
    runs = loaded.runs
    assert len(runs) == 6
    assert [r.id for r in runs[:2]] == ["grid/lr=0.001,batch_size=16", "grid/lr=0.001,batch_size=32"]
    for r in runs:
        assert r.group == "grid" and r.train.optimizer.lr == r.varied["lr"] and r.train.batch_size == r.varied["batch_size"]
        assert r.train.optimizer.name == "adam" and r.train.epochs == 2  # untouched values keep their defaults


def test_sweep_over_names_and_train_prefix(tmp_path):
    loaded = load(manifest(tmp_path, "  - id: opt\n    model: base\n"
                                     "    sweep: {optimizer.name: [sgd, adagrad], train.epochs: [1]}\n"))
    assert [r.id for r in loaded.runs] == ["opt/optimizer=sgd,epochs=1", "opt/optimizer=adagrad,epochs=1"]
    assert [r.train.optimizer.name for r in loaded.runs] == ["sgd", "adagrad"]
    assert all(r.train.epochs == 1 for r in loaded.runs)


def _total(loaded, name):
    return sum(p.numel() for p in build_manifest_model(loaded, name).parameters())


def test_variants_are_derived_and_counted_from_the_modules(tmp_path):
    models = ("  one: {extends: base, blocks: 1}\n"
              "  wide: {extends: base, channels: [16, 32], dense: [64]}\n"
              "  three: {extends: base, blocks: 3, pool: [2, 2, 1]}\n"
              "  pools: {extends: base, pool: [2, 4]}\n"
              "  pool1: {extends: base, pool: 1}\n"
              "  nodrop: {extends: base, drop_blocks: [2], activation: gelu, dropout: 0.5}\n"
              "  wide_gelu: {extends: wide, activation: gelu}\n")
    loaded = load(manifest(tmp_path, "  - {id: a, model: one}\n  - {id: b, model: wide}\n  - {id: c, model: three}\n"
                                     "  - {id: d, model: nodrop}\n  - {id: e, model: wide_gelu}\n"
                                     "  - {id: f, model: pools}\n  - {id: g, model: pool1}\n", models))
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
    loaded = load(manifest(tmp_path, "  - id: act\n    model: base\n"
                                     "    sweep: {model.activation: [tanh, relu6], model.dense: [[32]]}\n"))
    assert [r.model for r in loaded.runs] == ["base[activation=tanh,dense=32]", "base[activation=relu6,dense=32]"]
    rec = model_record(loaded, "base[activation=relu6,dense=32]")
    assert [r["type"] for r in rec["layers"]].count("ReLU6") == 3
    assert rec["variant"] == {"activation": "relu6", "dense": [32]} and rec["extends"] == "base"


@pytest.mark.parametrize("models, experiments, where, message", [
    ("  bad: {extends: base, channels: [1, 2, 3]}\n", "  - {id: a, model: bad}\n", "models.bad.channels",
     "channels lists 3 values but the model has 2 conv layers"),
    ("  bad: {extends: nowhere}\n", "  - {id: a, model: base}\n", "models.bad.extends", "unknown model 'nowhere'"),
    ("  x: {extends: y}\n  y: {extends: x}\n", "  - {id: a, model: base}\n", "models.x.extends", "cycle"),
    ("  bad: {extends: base, blocks: 4}\n", "  - {id: a, model: bad}\n", "models.bad",
     "cannot take an input of shape"),  # a fourth pooling of a 1×1 map
    ("", "  - id: s\n    model: base\n    sweep: {model.colour: [red]}\n", "experiments[0].sweep.model.colour",
     "model sweeps vary one of"),
    ("", "  - id: s\n    model: base\n    sweep: {optimizer.lr: [0.01, -1]}\n", "experiments[0].sweep.optimizer.lr",
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
    path = manifest(tmp_path,
                    "  - id: lr\n    model: base\n    sweep: {optimizer.lr: [0.01, 1.0e+12]}\n"
                    "    train: {optimizer: {name: sgd}, epochs: 3, schedule: {name: step, step_size: 1, gamma: 0.5}}\n"
                    "  - id: stuck\n    model: base\n    train: {optimizer: {name: sgd, lr: 1.0e-9}, epochs: 2}\n"
                    "  - id: patient\n    model: base\n"
                    "    train: {epochs: 30, early_stopping: {patience: 1, min_delta: 10}}\n")
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
    path = manifest(tmp_path, "  - id: w\n    model: base\n    train: {optimizer: {name: sgd, lr: 0.01}, epochs: 3,"
                              " schedule: {name: step, step_size: 1, gamma: 1.0e+12}}\n")
    loaded = load(path)
    datasets = Datasets(loaded, smoke=False)
    record, state = execute(loaded, plan_runs(loaded, datasets, False)[0], datasets.get(), lambda _: None)
    assert record["status"] == "diverged" and record["diverged_epoch"] == 2 and len(record["epochs"]) == 1
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
    assert record["test"]["loss"] is not None and math.isfinite(record["test"]["loss"])
