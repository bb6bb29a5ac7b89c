"""Verify a submission: choose its runs, check them against the manifest, re-run them, compare, give verdicts."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reportgen.grading.sandbox import Limits, probe, run_child
from reportgen.grading.verify.child import load_for_runs
from reportgen.grading.verify.compare import Difference, Mode, compare_run, comparison_mode
from reportgen.grading.verify.submission import Selection, Submission, choose_runs, open_submission, seed_records
from reportgen.manifest.digest import run_digests
from reportgen.results.store import recorded_overrides
from reportgen.textsafe import printable

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


def _manifest_problem(rid: str, record: dict, digests: dict[str, str]) -> str | None:
    """Why the manifest cannot re-run this recorded run (no longer declared, or declared differently)."""
    base = rid.split("#", 1)[0]
    if base not in digests:
        return f"the manifest no longer declares run {base}"
    if not record.get("digest"):
        return f"the record of run {base} holds no manifest digest, so it cannot be tied to the manifest"
    if record.get("digest") != digests[base]:
        return (f"the manifest declares run {base} differently from the recorded one (its training settings, "
                "layers, network, dataset or parent changed since it ran)")
    return None


@dataclass(frozen=True)
class Ask:
    """What to verify and how: which runs, how many epochs, the tolerance, and how to run the submission's code."""

    manifest: Path | None = None
    runs: tuple[str, ...] = ()
    sample: int | None = None
    seed: int = 0
    epochs: int | None = None
    rtol: float | None = None
    trust_code: bool = False  # run module: files even where no sandbox isolates them
    limits: Limits = field(default_factory=Limits)


def _static_manifest(sub: Submission, notes: list[str], progress: Callable[[str], None]):
    """The manifest loaded without torch and without running any of its code (digests, module notes)."""
    from reportgen.manifest.loaded import load_manifest
    from reportgen.manifest.static import module_notes

    overrides = recorded_overrides(sub.results)
    if overrides:
        notes.append(f"the build was made with {' '.join('--set ' + o for o in overrides)}; applied here too")
    loaded = load_for_runs(sub.manifest, notes, overrides, load_manifest)
    for note in module_notes(loaded):
        progress(f"note: {note}")
    return loaded, overrides


def _request(sub: Submission, ask: Ask, selection: Selection, digests: dict, overrides: list[str]) -> dict:
    """What the sandboxed child is asked: the manifest, the runs, their records (the ones it needs) and why some
    cannot run."""
    records = seed_records(sub.results)
    return {"manifest": str(sub.manifest.resolve()), "overrides": overrides, "smoke": sub.smoke,
            "chosen": selection.ids, "records": records, "epochs": ask.epochs,
            "skip": {rid: why for rid in records if (why := _manifest_problem(rid, records[rid], digests))}}


def _verdict(rid: str, answer: dict, recorded: dict, ask: Ask) -> RunVerdict:
    """One run's verdict from the child's answer and the record the grader's process read itself."""
    verdict = RunVerdict(rid, role=answer.get("role"), notes=[str(n) for n in answer.get("notes") or []])
    again = answer.get("record")
    if not isinstance(again, dict):
        verdict.reason = str(answer.get("reason") or "the re-run gave no record")
        return verdict
    stop_after = None if answer.get("full", True) else ask.epochs
    verdict.full = stop_after is None
    verdict.mode = comparison_mode(recorded.get("environment"), again.get("environment"), ask.rtol)
    verdict.differences, verdict.compared = compare_run(recorded, again, verdict.mode.rtol, stop_after)
    verdict.recorded_epochs = len(recorded.get("epochs") or [])
    verdict.epochs = min(verdict.recorded_epochs, stop_after) if stop_after else verdict.recorded_epochs
    verdict.outcome = "differs" if verdict.differences else "reproduced"
    return verdict


def code_runs(loaded) -> dict[str, str]:
    """run id → the `module:` file it runs: its model's (through `extends`), or its parent's, whose weights it
    starts from."""
    models = loaded.manifest.models

    def module_of(name: str, seen: frozenset = frozenset()) -> str | None:
        spec = models.get(name.split("[", 1)[0])
        if spec is None or name in seen:
            return None
        if spec.module:
            return spec.module_parts()[0]
        return module_of(spec.extends, seen | {name}) if spec.extends else None

    by_id = {r.id: r for r in loaded.runs}
    found: dict[str, str] = {}
    for run in loaded.runs:
        chain, current = [], run
        while current is not None and current.id not in chain:
            chain.append(current.id)
            current = by_id.get(current.parent) if current.parent else None
        file = next((f for rid in chain if (f := module_of(by_id[rid].model))), None)
        if file:
            found[run.id] = file
    return found


def _groups(selection: Selection, code: dict[str, str]) -> list[tuple[list[str], bool]]:
    """The chosen runs split by whether they run the submission's code: (ids, runs code), the others first. Each
    group is re-run by a child of its own, so code imported for one run cannot forge another's record."""
    plain = [rid for rid in selection.ids if rid.split("#", 1)[0] not in code]
    own = [rid for rid in selection.ids if rid.split("#", 1)[0] in code]
    return [(ids, runs_code) for ids, runs_code in ((plain, False), (own, True)) if ids]


def _rerun_group(sub: Submission, ask: Ask, request: dict, progress: Callable[[str], None]) -> dict:
    """One child's answer (or {"error": why}) for the runs request["chosen"] names."""
    with tempfile.TemporaryDirectory(prefix="reportgen-verify-") as scratch:
        done = run_child([sys.executable, "-m", "reportgen.grading.verify.child"], request, Path(scratch),
                         sorted({sub.folder.resolve(), sub.manifest.resolve().parent}),
                         _scaled(ask.limits, len(request["chosen"])), lambda line: progress(printable(line)))
    return done.answer or {"error": done.error}


def _verdicts(answer: dict, ids: list[str], records: dict, ask: Ask, code: dict[str, str]) -> list[RunVerdict]:
    """The verdicts of one child's runs: could not run (its error, or its code replaced reportgen's), else compared."""
    if answer.get("error"):
        return [RunVerdict(rid, reason=printable(str(answer["error"]))) for rid in ids]
    order = [rid for rid in answer.get("order") or ids if rid in records]
    verdicts = [_verdict(rid, (answer.get("runs") or {}).get(rid) or {}, records[rid], ask) for rid in order]
    patched = [printable(str(n)) for n in answer.get("patched") or []]
    if patched:
        why = f"the submission's code replaced reportgen's own functions ({', '.join(patched[:5])}); its re-runs are void"
        return [RunVerdict(v.id, reason=why, role=v.role) for v in verdicts]
    for v in verdicts:
        if v.id.split("#", 1)[0] in code:
            v.notes.append(f"its model runs the submission's own code ({code[v.id.split('#', 1)[0]]}), which could "
                           "set what the re-run reports: read that file")
    return verdicts


def verify_submission(path: Path, ask: Ask = Ask(), progress: Callable[[str], None] = print) -> Verification:
    """Re-run a submission's chosen runs (parents first) in sandboxed child processes and compare each new record,
    here, with the record read from the submission; runs that use no `module:` file are re-run by a child that
    never imports one.

    Reads the submission and writes nothing anywhere but a temporary folder; UserError (exit 2) for unusable
    input: unreadable results, no manifest, an invalid manifest, unknown --runs ids."""
    sub = open_submission(path, ask.manifest)
    selection = choose_runs(sub.results, ask.runs, ask.sample, ask.seed)
    progress(f"results from {sub.results_file}; manifest {sub.manifest} "
             f"({'the same as' if sub.same_manifest else 'differs from'} the recorded one)")
    if selection.how == "sample":
        progress(f"sample of {selection.sample} of {selection.available} runs with seed {selection.seed}: "
                 f"{', '.join(selection.ids)}")
    notes: list[str] = []
    loaded, overrides = _static_manifest(sub, notes, progress)
    status = probe()
    progress(f"sandbox: {status.text()}")
    if not status.isolated:
        notes.append(f"re-runs were not isolated: {status.text()}")
    request = _request(sub, ask, selection, run_digests(loaded, sub.smoke), overrides)
    code = code_runs(loaded)
    verdicts: dict[str, RunVerdict] = {}
    for ids, runs_code in _groups(selection, code):
        if runs_code and not (status.isolated or ask.trust_code):
            why = (f"its model runs the submission's own code ({', '.join(sorted(set(code.values())))}) and this "
                   f"machine has no sandbox ({status.text()}); pass --trust-code to run it anyway")
            verdicts.update((rid, RunVerdict(rid, reason=why)) for rid in ids)
            continue
        answer = _rerun_group(sub, ask, {**request, "chosen": ids, "forbid_modules": not runs_code}, progress)
        notes += [printable(str(n)) for n in answer.get("notes") or [] if printable(str(n)) not in notes]
        verdicts.update((v.id, v) for v in _verdicts(answer, ids, request["records"], ask, code))
    order = [rid for rid in request["records"] if rid in verdicts]
    return Verification(sub, selection, ask.epochs, ask.rtol, [verdicts[rid] for rid in order], notes)


def _scaled(limits: Limits, runs: int) -> Limits:
    """The child's limits for `runs` runs: the wall-clock and CPU limits are per run."""
    return dataclasses.replace(limits, wall_seconds=limits.wall_seconds * max(runs, 1),
                               cpu_seconds=limits.cpu_seconds * max(runs, 1))
