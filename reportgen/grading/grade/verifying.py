"""Verification for `grade --verify`: reportgen.grading.verify on one submission, as a status and one line."""

from __future__ import annotations

from reportgen.errors import UserError

REPRODUCED, DIFFERS, COULD_NOT_RUN, NOT_VERIFIED = "reproduced", "differs", "could not run", "not verified"


def status_of(counts: dict[str, int]) -> str:
    """A submission's status from its runs' outcomes: any differs → differs; all reproduced → reproduced."""
    if counts.get(DIFFERS):
        return DIFFERS
    if counts.get(REPRODUCED) and not counts.get(COULD_NOT_RUN):
        return REPRODUCED
    return COULD_NOT_RUN


def verify_submission(folder: str, verify: dict) -> tuple[str, str]:
    """(status, one line) for re-running verify["sample"] runs or seeds of a submission, picked with verify["seed"],
    in the sandbox with grade's --trust-code, --time-limit and --memory-limit."""
    from pathlib import Path

    from reportgen.grading.sandbox import Limits
    from reportgen.grading.verify.command import Ask, verify_submission as run_verify
    from reportgen.grading.verify.output import counts_text

    limits = Limits.of(verify.get("time_limit") or Limits.wall_seconds, verify.get("memory_limit") or 8)
    ask = Ask(sample=verify["sample"], seed=verify["seed"], trust_code=bool(verify.get("trust_code")), limits=limits)
    try:
        result = run_verify(Path(folder), ask, progress=lambda line: None)
    except UserError as exc:
        return COULD_NOT_RUN, str(exc).splitlines()[0]
    detail = counts_text(result)
    why = [f"{r.id}: {r.reason}" for r in result.runs if r.outcome == COULD_NOT_RUN and r.reason]
    differs = [f"{r.id}: {len(r.differences)} of {r.compared} values differ" for r in result.runs
               if r.outcome == DIFFERS]
    return status_of(result.counts()), "; ".join([detail, *differs, *why])
