"""--executor ray: each run a Ray task holding its share of a GPU (fractions allowed) and its CPUs.

Workers load the manifest's datasets themselves, so every node needs the dataset files at the same path
(a shared filesystem, or the same checkout on every node); partial checkpoints are kept only where the
output folder is reachable (always on a local Ray instance)."""

from __future__ import annotations

import logging
from typing import Callable

from reportgen.run import worker
from reportgen.errors import UserError
from reportgen.results.run_record import Execution
from reportgen.run.worker import pinned_threads


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'reportgen[ray]'") from None
    return ray


class RayExecutor:
    """Submits runs as Ray tasks; joins the cluster at --ray-address, or starts (and later stops) a local one."""

    def __init__(self, execution, make_task: Callable, progress: Callable[..., None]):
        ray = self.ray = _import_ray()
        self.make_task, self.progress, self.concurrency = make_task, progress, execution.jobs
        self.started = not ray.is_initialized()
        if self.started:
            ray.init(address=execution.ray_address, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        self.gpus = ray.cluster_resources().get("GPU", 0)
        if execution.gpu_share and execution.gpu_share > self.gpus:
            self.close()
            raise UserError(f"--gpu-share {execution.gpu_share:g} is more than the Ray cluster's "
                            f"{self.gpus:g} GPU(s)")
        self.share, self.cpus = execution.gpu_share, execution.cpus_per_run or 1
        from ray.util.queue import Queue

        self.messages = Queue(actor_options={"num_cpus": 0})  # progress from the tasks: lines and EpochDones
        self.remote = ray.remote(worker.train_on_ray)
        self.running: dict = {}  # object ref → (plan, what the run holds)

    def _share_of(self, plan) -> float:
        if self.share is not None:
            return self.share
        return 1 if self.gpus >= 1 and plan.spec.device in ("auto", "cuda") else 0

    def full(self) -> bool:
        return self.concurrency is not None and len(self.running) >= self.concurrency

    def submit(self, plan, parent: tuple | None) -> None:
        share = self._share_of(plan)
        threads = pinned_threads() or max(1, int(self.cpus))  # the task's CPUs, whole
        ref = self.remote.options(num_gpus=share, num_cpus=self.cpus, max_retries=0).remote(
            self.make_task(plan, parent, threads), self.messages)
        self.running[ref] = (plan, {"executor": "ray", "gpu_share": share, "cpus": self.cpus})

    def next_done(self):
        ready: list = []
        while not ready:
            ready, _ = self.ray.wait(list(self.running), num_returns=1, timeout=0.2)
            self._relay()
        plan, execution = self.running.pop(ready[0])
        try:
            record, state = self.ray.get(ready[0])
        except self.ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, UserError):
                raise exc.cause from None
            raise
        record.execution = (record.execution or Execution()).merged(**execution)
        return plan, record, state

    def _relay(self) -> None:
        waiting = self.messages.qsize()
        if waiting:
            for message in self.messages.get_nowait_batch(waiting):
                self.progress(message)

    def close(self, abort: bool = False) -> None:
        if abort:
            for ref in getattr(self, "running", ()):
                self.ray.cancel(ref, force=True)
        if getattr(self, "messages", None) is not None:
            self.ray.kill(self.messages.actor)
            self.messages = None
        if self.started:
            self.ray.shutdown()
            self.started = False

