"""Frozen features computed once: which runs cache them (and why the others do not, in their records), that a run
over cached features ends where the whole network would have, and that the choice is part of the cache key."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from reportgen.build import load
from reportgen.data.load import load_dataset
from reportgen.manifest.schema import DatasetSpec, TrainSpec
from reportgen.report.document.views.runs import config_rows
from reportgen.results.record import parse_run
from reportgen.run.features import NOT_APPLICABLE, frozen_features, split
from reportgen.run.input_pipeline import InputPipeline, resolve_compute
from reportgen.run.plan import Datasets, plan_runs
from reportgen.run.train import train_state

from conftest import execute_json, write_manifest
from manifests import MOB, SMALL, manifest_text

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")
MANIFEST = manifest_text(
    SMALL, report={"title": "Frozen features"},
    models={"res": {"torchvision": "resnet18", "weights": "none", "input_size": 16, "freeze": "backbone"},
            "mob": {**MOB, "freeze": "backbone"},
            "net": {"layers": [{"conv": {"out": 4, "kernel": 3}}, "relu", "flatten", {"linear": "classes"}]}},
    train={"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9}, "epochs": 2, "precision": "fp32"},
    experiments=[{"id": "res", "model": "res"}, {"id": "mob", "model": "mob"}, {"id": "net", "model": "net"}],
    sections=["cover", "training"])


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    return write_manifest(tmp_path_factory.mktemp("features"), MANIFEST, "features.yaml")


def _execute(manifest, experiment: str, *overrides: str) -> tuple[dict, dict, list[str]]:
    """(record, final weights, progress lines) of one experiment's run."""
    loaded = load(manifest, list(overrides))
    datasets = Datasets(loaded, smoke=False)
    plan = next(p for p in plan_runs(loaded, datasets, smoke=False) if p.id == experiment)
    lines: list[str] = []
    record, state = execute_json(loaded, plan, datasets.get(), progress=lambda m, **_: lines.append(str(m)))
    return record, state, lines


def _key(manifest, experiment: str, *overrides: str) -> str:
    loaded = load(manifest, list(overrides))
    return next(p for p in plan_runs(loaded, Datasets(loaded, smoke=False), smoke=False) if p.id == experiment).key


@pytest.mark.parametrize("experiment", [pytest.param("res", marks=pytest.mark.slow), "mob"])
def test_a_frozen_backbone_trains_on_cached_features_and_ends_as_the_whole_network_would(manifest, experiment):
    cached, cached_state, lines = _execute(manifest, experiment)
    whole, whole_state, _ = _execute(manifest, experiment, "train.cache_features=false")
    choice = cached["compute"]["features"]
    assert choice.startswith("cached: the frozen part up to ") and " MB)" in choice, choice
    assert whole["compute"]["features"] == "not cached: cache_features: false"
    if experiment == "mob":  # the classifier's dropout comes after the cut, never inside the cached part
        assert choice.endswith("; not past the dropout at classifier.0"), choice
    assert any(line.startswith("  frozen features cached: ") and " MB)" in line for line in lines), lines
    for a, b in zip(cached["epochs"], whole["epochs"], strict=True):
        for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert a[name] == pytest.approx(b[name], rel=1e-4, abs=1e-6), (name, a, b)
    assert cached["test"]["loss"] == pytest.approx(whole["test"]["loss"], rel=1e-4)
    assert cached["test"]["confusion_matrix"] == whole["test"]["confusion_matrix"]
    assert cached_state.keys() == whole_state.keys()  # the whole network is saved, tested and measured
    for name, value in cached_state.items():
        assert torch.allclose(value.float(), whole_state[name].float(), rtol=1e-4, atol=1e-5), name
    assert cached["measured"]["params"] == whole["measured"]["params"] > cached["measured"]["trainable_params"]
    sizes = ("runs", experiment, "dataset", "sizes")
    rows = dict((label, value) for label, value, *_ in config_rows(parse_run(cached), sizes))
    assert rows["Frozen features"] == choice


def test_augmentation_rules_caching_out_and_the_record_says_why(manifest):
    record, _, lines = _execute(manifest, "mob", "train.epochs=1", "train.augment.flip=true")
    reason = "not cached: augmentation changes the frozen part's inputs every epoch"
    assert record["compute"]["features"] == reason
    assert f"  frozen features {reason}" in lines


def test_a_layer_list_model_with_nothing_frozen_is_not_applicable(manifest):
    record, _, lines = _execute(manifest, "net", "train.epochs=1")
    assert record["compute"]["features"] == NOT_APPLICABLE
    assert not any("frozen features" in line for line in lines)
    rows = [label for label, *_ in config_rows(parse_run(record), ("runs", "net", "dataset", "sizes"))]
    assert "Frozen features" not in rows


def test_the_cache_key_changes_with_the_choice_and_only_then(manifest):
    keys = {name: _key(manifest, "mob", *overrides) for name, overrides in {
        "cached": (), "off": ("train.cache_features=false",), "augmented": ("train.augment.flip=true",),
        "unfrozen": ("experiments[mob].freeze=none",)}.items()}
    assert len(set(keys.values())) == len(keys), keys
    assert _key(manifest, "mob", "train.cache_features=auto") == keys["cached"]  # the default spelled out
    assert _key(manifest, "net", "train.cache_features=false") == _key(manifest, "net")  # nothing to cache there


# ------------------------------------------------------------------ the cut, and what rules caching out, unit by unit


def _frozen(model: nn.Module, *trainable: int) -> nn.Module:
    """model with every parameter frozen except those of the listed children."""
    for i, child in enumerate(model):
        for p in child.parameters():
            p.requires_grad_(i in trainable)
    return model


def test_the_cut_comes_before_the_first_trainable_layer_and_any_mode_dependent_one():
    torch.manual_seed(0)
    conv = lambda c=1: nn.Conv2d(c, 2, 3, padding=1)  # noqa: E731
    chain = _frozen(nn.Sequential(conv(), nn.ReLU(), conv(2), nn.Flatten(), nn.Linear(128, 3)), 4)
    cut = split(chain)
    assert cut.where == "3" and cut.stopped is None  # after the flatten: the features are what the head sees
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(cut.rest(cut.prefix(x)), chain.eval()(x))
    dropped = _frozen(nn.Sequential(conv(), nn.Dropout(0.5), conv(2), nn.Flatten(), nn.Linear(128, 3)), 4)
    assert (split(dropped).where, split(dropped).stopped) == ("0", "dropout at 1")
    first = _frozen(nn.Sequential(nn.BatchNorm2d(1, affine=False), conv(), nn.Flatten(), nn.Linear(128, 3)), 3)
    assert split(first) == "not cached: batch normalisation in training mode at 0 comes first in the frozen part"
    frozen_bn = _frozen(nn.Sequential(conv(), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(128, 3)), 3)
    assert split(frozen_bn).where == "2"  # a frozen BatchNorm keeps its running statistics while training
    assert split(_frozen(nn.Sequential(conv(), nn.Flatten(), nn.Linear(128, 3)), 0, 2)) == \
        "not cached: no frozen layer comes before the first trainable one"


class _Branching(nn.Module):
    """A forward pass that depends on the data: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.conv, self.head = nn.Conv2d(1, 2, 3), nn.Linear(72, 3)

    def forward(self, x):
        x = self.conv(x)
        return self.head(x.flatten(1) if x.sum() > 0 else -x.flatten(1))


def test_a_network_that_cannot_be_traced_is_not_cached_and_says_so():
    model = _Branching()
    model.conv.requires_grad_(False)
    assert split(model) == "not cached: the network could not be traced (TraceError)"


def test_the_features_estimate_is_printed_and_bounded(tmp_path):
    splits = load_dataset(DatasetSpec(name="digits", image_size=8, channels=1, seed=7), tmp_path)
    spec = TrainSpec.model_validate({"epochs": 1, "device": "cpu", "precision": "fp32"})
    model = _frozen(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10)), 3)
    pipe = InputPipeline(splits.mean, splits.std, CPU)
    run = train_state(model, splits, spec, resolve_compute(spec, CPU), pipe)
    test = pipe.hold(splits.test_x, splits.test_y)
    megabytes = 144 * 4 * (len(splits.train_x) + len(splits.val_x) + len(splits.test_x)) / 1e6  # float32 features
    lines: list[str] = []
    over = frozen_features(run, test, lines.append, budget=100_000)
    assert over.run is None and over.choice == (f"not cached: the features would take {megabytes:,.1f} MB, over the "
                                                f"budget of 0.1 MB")
    assert lines == [f"  frozen features {over.choice}"]
    fits = frozen_features(run, test, lines.append)
    assert fits.choice == f"cached: the frozen part up to 2 runs once per image (144 features, {megabytes:,.1f} MB)"
    assert fits.run.train.x.shape == (len(splits.train_x), 144) and fits.test.n == len(splits.test_x)
    assert lines[-1].startswith(f"  frozen features {fits.choice}; computed in ")
