"""A submission scored against a rubric: each automatic criterion from grade's row, with a line saying why."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from reportgen.grading.grade.rubric import AccuracyAbove, Criterion, Rubric, SectionPresent, SimilarityBelow
from reportgen.textsafe import one_line

RERENDERED = "re-rendered"


@dataclass(frozen=True)
class CriterionScore:
    """One criterion's outcome: points earned (None: manual, or not scored because its fact is unknown) and why."""

    id: str
    title: str
    points: float
    points_earned: float | None
    status: str  # "passed", "partial", "failed", "not scored" or "manual"
    detail: str
    manual: bool = False

    @property
    def shown(self) -> str:
        """The points as a cell shows them: `7.5/10`, `not scored (10)`, `by hand (35)`."""
        if self.points_earned is not None:
            return f"{self.points_earned:g}/{self.points:g}"
        return f"{'by hand' if self.manual else 'not scored'} ({self.points:g})"


@dataclass(frozen=True)
class Scored:
    """A submission's rubric outcome: every criterion, and the totals."""

    criteria: list[CriterionScore]

    @property
    def earned(self) -> float:
        """Points earned on the automatic criteria (a criterion not scored earns nothing)."""
        return round(sum(c.points_earned or 0 for c in self.criteria if not c.manual), 2)

    @property
    def possible(self) -> float:
        """Points of every automatic criterion, scored or not."""
        return sum(c.points for c in self.criteria if not c.manual)

    @property
    def manual(self) -> float:
        """Points left for the grader."""
        return sum(c.points for c in self.criteria if c.manual)

    @property
    def not_scored(self) -> list[str]:
        """The automatic criteria whose fact is unknown (e.g. verification without --verify)."""
        return [c.id for c in self.criteria if c.status == "not scored"]

    def record(self) -> dict:
        """As JSON: the totals and each criterion."""
        return {"earned": self.earned, "possible": self.possible, "manual": self.manual,
                "not_scored": self.not_scored, "criteria": [asdict(c) for c in self.criteria]}


def _number(value) -> float | None:
    """A finite number, or None."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return float(value) if math.isfinite(value) else None


def _pct(value: float) -> str:
    return f"{value * 100:.2f} %"


def _ramp(value: float, full: float, zero: float | None) -> float:
    """The fraction of the points for a value where more is better: all from `full` up, none at `zero` and below,
    linear between (without `zero`, none below `full`)."""
    if value >= full:
        return 1.0
    if zero is None or value <= zero:
        return 0.0
    return (value - zero) / (full - zero)


def _clean(row: dict) -> tuple[float, str]:
    level = str(row.get("check_level") or "")
    if row.get("findings"):
        return 0.0, f"{row['findings']} finding(s): {'; '.join(row.get('findings_summary') or [])}"
    if level != RERENDERED:
        return 0.0, f"no finding, but checked at level {level or 'unknown'}: hand in the manifest so that the report " \
                    "is re-rendered"
    return 1.0, "every check passed, the report re-rendered from its manifest"


def _verified(row: dict) -> tuple[float | None, str]:
    status = str(row.get("verification") or "not verified")
    if status == "not verified":
        return None, "not verified: grade with --verify to score it"
    detail = row.get("verification_detail")
    return (1.0 if status == "reproduced" else 0.0), status + (f": {detail}" if detail else "")


def _section(row: dict, kind: str) -> tuple[float | None, str]:
    sections = row.get("sections")
    if not isinstance(sections, list):
        return None, f"the report's sections are unknown: its manifest was not loaded ({row.get('check_level') or '?'})"
    if kind in sections:
        return 1.0, f"a {kind} section (section {sections.index(kind) + 1} of {len(sections)})"
    return 0.0, f"no {kind} section; the report has {', '.join(map(str, sections)) or 'no sections'}"


def _repeats(row: dict) -> tuple[float | None, str]:
    comparisons, repeated = row.get("comparisons"), row.get("repeated_runs")
    if not isinstance(comparisons, list) or not isinstance(repeated, dict):
        return None, "unknown: this row was recorded before reportgen kept comparisons; grade with --fresh"
    for runs in comparisons:
        seeded = [f"{r} ({repeated[r]} seeds)" for r in runs if r in repeated]
        if len(seeded) >= 2:
            return 1.0, f"compares {', '.join(seeded)}"
    if not comparisons:
        return 0.0, "the report compares no runs (no comparison or results_table section with two runs or more)"
    return 0.0, "no comparison of two or more runs with repeats (set train.repeats); repeated: " + \
        (", ".join(f"{r} ({n} seeds)" for r, n in repeated.items()) or "none")


def _accuracy_of(row: dict, run: str) -> tuple[str, float | None] | str:
    """(what was measured, its test accuracy) for a run id, an experiment id or "best"; a reason when there is none."""
    best = row.get("best_accuracy") if isinstance(row.get("best_accuracy"), dict) else {}
    if run == "best":
        found = [(str(v.get("run")), _number(v.get("accuracy"))) for v in best.values() if isinstance(v, dict)]
        found = [(name, acc) for name, acc in found if acc is not None]
        return max(found, key=lambda f: f[1]) if found else "no run has a test accuracy"
    by_run = row.get("run_accuracy") if isinstance(row.get("run_accuracy"), dict) else {}
    if run in by_run:
        return run, _number(by_run[run])
    if isinstance(best.get(run), dict):
        return f"{run} (its best run, {best[run].get('run')})", _number(best[run].get("accuracy"))
    return f"no run or experiment {run!r} in the results"


def _accuracy(row: dict, auto: AccuracyAbove) -> tuple[float, str]:
    found = _accuracy_of(row, auto.run)
    if isinstance(found, str):
        return 0.0, found
    name, acc = found
    if acc is None:
        return 0.0, f"{name} has no test accuracy"
    fraction = _ramp(acc, auto.accuracy_above, auto.partial)
    verdict = "≥" if acc >= auto.accuracy_above else "<"
    detail = f"{name}: {_pct(acc)} {verdict} {_pct(auto.accuracy_above)}"
    if 0 < fraction < 1:
        detail += f", {fraction * 100:.0f} % of the points (0 at {_pct(auto.partial)})"
    return fraction, detail


def _similarity(row: dict, auto: SimilarityBelow, similarity, ran: bool) -> tuple[float | None, str]:
    if not ran:
        return None, "similarity was not compared: grade with --similarity to score it"
    value = _number(similarity)
    if value is None:
        return None, "no similarity for this submission (nothing to compare it with)"
    gaps = row.get("similarity_gaps") or []
    if gaps and value < auto.similarity_below:  # what was not compared may hold what was copied: the grader looks
        more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
        return None, f"part of the submission was not compared ({gaps[0]}{more}): left for the grader"
    if value < auto.similarity_below or auto.partial is None:  # "below": the threshold itself is not below it
        fraction = float(value < auto.similarity_below)
    else:  # less similarity is better: the ramp on the negated values
        fraction = _ramp(-value, -auto.similarity_below, -auto.partial)
    # no partner's name: the detail reaches students (Moodle feedback, Gradescope); grades.html names them
    detail = f"highest similarity {value:.2f} {'<' if value < auto.similarity_below else '≥'} " \
             f"{auto.similarity_below:g}"
    if 0 < fraction < 1:
        detail += f", {fraction * 100:.0f} % of the points (0 at {auto.partial:g})"
    return fraction, detail


def _rule(c: Criterion, row: dict, similarity, ran: bool) -> tuple[float | None, str]:
    """The fraction of a criterion's points a row earns (None: its fact is unknown) and why."""
    auto = c.auto
    if isinstance(auto, SimilarityBelow):  # compared from the folders, even when a submission cannot be checked
        return _similarity(row, auto, similarity, ran)
    if row.get("error"):
        return 0.0, f"the submission could not be checked: {row['error']}"
    if isinstance(auto, SectionPresent):
        return _section(row, auto.section)
    if isinstance(auto, AccuracyAbove):
        return _accuracy(row, auto)
    rules = {"check_clean": _clean, "verify_reproduced": _verified, "comparison_with_repeats": _repeats,
             "not_smoke": lambda r: (None, "unknown whether it is a smoke build") if r.get("smoke") is None else
             (0.0, "a smoke build (reportgen build --smoke)") if r["smoke"] else (1.0, "a full build")}
    return rules[str(auto)](row)


def score(rubric: Rubric, row: dict, similarity: float | None = None, similarity_ran: bool = False) -> Scored:
    """Score one of grade's rows against the rubric: every automatic criterion, the manual ones left open."""
    out = []
    for c in rubric.criteria:
        if c.manual:
            out.append(CriterionScore(c.id, c.label, c.points, None, "manual", "left for the grader", manual=True))
            continue
        fraction, detail = _rule(c, row, similarity, similarity_ran)
        earned = None if fraction is None else round(c.points * fraction, 2)
        status = "not scored" if earned is None else "passed" if fraction == 1 else "failed" if earned == 0 \
            else "partial"
        out.append(CriterionScore(c.id, c.label, c.points, earned, status, one_line(detail)))
    return Scored(out)


def gradescope_tests(scored: Scored) -> list[dict]:
    """One Gradescope test per criterion: scored ones with score and max_score, the others saying why they have none
    (the top-level score, gradescope_total, is what Gradescope records)."""
    tests = []
    for c in scored.criteria:
        test = {"name": f"{c.title} [{c.id}]", "status": "passed" if c.status == "passed" else "failed",
                "output": c.detail}
        if c.points_earned is not None:
            test.update(score=c.points_earned, max_score=c.points)
        elif c.manual:
            test.update(name=f"{c.title} [{c.id}] (graded by hand, {c.points:g} points)", status="passed",
                        output="left for the grader: score it in Gradescope's manually graded questions")
        else:
            test.update(name=f"{c.title} [{c.id}] (not scored, {c.points:g} points)", output=c.detail)
        tests.append(test)
    return tests


def gradescope_total(scored: Scored) -> float:
    """results.json's top-level score: the automatic points earned."""
    return scored.earned
