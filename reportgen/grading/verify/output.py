"""verify's output: a text summary for graders (header, one line per run with details, counts), or JSON."""

from __future__ import annotations


from reportgen.grading.verify.command import OUTCOMES, RunVerdict, Verification

SHOWN = 5  # differences listed per run in the text output


def _plural(n: int, word: str) -> str:
    """'1 run', '3 runs'."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def selection_text(v: Verification) -> str:
    """'all 3 runs: a, b, c', '2 named of 3 runs: a, b', 'a sample of 1 of 3 runs with seed 3: b'."""
    s, ids = v.selection, ", ".join(v.selection.ids)
    if s.how == "sample":
        more = f" (--sample {s.asked}: there are only {s.available})" if s.asked and s.asked > s.available else ""
        return f"a sample of {s.sample} of {_plural(s.available, 'run')} with seed {s.seed}: {ids}{more}"
    if s.how == "named":
        return f"{len(s.ids)} named of {_plural(s.available, 'run')}: {ids}"
    return f"all {s.available} runs: {ids}" if s.available > 1 else f"the submission's only run: {ids}"


def mode_text(v: Verification) -> str:
    """The comparison mode of every re-run run, or 'per run' when they differ."""
    modes = v.modes()
    if not modes:
        return "none (no run was re-run)"
    if len(modes) == 1:
        return modes[0].describe()
    return "per run (each run's lines say which)"


def manifest_text(v: Verification) -> str:
    """The manifest path and whether it is the one the results were built from."""
    sub = v.submission
    if sub.same_manifest:
        return f"{sub.manifest} (the same manifest as recorded, sha256 {sub.manifest_sha256[:12]}…)"
    recorded = f"{sub.recorded_sha256[:12]}…" if sub.recorded_sha256 else "none"
    return (f"{sub.manifest} (differs from the recorded one: sha256 {sub.manifest_sha256[:12]}… here, "
            f"{recorded} recorded; runs whose declaration changed cannot be verified)")


def _headline(r: RunVerdict) -> str:
    """A run's one line: its id (and role), outcome and what was compared."""
    name = r.id + (f" ({r.role})" if r.role else "")
    if r.outcome == "could not run":
        return f"{name}: could not run: {r.reason}"
    if r.full:
        what = _plural(r.epochs or 0, "epoch") + " and the test metrics"
    else:
        what = f"the first {r.epochs} of {_plural(r.recorded_epochs or 0, 'epoch')}, no test metrics"
    if r.outcome == "reproduced":
        return f"{name}: reproduced ({what}; {r.compared} values)"
    return f"{name}: differs in {len(r.differences)} of {r.compared} values ({what})"


def run_lines(r: RunVerdict, shared_mode: bool) -> list[str]:
    """A run's line, then indented: its first differences, its mode (when not the header's) and notes."""
    lines = [_headline(r)]
    lines += [f"    {d.text()}" for d in r.differences[:SHOWN]]
    if len(r.differences) > SHOWN:
        lines.append(f"    … and {len(r.differences) - SHOWN} more (--format json lists them all)")
    if r.mode is not None and not shared_mode:
        lines.append(f"    mode: {r.mode.describe()}")
    lines += [f"    note: {n}" for n in r.notes]
    return lines


def counts_text(v: Verification) -> str:
    """'3 runs verified: 2 reproduced, 1 differs, 0 could not run'."""
    c = v.counts()
    return f"{_plural(len(v.runs), 'run')} verified: " + ", ".join(f"{c[o]} {o}" for o in OUTCOMES)


def text_report(v: Verification) -> str:
    """The grader's summary: header, one line per run plus details, the counts."""
    sub = v.submission
    lines = [f"submission: {sub.given} (results from {sub.results_file})",
             f"manifest: {manifest_text(v)}",
             f"mode: {mode_text(v)}",
             f"runs: {selection_text(v)}"]
    if v.first_epochs is not None:
        first = "the first epoch" if v.first_epochs == 1 else f"the first {v.first_epochs} epochs"
        lines.append(f"epochs: {first} of each run's log (test metrics are compared only for runs re-run in full)")
    if sub.smoke:
        lines.append("smoke: the submission is a smoke build, re-run as one")
    lines += [f"note: {n}" for n in v.notes]
    lines.append("")
    shared = len(v.modes()) <= 1
    for r in v.runs:
        lines += run_lines(r, shared)
    lines += ["", counts_text(v)]
    return "\n".join(lines) + "\n"


def json_report(v: Verification) -> dict:
    """Everything as JSON: submission, manifest, selection, mode, per-run verdicts with differences, counts."""
    sub, s = v.submission, v.selection
    modes = v.modes()
    data = {
        "submission": str(sub.given), "results_file": str(sub.results_file), "smoke": sub.smoke,
        "manifest": {"file": str(sub.manifest), "sha256": sub.manifest_sha256, "recorded_sha256": sub.recorded_sha256,
                     "same": sub.same_manifest},
        "selection": {"how": s.how, "ids": s.ids, "seed": s.seed, "sample": s.sample, "asked": s.asked,
                      "available": s.available},
        "epochs": v.first_epochs, "rtol_given": v.rtol,
        "mode": modes[0].record() if len(modes) == 1 else None, "modes": [m.record() for m in modes],
        "notes": v.notes, "runs": [r.record() for r in v.runs],
        "counts": v.counts(), "ok": v.ok,
    }
    return data
