"""Schedule a build's runs: in this process one after another, in a local process pool (--jobs N), or on Ray.

Every run whose parent has finished (or that has none) is ready; ready runs go to the executor, results are
gathered as they finish and cached here, in the driver, so the cache has one writer."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Callable

import torch

from reportgen.errors import UserError
from reportgen.results.cache import RunCache
from reportgen.results.record import RecordInvalid, parse_run
from reportgen.results.run_record import Execution as RunExecution
from reportgen.results.run_record import RunRecord
from reportgen.run import checkpoint, worker
from reportgen.run import execute as runner
from reportgen.run.execute import Progress
from reportgen.manifest.digest import run_digests
from reportgen.manifest.loaded import LoadedManifest
from reportgen.run.plan import Datasets, RunPlan, plan_runs
from reportgen.run.plan import position as plan_position
from reportgen.run.repeats import merge_repeats
from reportgen.run.progress import TimeLeft, completed_line
from reportgen.run.worker import cores, pinned_threads

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Execution:
    """How to execute runs: `local` (jobs at once, 1 = in this process) or `ray` (a task per run)."""

    executor: str = "local"
    jobs: int | None = None  # local: runs at once (default 1); ray: most runs in flight (default: as resources allow)
    ray_address: str | None = None  # ray: the cluster to join (default: start a local instance)
    gpu_share: float | None = None  # ray: GPUs per run, fractions allowed (default 1 with GPUs in the cluster, else 0)
    cpus_per_run: float | None = None  # ray: CPUs per run (default 1)

    def check(self) -> None:
        """UserError for options that do not fit together."""
        if self.executor not in EXECUTORS:
            raise UserError(f"--executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}")
        if self.jobs is not None and self.jobs < 1:
            raise UserError(f"--jobs must be at least 1, got {self.jobs}")
        ray_only = {"--ray-address": self.ray_address, "--gpu-share": self.gpu_share,
                    "--cpus-per-run": self.cpus_per_run}
        given = [name for name, value in ray_only.items() if value is not None]
        if self.executor != "ray" and given:
            raise UserError(f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} only with --executor ray")
        if self.gpu_share is not None and (self.gpu_share < 0 or (self.gpu_share > 1 and self.gpu_share % 1)):
            raise UserError(f"--gpu-share must be a fraction of one GPU (0 to 1) or a whole number of GPUs, "
                            f"got {self.gpu_share:g}")
        if self.cpus_per_run is not None and self.cpus_per_run <= 0:
            raise UserError(f"--cpus-per-run must be more than 0, got {self.cpus_per_run:g}")
        pinned_threads()


class Inline:
    """jobs=1: each run in this process, one after another, exactly as a sequential build."""

    concurrency = 1

    def __init__(self, loaded, datasets: Datasets, cache: RunCache, resume: bool, progress: Progress):
        self.loaded, self.datasets, self.cache, self.resume = loaded, datasets, cache, resume
        self.progress, self.queue, self.threads = progress, [], pinned_threads()

    def full(self) -> bool:
        return bool(self.queue)

    def submit(self, plan: RunPlan, parent: tuple | None) -> None:
        self.queue.append((plan, parent))

    def next_done(self) -> tuple[RunPlan, dict, dict | None]:
        plan, parent = self.queue.pop(0)
        before = torch.get_num_threads()
        if self.threads:
            torch.set_num_threads(self.threads)
        try:
            record, state = runner.execute(self.loaded, plan, self.datasets.get(plan.run.dataset), self.progress,
                                           self.cache, parent, resume=self.resume)
            record.execution = RunExecution(executor="local", jobs=1, threads=torch.get_num_threads())
        finally:
            torch.set_num_threads(before)
        return plan, record, state

    def close(self, abort: bool = False) -> None:
        self.queue.clear()


class Pool:
    """jobs>1: a pool of spawned worker processes (safe with CUDA: each has its own context on the shared GPU)."""

    def __init__(self, jobs: int, make_task: Callable, progress: Progress):
        self.concurrency, self.make_task, self.progress = jobs, make_task, progress
        self.threads = pinned_threads() or max(1, cores() // jobs)
        context = multiprocessing.get_context("spawn")
        self.messages = context.SimpleQueue()  # put() writes at once: a run's progress arrives before its result
        self.pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=worker.start,
                                        initargs=(self.messages, self.threads))
        self.running: dict = {}  # future → plan

    def full(self) -> bool:
        return len(self.running) >= self.concurrency

    def submit(self, plan: RunPlan, parent: tuple | None) -> None:
        self.running[self.pool.submit(worker.train, self.make_task(plan, parent))] = plan

    def next_done(self) -> tuple[RunPlan, dict, dict | None]:
        done: set = set()
        while not done:
            done, _ = wait(self.running, timeout=0.2, return_when=FIRST_COMPLETED)
            self._relay()
        future = next(f for f in self.running if f in done)  # the earliest submitted of those finished
        plan = self.running.pop(future)
        try:
            record, state = future.result()
        except BrokenProcessPool:
            raise UserError(f"run {plan.id}: its worker process died (out of memory, or killed); "
                            f"finished runs are cached, run the build again to go on") from None
        record.execution = (record.execution or RunExecution()).merged(executor="local", jobs=self.concurrency)
        return plan, record, state

    def _relay(self) -> None:
        while not self.messages.empty():
            self.progress(self.messages.get())

    def close(self, abort: bool = False) -> None:
        if not abort:
            self.pool.shutdown(wait=True)
            return
        processes = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:  # runs in flight stop now; their last finished epoch is checkpointed
            process.terminate()
        for process in processes:
            process.join(timeout=10)


def _backend(execution: Execution, loaded, datasets, cache: RunCache, smoke: bool, resume: bool,
             progress: Progress):
    """The executor for these options (jobs=1 on the local executor: this process)."""
    if execution.executor == "local" and (execution.jobs or 1) == 1:
        return Inline(loaded, datasets, cache, resume, progress)
    root = cache.root.parent
    root.mkdir(parents=True, exist_ok=True)  # workers that can reach it keep partial checkpoints there
    token, fingerprints = worker.manifest_token(loaded, smoke), {}

    def make_task(plan: RunPlan, parent: tuple | None, threads: int | None = None) -> worker.Task:
        splits = datasets.get(plan.run.dataset)
        if id(splits) not in fingerprints:
            fingerprints[id(splits)] = splits.fingerprint()
        return worker.Task(loaded, token, plan, smoke, str(root), resume, parent, fingerprints[id(splits)], threads)

    if execution.executor == "local":
        return Pool(execution.jobs, make_task, progress)
    from reportgen.run.ray_backend import RayExecutor

    return RayExecutor(execution, make_task, progress)


class Schedule:
    """A build's runs on their way through an executor: those pending, running and recorded, with the counts and
    the clock the progress lines report. Parents run before their children, cached runs are not run again, and
    finished runs are cached here, in the driver, whichever executor trained them."""

    def __init__(self, plans: list[RunPlan], datasets: Datasets, cache: RunCache, progress: Progress, force: bool):
        self.cache, self.progress, self.force = cache, progress, force
        self.heads = {p.id: f"[{i}/{len(plans)}]" for i, p in enumerate(plans, 1)}
        self.keys = {p.id: p.key for p in plans}
        self.work = {p.id: p.spec.epochs * datasets.get(p.run.dataset).sizes()["train"] for p in plans}
        self.records: dict = {}
        self.stats = {"trained": 0, "cached": 0, "failed": 0}
        self.pending, self.running, self.to_train = list(plans), {}, set()
        self.clock = TimeLeft(None)

    def run(self, open_backend: Callable[[], object]) -> tuple[dict, dict]:
        """Run what is not cached, on the executor that open_backend() opens once a run needs training; returns
        (records by run id, stats)."""
        backend = None
        try:
            while self.pending or self.running:
                for plan in self._ready():
                    if backend is None:
                        backend = open_backend()
                        self.clock.concurrency = backend.concurrency
                    if backend.full():
                        break
                    self.pending.remove(plan)
                    self._submit(plan, backend)
                if self.running:
                    self._finish(*backend.next_done())
                elif self.pending:  # parents come first
                    raise RuntimeError(f"no run of {', '.join(p.id for p in self.pending)} can start")
        except BaseException:
            if backend is not None:
                backend.close(abort=True)
            raise
        if backend is not None:
            backend.close()
        return self.records, self.stats

    def _ready(self):
        """Pending runs that need training and can start now; runs that need none are recorded on the way."""
        for plan in list(self.pending):
            busy = any(p.key == plan.key for p in self.running.values())  # a twin in flight: then a cache hit
            if (plan.parent and plan.parent not in self.records) or busy:
                continue
            if plan.id not in self.to_train:
                record = self._decide(plan)
                if record is not None:
                    self.records[plan.id] = record
                    self.pending.remove(plan)
                    continue
                self.to_train.add(plan.id)
            yield plan

    def _decide(self, plan: RunPlan) -> RunRecord | None:
        """The run's record when it needs no training (cached, or its parent failed), else None."""
        cached = self._cached(plan)
        if cached is not None:
            self.progress(f"{self.heads[plan.id]} {plan.id}: cached ({cached.test.accuracy:.2%} test accuracy)")
            self.stats["cached"] += 1
            # a twin (another run with the same settings) may have written the entry: the names are this run's
            return cached.named(id=plan.id, experiment=plan.experiment, group=plan.experiment, varied=plan.varied,
                                model=plan.model, title=plan.title)
        if plan.parent and self.records[plan.parent].status == "failed":
            record = runner.failed_record(plan, f"{plan.id}: not run, because {plan.parent}, whose weights it "
                                                f"starts from, failed")
            self.progress(f"{self.heads[plan.id]} {plan.id}: failed ({record.error})")
            self.stats["failed"] += 1
            return record
        return None

    def _cached(self, plan: RunPlan) -> RunRecord | None:
        """The run's cached record, unless --force; a corrupt entry is reported and discarded."""
        cached, why = (None, None) if self.force else self.cache.lookup(plan.key)
        if cached is not None:
            try:
                cached = parse_run(cached)
            except RecordInvalid as exc:  # written by another version of reportgen: recomputed like a corrupt one
                cached, why = None, f"record does not fit this version's results ({exc})"
        if why is not None:
            self.progress(f"{self.heads[plan.id]} cache entry for {plan.id} is corrupt ({why}); recomputing")
            self.cache.discard(plan.key)
        return cached

    def _submit(self, plan: RunPlan, backend) -> None:
        parent = None
        if plan.parent:
            saved = self.cache.weights(self.keys[plan.parent])
            state = checkpoint.weights_from_bytes(saved) if saved is not None else None
            if state is None:
                raise UserError(f"run {plan.id} starts from the weights of {plan.parent}, but its checkpoint is not "
                                f"in {self.cache.root}; rebuild with --force")
            parent = (self.records[plan.parent], state)
        what = f"{plan.model} for {plan.spec.epochs} epochs" + (f" from the weights of {plan.parent}" if parent else "")
        self.progress(f"{self.heads[plan.id]} {plan.id}: training {what}")
        self.running[plan.id] = plan
        backend.submit(plan, parent)
        self.clock.started(len(self.running))

    def _finish(self, plan: RunPlan, record: RunRecord, state: dict | None) -> None:
        del self.running[plan.id]
        self.records[plan.id] = record
        self.stats["trained"] += 1
        if record.status == "failed":
            self.progress(f"{self.heads[plan.id]} {plan.id}: failed ({record.error})")
            self.stats["failed"] += 1
            return
        self.cache.put(plan.key, record.model_dump(mode="json", by_alias=True),
                       checkpoint.weights_bytes(state) if state is not None else None)
        checkpoint.remove(self.cache.partial_path(plan.key))
        self.clock.finished(record)
        left = [p for p in self.pending
                if self.force or p.id in self.to_train or not self.cache.record_path(p.key).exists()]
        left += self.running.values()
        estimate = self.clock.estimate([(p.model, self.work[p.id]) for p in left])
        self.progress(completed_line(self.heads[plan.id], record, estimate))


def run_all(loaded: LoadedManifest, datasets: Datasets, cache: RunCache, smoke: bool, progress: Progress,
            force: bool = False, execution=None) -> tuple[dict, dict]:
    """Run what is not cached; returns (records by run id, {'trained': n, 'cached': n, 'failed': n}).

    A corrupt cache entry is reported and recomputed; a run that fails (out of memory) is recorded as `failed`,
    is not cached, and the others go on; each failure is repeated as a warning at the end. `execution`
    (executor.Execution) runs independent runs at once; by default they run here, one after another."""
    execution = execution or Execution()
    execution.check()
    plans = plan_runs(loaded, datasets, smoke)
    schedule = Schedule(plans, datasets, cache, progress, force)
    records, stats = schedule.run(lambda: _backend(execution, loaded, datasets, cache, smoke, not force, progress))
    for plan in plans:
        if records[plan.id].status == "failed":
            progress(f"warning: {records[plan.id].error}")
    merged = merge_repeats(plans, records, run_digests(loaded, smoke))
    return {rid: merged[rid] for rid in sorted(merged, key=lambda rid: plan_position(loaded, rid))}, stats
