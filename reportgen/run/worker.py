"""A worker process (local pool or Ray): trains one run of a manifest and hands back its record and weights."""

from __future__ import annotations

import os
import pickle
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from reportgen.run import execute as runner
from reportgen.run.plan import Datasets, RunPlan
from reportgen.errors import UserError
from reportgen.hashing import digest
from reportgen.run.progress import Detail, EpochDone
from reportgen.manifest.loaded import LoadedManifest
from reportgen.results.cache import RunCache
from reportgen.results.run_record import Execution, RunRecord

_send: Callable[[str | EpochDone], None] | None = None  # where this process's progress goes
_datasets: dict[str, Datasets] = {}  # each manifest's datasets, loaded once per process
_checked: set[tuple[str, str]] = set()  # (dataset fingerprint the driver sent, manifest token) found equal here


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def pinned_threads() -> int | None:
    """REPORTGEN_THREADS when set: every run's thread count (the same count gives bit-identical CPU results)."""
    text = os.environ.get("REPORTGEN_THREADS", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"REPORTGEN_THREADS must be a whole number of at least 1, got {text!r}")
    return int(text)


@dataclass
class Task:
    """Everything a worker needs to train one run, picklable."""

    loaded: LoadedManifest
    manifest_token: str  # names the manifest (and smoke) for the per-process dataset cache
    plan: RunPlan
    smoke: bool
    cache_root: str | None  # OUT/cache: partial checkpoints there when this process can reach it
    resume: bool
    parent: tuple[dict, dict] | None
    fingerprint: str  # of the run's dataset as the driver loaded it
    threads: int | None = None  # None: leave the process's setting


def manifest_token(loaded: LoadedManifest, smoke: bool) -> str:
    """A stable name for a loaded manifest: its pickled bytes' digest."""
    return digest(pickle.dumps((loaded, smoke)))


def start(messages, threads: int) -> None:
    """Pool initializer: progress to the driver's queue; Ctrl-C is the driver's to handle; `threads` threads."""
    global _send
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _send = messages.put


def _progress(message: str | EpochDone, detail: bool = False) -> None:
    """Progress to the driver as it is (an EpochDone, a Detail or a line), picklable; a line sent as detail goes as
    a Detail."""
    if _send is not None:
        _send(Detail(message) if detail and not isinstance(message, EpochDone) else message)


def _splits(task: Task):
    datasets = _datasets.get(task.manifest_token)
    if datasets is None:
        cache_dir = Path(task.cache_root) if task.cache_root else None
        datasets = _datasets[task.manifest_token] = Datasets(task.loaded, task.smoke, cache_dir)
    splits = datasets.get(task.plan.run.dataset)
    if (task.fingerprint, task.manifest_token) in _checked:
        return splits
    if splits.fingerprint() != task.fingerprint:
        raise UserError(f"run {task.plan.id}: the dataset that worker {os.uname().nodename} loaded differs from the "
                        f"driver's ({splits.name}); every worker needs the same dataset files at the same path")
    _checked.add((task.fingerprint, task.manifest_token))
    return splits


def train(task: Task) -> tuple[RunRecord, dict | None]:
    """runner.execute in this process; the record notes the thread count, the weights come back on the CPU."""
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    splits = _splits(task)
    root = Path(task.cache_root) if task.cache_root else None
    cache = RunCache(root) if root is not None and root.is_dir() and os.access(root, os.W_OK) else None
    record, state = runner.execute(task.loaded, task.plan, splits, _progress, cache, task.parent, task.resume)
    record.execution = Execution(threads=torch.get_num_threads())
    return record, ({k: v.detach().cpu() for k, v in state.items()} if state is not None else None)


def train_on_ray(task: Task, messages) -> tuple[RunRecord, dict | None]:
    """A Ray task: like train, with progress sent to the driver's Ray queue (one blocking put per message)."""
    global _send
    _send = messages.put if messages is not None else None
    return train(task)
