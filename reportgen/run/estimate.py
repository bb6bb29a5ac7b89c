"""Predict a build's wall time before it trains, from each run's FLOPs, a short measured step and its data's sizes.

A run takes: building its network, then per epoch its training images at the measured training speed, its
validation images at the forward-only speed and the epoch's weight copies and checkpoint, then its test images and
the latency and throughput measurement. Runs in the cache take nothing; workers (--jobs, Ray) share the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import torch

from reportgen.data.load import load_dataset
from reportgen.errors import DatasetUnavailable
from reportgen.run.plan import Datasets, RunPlan, plan_runs
from reportgen.run.probe import Speed, measure_speed
from reportgen.run.train import pick_device
from reportgen.run.worker import cores, pinned_threads
from reportgen.units import duration

DECLARED = {"cifar10": (50_000, 10_000), "cifar100": (50_000, 10_000), "mnist": (60_000, 10_000),
            "fashion_mnist": (60_000, 10_000), "svhn": (73_257, 26_032), "stl10": (5_000, 8_000)}  # (train, test)
HOUR = 3600.0
WORKER_START = {"local": 3.0, "ray": 4.3}  # seconds before a worker trains (importing torch; Ray's start), measured


class PlanDatasets(Datasets):
    """The build's datasets without downloading; where a dataset's files are absent, a synthetic stand-in of its
    declared shape, its sizes taken from DECLARED (`missing` says which, and why)."""

    def __init__(self, loaded, smoke: bool, cache_dir=None):
        super().__init__(loaded, smoke, cache_dir)
        self.missing: dict[str, str] = {}  # dataset name → why its sizes are the declared ones

    def get(self, spec=None):
        spec = (spec or self.loaded.manifest.dataset).model_copy(update={"download": False})
        key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        if key not in self._loaded:
            try:
                return super().get(spec)
            except DatasetUnavailable as exc:
                self.missing[spec.name] = str(exc).split(":")[0]  # "CIFAR-10 files not found"
                self._loaded[key] = load_dataset(spec, self.loaded.base_dir, smoke=True)
        return self._loaded[key]


def sizes_of(datasets: Datasets, spec) -> dict[str, int] | None:
    """Images per split: the loaded dataset's, or where its files are absent its declared ones (None where nothing
    is declared)."""
    splits = datasets.get(spec)  # a PlanDatasets learns here whether the files are absent
    if spec.name not in getattr(datasets, "missing", {}):
        return splits.sizes()
    if spec.name not in DECLARED:
        return None
    train, test = DECLARED[spec.name]
    if spec.validation == "test":
        return {"train": train, "validation": test, "test": test}
    val = round(train * spec.val_fraction)
    return {"train": train - val, "validation": val, "test": test}


@dataclass
class RunEstimate:
    """One run's prediction: 0 s when cached; None, with a note, when it could not be made."""

    id: str
    model: str
    epochs: int
    images: int | None = None  # training images per epoch
    flops: int | None = None  # forward FLOPs per image
    seconds: float | None = None
    cached: bool = False
    note: str | None = None


@dataclass
class Estimate:
    """A build's predicted wall time on this machine, run by run."""

    runs: list[RunEstimate]
    device: str
    threads: int
    workers: int
    seconds: float  # wall time of the runs, workers at once
    notes: list[str] = field(default_factory=list)

    def where(self) -> str:
        """'cpu (2 threads)', 'cpu (2 workers × 1 thread)'."""
        each = f"{self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{self.device} ({each})" if self.workers == 1 else f"{self.device} ({self.workers} workers × {each})"

    def line(self) -> str:
        """'about 3 min 05 s for 12 runs on cpu (2 threads)', with the cached and the unestimated runs."""
        train = [r for r in self.runs if not r.cached]
        if not train:
            return f"all {len(self.runs)} runs are cached: nothing to train"
        text = f"about {_spoken(self.seconds)} for {len(train)} run{'s' if len(train) != 1 else ''} on {self.where()}"
        cached, unknown = len(self.runs) - len(train), sum(r.seconds is None for r in train)
        text += f", {cached} cached" if cached else ""
        return text + (f" ({unknown} not estimated: see the table of --plan)" if unknown else "")

    def table(self) -> str:
        """A row per run (FLOPs per image, training images per epoch, epochs, predicted time) and the total."""
        rows = [("run", "model", "FLOPs/image", "images/epoch", "epochs", "predicted")]
        for r in self.runs:
            told = "cached" if r.cached else _spoken(r.seconds) if r.seconds is not None else r.note
            rows.append((r.id, r.model, _flops(r.flops), f"{r.images:,}" if r.images is not None else "—",
                         str(r.epochs), told))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                 + "  " + row[5] for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 9)
        return "\n".join([*lines, f"total: {self.line()} (rendering not included)", *self.notes]) + "\n"

    def advice(self) -> str | None:
        """Over an hour: a warning naming the slowest run and what would shorten the build."""
        if self.seconds <= HOUR:
            return None
        slow = max((r for r in self.runs if r.seconds), key=lambda r: r.seconds)
        return (f"warning: this build would take about {duration(self.seconds)} on {self.where()}, "
                f"{slow.id} ({slow.model}) alone {duration(slow.seconds)}; to shorten it: --smoke (the whole manifest "
                f"in about a minute), fewer epochs (--set train.epochs=2), freezing the pretrained layers "
                f"(freeze: backbone), a GPU (device: auto uses one), or --executor ray on a cluster")


def _spoken(seconds: float) -> str:
    """'0.04 s', '4.2 s', '42 s', '3 min 05 s'."""
    return duration(seconds, decimals=2 if seconds < 1 else 1 if seconds < 10 else 0)


def _flops(n: int | None) -> str:
    """FLOPs with a unit, '—' when not measured (a cached run is not)."""
    if n is None:
        return "—"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return str(n)


def _speed_key(plan: RunPlan, threads: int) -> str:
    """What the speed of a run depends on: network, data shape, batch, optimizer, loss, way of computing, threads;
    not its learning rate, seed or epochs (12 runs of one network are measured once)."""
    spec, run = plan.spec, plan.run
    return json.dumps([plan.model, repr(run.layers), repr(run.model_overrides),
                       run.network.model_dump(mode="json") if run.network is not None else None,
                       run.dataset.model_dump(mode="json"), plan.input_size, spec.batch_size, spec.optimizer.name,
                       spec.loss, spec.grad_clip is not None, spec.precision, spec.channels_last, spec.device,
                       spec.data_on, spec.augment.model_dump(mode="json"), spec.cache_features, threads],
                      sort_keys=True, default=str)


def run_seconds(plan: RunPlan, sizes: dict[str, int], speed: Speed) -> float:
    """build + epochs × (train / training speed + validation / forward speed + epoch overhead) + test / forward
    speed + the measurement's forward passes and FLOP count + the final weights written; over cached features,
    every image once through the frozen part, then the epochs and the test at the speeds of the rest."""
    epochs = min(plan.stop_after or plan.spec.epochs, plan.spec.epochs)
    train_rate, eval_rate, before = speed.train_rate, speed.eval_rate, 0.0
    if speed.features is not None:
        f = speed.features
        train_rate, eval_rate, before = f.train_rate, f.eval_rate, sum(sizes.values()) / f.prefix_rate
    epoch = sizes["train"] / train_rate + sizes["validation"] / eval_rate + speed.epoch_overhead
    m = plan.spec.measure
    measured = (m.warmup + m.latency_repeats + 1) * speed.latency + speed.per_run
    measured += (m.throughput_repeats + 1) * m.throughput_batch / speed.eval_rate
    tested = sizes["test"] / eval_rate
    return speed.build + before + epochs * epoch + tested + measured + speed.epoch_overhead


def wall_time(plans: list[RunPlan], seconds: dict[str, float], workers: int, start: float) -> float:
    """Wall time of the runs on `workers` at once, each run on the first free worker once its parent is done (as
    the scheduler hands them out); each worker first takes `start` seconds."""
    free, done = [start] * workers, {}
    for plan in plans:
        w = min(range(workers), key=free.__getitem__)
        begin = max(free[w], done.get(plan.parent, 0.0))
        done[plan.id] = free[w] = begin + seconds[plan.id]
    return max(done.values(), default=0.0)


def _layout(execution) -> tuple[int, int, float]:
    """(workers, threads per worker, a worker's start-up seconds) as the scheduler would set them."""
    pinned = pinned_threads()
    if execution is None or (execution.executor == "local" and (execution.jobs or 1) == 1):
        return 1, pinned or torch.get_num_threads(), 0.0
    if execution.executor == "local":
        return execution.jobs, pinned or max(1, cores() // execution.jobs), WORKER_START["local"]
    cpus = execution.cpus_per_run or 1
    workers = execution.jobs or max(1, int(cores() // cpus))
    return workers, pinned or max(1, int(cpus)), WORKER_START["ray"]


def _estimate_one(loaded, plan: RunPlan, datasets: Datasets, speeds: dict, threads: int,
                  budget: float) -> RunEstimate:
    """One run's prediction, measuring its setting unless an earlier run of the same setting was measured."""
    row = RunEstimate(plan.id, plan.model, plan.spec.epochs)
    sizes = sizes_of(datasets, plan.run.dataset)
    if sizes is None:
        row.note = "not estimated: dataset not found and its size is not declared"
        return row
    row.images = sizes["train"]
    key = _speed_key(plan, threads)
    if key not in speeds:
        try:
            speeds[key] = measure_speed(loaded, plan, datasets.get(plan.run.dataset), threads, budget,
                                        sum(sizes.values()))
        except (RuntimeError, ValueError) as exc:  # out of memory, every parameter frozen: the build says so too
            speeds[key] = f"not estimated: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
    speed = speeds[key]
    if isinstance(speed, str):
        row.note = speed
        return row
    row.flops, row.seconds = speed.flops, run_seconds(plan, sizes, speed)
    return row


def estimate_runs(loaded, datasets: Datasets, cache=None, smoke: bool = False, execution=None,
                  budget: float = 2.0) -> Estimate:
    """Every planned run's predicted time on this machine (runs in `cache` take none; pass no cache to --force),
    each distinct setting measured once for at most about `budget` seconds of steps, and the build's wall time."""
    workers, threads, start = _layout(execution)
    plans = plan_runs(loaded, datasets, smoke)
    speeds: dict = {}
    rows = []
    for plan in plans:
        if cache is not None and cache.record_path(plan.key).exists():
            rows.append(RunEstimate(plan.id, plan.model, plan.spec.epochs, seconds=0.0, cached=True))
        else:
            rows.append(_estimate_one(loaded, plan, datasets, speeds, threads, budget))
    seconds = {r.id: r.seconds or 0.0 for r in rows}
    training = any(not r.cached for r in rows)
    wall = wall_time(plans, seconds, workers, start) if training else 0.0
    device = pick_device(plans[0].spec.device).type if plans else "cpu"
    notes = [f"dataset {name}: {why}; estimated from its declared sizes"
             for name, why in getattr(datasets, "missing", {}).items()]
    if any(p.spec.early_stopping is not None for p in plans):
        notes.append("runs with early stopping are estimated at every epoch: they may end sooner")
    return Estimate(rows, device, threads, workers, wall, notes)
