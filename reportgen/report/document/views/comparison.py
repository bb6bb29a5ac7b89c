"""The comparison section: one row per run (mean ± std over seeds where repeated), the paired differences on the
test set, findings that say how sure they are, and the comparison figures."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.figures import keys
from reportgen.report.wording.findings import findings, seed_statuses, sweep_axis, varied_labels
from reportgen.report.document.keyed import Emphasis, Joined, at
from reportgen.report.document.tree import breakable, Cell, Row, Table, num, row, td, th
from reportgen.report.document.selection import runs_for
from reportgen.report.wording.significance import ALPHA, holds, spread, winner
from reportgen.report.wording.findings import show_value
from reportgen.report.wording.formatting import DASH, pct
from reportgen.report.document.views.runs import (_epochs_text, _last, _params, _status_text, _varied_cell, optimizer_name,
                                         precision_note)
from reportgen.results.record import PairedComparison, Results
from reportgen.results.run_record import RunRecord, Summary



def measured(results: Results, run: RunRecord, metric: str, path: tuple, fmt: str, digits: int | None = None):
    """A compared number: mean ± std over the seeds of a repeated run (both keyed), else the run's one value."""
    if spread(run, metric):
        base = ("runs", run.id, "aggregate", metric)
        return Joined([at(results, *base, "mean", fmt=fmt, digits=digits),
                       at(results, *base, "std", fmt=fmt, digits=digits)], " ± ", ("mean", "std"))
    return at(results, "runs", run.id, *path, fmt=fmt, digits=digits)


def _final(results: Results, run: RunRecord, key: str):
    return measured(results, run, key, ("epochs", -1, key), "dec") if spread(run, key) else _last(results, run, key)


def status_tag(run: RunRecord) -> str | None:
    """'stalled', or for a repeated run whose seeds ended differently 'stalled in 2 of 3 seeds'; None if completed."""
    seeds = seed_statuses(run)
    odd = {status: seeds.count(status) for status in dict.fromkeys(seeds) if status != "completed"}
    if not odd:
        return None
    if len(seeds) == 1 or set(seeds) == set(odd) and len(odd) == 1:
        return next(iter(odd))
    return ", ".join(f"{status} in {n} of {len(seeds)} seeds" for status, n in odd.items())


def verdict_caption(win) -> str:
    """What the star means in this table, or why there is none."""
    if win is None:
        return "Comparison of runs"
    if win.clear and win.basis == "seeds":
        return "Comparison of runs (★: best mean test accuracy, its 95 % confidence interval clear of the runner-up's)"
    if win.clear and win.basis == "paired":
        return "Comparison of runs (★: best test accuracy, significantly ahead of the runner-up in a paired test)"
    if win.clear:
        return "Comparison of runs (best test accuracy marked ★)"
    if win.basis == "seeds":
        return "Comparison of runs (no clear winner: the best runs' 95 % confidence intervals overlap)"
    if win.basis == "paired":
        return "Comparison of runs (no clear winner: the best two are indistinguishable on this test set)"
    return f"Comparison of runs (no clear winner: {' and '.join(win.best)} share the best test accuracy)"


def confidence_note(results: Results, runs: list[RunRecord]):
    """The 95 % confidence interval of each repeated run's mean test accuracy, keyed, for the note under a table."""
    parts = []
    for run in runs:
        agg = spread(run)
        if agg is not None and agg.ci_low is not None:
            base = ("runs", run.id, "aggregate", "accuracy")
            parts.append(Markup("{}: {}–{} ({} seeds{})").format(run.id, at(results, *base, "ci_low", fmt="pct"),
                                                                 at(results, *base, "ci_high", fmt="pct"),
                                                                 at(results, *base, "n"), _cut(agg)))
    if not parts:
        return None
    return Markup("Mean ± standard deviation over seeds. 95 % confidence intervals of the mean test accuracy "
                  "(Student t): ") + Markup("; ").join(parts) + Markup(".")


def _cut(agg: Summary) -> str:
    """Why an interval ends at 0 % or 100 %: the t interval reached past what an accuracy can be, and was cut
    there (run.statistics.summary); an interval of runs that all scored 0 % or 100 % is not."""
    low, mean, high = agg.ci_low, agg.mean, agg.ci_high
    ends = [pct(end, 0) for end, cut in ((0.0, low == 0.0 < mean), (1.0, mean < 1.0 == high)) if cut]
    if not ends:
        return ""
    return f"; with {agg.n} seeds the t interval reaches past {' and '.join(ends)}, and is cut there"


def pair_rows(results: Results, entry: PairedComparison) -> list[Row]:
    """One row per paired test of a comparison, every number keyed to results' `paired` record."""
    index = results.paired.index(entry)
    rows = []
    for j, p in enumerate(entry.pairs):
        base = ("paired", index, "pairs", j)
        ahead = p.a if p.difference > 0 else p.b
        interval = Joined([at(results, *base, "ci_low", fmt="pts"), at(results, *base, "ci_high", fmt="pts")], " to ",
                          ("low", "high"))
        rows.append(row(td(f"{p.a} − {p.b}", "run-id"), num(at(results, *base, "difference", fmt="pts")),
                        num(interval), num(at(results, *base, "a_only")), num(at(results, *base, "b_only")),
                        num(at(results, *base, "p", fmt="pval")), num(at(results, *base, "p_holm", fmt="pval")),
                        td(f"{ahead} ahead" if holds(p) else "indistinguishable"),
                        classes="holds" if holds(p) else "", data_pair=f"{p.a} | {p.b}"))
    return rows


PAIR_HEADS = ("Difference", "95 % interval", "Only the first right", "Only the second right", "p", "Holm p")
RUN_HEADS = ("Epochs", "Parameters", "Final train loss", "Final val loss", "Test accuracy", "Weighted precision",
             "Weighted recall", "Training time")


def _run_cell(run: RunRecord, best: bool, status: str | None) -> Markup:
    """A run's id, starred when best, with its status when it did not simply complete."""
    tag = Markup(' <span class="status-tag">({})</span>').format(status) if status else ""
    return Markup("{}{}{}").format(breakable(run.id), " ★" if best else "", tag)


def comparison_table(table: Table, results: Results, runs: list[RunRecord], labels: list[str], starred) -> Table:
    """The comparison table: one row per run, its varied settings (or model and optimizer) and its results."""
    varied = [th(label, "varied", numeric=True) for label in labels] or [
        th("Model"), th("Optimizer"), th("Learning rate", numeric=True)]
    table.head = [row(th("Run"), *varied, *(th(h, numeric=True) for h in RUN_HEADS))]
    rows = []
    for r in runs:
        given = [num(_varied_cell(results, r, k), "varied") for k in labels] or [
            td(r.model), td(optimizer_name(r.config["optimizer"])),
            num(at(results, "runs", r.id, "config", "optimizer", "lr", fmt="sig", digits=4))]
        rows.append(row(
            td(_run_cell(r, r.id in starred, status_tag(r)), "run-id", ident=r.id), *given,
            num(_epochs_text(r)),
            num(_params(results, r)), num(_final(results, r, "train_loss")), num(_final(results, r, "val_loss")),
            num(measured(results, r, "accuracy", ("test", "accuracy"), "pct"), data_metric="cmp-accuracy"),
            num(measured(results, r, "precision_weighted", ("test", "precision_weighted"), "dec")),
            num(measured(results, r, "recall_weighted", ("test", "recall_weighted"), "dec")),
            num(measured(results, r, "train_seconds", ("train_seconds",), "secs")),
            classes="best" if r.id in starred else "", data_run=r.id))
    table.body = rows
    return table


def comparison(view, sec, results: Results, figures, num_):
    runs = runs_for(results, sec.options.get("experiments"))
    i = view["index"]
    win = winner(runs, results)
    starred = win.starred if win else []
    view["winner"] = win
    labels = varied_labels(runs)
    view["runs"] = runs
    # nine columns or more: the compact type of wide tables, and so the paired differences below it
    view["table"] = comparison_table(num_.tab(verdict_caption(win) + precision_note(runs), classes="data compare wide"),
                                     results, runs, labels, starred)
    view["note"] = num_.text(confidence_note(results, runs))
    entry = win.entry if win else None
    view["pairs_table"] = None
    if entry is not None and entry.pairs:
        repeated = " (the first seed of each repeated run)" if any(spread(r) for r in runs) else ""
        view["pairs_table"] = num_.tab(
            f"Paired differences of test accuracy in percentage points (row's first run minus second) on the same "
            f"{entry.pairs[0].n:,} test images{repeated}: McNemar's exact test on the images only one of the two "
            f"gets right, a paired bootstrap 95 % interval ({entry.resamples:,} resamples), and p-values "
            f"Holm-corrected over the {len(entry.pairs)} pairs; a difference holds up when the corrected p is "
            f"below {ALPHA:g} and the interval excludes zero", "pairs",
            classes="data pairs wide")
        view["pairs_table"].head = [row(th("Runs"), *(th(h, numeric=True) for h in PAIR_HEADS), th("Verdict"))]
        view["pairs_table"].body = pair_rows(results, entry)
    view["findings"] = num_.items(findings(runs, results.models, results))
    diverged = any(r.status == "diverged" for r in runs)
    ended = " An × marks the last finite epoch of a diverged run." if diverged else ""
    band = " Repeated runs show their mean over seeds, shaded ± one standard deviation." if any(
        spread(r) for r in runs) else ""
    view["figures"] = [num_.fig(keys.overlay_key(i), "Training (dashed) and validation (solid) loss and accuracy per "
                                "epoch, one colour per run." + ended + band, figures[keys.overlay_key(i)])]
    view["axis"] = sweep_axis(runs)
    bars = " Error bars: 95 % confidence interval of the mean over seeds." if any(spread(r) for r in runs) else ""
    if view["axis"]:
        label, scale = view["axis"]["label"], view["axis"]["scale"]
        caption = f"Test accuracy for each value of {label}" + (" (logarithmic axis)" if scale == "log" else "")
        if any(r.status != "completed" for r in runs):
            caption += "; hatched bars mark" if scale == "category" else "; × marks"
            caption += " runs that diverged or stalled"
        view["figures"].append(num_.fig(keys.vary_key(i), caption + ("." + bars if bars else ""),
                                        figures[keys.vary_key(i)]))
    else:
        view["figures"].append(num_.fig(keys.bars_key(i), "Test accuracy of each run" + ("." + bars if bars else ""),
                                        figures[keys.bars_key(i)]))
    if keys.cm_grid_key(i) in figures:
        view["figures"].append(num_.fig(keys.cm_grid_key(i), "Confusion matrices on the test set, one per run",
                                        figures[keys.cm_grid_key(i)]))


def _architecture(results: Results, run: RunRecord) -> str:
    m = results.models.get(run.model)
    if m is None:
        return run.model
    if m.label:
        return m.label
    if m.description:
        return m.description
    return run.model + (f" (variant of {m.extends})" if m.extends else "")


def _varied_text(run: RunRecord) -> str:
    return ", ".join(f"{k}={show_value(v)}" for k, v in run.varied.items()) or DASH


def _dataset_name(results: Results, run: RunRecord) -> str:
    return (run.dataset if run.dataset is not None else results.dataset).name


RESULT_CELLS = {  # column → (header, numeric, cell text)
    "run": ("Run", False, lambda res, r: r.id),
    "model": ("Model", False, lambda res, r: r.model),
    "architecture": ("Architecture", False, _architecture),
    "varied": ("Varied", False, lambda res, r: _varied_text(r)),
    "optimizer": ("Optimizer", False, lambda res, r: optimizer_name(r.config["optimizer"])),
    "lr": ("Learning rate", True, lambda res, r: _run(res, r, "config", "optimizer", "lr", fmt="sig", digits=4)),
    "batch_size": ("Batch size", True, lambda res, r: _run(res, r, "config", "batch_size")),
    "epochs": ("Epochs", True, lambda res, r: _epochs_text(r)),
    "params": ("Parameters", True, _params),
    "train_loss": ("Final train loss", True, lambda res, r: _final(res, r, "train_loss")),
    "val_loss": ("Final val loss", True, lambda res, r: _final(res, r, "val_loss")),
    "accuracy": ("Test accuracy", True, lambda res, r: measured(res, r, "accuracy", ("test", "accuracy"), "pct")),
    "precision": ("Weighted precision", True,
                  lambda res, r: measured(res, r, "precision_weighted", ("test", "precision_weighted"), "dec")),
    "recall": ("Weighted recall", True,
               lambda res, r: measured(res, r, "recall_weighted", ("test", "recall_weighted"), "dec")),
    "f1": ("Weighted F1", True, lambda res, r: measured(res, r, "f1_weighted", ("test", "f1_weighted"), "dec")),
    "time": ("Training time", True, lambda res, r: measured(res, r, "train_seconds", ("train_seconds",), "secs")),
    "status": ("Status", False, lambda res, r: _status_text(r)),
    "dataset": ("Dataset", False, _dataset_name),
    "trainable": ("Trainable parameters", True, lambda res, r: _run(res, r, "measured", "trainable_params")),
    "size": ("Size (MB)", True, lambda res, r: _run(res, r, "measured", "size_mb", fmt="dec", digits=2)),
    "macs": ("MACs / image", True, lambda res, r: _run(res, r, "measured", "macs", fmt="si")),
    "latency": ("Latency, batch 1 (ms)", True, lambda res, r: _run(res, r, "measured", "latency_ms", fmt="dec",
                                                                   digits=2)),
    "throughput": ("Throughput (images/s)", True, lambda res, r: _run(res, r, "measured", "throughput")),
}


def _run(results: Results, run: RunRecord, *path, fmt: str = "num", digits: int | None = None):
    return at(results, "runs", run.id, *path, fmt=fmt, digits=digits)


def _result_cell(results: Results, run: RunRecord, column: str, best: bool):
    """One cell of the results table; the best run's accuracy in bold."""
    _, numeric, content = RESULT_CELLS[column]
    value = content(results, run)
    if best and column == "accuracy":
        return Cell(Emphasis(value), numeric=numeric, classes="" if numeric else "text", attrs=(("data-col", column),))
    return Cell(value, numeric=numeric, classes="" if numeric else "text", attrs=(("data-col", column),))


def results_table(view, sec, results: Results, figures, num_):
    runs = runs_for(results, sec.options.get("experiments"))
    cols = sec.options.get("columns") or ["run", "architecture", "optimizer", "lr", "params", "accuracy"]
    win = winner(runs, results)
    best = win.starred if win else []
    wide = len(cols) > 9  # compact font; a landscape page in print
    view["wide"] = wide
    clear = "best test accuracy in bold" if best else "no clear winner, so none in bold"
    table = num_.tab((sec.options.get("caption") or f"Results of the runs ({clear})") + precision_note(runs),
                     classes="data results" + (" wide" if wide else ""))
    table.head = [row(*(th(RESULT_CELLS[c][0], numeric=RESULT_CELLS[c][1], data_col=c) for c in cols))]
    table.body = [row(*(_result_cell(results, r, c, r.id in best) for c in cols),
                      classes="best" if r.id in best else "", data_run=r.id) for r in runs]
    view["table"] = table
    view["note"] = num_.text(confidence_note(results, runs))
