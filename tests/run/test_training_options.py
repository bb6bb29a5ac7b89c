"""Training options: class weights, focal loss, the plateau schedule, `checkpoint: best` and gradient clipping, each
trained for real on the digits at 8×8, recorded, shown in the settings table and part of the cache key."""

from __future__ import annotations

import copy
import json
import math
import re

import numpy as np
import pytest
import torch
from pydantic import ValidationError
from torch import nn
from torch.nn import functional as F

from reportgen.build import load
from reportgen.data.load import load_dataset
from reportgen.manifest.schema import DatasetSpec, TrainSpec
from reportgen.report.document.views.runs import config_rows
from reportgen.results.record import parse_run
from reportgen.results.run_record import RunRecord
from reportgen.run import checkpoint
from reportgen.run.input_pipeline import InputPipeline, resolve_compute
from reportgen.run.losses import FocalLoss, chance_loss, class_weights, make_loss
from reportgen.run.plan import Datasets, plan_runs
from reportgen.run.train import TrainState, Trained, at_chance, fit, predict, train_epoch, train_state

from conftest import execute_json, REPO, cli, write_manifest
from manifests import SMALL, manifest_text, variant

CPU = torch.device("cpu")
OPTIONS = variant(SMALL, report={"title": "Training options"},
                  models={"net": {"layers": [{"conv": {"out": 4, "kernel": 3}}, "relu", "flatten",
                                             {"linear": "classes"}]}},
                  train={"epochs": 3, "precision": "fp32"}, sections=["cover", "training"])
MANIFEST = manifest_text(OPTIONS)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Bit-identical comparisons between fits in one process, and faster epochs on a busy two-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    """The bundled digits at 8×8: about 1,150 training, 290 validation and 360 test images of 10 classes."""
    return load_dataset(DatasetSpec(name="digits", image_size=8, channels=1, seed=7), tmp_path_factory.mktemp("d"))


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))


def _spec(**kw) -> TrainSpec:
    base = {"optimizer": {"name": "adam", "lr": 0.01}, "epochs": 4, "batch_size": 64, "seed": 0, "device": "cpu",
            "precision": "fp32"}
    return TrainSpec.model_validate({**base, **kw})


def _pipe(splits) -> InputPipeline:
    return InputPipeline(splits.mean, splits.std, CPU)


def _fit(splits, spec: TrainSpec, model: nn.Module | None = None, on_epoch=None, checkpoint=None, resume=None):
    """(what trained, what it did): the model trained on splits as spec says, resumed from a partial checkpoint."""
    run = train_state(model if model is not None else _model(), splits, spec, resolve_compute(spec, CPU), _pipe(splits))
    return run, fit(run, Trained.resumed(run, resume) if resume is not None else None, on_epoch, checkpoint)


def _rows(out: Trained) -> list[dict]:
    return [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in out.epochs]


def _same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------------------------------- losses


def _focal_reference(logits: np.ndarray, target: np.ndarray, gamma: float, alpha: np.ndarray | None) -> float:
    """-α_t (1 - p_t)^γ log p_t, mean over the batch, from an explicit float64 softmax."""
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pt = p[np.arange(len(target)), target]
    a = alpha[target] if alpha is not None else 1.0
    return float(np.mean(-a * (1 - pt) ** gamma * np.log(pt)))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("weighted", [False, True], ids=["no-alpha", "alpha"])
def test_focal_loss_and_its_gradient_match_a_float64_reference(gamma, weighted):
    gen = torch.Generator().manual_seed(1)
    logits = (torch.randn(64, 5, generator=gen) * 3).requires_grad_()
    target = torch.randint(0, 5, (64,), generator=gen)
    alpha = torch.tensor([0.5, 1.0, 2.0, 0.25, 4.0]) if weighted else None
    loss = FocalLoss(gamma, alpha)(logits, target)
    assert loss.item() == pytest.approx(
        _focal_reference(logits.detach().numpy(), target.numpy(), gamma, alpha.numpy() if weighted else None), rel=1e-5)
    loss.backward()
    z = logits.detach().double().requires_grad_()
    p = torch.softmax(z, 1)[torch.arange(64), target]  # an explicit softmax, not cross_entropy
    a = alpha.double()[target] if weighted else 1.0
    (-(a * (1 - p) ** gamma * torch.log(p)).mean()).backward()
    assert torch.allclose(logits.grad.double(), z.grad, atol=1e-6)


def test_focal_loss_at_gamma_0_is_cross_entropy():
    gen = torch.Generator().manual_seed(2)
    logits, target = torch.randn(50, 10, generator=gen) * 4, torch.randint(0, 10, (50,), generator=gen)
    assert torch.allclose(FocalLoss(0.0)(logits, target), F.cross_entropy(logits, target), atol=1e-6)
    w = torch.rand(10, generator=gen) + 0.5  # with class weights: α_t · CE, the plain mean over the batch
    assert torch.allclose(FocalLoss(0.0, w)(logits, target),
                          (w[target] * F.cross_entropy(logits, target, reduction="none")).mean(), atol=1e-6)
    assert FocalLoss(2.0)(logits, target) < F.cross_entropy(logits, target)  # confident examples count less


def test_focal_loss_gradient_stays_finite_when_p_t_rounds_to_1():
    logits = torch.tensor([[60.0, 0.0, 0.0], [0.0, 3.0, 0.0]], requires_grad=True)
    loss = FocalLoss(0.5)(logits, torch.tensor([0, 1]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert torch.equal(logits.grad[0], torch.zeros(3))  # the certain example contributes nothing


def test_make_loss_builds_what_the_spec_names():
    w = [1.0, 2.0, 3.0]
    ce = make_loss(_spec(label_smoothing=0.1, class_weights=w), w, CPU)
    assert isinstance(ce, nn.CrossEntropyLoss) and ce.label_smoothing == 0.1 and ce.weight.tolist() == w
    focal = make_loss(_spec(loss="focal", focal_gamma=3.0, class_weights=w), w, CPU)
    assert isinstance(focal, FocalLoss) and focal.gamma == 3.0 and focal.weight.tolist() == w
    assert make_loss(_spec(loss="categorical_focal_crossentropy"), None, CPU).weight is None


def test_balanced_class_weights_are_n_over_classes_times_count_of_the_training_split(splits):
    assert class_weights(_spec(class_weights="balanced"), torch.tensor([0, 0, 0, 1, 2, 2]), ["a", "b", "c"]) == \
        pytest.approx([6 / 9, 6 / 3, 6 / 6])
    counts = np.bincount(splits.train_y.numpy(), minlength=10)
    expected = len(splits.train_y) / (10 * counts)
    got = class_weights(_spec(class_weights="balanced"), splits.train_y, splits.classes)
    assert got == pytest.approx(expected.tolist())
    assert got != pytest.approx((len(splits.val_y) / (10 * np.bincount(splits.val_y.numpy()))).tolist())
    assert float(np.dot(counts, got)) == pytest.approx(len(splits.train_y))  # the mean weight per image is 1
    with pytest.raises(ValueError, match="c has no training images"):
        class_weights(_spec(class_weights="balanced"), torch.tensor([0, 1, 1]), ["a", "b", "c"])


def test_an_explicit_weight_list_needs_one_weight_per_class(splits):
    assert class_weights(_spec(class_weights=[1, 2, 3]), torch.tensor([0, 1]), ["a", "b", "c"]) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"lists 3 weights, but the dataset has 10 classes \(0, 1, 2"):
        _fit(splits, _spec(class_weights=[1, 2, 3], epochs=1))
    with pytest.raises(ValidationError, match="greater than 0"):
        _spec(class_weights=[1, 0])


def test_a_wrong_length_weight_list_stops_the_build_with_the_run_named(tmp_path):
    manifest = write_manifest(tmp_path, MANIFEST, "weights.yaml")
    result = cli("run", manifest, "--set", "train.class_weights=[1, 2]", "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "run base: class_weights lists 2 weights, but the dataset has 10 classes" in result.output
    assert ": training " not in result.output  # found by the checks before training, not by the first run


def test_class_weights_shift_training_towards_the_heavy_class(splits):
    plain, _ = _fit(splits, _spec(epochs=2, optimizer={"name": "sgd", "lr": 0.05}))
    heavy, _ = _fit(splits, _spec(epochs=2, optimizer={"name": "sgd", "lr": 0.05}, class_weights=[30.0] + [1.0] * 9))
    assert plain.class_weights is None and heavy.class_weights == [30.0] + [1.0] * 9
    pipe, compute = _pipe(splits), resolve_compute(_spec(), CPU)
    share = [(predict(m, pipe.hold(splits.val_x, splits.val_y), pipe, 256, compute)[1] == 0).float().mean().item()
             for m in (plain.model, heavy.model)]
    assert share[1] > share[0] + 0.05, share  # class 0 is a tenth of the images: weighted, it is predicted more


def test_focal_training_learns_and_its_chance_level_is_the_focal_loss_of_a_uniform_guess(splits):
    _, out = _fit(splits, _spec(loss="focal", focal_gamma=2.0, epochs=3))
    assert out.status == "completed" and out.epochs[-1]["val_acc"] > 0.8
    losses = [e["train_loss"] for e in out.epochs]
    assert losses[-1] < losses[0] < math.log(10)
    chance = chance_loss(_spec(loss="focal", focal_gamma=2.0), None, splits.train_y, 10)
    assert chance == pytest.approx(0.81 * math.log(10))
    stalled = [{"train_loss": chance * 1.02, "val_acc": 0.1}]
    assert at_chance(stalled, 10, chance) and not at_chance(stalled, 10)


def test_label_smoothing_is_a_cross_entropy_option():
    with pytest.raises(ValidationError, match="label_smoothing applies to the cross_entropy loss only"):
        _spec(loss="focal", label_smoothing=0.1)
    assert _spec(loss="focal_loss").loss == "focal"


# -------------------------------------------------------------------------------------------- plateau schedule


def _plateau_reference(val_losses: list[float], lr: float, factor: float, patience: int, threshold: float,
                       min_lr: float) -> list[float]:
    """The learning rate at the start of each epoch, by ReduceLROnPlateau's rule (absolute threshold, no cooldown)."""
    lrs, best, bad = [lr], math.inf, 0
    for v in val_losses[:-1]:
        if v < best - threshold:
            best, bad = v, 0
        else:
            bad += 1
        if bad > patience:
            lr, bad = max(lr * factor, min_lr), 0
        lrs.append(lr)
    return lrs


@pytest.mark.parametrize("patience", [0, 1])
def test_plateau_cuts_the_learning_rate_when_the_validation_loss_stops_improving(splits, patience):
    schedule = {"name": "plateau", "factor": 0.5, "patience": patience, "threshold": 0.02, "threshold_mode": "abs",
                "min_lr": 0.003}
    _, out = _fit(splits, _spec(epochs=8, schedule=schedule))
    lrs = [e["lr"] for e in out.epochs]
    val = [e["val_loss"] for e in out.epochs]
    assert lrs == pytest.approx(_plateau_reference(val, 0.01, 0.5, patience, 0.02, 0.003))
    assert lrs[0] == 0.01 and lrs[-1] < 0.01 and min(lrs) >= 0.003, lrs
    if patience == 0:
        assert lrs[-1] == 0.003  # 0.01 → 0.005 → 0.0025, held at min_lr


@pytest.mark.parametrize("options", [
    {"schedule": {"name": "plateau", "factor": 0.5, "patience": 0, "threshold": 0.05, "threshold_mode": "abs"},
     "grad_clip": {"max_norm": 2.0}},
    {"checkpoint": "best", "loss": "focal", "class_weights": "balanced", "early_stopping": {"patience": 2},
     "optimizer": {"name": "adam", "lr": 0.05}, "grad_clip": {"value": 0.5}},
], ids=["plateau", "best-focal-early-stopping"])
def test_a_run_resumed_mid_way_gives_identical_epoch_rows_and_weights(splits, tmp_path, options):
    spec = _spec(epochs=7, **options)
    ref_run, ref = _fit(splits, spec)
    path = tmp_path / "partial.pt"

    def interrupt(row):
        if row["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _fit(splits, spec, on_epoch=interrupt, checkpoint=path)
    state = checkpoint.load(path)
    assert [e["epoch"] for e in state["epochs"]] == [1, 2, 3]
    run, out = _fit(splits, spec, checkpoint=path, resume=state)
    assert _rows(out) == _rows(ref) and out.best_epoch == ref.best_epoch
    assert (out.status, out.stopped_epoch) == (ref.status, ref.stopped_epoch)
    assert _same_state(run.model.state_dict(), ref_run.model.state_dict())
    if "schedule" in options:  # the plateau's own state carried the cut after the interruption
        assert state["scheduler"]["best"] < math.inf
        assert any(b["lr"] < a["lr"] for a, b in zip(ref.epochs[3:], ref.epochs[4:])), ref.epochs


def test_a_partial_checkpoint_without_the_best_weights_is_corrupt_for_checkpoint_best(splits, tmp_path):
    path = tmp_path / "partial.pt"
    _fit(splits, _spec(epochs=2), checkpoint=path)  # trained with checkpoint: last, so no best weights were saved
    model = _model()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(checkpoint.Corrupt, match="lacks the weights of its best epoch"):
        _fit(splits, _spec(epochs=3, checkpoint="best"), model=model, resume=checkpoint.load(path))
    assert _same_state(model.state_dict(), before)  # raised before anything was loaded


# ----------------------------------------------------------------------------------------------- checkpoint: best


def test_checkpoint_best_ends_with_the_weights_of_the_lowest_validation_loss(splits):
    saved, model = {}, _model()
    spec = _spec(epochs=30, checkpoint="best", optimizer={"name": "adam", "lr": 0.05},
                 early_stopping={"patience": 2})
    _, out = _fit(splits, spec, model=model,
                  on_epoch=lambda row: saved.__setitem__(row["epoch"], copy.deepcopy(model.state_dict())))
    val = [e["val_loss"] for e in out.epochs]
    assert out.stopped_epoch == len(val) and out.best_epoch == 1 + val.index(min(val)) == len(val) - 2
    assert _same_state(model.state_dict(), saved[out.best_epoch])
    assert not _same_state(model.state_dict(), saved[len(val)])
    pipe, compute = _pipe(splits), resolve_compute(spec, CPU)
    loss, _ = predict(model, pipe.hold(splits.val_x, splits.val_y), pipe, 64, compute)
    assert loss == pytest.approx(min(val), rel=1e-6)


def test_checkpoint_last_keeps_the_final_weights_and_records_no_best_epoch(splits):
    saved, model = {}, _model()
    _, out = _fit(splits, _spec(epochs=2), model=model,
                  on_epoch=lambda row: saved.__setitem__(row["epoch"], copy.deepcopy(model.state_dict())))
    assert out.best_epoch is None and _same_state(model.state_dict(), saved[2])


def test_a_diverged_run_keeps_its_last_finite_weights_with_checkpoint_best(splits):
    saved, model = {}, _model()

    def spoil(row):
        saved[row["epoch"]] = copy.deepcopy(model.state_dict())
        with torch.no_grad():
            if row["epoch"] == 3:  # epoch 4 starts from scrambled weights: its validation loss is the worst
                for p in model.parameters():
                    p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(9)) * 3)
            if row["epoch"] == 4:  # and epoch 5 from infinite ones: it diverges
                model[3].bias.fill_(math.inf)

    _, out = _fit(splits, _spec(epochs=6, checkpoint="best", optimizer={"name": "adam", "lr": 0.001}),
                  model=model, on_epoch=spoil)
    val = [e["val_loss"] for e in out.epochs]
    assert out.status == "diverged" and out.diverged_epoch == 5 and len(val) == 4
    assert val[3] > min(val[:3])  # an earlier epoch was better ...
    assert out.best_epoch is None and _same_state(model.state_dict(), saved[4])  # ... yet the last finite is kept


def test_execute_tests_and_keeps_the_best_epochs_weights_and_records_it(tmp_path):
    """The record's test metrics and kept weights are those of the best epoch: equal to a run stopped there."""
    manifest = write_manifest(tmp_path, MANIFEST, "best.yaml")
    options = ["train.optimizer.lr=0.05", "train.loss=focal", "train.class_weights=balanced"]
    best = _execute(manifest, options + ["train.epochs=30", "train.checkpoint=best",
                                         "train.early_stopping.patience=2"])
    rec, state = best
    assert rec["best_epoch"] is not None and rec["best_epoch"] < len(rec["epochs"]) == rec["stopped_epoch"]
    assert rec["config"]["checkpoint"] == "best" and rec["config"]["loss"] == "focal"
    short, short_state = _execute(manifest, options + [f"train.epochs={rec['best_epoch']}"])
    assert short["best_epoch"] is None
    assert rec["test"] == short["test"] and _same_state(state, short_state)
    assert rec["class_weights"] == short["class_weights"] and len(rec["class_weights"]) == 10
    assert rec["measured"]["params"] == short["measured"]["params"]


def _execute(manifest, overrides):
    loaded = load(manifest, overrides)
    datasets = Datasets(loaded, smoke=False)
    plan = plan_runs(loaded, datasets, smoke=False)[0]
    return execute_json(loaded, plan, datasets.get(), progress=lambda _: None)


# ---------------------------------------------------------------------------------------------- gradient clipping


def _one_step(splits, clip: dict | None, scaler=None) -> tuple[torch.Tensor, float]:
    """(parameter change, norm of the unclipped gradient) of one SGD step (lr 1) over 256 training images."""
    spec = _spec(optimizer={"name": "sgd", "lr": 1.0}, grad_clip=clip, batch_size=256)
    model, pipe = _model(), _pipe(splits)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    data = pipe.hold(splits.train_x[:256], splits.train_y[:256])
    F.cross_entropy(model(pipe(data.x)), data.y).backward()
    raw = torch.cat([p.grad.flatten() for p in model.parameters()]).norm().item()
    model.zero_grad()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    train_epoch(TrainState(model, opt, nn.CrossEntropyLoss(), pipe, data, spec, resolve_compute(spec, CPU),
                           scaler=scaler))
    return torch.cat([p.detach().flatten() for p in model.parameters()]) - before, raw


@pytest.mark.parametrize("scaled", [False, True], ids=["fp32", "fp16-loss-scaling"])
def test_clipping_by_norm_bounds_the_step_and_applies_to_the_unscaled_gradients(splits, scaled):
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 16) if scaled else None
    step, raw = _one_step(splits, {"max_norm": 0.01}, scaler)
    assert raw > 0.1  # the clip binds
    assert step.norm().item() == pytest.approx(0.01, rel=1e-4)  # clipping the scaled ones would give 0.01 / 65536
    free, _ = _one_step(splits, None, scaler)
    assert free.norm().item() == pytest.approx(raw, rel=1e-4)
    assert torch.allclose(step, free * (0.01 / raw), atol=1e-7)  # same direction, shorter


def test_clipping_by_value_clamps_every_element(splits):
    step, _ = _one_step(splits, {"value": 0.002})
    free, _ = _one_step(splits, None)
    assert step.abs().max().item() == pytest.approx(0.002, rel=1e-5) and free.abs().max().item() > 0.01
    assert torch.allclose(step, free.clamp(-0.002, 0.002), atol=1e-7)


def test_grad_clip_takes_exactly_one_way():
    for bad in ({}, {"max_norm": 1.0, "value": 0.5}):
        with pytest.raises(ValidationError, match="one of `max_norm`"):
            _spec(grad_clip=bad)


# ------------------------------------------------------------------------------ manifest, sweeps, key and report


NEW_OPTIONS = ["train.loss=focal", "train.focal_gamma=3", "train.class_weights=balanced",
               "train.class_weights=[1,1,1,1,1,1,1,1,1,2]", "train.checkpoint=best", "train.grad_clip.max_norm=1",
               "train.grad_clip.value=0.5", "train.schedule.name=plateau"]
PLATEAU_OPTIONS = ["factor=0.5", "patience=3", "threshold=0.01", "threshold_mode=abs", "cooldown=1", "min_lr=1e-5"]


def test_each_new_option_changes_the_run_cache_key(tmp_path):
    manifest = write_manifest(tmp_path, MANIFEST, "keys.yaml")
    loaded = load(manifest)
    datasets = Datasets(loaded, smoke=False)

    def key(*overrides):
        return plan_runs(load(manifest, list(overrides)), datasets, smoke=False)[0].key

    plateau = "train.schedule.name=plateau"
    keys = [key()] + [key(o) for o in NEW_OPTIONS] + [key(plateau, f"train.schedule.{o}") for o in PLATEAU_OPTIONS]
    assert len(set(keys)) == len(keys) == 1 + len(NEW_OPTIONS) + len(PLATEAU_OPTIONS)
    assert key("train.checkpoint=last") == keys[0]  # the default, spelled out, is the same run


def test_the_new_options_are_recorded_in_the_run_config(tmp_path):
    loaded = load(write_manifest(tmp_path, MANIFEST, "config.yaml"), [
        "train.loss=focal", "train.class_weights=balanced", "train.checkpoint=best", "train.grad_clip.max_norm=1",
        "train.schedule.name=plateau", "train.schedule.patience=2"])
    config = plan_runs(loaded, Datasets(loaded, smoke=False), smoke=False)[0].spec.model_dump(mode="json")
    assert (config["loss"], config["focal_gamma"], config["class_weights"], config["checkpoint"]) == \
        ("focal", 2.0, "balanced", "best")
    assert config["grad_clip"] == {"max_norm": 1.0, "value": None}
    assert config["schedule"]["name"] == "plateau" and config["schedule"]["patience"] == 2


def test_the_new_options_can_be_swept(tmp_path):
    text = manifest_text(OPTIONS, experiments=[
        {"id": "losses", "model": "net",
         "sweep": {"loss": ["cross_entropy", "focal"], "grad_clip.max_norm": [0.5, 1.0]}},
        {"id": "kept", "model": "net",
         "sweep": {"train.checkpoint": ["last", "best"], "schedule.name": ["step", "plateau"]}}])
    loaded = load(write_manifest(tmp_path, text, "sweep.yaml"))
    runs = {r.id: r.train for r in loaded.runs}
    assert set(runs) == {"losses/loss=focal,max_norm=1", "losses/loss=focal,max_norm=0.5",
                         "losses/loss=cross_entropy,max_norm=1", "losses/loss=cross_entropy,max_norm=0.5",
                         "kept/checkpoint=best,schedule=plateau", "kept/checkpoint=best,schedule=step",
                         "kept/checkpoint=last,schedule=plateau", "kept/checkpoint=last,schedule=step"}
    assert runs["losses/loss=focal,max_norm=0.5"].loss == "focal"
    assert runs["losses/loss=focal,max_norm=0.5"].grad_clip.max_norm == 0.5
    assert runs["kept/checkpoint=best,schedule=plateau"].schedule.name == "plateau"


@pytest.mark.parametrize("train,hint", [
    ({"clipnorm": 1.0}, "did you mean 'grad_clip.max_norm'?"),
    ({"class_weight": "balanced"}, "did you mean 'class_weights'?"),
    ({"restore_best_weights": True}, "did you mean 'checkpoint'?"),
    ({"schedule": {"name": "ReduceLROnPlateau"}}, "did you mean 'plateau'?"),
    ({"schedule": {"name": "plateau", "min_delta": 0.01}}, "did you mean 'threshold'?"),
    ({"loss": "focall"}, "unknown loss 'focall'"),
])
def test_keras_and_pytorch_words_for_the_new_options_get_a_hint(tmp_path, train, hint):
    text = manifest_text(OPTIONS, experiments=[{"id": "base", "model": "net", "train": train}])
    result = cli("validate", write_manifest(tmp_path, text, "hint.yaml"))
    assert result.exit_code == 2 and hint in result.output, result.output


def _record(**changes) -> RunRecord:
    """A run record of the committed template fixture, with its config (and record) changed."""
    results = json.loads((REPO / "tests" / "fixtures" / "results-small.json").read_text("utf-8"))
    run = copy.deepcopy(next(iter(results["runs"].values())))
    run["config"].update(changes.pop("config", {}))
    run.update(changes)
    return parse_run(run)


def _table(run: RunRecord) -> dict[str, str]:
    """The settings table as label → cell text (keyed numbers without their spans)."""
    return {label: re.sub(r"<[^>]+>", "", str(cells[0])) for label, *cells in config_rows(run, ("dataset", "sizes"))
            if len(cells) == 1}


def test_the_settings_table_shows_each_option_only_when_it_is_not_the_default():
    plain = _table(_record(config={"class_weights": None, "focal_gamma": 2.0, "grad_clip": None,
                                   "checkpoint": "last"}))
    assert plain["Loss"] == "cross-entropy (sparse integer labels)"
    assert not {"Gradient clipping", "Weights tested", "Learning-rate schedule"} & set(plain)

    rows = [{"epoch": i + 1, "lr": lr, "train_loss": 1.0, "val_loss": 1.0, "train_acc": 0.5, "val_acc": 0.5,
             "seconds": 0.1, "images": 64, "images_per_s": None}
            for i, lr in enumerate([0.01, 0.01, 0.001, 0.001, 0.0001])]
    table = _table(_record(epochs=rows, best_epoch=3, class_weights=[0.5, 2.0], config={
        "loss": "focal", "focal_gamma": 3.0, "class_weights": "balanced", "checkpoint": "best",
        "grad_clip": {"max_norm": 1.0, "value": None},
        "schedule": {"name": "plateau", "factor": 0.1, "patience": 2, "threshold": 1e-4, "threshold_mode": "rel",
                     "cooldown": 0, "min_lr": 0.0}}))
    assert table["Loss"].startswith("focal loss −α_t (1 − p_t)^γ log p_t, γ = 3, mean over the batch")
    assert "balanced class weights (n / (classes × images of the class) over the training split: 0.5, 2)" in \
        table["Loss"] and table["Loss"].endswith("the validation and test losses are plain cross-entropy")
    assert table["Learning-rate schedule"] == ("reduce on plateau: × 0.1 after 2 epochs without improvement of the "
                                               "validation loss; reduced before epochs 3 (to 0.001) and 5 (to 0.0001)")
    assert table["Gradient clipping"] == "total L2 norm of the gradients clipped to 1 before each step"
    assert table["Weights tested"] == "those of epoch 3, the lowest validation loss (checkpoint: best)"
    run = _record(best_epoch=3, config={"checkpoint": "best"})
    cell = next(cells[0] for label, *cells in config_rows(run, ("dataset", "sizes")) if label == "Weights tested")
    assert f'<span data-key="runs.{run.id}.best_epoch" data-fmt="num">3</span>' in cell.__html__()


def test_the_settings_table_words_cross_entropy_options_and_a_diverged_best_run():
    table = _table(_record(status="diverged", diverged_epoch=2, best_epoch=None, config={
        "label_smoothing": 0.1, "class_weights": [1.0, 3.0], "checkpoint": "best", "grad_clip": {"value": 0.5},
        "schedule": {"name": "plateau", "factor": 0.5, "patience": 0, "threshold": 0.05, "threshold_mode": "abs",
                     "cooldown": 1, "min_lr": 1e-5}}))
    assert table["Loss"] == ("cross-entropy (sparse integer labels); label smoothing 0.1; class weights 1, 3, as "
                             "PyTorch's weighted mean; the validation and test losses are plain cross-entropy")
    assert table["Learning-rate schedule"].startswith(
        "reduce on plateau: × 0.5 after 0 epochs without improvement of the validation loss (by at least 0.05, "
        "absolute), then 1 epoch of cooldown, down to at least 1e-05")
    assert table["Gradient clipping"] == "each gradient element clipped to ±0.5 before each step"
    assert table["Weights tested"].startswith("the last finite weights: the run diverged")
