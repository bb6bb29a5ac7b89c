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


def verify_submission(folder: str, sample: int, seed: int) -> tuple[str, str]:
    """(status, one line) for re-running `sample` runs of a submission, picked with `seed` (imports torch)."""
    from pathlib import Path

    from reportgen.grading.verify.command import verify_submission as verify
    from reportgen.grading.verify.output import counts_text

    try:
        result = verify(Path(folder), sample=sample, seed=seed, progress=lambda line: None)
    except UserError as exc:
        return COULD_NOT_RUN, str(exc).splitlines()[0]
    detail = counts_text(result)
    why = [f"{r.id}: {r.reason}" for r in result.runs if r.outcome == COULD_NOT_RUN and r.reason]
    differs = [f"{r.id}: {len(r.differences)} of {r.compared} values differ" for r in result.runs
               if r.outcome == DIFFERS]
    return status_of(result.counts()), "; ".join([detail, *differs, *why])
