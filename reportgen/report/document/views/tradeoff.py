"""The trade-off section: measured cost against accuracy for each compared model."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.report.document.selection import runs_for
from reportgen.report.figures.keys import tradeoff_key
from reportgen.report.wording.formatting import num, pct
from reportgen.report.document.keyed import at_in
from reportgen.report.document.tree import Cell, Row, row, th
from reportgen.results.record import Results
from reportgen.results.run_record import RunRecord

COLUMNS = (("model", "Model", False), ("source", "Kind", False), ("params", "Parameters", True),
           ("trainable", "Trainable", True), ("size", "Size (MB)", True), ("macs", "MACs / image", True),
           ("epoch", "Time / epoch", True), ("latency", "Latency, batch 1 (ms)", True),
           ("throughput", "Throughput (images/s)", True), ("accuracy", "Test accuracy", True))


def _kind(run: RunRecord) -> str:
    w = run.weights if run.weights is not None else {}
    source = w.get("source", "custom")
    if source == "custom":
        return "custom CNN"
    how = {"imagenet": "ImageNet weights", "none": "from scratch"}.get(w.get("weights"), w.get("weights"))
    if run.transfer is not None:
        how = f"from {run.transfer.origin}"
    return f"{source}, {how}"


def _row(run: RunRecord) -> Row:
    key = ("runs", run.id)

    def measured(name: str, fmt: str = "num", digits: int | None = None):
        return at_in(run, key, "measured", name, fmt=fmt, digits=digits)

    cells = {
        "model": run.id, "source": _kind(run), "params": measured("params"),
        "trainable": measured("trainable_params"), "size": measured("size_mb", "dec", 2),
        "macs": measured("macs", "si"), "epoch": measured("epoch_seconds", "secs"),
        "latency": measured("latency_ms", "dec", 2), "throughput": measured("throughput"),
        "accuracy": at_in(run, key, "test", "accuracy", fmt="pct"),
    }
    return row(*(Cell(cells[k], numeric=is_num, classes="" if is_num else "text", attrs=(("data-col", k),))
                 for k, _, is_num in COLUMNS), data_run=run.id)


def _extremes(runs: list[RunRecord]) -> list[str]:
    """Plain statements read off the table: most accurate, fastest, smallest."""
    measured = [r for r in runs if r.measured is not None and r.test is not None]
    if len(measured) < 2:
        return []
    best = max(measured, key=lambda r: r.test.accuracy)
    fast = min(measured, key=lambda r: r.measured.latency_ms)
    small = min(measured, key=lambda r: r.measured.params)
    out = [f"Most accurate: {best.id} ({pct(best.test.accuracy)})."]
    ratio = best.measured.latency_ms / fast.measured.latency_ms if fast is not best else None
    out.append(f"Fastest at batch size 1: {fast.id} ({fast.measured.latency_ms:.2f} ms per image"
               + (f", {ratio:.1f}× faster than {best.id})." if ratio else ")."))
    if small is not best:
        times = best.measured.params / max(small.measured.params, 1)
        out.append(f"Smallest: {small.id} ({num(small.measured.params)} parameters, {times:.1f}× fewer than "
                   f"{best.id}, at {pct(best.test.accuracy - small.test.accuracy)} lower accuracy)."
                   if best.test.accuracy >= small.test.accuracy else
                   f"Smallest: {small.id} ({num(small.measured.params)} parameters).")
    return out


def _device(run: RunRecord) -> str | None:
    """Where the run's model was measured, with its precision ('cuda in bf16'); the run's device if unmeasured."""
    m = run.measured
    if m is None:
        return run.device
    return m.device + (f" in {m.precision}" if m.precision else "") if m.device else None


def method(runs: list[RunRecord]) -> Markup:
    """How every number of the table was measured, on which devices."""
    measured = [r.measured for r in runs if r.measured is not None]
    devices = sorted({d for d in map(_device, runs) if d})
    repeats = ", ".join(map(str, sorted({m.latency_repeats for m in measured})))
    batch = ", ".join(map(str, sorted({m.throughput_batch for m in measured})))
    return Markup(
        "Every number below was measured on the trained models: parameters and size on disk from the saved weights,\n"
        "multiply-accumulate operations (MACs) per image counted by <code>torch.utils.flop_counter</code>, training "
        "time as the mean epoch,\nlatency as the median of {} timed forward passes of one image after warm-up, and "
        "throughput at batch size {},\non {}.").format(repeats, batch, ", ".join(d for d in devices if d))


def tradeoff(view, sec, results: Results, figures, num_):
    """Section builder: the measured trade-off table, two scatter plots and what they show."""
    runs = runs_for(results, sec.options.get("experiments"))
    notes = sec.options.get("notes") or {}
    i = view["index"]
    view["method"] = num_.text(method(runs))
    view["table"] = num_.tab(sec.options.get("caption") or "Measured trade-off between cost and accuracy",
                             classes="data tradeoff-table wide")
    view["table"].head = [row(*(th(label, numeric=is_num, data_col=k) for k, label, is_num in COLUMNS))]
    view["table"].body = [_row(r) for r in runs]
    view["findings"] = num_.items(_extremes(runs))
    view["notes"] = [(r.id, note) for r in runs if (note := notes.get(r.id) or notes.get(r.group))]
    num_.items([f"{rid}: {note}" for rid, note in view["notes"]])
    view["lat_fig"] = num_.fig(tradeoff_key("lat", i), "Test accuracy against inference latency (batch size 1)",
                               figures[tradeoff_key("lat", i)])
    view["par_fig"] = num_.fig(tradeoff_key("par", i), "Test accuracy against number of parameters",
                               figures[tradeoff_key("par", i)])
