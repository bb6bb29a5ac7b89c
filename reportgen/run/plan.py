"""Plan a manifest's runs: one RunPlan per run, parents before children, each with its derived cache key."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from reportgen.data.load import load_dataset
from reportgen.manifest.digest import module_file_sha256, run_digest, run_digests
from reportgen.manifest.loaded import LoadedManifest
from reportgen.manifest.schema import DatasetSpec, TrainSpec
from reportgen.results.store import run_key
from reportgen.run.environment import code_version
from reportgen.run.features import key_material as features_key
from reportgen.run.repeats import repeat_id, repeat_seeds

SMOKE_INPUT = 64  # smoke builds shrink large network inputs (224 → 64) so they run in seconds on a CPU


@dataclass(frozen=True)
class RunPlan:
    """A manifest run (sweeps.RunSpec) as the run side trains it: its resolved settings (one epoch in a smoke
    build), input size, parent, manifest digest and cache key; `stop_after` K < epochs trains only its first K
    epochs (verify's shortened re-runs)."""

    run: object = field(hash=False, compare=False)  # sweeps.RunSpec: id, experiment, model, layers, dataset, ...
    spec: TrainSpec
    key: str
    input_size: int | None = None
    parent: str | None = None  # run id
    digest: str = ""  # manifest.digest.run_digest: what render checks results against
    repeat_of: str | None = None  # a further seed of this run id (train.repeats)
    smoke: bool = False  # planned for a smoke build (pretrained networks are built small)
    stop_after: int | None = None  # train the first K epochs of the schedule, then neither test nor measure

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def experiment(self) -> str:
        return self.run.group

    @property
    def model(self) -> str:
        return self.run.model

    @property
    def title(self) -> str:
        return self.run.title

    @property
    def varied(self) -> dict:
        return self.run.varied


class Datasets:
    """Each distinct dataset of a manifest, loaded once when first asked for."""

    def __init__(self, loaded: LoadedManifest, smoke: bool, cache_dir: Path | None = None):
        self.loaded, self.smoke, self.cache_dir, self._loaded = loaded, smoke, cache_dir, {}

    def get(self, spec: DatasetSpec | None = None):
        spec = spec or self.loaded.manifest.dataset
        key = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
        if key not in self._loaded:
            self._loaded[key] = load_dataset(spec, self.loaded.base_dir, smoke=self.smoke, cache_dir=self.cache_dir)
        return self._loaded[key]


def _ordered(runs: list) -> list:
    """Runs in manifest order, except that a run whose weights come from another follows it."""
    by_group = {r.group: r for r in runs}
    done, out = set(), []

    def visit(run, depth=0):
        if run.id in done or depth > len(runs):
            return
        if run.parent in by_group:
            visit(by_group[run.parent], depth + 1)
        done.add(run.id)
        out.append(run)

    for run in runs:
        visit(run)
    return out


def _input_size(run, smoke: bool) -> int | None:
    """The network's input size; smoke builds shrink it when the network can take the smaller size."""
    net = run.network
    if net is None or not net.input_size or not smoke or net.input_size <= SMOKE_INPUT:
        return net.input_size if net is not None else None
    from reportgen.models.pretrained import build_network

    model, _ = build_network(net.model_copy(update={"weights": "none"}), run.dataset.num_classes())
    for size in (SMOKE_INPUT, 96, 160):  # the smallest the network takes (Inception stems need about 75)
        if size >= net.input_size:
            break
        try:
            with torch.no_grad():
                model.eval()(torch.zeros(1, 3, size, size))
        except (RuntimeError, ValueError):
            continue
        return size
    return net.input_size


def plan_runs(loaded: LoadedManifest, datasets: Datasets, smoke: bool) -> list[RunPlan]:
    """Every run of the manifest (smoke builds: one epoch), parents before children, with cache keys; a run with
    `repeats: N` is N plans, one per seed, each keyed as that seed's single run (adding a repeat keeps the others)."""
    plans: dict[str, RunPlan] = {}
    digests = run_digests(loaded, smoke)
    by_group = {r.group: r for r in loaded.runs}
    for run in _ordered(loaded.runs):
        spec = run.train.model_copy(update={"epochs": 1}) if smoke else run.train
        if smoke:
            spec = spec.model_copy(update={"measure": spec.measure.model_copy(update={
                "warmup": 1, "latency_repeats": 3, "throughput_batch": min(spec.measure.throughput_batch, 16),
                "throughput_repeats": 1})})
        size = _input_size(run, smoke)
        parent_run = by_group.get(run.parent) if run.parent else None
        for k, seed in enumerate(repeat_seeds(spec.seed, spec.repeats)):
            parent = None
            if parent_run is not None:  # the same repeat of the parent where it has one, else its first
                parent = plans.get(repeat_id(parent_run.id, k)) or plans.get(parent_run.id)
            if spec.repeats == 1:
                seeded, digest = run, digests[run.id]
            else:
                one = run.train.model_copy(update={"repeats": 1, "seed": seed})
                seeded = dataclasses.replace(run, id=repeat_id(run.id, k), train=one)
                digest = run_digest(seeded, smoke, digests[parent_run.id] if parent_run is not None else None,
                                    module_file_sha256(loaded.base_dir, run.network))
            # the manifest's digest covers what it declares; data, code and the resolved input size join it here
            key = run_key({"manifest": digest, "data": datasets.get(run.dataset).fingerprint(),
                           "code": code_version(), "input_size": size, "parent": parent.key if parent else None}
                          | features_key(run.network, spec))
            own = spec if spec.repeats == 1 else spec.model_copy(update={"repeats": 1, "seed": seed})
            plans[seeded.id] = RunPlan(seeded, own, key, size, parent.id if parent else None, digest,
                                       run.id if k else None, smoke)
    return list(plans.values())


def position(loaded: LoadedManifest, run_id: str) -> int:
    """A run's index in the manifest's order."""
    return next(i for i, r in enumerate(loaded.runs) if r.id == run_id)
