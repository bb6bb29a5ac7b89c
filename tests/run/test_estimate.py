"""The estimate before training: `build --plan` and `validate --plan` print a row per run and a total and train
nothing; cached runs cost nothing; a build over an hour is warned about with what would shorten it; `build` says
its estimate as it starts. Behaviour and bounds, never speed thresholds."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest

from conftest import TINY_MANIFEST, cli, write_manifest
from manifests import BARE, manifest_text
from reportgen import build
from reportgen.run.estimate import PlanDatasets, estimate_runs, run_seconds, wall_time
from reportgen.run.plan import plan_runs
from reportgen.run.probe import GROWTHS, PROBE_BATCH, FeatureSpeed, Speed, measure_speed, timed_batch

BIG_FINETUNE = manifest_text(
    BARE, report={"title": "A long fine-tune"},
    dataset={"name": "cifar10", "root": "no-such-folder", "val_fraction": 0.1, "image_size": None, "channels": None},
    models={"resnet18": {"torchvision": "resnet18", "weights": "none", "input_size": 224}},
    train={"epochs": 10}, experiments=[{"id": "finetune", "model": "resnet18"}])


def seconds_of(text: str) -> float:
    """'1 h 02 min', '3 min 05 s', '4.2 s' as seconds."""
    units = {"h": 3600, "min": 60, "s": 1}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+) (h|min|s)\b", text))


def test_build_plan_prints_a_row_per_run_and_a_total_and_trains_nothing(tmp_path):
    manifest, out = write_manifest(tmp_path), tmp_path / "out"
    result = cli("build", "--plan", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.split()}
    for run in ("base", "sgd", "wild"):
        assert "tiny_cnn" in rows[run] and "1,293" in rows[run], result.output
        assert 0 < seconds_of(rows[run]) < math.inf
    assert "total: about" in result.output and "for 3 runs on cpu" in result.output
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file()]  # no results, no cache entries
    assert "training tiny_cnn" not in result.output


def test_validate_plan_adds_the_estimate_and_plain_validate_builds_nothing(tmp_path):
    manifest = write_manifest(tmp_path)
    plain = cli("validate", manifest)
    assert plain.exit_code == 0 and "total:" not in plain.output
    planned = cli("validate", "--plan", manifest)
    assert planned.exit_code == 0 and ": ok (" in planned.output and "total: about" in planned.output
    assert not (tmp_path / "output").exists()


def _speed(rate: float = 1000.0) -> Speed:
    return Speed(flops=10_000, train_rate=rate, eval_rate=3 * rate, latency=0.001, build=0.5, epoch_overhead=0.01,
                 timed_batch=64)


def _tiny_plans(tmp_path, text: str = TINY_MANIFEST):
    loaded = build.Pipeline.open(write_manifest(tmp_path, text), models=None).loaded
    datasets = PlanDatasets(loaded, False)
    return loaded, datasets, plan_runs(loaded, datasets, False)


def test_doubling_the_epochs_doubles_the_training_part_and_repeats_and_workers_add_up(tmp_path):
    _, datasets, plans = _tiny_plans(tmp_path)
    plan, sizes = plans[0], datasets.get().sizes()
    longer = dataclasses.replace(plan, spec=plan.spec.model_copy(update={"epochs": 2 * plan.spec.epochs}))
    once, twice = run_seconds(plan, sizes, _speed()), run_seconds(longer, sizes, _speed())
    per_epoch = sizes["train"] / 1000.0 + sizes["validation"] / 3000.0 + 0.01
    assert twice - once == pytest.approx(plan.spec.epochs * per_epoch)
    assert 0 < once < twice < 2 * once
    assert run_seconds(plan, sizes, _speed(500.0)) > once  # slower steps, longer run
    seconds = {p.id: 10.0 for p in plans}
    assert wall_time(plans, seconds, 1, 0.0) == pytest.approx(30.0)
    assert wall_time(plans, seconds, 3, 2.0) == pytest.approx(12.0)  # three workers, each started in 2 s


FROZEN = manifest_text(BARE, report={"title": "Frozen"},
                       models={"res": {"torchvision": "resnet18", "weights": "none", "input_size": 16,
                                       "freeze": "backbone"}},
                       train={"epochs": 2, "batch_size": 32},
                       experiments=[{"id": "cached", "model": "res"},
                                    {"id": "whole", "model": "res", "train": {"cache_features": False}}])


def test_a_run_over_cached_features_is_estimated_once_through_the_frozen_part_then_at_the_speed_of_the_rest(
        tmp_path):
    _, datasets, plans = _tiny_plans(tmp_path)
    plan, sizes = plans[0], datasets.get().sizes()
    over = dataclasses.replace(_speed(), features=FeatureSpeed(prefix_rate=2000.0, train_rate=50_000.0,
                                                               eval_rate=100_000.0))
    longer = dataclasses.replace(plan, spec=plan.spec.model_copy(update={"epochs": 2 * plan.spec.epochs}))
    once, twice = run_seconds(plan, sizes, over), run_seconds(longer, sizes, over)
    per_epoch = sizes["train"] / 50_000.0 + sizes["validation"] / 100_000.0 + 0.01
    assert twice - once == pytest.approx(plan.spec.epochs * per_epoch)  # the frozen part is not paid again
    whole = run_seconds(plan, sizes, _speed())
    frozen_once = sum(sizes.values()) / 2000.0
    assert once - whole == pytest.approx(frozen_once + plan.spec.epochs * (per_epoch - 0.01)
                                         - plan.spec.epochs * (sizes["train"] / 1000.0 + sizes["validation"] / 3000.0)
                                         + sizes["test"] / 100_000.0 - sizes["test"] / 3000.0)


def test_the_probe_measures_the_cached_features_path_only_where_the_run_would_take_it(tmp_path, one_thread):
    loaded, datasets, plans = _tiny_plans(tmp_path, FROZEN)
    images = sum(datasets.get().sizes().values())
    cached, whole = (measure_speed(loaded, p, datasets.get(), 1, 0.5, images) for p in plans)
    assert cached.features is not None and whole.features is None
    assert all(0 < rate < math.inf for rate in (cached.features.prefix_rate, cached.features.train_rate,
                                                cached.features.eval_rate))
    assert measure_speed(loaded, plans[0], datasets.get(), 1, 0.5).features is None  # sizes unknown: not measured
    assert cached.per_run > 0


@pytest.mark.parametrize("fixed, growing, budget, expected", [
    (0.002, 0.0, 2.0, 128), (0.01, 0.0, 2.0, None), (1.0, 0.0, 2.0, PROBE_BATCH), (0.0, 1e-4, 2.0, None)])
def test_the_probe_times_the_runs_batch_where_a_step_fits_and_the_largest_that_fits_where_not(fixed, growing, budget,
                                                                                             expected):
    def per_image(batch: int) -> float:  # a ResNet-34 at 32 px on 2 cores: a step's fixed cost spread over its images;
        asked.append(batch)  # `growing`: slower per image in larger batches (DenseNet-121 at 224 px past 16 images)
        return fixed + 0.05 / batch + growing * batch

    asked: list[int] = []
    timed = timed_batch(128, budget, per_image)
    assert asked[0] == PROBE_BATCH and asked == sorted(asked) and len(asked) <= GROWTHS
    assert timed in asked  # every size returned was timed
    if expected is None:  # between: the largest step found to fit a quarter of the budget
        assert PROBE_BATCH < timed < 128 and timed * per_image(timed) <= budget / 4
    else:
        assert timed == expected


def test_the_probe_times_a_tiny_cnn_at_the_runs_batch(tmp_path, one_thread):
    loaded, datasets, plans = _tiny_plans(tmp_path)
    assert plans[0].spec.batch_size == 64
    assert measure_speed(loaded, plans[0], datasets.get(), 1, 1.0).timed_batch == 64  # its step: milliseconds


def test_predictions_are_positive_finite_and_grow_with_the_input_size(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTGEN_THREADS", "1")  # steadier on shared cores (see the test below)
    net = {"torchvision": "mobilenet_v2", "weights": "none", "width_mult": 0.25}
    text = manifest_text(BARE, report={"title": "Sizes"},
                         models={"small": {**net, "input_size": 16}, "large": {**net, "input_size": 96}},
                         train={"batch_size": 32}, experiments=[{"id": "small", "model": "small"}, {"id": "large", "model": "large"}])
    loaded, datasets, _ = _tiny_plans(tmp_path, text)
    estimate = estimate_runs(loaded, datasets, budget=1.0)
    small, large = estimate.runs
    assert all(r.seconds is not None and 0 < r.seconds < math.inf for r in estimate.runs)
    assert large.flops > 10 * small.flops  # 36 times the pixels
    assert large.seconds > small.seconds
    assert estimate.seconds == pytest.approx(small.seconds + large.seconds)


def test_a_cached_build_is_said_cached_at_no_cost(tiny_build):
    result = cli("build", "--plan", tiny_build.manifest, "--out", tiny_build.out)
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.split() and line.split()[0] in ("base", "sgd", "wild")]
    assert len(rows) == 3 and all(line.rstrip().endswith("cached") for line in rows)
    assert "all 3 runs are cached: nothing to train" in result.output


@pytest.mark.slow  # a ResNet-18 step at 224 px is timed
def test_a_build_over_an_hour_is_warned_about_with_what_would_shorten_it(tmp_path):
    result = cli("build", "--plan", write_manifest(tmp_path, BIG_FINETUNE))
    assert result.exit_code == 0, result.output
    assert "45,000" in result.output and "dataset cifar10: CIFAR-10 files not found; estimated from its declared sizes" in result.output  # the declared sizes
    warning = next(line for line in result.output.splitlines() if line.startswith("warning: this build would take"))
    assert seconds_of(warning.split(" on ")[0]) > 3600
    for remedy in ("--smoke", "--set train.epochs=", "freeze: backbone", "a GPU", "--executor ray"):
        assert remedy in warning, warning


def test_build_says_its_estimate_as_it_starts(tiny_build):
    said = next(line for line in tiny_build.log.splitlines() if line.startswith("estimate: about"))
    assert "for 3 runs on cpu" in said and 0 < seconds_of(said.split(" for ")[0]) < math.inf
    assert tiny_build.log.index("estimate: about") < tiny_build.log.index("[1/3] base: training")


def test_the_estimate_is_near_the_time_the_build_then_takes(tmp_path):
    # one thread: two threads on cores other work holds wait for each other at every operation, by chance
    result = cli("build", "--no-pdf", write_manifest(tmp_path), "--out", tmp_path / "out",
                 env={"REPORTGEN_THREADS": "1"})
    assert result.exit_code == 0, result.output
    said = next(line for line in result.output.splitlines() if line.startswith("estimate: about"))
    took = float(re.search(r"trained 3 run\(s\), 0 cached, in ([\d.]+) s", result.output).group(1))
    predicted = seconds_of(said.split(" for ")[0])
    assert "(1 thread)" in said and took / 3 <= predicted <= took * 3, (said, took)  # behaviour, not a speed


def test_plan_over_an_image_folder_writes_nothing_not_even_the_decode_cache(tmp_path):
    from PIL import Image

    for c, colour in (("cat", (200, 40, 40)), ("dog", (40, 40, 200))):
        (tmp_path / "images" / c).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (12, 10), colour).save(tmp_path / "images" / c / f"{i}.png")
    text = manifest_text(BARE, dataset={"name": "imagefolder", "root": "images", "split": [60, 20, 20],
                                        "image_size": 8, "channels": 3, "classes": ["cat", "dog"]})
    result = cli("build", "--plan", write_manifest(tmp_path, text), "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "total: about" in result.output
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
