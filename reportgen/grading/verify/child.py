"""The sandboxed side of verify: load the manifest, re-run the asked runs (parents first) and answer their new records
as JSON on stdout. It compares nothing: the grader's process does, with records it read itself."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable

from reportgen.errors import ManifestError, UserError


def base_id(rid: str) -> str:
    """The manifest run a seed id belongs to: `cnn#2` → `cnn`."""
    return rid.split("#", 1)[0]


def parent_of(record: dict, plan) -> str | None:
    """The run whose final weights this one starts from: the record's transfer, else the manifest's plan."""
    transfer = record.get("transfer")
    if isinstance(transfer, dict) and isinstance(transfer.get("from"), str) and transfer["from"]:
        return transfer["from"]
    return plan.parent if plan is not None else None


def load_for_runs(path: Path, notes: list[str], overrides: list[str], loader: Callable | None = None):
    """The manifest, loaded and checked as build does (or by `loader`), with the build's --set overrides; when only
    its sections are at fault (a prose file the submission left out), loaded without them, with a note: sections
    decide none of a run's numbers."""
    from reportgen import build

    loader = loader or (lambda manifest, sets: build.Pipeline.open(manifest, sets).loaded)
    try:
        return loader(path, overrides)
    except ManifestError as exc:
        if not all(p.path.startswith("sections") for p in exc.problems):
            raise
        found = "; ".join(f"{p.path}: {p.message}" for p in exc.problems)
        notes.append(f"the manifest's sections cannot be loaded ({found}); they decide none of a run's numbers, "
                     "so the runs are re-run without them")
        return loader(path, [*overrides, "sections=[]"])


def reportgen_code() -> dict[str, int]:
    """Every function and class reportgen's loaded modules bind, by name → identity: a patch changes one."""
    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("reportgen.") and not name.startswith("reportgen_user"):
            for attr, value in list(vars(module).items()):
                if callable(value):
                    found[f"{name}.{attr}"] = id(getattr(value, "__code__", value))
    return found


def with_parents(chosen: list[str], records: dict, plans: dict) -> dict[str, list[str]]:
    """run id → the chosen runs it is a parent of, for every parent (and grandparent) not chosen itself."""
    needed: dict[str, list[str]] = {}
    for rid in chosen:
        child, parent, seen = rid, parent_of(records[rid], plans.get(rid)), {rid}
        while parent is not None and parent in records and parent not in chosen and parent not in seen:
            seen.add(parent)
            needed.setdefault(parent, [])
            if child not in needed[parent]:
                needed[parent].append(child)
            child, parent = parent, parent_of(records[parent], plans.get(parent))
    return needed


def role(children: list[str] | None) -> str | None:
    """Why a run that was not chosen is re-run: 're-run first: b starts from its final weights'."""
    if not children:
        return None
    return f"re-run first: {', '.join(children)} start{'s' if len(children) == 1 else ''} from its final weights"


def rerun_all(request: dict, say: Callable[[str], None], load: Callable = load_for_runs) -> dict:
    """Re-run the chosen runs and the parents they start from; {"notes", "order", "runs": {id: {record | reason,
    notes, full, role}}, "patched": [names of reportgen functions the submission's code replaced]}."""
    import torch  # noqa: F401 - loaded before the submission's code, so a patch of it is one more change

    import reportgen.grading.verify.rerun as reruns
    from reportgen.run.plan import plan_runs

    path, overrides, smoke = Path(request["manifest"]), list(request["overrides"]), bool(request["smoke"])
    records, chosen, notes = request["records"], list(request["chosen"]), []
    if request.get("forbid_modules"):
        return _without_code(request, say)
    if all(rid in request["skip"] for rid in chosen):  # nothing to re-run: the submission's code is never run
        return {"notes": notes, "order": chosen, "runs": {rid: {"reason": request["skip"][rid]} for rid in chosen},
                "patched": []}
    before = reportgen_code()
    loaded = load(path, notes, overrides)  # load_for_runs imports the submission's module: files
    datasets = reruns.DatasetsOrReasons(loaded, smoke, Path.cwd() / "data-cache")
    plans = {p.id: p for p in plan_runs(loaded, datasets, smoke)}
    parents = with_parents(chosen, records, plans)
    wanted = [rid for rid in records if rid in chosen or rid in parents]
    order = [rid for rid in wanted if rid not in plans] + [rid for rid in plans if rid in wanted]
    answers: dict[str, dict] = {}
    states: dict[str, tuple[dict, dict]] = {}
    for i, rid in enumerate(order, 1):
        head = f"[{i}/{len(order)}] "
        skip = request["skip"].get(rid)
        if skip is None:
            context = (loaded, datasets, smoke, reruns.rerun, parents, request["epochs"])
            answers[rid] = _one(rid, records[rid], plans, states, context, lambda line, h=head: say(h + line))
        else:
            answers[rid] = {"reason": skip}
        answers[rid]["role"] = role(parents.get(rid))
        if "reason" in answers[rid]:
            say(f"{head}{rid}: could not run ({answers[rid]['reason']})")
    after = reportgen_code()
    patched = sorted(k for k, v in after.items() if k in before and before[k] != v)
    return {"notes": notes, "order": wanted, "runs": answers, "patched": patched}


def _refuse(path, shown: str):
    """Stands in for importing a `module:` file in a child that re-runs only runs that use none."""
    raise UserError(f"{shown}: this re-run process runs no module: file")


def _without_code(request: dict, say: Callable[[str], None]) -> dict:
    """Re-run runs that use no `module:` file, with importing one refused: nothing of the submission runs here."""
    import reportgen.models.user_module as user_module
    from reportgen.manifest.loaded import load_manifest

    user_module.import_file = _refuse
    static = lambda path, notes, overrides: load_for_runs(path, notes, overrides, load_manifest)  # noqa: E731
    return rerun_all({**request, "forbid_modules": False}, say, static)


def _one(rid: str, record: dict, plans: dict, states: dict, context: tuple, say: Callable[[str], None]) -> dict:
    """Re-run one run (after its parent, whose final weights it starts from); its answer."""
    loaded, datasets, smoke, rerun, parents, epochs = context
    if rid not in plans:
        return {"reason": f"the manifest no longer declares run {rid}"}
    plan = plans[rid]
    parent_id = parent_of(record, plan)
    if parent_id is not None and parent_id not in states:
        return {"reason": f"it starts from the final weights of {parent_id}, which could not run"}
    stop_after = epochs if epochs is not None and epochs < plan.spec.epochs else None
    notes = []
    if stop_after is not None and rid in parents:
        notes.append(f"re-run in full: {', '.join(parents[rid])} start{'s' if len(parents[rid]) == 1 else ''} "
                     "from its final weights")
        stop_after = None
    total = f"{plan.spec.epochs} epoch{'' if plan.spec.epochs == 1 else 's'}"
    say(f"{rid}: re-running {plan.model} for " + (f"the first {stop_after} of {total}" if stop_after else total)
        + (f" ({role(parents.get(rid))})" if rid in parents else ""))
    again = rerun(loaded, plan, datasets, smoke, record, say, states.get(parent_id) if parent_id else None,
                  stop_after)
    notes += again.notes
    if again.error is not None:
        return {"reason": again.error, "notes": notes}
    if rid in parents:
        states[rid] = (again.record, again.state)
    say(f"{rid}: re-run done")
    return {"record": again.record, "notes": notes, "full": stop_after is None}


def main() -> int:
    """Read the request from stdin, answer on stdout; progress lines on stderr."""
    request = json.loads(sys.stdin.read())
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    try:
        answer = rerun_all(request, say)
    except UserError as exc:
        answer = {"error": str(exc)}
    sys.stdout.write(json.dumps(answer, allow_nan=True))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

