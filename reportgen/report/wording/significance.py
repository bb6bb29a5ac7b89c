"""How sure a comparison is, read from results: mean ± spread over seeds, paired tests, and the clear winner."""

from __future__ import annotations

from dataclasses import dataclass

from reportgen.report.wording.formatting import dec, pct, pval
from reportgen.results.record import PairedComparison, PairTest, Results
from reportgen.results.run_record import RunRecord, Summary
from reportgen.units import is_number

ALPHA = 0.05


def spread(run: RunRecord, metric: str = "accuracy") -> Summary | None:
    """The run's aggregate of a metric over its seeds (mean, std, ci_low, ci_high, n), when it has two or more."""
    if run.aggregate is None:
        return None
    agg: Summary = getattr(run.aggregate, metric)
    return agg if agg.n >= 2 and is_number(agg.mean) else None


def accuracy(run: RunRecord) -> float | None:
    """Test accuracy as compared: the mean over seeds of a repeated run, else its one test accuracy."""
    agg = spread(run)
    if agg is not None:
        return agg.mean
    return run.test.accuracy if run.test is not None else None


def paired_entry(results: Results | None, ids: list[str]) -> PairedComparison | None:
    """The paired tests computed for exactly these runs (a comparison section's), if any."""
    return next((e for e in results.paired if e.runs == ids), None) if results is not None else None


def pair(entry: PairedComparison | None, a: str, b: str) -> PairTest | None:
    """The paired test of a against b, oriented so that `difference` is accuracy(a) − accuracy(b)."""
    for p in entry.pairs if entry is not None else []:
        if (p.a, p.b) == (a, b):
            return p
        if (p.a, p.b) == (b, a):
            return p.model_copy(update={"a": a, "b": b, "a_only": p.b_only, "b_only": p.a_only,
                                        "difference": -p.difference, "ci_low": -p.ci_high, "ci_high": -p.ci_low})
    return None


def holds(p: PairTest) -> bool:
    """A paired difference that survives: Holm-corrected p below 0.05 and an interval that excludes zero."""
    return p.p_holm < ALPHA and (p.ci_low > 0 or p.ci_high < 0)


def overlap(a: Summary, b: Summary) -> bool:
    """Whether two confidence intervals overlap."""
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


@dataclass(frozen=True)
class Winner:
    """The run a comparison may star: `best` (highest accuracy), `runner_up`, whether the lead is `clear`, and
    the `basis` of that judgement: seeds (confidence intervals), paired (tests on one test set) or single."""

    best: list[str]
    runner_up: str | None
    clear: bool
    basis: str
    entry: PairedComparison | None = None

    @property
    def starred(self) -> list[str]:
        """The runs to mark: the best one when its lead is clear, none otherwise."""
        return self.best if self.clear else []


def winner(runs: list[RunRecord], results: Results | None) -> Winner | None:
    """The best of these runs and whether it is clearly best; None when no run has test results."""
    ranked = sorted((r for r in runs if accuracy(r) is not None), key=lambda r: -accuracy(r))
    if not ranked:
        return None
    entry = paired_entry(results, [r.id for r in runs])
    top = [r.id for r in ranked if accuracy(r) == accuracy(ranked[0])]
    if len(ranked) == 1:
        return Winner(top, None, True, "single", entry)
    first, second = ranked[0], ranked[1]
    if spread(first) and spread(second):
        return Winner([first.id], second.id, not overlap(spread(first), spread(second)), "seeds", entry)
    p = pair(entry, first.id, second.id)
    if p is not None:
        return Winner([first.id], second.id, holds(p), "paired", entry)
    return Winner(top, second.id if len(top) == 1 else None, len(top) == 1, "single", entry)


def mean_text(agg: Summary) -> str:
    """'97.22 % ± 0.41 % (95 % CI 96.20–98.24 %, 3 seeds)'."""
    return (f"{pct(agg.mean)} ± {pct(agg.std)} (95 % CI {dec(agg.ci_low * 100, 2)}–{pct(agg.ci_high)}, "
            f"{agg.n} seeds)")


def difference_text(p: PairTest) -> str:
    """'1.33 points (95 % CI 0.19–2.45, p = 0.021)' for a paired difference a − b."""
    shown = pval(p.p_holm)
    return (f"{dec(abs(p.difference) * 100, 2)} points (95 % CI {dec(p.ci_low * 100, 2)} to "
            f"{dec(p.ci_high * 100, 2)}, p {shown if shown.startswith('<') else '= ' + shown})")


def _acc_text(run: RunRecord) -> str:
    agg = spread(run)
    return mean_text(agg) if agg else pct(accuracy(run))


def lead_sentence(win: Winner, runs: dict[str, RunRecord]) -> str:
    """The best run against the runner-up, with the numbers the verdict rests on."""
    best, second = runs[win.best[0]], runs[win.runner_up]
    if win.basis == "seeds":
        head = (f"{best.id} has the best mean test accuracy, {_acc_text(best)}, against {_acc_text(second)} "
                f"for the runner-up, {second.id}")
        return head + (": their confidence intervals over seeds do not overlap." if win.clear else
                       ": their confidence intervals over seeds overlap, so there is no clear winner.")
    p = pair(win.entry, best.id, second.id)
    family = len(win.entry.pairs)
    how = f"McNemar's exact test{f', Holm-corrected over {family} pairs' if family > 1 else ''}"
    if win.clear:
        return (f"{best.id} has the best test accuracy, {pct(accuracy(best))}, and beats the runner-up, "
                f"{second.id} ({pct(accuracy(second))}), by {difference_text(p)}; {how}.")
    return (f"No clear winner: {best.id} ({pct(accuracy(best))}) and the runner-up, {second.id} "
            f"({pct(accuracy(second))}), are indistinguishable on this test set: the difference is "
            f"{difference_text(p)}; {how}.")


def pairs_sentence(win: Winner | None, shown: int = 4) -> str | None:
    """How many of a comparison's paired differences hold up, naming (up to `shown` of) those that do."""
    entry = win.entry if win is not None else None
    pairs = entry.pairs if entry is not None else []
    if len(pairs) < 2:
        return None
    ahead = []
    for p in pairs:
        if holds(p):
            ahead.append(p if p.difference > 0 else pair(entry, p.b, p.a))
    n = len(pairs)
    where = "On the first seed's predictions, " if win.basis == "seeds" else ""
    if not ahead:
        text = (f"{where}none of the {n} pairwise differences holds up on this test set after Holm correction "
                f"(McNemar's exact test, α = {ALPHA:g}).")
        return text[0].upper() + text[1:]
    ahead.sort(key=lambda p: p.p_holm)
    listed = "; ".join(f"{p.a} beats {p.b} by {difference_text(p)}" for p in ahead[:shown])
    more = f"; and {len(ahead) - shown} more (see the table)" if len(ahead) > shown else ""
    return (f"{where}{len(ahead)} of the {n} pairwise differences hold{'s' if len(ahead) == 1 else ''} up after Holm "
            f"correction (McNemar's exact test, α = {ALPHA:g}): {listed}{more}.")
