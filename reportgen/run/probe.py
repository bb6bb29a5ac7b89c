"""A short measured training step: how fast one run's network trains and evaluates here, before it trains.

The network, its input pipeline and its way of computing are built as `execute` builds them; a few real training
steps on a handful of the dataset's images are timed at the run's batch size (a smaller one where a step of it would
take too long: the largest whose measured step fits), and a forward pass as validation and testing run it."""

from __future__ import annotations

import copy
import dataclasses
import statistics
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import torch

from reportgen.run import allocator, features
from reportgen.run.checkpoint import pack
from reportgen.run.evaluate import test_metrics
from reportgen.run.execute import _prepare
from reportgen.run.input_pipeline import Held
from reportgen.run.measure import flops_per_image
from reportgen.run.plan import RunPlan
from reportgen.run.statistics import encode_predictions
from reportgen.run.train import TrainState, train_epoch, train_state

CHUNKS = 5  # timed passes of a few steps each: their median is the speed
PROBE_BATCH = 4  # the smallest batch timed
GROWTHS = 4  # at most this many steps of growing size to find the batch timed


@dataclass(frozen=True)
class FeatureSpeed:
    """How fast a run that trains on cached frozen features goes: its frozen part once per image, then the rest."""

    prefix_rate: float  # images/s through the frozen part, eval mode (every split, once)
    train_rate: float  # training images/s of the rest over features
    eval_rate: float  # forward-only images/s of the rest over features


@dataclass(frozen=True)
class Speed:
    """What a short measurement found for one setting (network, input size, batch, way of computing, threads)."""

    flops: int  # forward FLOPs per image
    train_rate: float  # training images/s at the run's batch size
    eval_rate: float  # forward-only images/s (validation, testing, the throughput measurement)
    latency: float  # seconds of a one-image forward pass
    build: float  # seconds to build the network and its pipeline
    epoch_overhead: float  # seconds per epoch outside the steps: weights copied and checkpointed
    timed_batch: int  # the batch size the steps were timed at
    per_run: float = 0.0  # seconds every run spends besides its epochs and passes: counting its FLOPs, scoring its test
    features: FeatureSpeed | None = None  # the run trains on cached frozen features: their speeds


def _quiet(plan: RunPlan) -> RunPlan:
    """The plan as measured: random weights (nothing downloaded; the arithmetic is the same), no schedule, class
    weights or early stopping (they cost nothing per step but need a whole epoch or every class)."""
    run = plan.run
    if run.network is not None and run.network.source != "module" and run.network.weights not in (None, "none"):
        run = dataclasses.replace(run, network=run.network.model_copy(update={"weights": "none"}))
    spec = plan.spec.model_copy(update={"schedule": None, "class_weights": None, "early_stopping": None})
    return dataclasses.replace(plan, run=run, spec=spec)


def _state(prep, plan: RunPlan, splits, n: int) -> TrainState:
    """A training state over n of the dataset's images (repeated where it has fewer)."""
    idx = torch.arange(n) % len(splits.train_x)
    mini = SimpleNamespace(train_x=splits.train_x[idx], train_y=splits.train_y[idx], val_x=splits.train_x[idx[:1]],
                           val_y=splits.train_y[idx[:1]], classes=splits.classes)
    return train_state(prep.model, mini, plan.spec, prep.compute, prep.pipe)


def _steps(run: TrainState, batch: int, steps: int) -> float:
    """Seconds per image of `steps` training steps at `batch` (one pass of train_epoch: it reads its sums at the end,
    so the device is done when it returns)."""
    x, y = (t[:1].repeat_interleave(batch * steps, 0) for t in (run.train.x, run.train.y))
    run.train = run.pipe.hold(x, y) if hasattr(run.pipe, "hold") else Held(x, y, run.compute.device, "device")
    t0 = time.perf_counter()
    train_epoch(run)
    return (time.perf_counter() - t0) / (batch * steps)


def _forward(run: TrainState, batch: int) -> float:
    """Seconds per image of an eval-mode forward pass at `batch`, after an untimed one."""
    run.model.eval()
    x = run.train.x[:1].repeat_interleave(batch, 0)
    with torch.no_grad():
        for _ in range(2):
            t0 = time.perf_counter()
            with run.compute.autocast():
                run.forward(run.pipe(x)).float().sum().item()
            seconds = time.perf_counter() - t0
    return seconds / batch


def timed_batch(batch: int, budget: float, per_image: Callable[[int], float]) -> int:
    """The run's batch size, or the largest one whose step was measured to fit a quarter of the budget (at least
    PROBE_BATCH), found by timing single steps of growing size (`per_image(b)`: seconds per image of one step of b
    images): each step's per-image time says how large the next may be, and at most GROWTHS steps are taken."""
    size = fitted = min(batch, PROBE_BATCH)
    for _ in range(GROWTHS):
        seconds = per_image(size)
        if size > fitted and size * seconds > budget / 4:
            break  # larger batches can train slower per image (caches outgrown): the last one that fitted
        fitted = size
        larger = min(batch, int(budget / 4 / seconds))
        if larger <= size:
            break
        size = larger
    return fitted


def _train_rate(run: TrainState, timed: int, budget: float) -> float:
    """Training images/s at batch `timed`: two steps to warm up, then CHUNKS passes of a few steps in half of the
    budget; the median pass counts, so that a moment when other work holds the cores does not."""
    _steps(run, timed, 1)  # the first step pays for allocation and kernel selection
    step = _steps(run, timed, 1) * timed
    steps = max(1, min(20, int(budget / 2 / CHUNKS / step)))
    chunks = CHUNKS if step * steps * CHUNKS <= budget else 1
    return 1.0 / statistics.median(_steps(run, timed, steps) for _ in range(chunks))


def _feature_speed(run: TrainState, images: int, eval_batch: int, budget: float) -> FeatureSpeed | None:
    """The speeds over cached features where the run would train on them (as `features.frozen_features` decides for
    `images` images in all), else None."""
    cut, _ = features.choose(run, images)
    if cut is None:
        return None
    cut.prefix.eval()
    x = run.train.x[:1].repeat_interleave(eval_batch, 0)
    with torch.no_grad(), run.compute.autocast():
        cut.prefix(run.pipe(x[:1]))
        t0 = time.perf_counter()
        feats = cut.prefix(run.pipe(x))
        prefix = (time.perf_counter() - t0) / eval_batch
    over = dataclasses.replace(run, forward=cut.rest, pipe=features.FeatureInputs())
    over.train = Held(feats, run.train.y[:1].repeat_interleave(eval_batch, 0), run.compute.device, "device")
    rate = _train_rate(over, min(run.spec.batch_size, eval_batch), budget / 4)
    return FeatureSpeed(1.0 / prefix, rate, 1.0 / _forward(over, eval_batch))


def _scoring(splits) -> float:
    """Seconds a run spends scoring its test predictions (metrics, confusion matrix, the predictions encoded), timed
    on the test labels."""
    labels = splits.test_y.numpy()
    t0 = time.perf_counter()
    test_metrics(labels, labels, list(splits.classes), 0.0)
    encode_predictions(labels, labels)
    return time.perf_counter() - t0


def _overhead(run: TrainState) -> float:
    """Seconds of what every epoch does besides its steps: the weights copied, the checkpoint packed."""
    t0 = time.perf_counter()
    state = copy.deepcopy(run.model.state_dict())
    pack({"model": state, "optimizer": run.optimizer.state_dict()})
    return time.perf_counter() - t0


def measure_speed(loaded, plan: RunPlan, splits, threads: int | None, budget: float = 2.0,
                  images: int | None = None) -> Speed:
    """The run's measured speed with `threads` torch threads (None: as set), restored afterwards with the random
    state: the build's runs are seeded as if nothing had been measured. `images` (every split's, in all) lets it
    measure the cached-features path where the run would take it."""
    before, rng = torch.get_num_threads(), torch.get_rng_state()
    if threads:
        torch.set_num_threads(threads)
    try:
        plan = _quiet(plan)
        _state(_prepare(loaded, plan, splits, None), plan, splits, 1)  # the first of a process pays for imports
        t0 = time.perf_counter()
        prep = _prepare(loaded, plan, splits, None)
        prep = dataclasses.replace(prep, compute=dataclasses.replace(prep.compute, compile=None))
        run = _state(prep, plan, splits, 1)
        build = time.perf_counter() - t0
        t0 = time.perf_counter()
        flops = flops_per_image(prep.model.eval(), prep.shape, prep.compute.device)  # BN: one image in eval mode
        per_run = time.perf_counter() - t0 + _scoring(splits)  # a run counts its FLOPs again and scores its test
        with prep.compute.numerics():
            # on CUDA a step of the run's batch is short; on a CPU it can take seconds
            timed = plan.spec.batch_size if run.compute.device.type == "cuda" else timed_batch(
                plan.spec.batch_size, budget, lambda b: _steps(run, b, 1))
            rate = _train_rate(run, timed, budget)
            overhead = _overhead(run)
            # validation and testing go at max(batch, 256); a forward pass costs about a third of a step
            eval_batch = max(timed, min(max(plan.spec.batch_size, 256), int(budget * rate * 3 / 8)))
            eval_per_image = _forward(run, eval_batch)
            latency = _forward(run, 1)
            cached = _feature_speed(run, images, eval_batch, budget) if images else None
    finally:
        torch.set_num_threads(before)
        torch.set_rng_state(rng)
        prep = run = None
        allocator.give_back()
        if torch.cuda.is_available():  # the memory the probe held is free again when the runs ask what is free
            torch.cuda.empty_cache()
    return Speed(flops, rate, 1.0 / eval_per_image, latency, build, overhead, timed, per_run, cached)
