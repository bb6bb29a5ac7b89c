"""Re-run one recorded run in this process: the recorded thread count, no cache, nothing written anywhere."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Callable

import torch

from reportgen.errors import UserError
from reportgen.results.run_record import Execution, RunRecord
from reportgen.run.execute import execute
from reportgen.run.plan import Datasets, RunPlan
from reportgen.run.train import pick_device
from reportgen.run.worker import pinned_threads


class UnavailableData:
    """Stands in for a dataset that could not be loaded (missing files): the runs on it cannot be re-run."""

    def __init__(self, error: str):
        """Keep the loader's message."""
        self.error = error

    def fingerprint(self) -> str:
        """A placeholder for plan_runs' cache keys, which verify never uses."""
        return "unavailable"


class DatasetsOrReasons(Datasets):
    """The manifest's datasets, each loaded once; one that cannot be loaded is an UnavailableData naming why."""

    def __init__(self, *args, **kwargs):
        """As Datasets, with no failure yet."""
        super().__init__(*args, **kwargs)
        self.failed: dict[str, UnavailableData] = {}

    def get(self, spec=None):
        """The dataset's splits, or UnavailableData with the loader's message (which names the missing file)."""
        key = json.dumps((spec or self.loaded.manifest.dataset).model_dump(mode="json"), sort_keys=True)
        if key in self.failed:
            return self.failed[key]
        try:
            return super().get(spec)
        except UserError as exc:
            self.failed[key] = UnavailableData(str(exc))
            return self.failed[key]


@dataclass
class Rerun:
    """What re-running a run gave: its new record and final weights, or why it could not run."""

    record: dict | None = None
    state: dict | None = None
    error: str | None = None
    notes: list[str] = dataclasses.field(default_factory=list)


def recorded_threads(recorded: dict) -> int:
    """The thread count the run trained with (its environment), else REPORTGEN_THREADS, else this process's."""
    threads = (recorded.get("environment") or {}).get("threads")
    if isinstance(threads, int) and threads >= 1:
        return threads
    return pinned_threads() or torch.get_num_threads()


def _on_this_machine(plan: RunPlan) -> tuple[RunPlan, str | None]:
    """The plan, on the CPU when the device it asks for is not here (with a note saying so)."""
    try:
        pick_device(plan.spec.device)
        return plan, None
    except RuntimeError as exc:
        spec = plan.spec.model_copy(update={"device": "cpu"})
        return dataclasses.replace(plan, spec=spec), f"{exc}; re-run on the CPU instead"


def rerun(loaded, plan: RunPlan, datasets: Datasets, smoke: bool, recorded: dict, progress: Callable[[str], None],
          parent: tuple[dict, dict] | None = None, stop_after: int | None = None) -> Rerun:
    """Train the run again exactly as a sequential build does (same seed, the recorded thread count, no cache,
    no partial checkpoints); `stop_after` K trains only its first K epochs. Progress comes as lines (an epoch's
    EpochDone as its line). UserErrors (missing data or pretrained weights) come back as the reason it could not
    run."""
    splits = datasets.get(plan.run.dataset)
    if isinstance(splits, UnavailableData):
        return Rerun(error=splits.error)
    plan, moved = _on_this_machine(plan)
    out = Rerun(notes=[moved] if moved else [])
    before, threads = torch.get_num_threads(), recorded_threads(recorded)
    torch.set_num_threads(threads)
    try:
        if parent is not None:  # a parent re-run here, or as its results recorded it
            parent = (RunRecord.model_validate(parent[0]), parent[1])
        typed, state = execute(loaded, dataclasses.replace(plan, smoke=smoke, stop_after=stop_after), splits,
                               lambda message: progress(str(message)), None, parent, resume=False)
        typed.execution = Execution(executor="verify", jobs=1, threads=torch.get_num_threads())
        record = typed.model_dump(mode="json", by_alias=True)  # compared with results.json's JSON
    except UserError as exc:
        out.error = str(exc)
        return out
    finally:
        torch.set_num_threads(before)
    if record.get("status") == "failed" and recorded.get("status") != "failed":
        out.error = record.get("error") or "the re-run failed"
        return out
    out.record, out.state = record, state
    return out
