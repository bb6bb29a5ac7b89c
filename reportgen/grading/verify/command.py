"""Verify a submission: choose its runs, check them against the manifest, re-run them, compare, give verdicts."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reportgen.errors import ManifestError
from reportgen.manifest.digest import run_digests
from reportgen.results.store import recorded_overrides
from reportgen.grading.verify.compare import Difference, Mode, compare_run, comparison_mode
from reportgen.grading.verify.submission import Selection, Submission, choose_runs, open_submission, recorded_ids

OUTCOMES = ("reproduced", "differs", "could not run")


@dataclass
class RunVerdict:
    """One verified run: reproduced, differs (which numbers) or could not run (why)."""

    id: str
    outcome: str = "could not run"
    reason: str | None = None  # could not run: why
    role: str | None = None  # "parent of X": re-run because a chosen run starts from its final weights
    mode: Mode | None = None
    differences: list[Difference] = field(default_factory=list)
    compared: int = 0  # values compared
    epochs: int | None = None  # epochs compared
    recorded_epochs: int | None = None  # epochs in the record
    full: bool = True  # a full re-run (test metrics compared), or only the first --epochs epochs
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict:
        """The JSON form."""
        return {"id": self.id, "outcome": self.outcome, "reason": self.reason, "role": self.role,
                "mode": self.mode.record() if self.mode else None, "compared": self.compared,
                "epochs_compared": self.epochs, "recorded_epochs": self.recorded_epochs, "full": self.full,
                "notes": self.notes,
                "differences": [d.record() for d in self.differences]}


@dataclass
class Verification:
    """Everything a verify found: the submission, which runs and how, and one verdict per run."""

    submission: Submission
    selection: Selection
    first_epochs: int | None
    rtol: float | None  # as given (None: by mode)
    runs: list[RunVerdict]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every verified run reproduced."""
        return all(v.outcome == "reproduced" for v in self.runs)

    def counts(self) -> dict[str, int]:
        """Runs per outcome."""
        return {o: sum(v.outcome == o for v in self.runs) for o in OUTCOMES}

    def modes(self) -> list[Mode]:
        """The distinct comparison modes of the runs that were re-run, in order."""
        return list(dict.fromkeys(v.mode for v in self.runs if v.mode is not None))


def _parent_of(record: dict, plan) -> str | None:
    """The run whose final weights this one starts from: the record's transfer, else the manifest's plan."""
    transfer = record.get("transfer")
    if isinstance(transfer, dict) and isinstance(transfer.get("from"), str) and transfer["from"]:
        return transfer["from"]
    return plan.parent if plan is not None else None


def _with_parents(chosen: list[str], runs: dict, plans: dict) -> dict[str, list[str]]:
    """run id → the chosen runs it is a parent of, for every parent (and grandparent) not chosen itself."""
    needed: dict[str, list[str]] = {}
    for rid in chosen:
        child, parent, seen = rid, _parent_of(runs[rid], plans.get(rid)), {rid}
        while parent is not None and parent in runs and parent not in chosen and parent not in seen:
            seen.add(parent)
            needed.setdefault(parent, [])
            if child not in needed[parent]:
                needed[parent].append(child)
            child, parent = parent, _parent_of(runs[parent], plans.get(parent))
    return needed


def _role(children: list[str] | None) -> str | None:
    """Why a run that was not chosen is re-run: 're-run first: b starts from its final weights'."""
    if not children:
        return None
    return f"re-run first: {', '.join(children)} start{'s' if len(children) == 1 else ''} from its final weights"


def _manifest_problem(rid: str, record: dict, digests: dict[str, str]) -> str | None:
    """Why the manifest cannot re-run this recorded run (no longer declared, or declared differently)."""
    if rid not in digests:
        return f"the manifest no longer declares run {rid}"
    if not record.get("digest"):
        return f"the record of run {rid} holds no manifest digest, so it cannot be tied to the manifest"
    if record.get("digest") != digests[rid]:
        return (f"the manifest declares run {rid} differently from the recorded one (its training settings, "
                "layers, network, dataset or parent changed since it ran)")
    return None


def load_for_runs(path: Path, notes: list[str], overrides: list[str] | None = None):
    """The manifest, loaded and checked as build does, with the --set overrides the build recorded; when only its
    sections are at fault (say a prose file the submission left out), loaded without them, with a note: sections
    decide none of a run's numbers."""
    from reportgen import build

    overrides = list(overrides or [])
    if overrides:
        notes.append(f"the build was made with {' '.join('--set ' + o for o in overrides)}; applied here too")
    try:
        return build.load(path, overrides)
    except ManifestError as exc:
        if not all(p.path.startswith("sections") for p in exc.problems):
            raise
        found = "; ".join(f"{p.path}: {p.message}" for p in exc.problems)
        notes.append(f"the manifest's sections cannot be loaded ({found}); they decide none of a run's numbers, "
                     "so the runs are re-run without them")
        return build.load(path, [*overrides, "sections=[]"])


def _rerun_one(verdict: RunVerdict, plan, record: dict, parent: tuple[dict, dict] | None, epochs: int | None,
               children: list[str], context: dict, say: Callable[[str], None]) -> tuple[dict, dict] | None:
    """Re-run one run and fill in its verdict; returns (record, weights) when children start from it."""
    from reportgen.grading.verify.rerun import rerun

    stop_after = epochs if epochs is not None and epochs < plan.spec.epochs else None
    if stop_after is not None and children:
        verdict.notes.append(f"re-run in full: {', '.join(children)} start{'s' if len(children) == 1 else ''} "
                             "from its final weights")
        stop_after = None
    verdict.full = stop_after is None
    total = f"{plan.spec.epochs} epoch{'' if plan.spec.epochs == 1 else 's'}"
    what = f"the first {stop_after} of {total}" if stop_after else total
    say(f"{verdict.id}: re-running {plan.model} for {what}" + (f" ({verdict.role})" if verdict.role else ""))
    again = rerun(context["loaded"], plan, context["datasets"], context["smoke"], record, context["progress"],
                  parent, stop_after)
    verdict.notes += again.notes
    if again.error is not None:
        verdict.reason = again.error
        say(f"{verdict.id}: could not run ({again.error})")
        return None
    verdict.mode = comparison_mode(record.get("environment"), again.record["environment"], context["rtol"])
    verdict.differences, verdict.compared = compare_run(record, again.record, verdict.mode.rtol, stop_after)
    recorded_epochs = len(record.get("epochs") or [])
    verdict.epochs = min(recorded_epochs, stop_after) if stop_after else recorded_epochs
    verdict.recorded_epochs = recorded_epochs
    verdict.outcome = "differs" if verdict.differences else "reproduced"
    say(f"{verdict.id}: {verdict.outcome}"
        + (f" ({len(verdict.differences)} of {verdict.compared} values)" if verdict.differences else ""))
    return (again.record, again.state) if children else None


def verify_submission(path: Path, manifest: Path | None = None, runs: tuple[str, ...] | list[str] = (),
                      sample: int | None = None, seed: int = 0, epochs: int | None = None,
                      rtol: float | None = None, progress: Callable[[str], None] = print) -> Verification:
    """Re-run a submission's chosen runs (parents first) from its manifest and compare each with its record.

    Reads the submission and writes nothing anywhere but a temporary folder; UserError (exit 2) for unusable
    input: unreadable results, no manifest, an invalid manifest, unknown --runs ids."""
    sub = open_submission(path, manifest)
    selection = choose_runs(sub.results, runs, sample, seed)
    progress(f"results from {sub.results_file}; manifest {sub.manifest} "
             f"({'the same as' if sub.same_manifest else 'differs from'} the recorded one)")
    if selection.how == "sample":
        progress(f"sample of {selection.sample} of {selection.available} runs with seed {selection.seed}: "
                 f"{', '.join(selection.ids)}")
        if selection.asked > selection.available:
            progress(f"--sample {selection.asked}: the submission has only {selection.available} runs; "
                     "all are verified")
    notes: list[str] = []
    loaded = load_for_runs(sub.manifest, notes, recorded_overrides(sub.results))  # imports torch, as building the models needs it
    from reportgen.run.plan import plan_runs
    from reportgen.grading.verify.rerun import DatasetsOrReasons

    for note in notes:
        progress(f"note: {note}")
    recorded = {rid: r if isinstance(r, dict) else {} for rid, r in sub.results["runs"].items()}
    digests = run_digests(loaded, sub.smoke)
    listed = recorded_ids(sub.results)
    with tempfile.TemporaryDirectory(prefix="reportgen-verify-") as scratch:
        datasets = DatasetsOrReasons(loaded, sub.smoke, Path(scratch))
        plans = {p.id: p for p in plan_runs(loaded, datasets, sub.smoke)}
        parents = _with_parents(selection.ids, recorded, plans)
        wanted = [rid for rid in listed if rid in selection.ids or rid in parents]
        children_of = {rid: [c for c in wanted if _parent_of(recorded[c], plans.get(c)) == rid] for rid in wanted}
        verdicts = {rid: RunVerdict(rid, role=_role(parents.get(rid)), reason=_manifest_problem(rid, recorded[rid],
                                                                                               digests))
                    for rid in wanted}
        order = [rid for rid in wanted if rid not in plans] + [rid for rid in plans if rid in verdicts]
        context = {"loaded": loaded, "datasets": datasets, "smoke": sub.smoke, "rtol": rtol, "progress": progress}
        states: dict[str, tuple[dict, dict]] = {}
        for i, rid in enumerate(order, 1):
            verdict, record = verdicts[rid], recorded[rid]

            def say(line: str, head: str = f"[{i}/{len(order)}] ") -> None:
                """A progress line, numbered like build's."""
                progress(head + line)

            parent_id = _parent_of(record, plans.get(rid))
            if verdict.reason is None and parent_id is not None and parent_id not in states:
                why = verdicts[parent_id].reason if parent_id in verdicts else "it is not in the submission"
                verdict.reason = f"it starts from the final weights of {parent_id}, which could not run ({why})"
            if verdict.reason is not None:
                say(f"{rid}: could not run ({verdict.reason})")
                continue
            state = _rerun_one(verdict, plans[rid], record, states.get(parent_id) if parent_id else None, epochs,
                               children_of[rid], context, say)
            if state is not None:
                states[rid] = state
    return Verification(sub, selection, epochs, rtol, [verdicts[rid] for rid in wanted], notes)
