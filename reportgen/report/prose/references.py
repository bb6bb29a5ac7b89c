"""Live prose: the small reference syntax evaluated in Markdown, never a template language.

    @{RUN.accuracy}        a run's number, formatted (`@{RUN.accuracy:pct1}`, `@{MODEL.params}`, ...)
    @{best(EXPERIMENT).lr} the best run of an experiment (by test accuracy), and any of its numbers
    @{RUN.accuracy.std}    over a repeated run's seeds: .mean .std .ci (low–high) .ci_low .ci_high .n
    @fig:LABEL  @tab:LABEL  @sec:LABEL    "Figure 7", "Table 3", "Section 4" (LABEL/2: a section's 2nd figure)
    [@KEY]                 a citation of report.references, numbered in order of first citation
    $x^2$  $$\\frac{a}{b}$$  math, drawn to SVG

Everything else is text. An unknown name is an error naming the file, line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


from reportgen.manifest.prose_rules import code_spans, inside
from reportgen.report.wording.formatting import dec, num, pct, secs, si, sig
from reportgen.results.keys import MISSING, field_named
from reportgen.results.record import Results
from reportgen.results.run_record import Record, RunRecord, Summary

REF = re.compile(r"@\{([^{}\n]{1,200})\}|@(fig|tab|sec):([A-Za-z0-9_.=/-]*[A-Za-z0-9_=])|\[@([A-Za-z0-9_:.-]+)\]"
                 r"|\$\$([^$]{1,2000}?)\$\$|(?<![\\$\w])\$(?=\S)([^$\n]{1,500}?)(?<=\S)\$(?![\w$])")
FORMATS = {"pct": pct, "pct0": lambda x: pct(x, 0), "pct1": lambda x: pct(x, 1), "pct2": pct, "num": num,
           "si": si, "secs": secs, **{f"dec{n}": (lambda n: lambda x: dec(x, n))(n) for n in range(7)},
           **{f"sig{n}": (lambda n: lambda x: sig(x, n))(n) for n in range(1, 7)}, "text": str}
RUN_FIELDS = {  # name → (path in the run record, default format)
    "accuracy": (("test", "accuracy"), "pct"), "loss": (("test", "loss"), "dec4"),
    "precision": (("test", "precision_weighted"), "dec4"), "recall": (("test", "recall_weighted"), "dec4"),
    "f1": (("test", "f1_weighted"), "dec4"), "lr": (("config", "optimizer", "lr"), "sig4"),
    "optimizer": (("config", "optimizer", "name"), "text"), "batch_size": (("config", "batch_size"), "num"),
    "epochs": (("config", "epochs"), "num"), "time": (("train_seconds",), "secs"),
    "params": (("measured", "params"), "num"), "trainable": (("measured", "trainable_params"), "num"),
    "macs": (("measured", "macs"), "si"), "latency": (("measured", "latency_ms"), "dec2"),
    "throughput": (("measured", "throughput"), "num"), "size": (("measured", "size_mb"), "dec2"),
    "status": (("status",), "text"), "id": (("id",), "text"), "final_val_loss": (("epochs", -1, "val_loss"), "dec4"),
    "final_train_loss": (("epochs", -1, "train_loss"), "dec4"), "final_val_acc": (("epochs", -1, "val_acc"), "pct"),
}
MODEL_FIELDS = {"params": ("total_params", "num"), "trainable": ("trainable_params", "num"),
                "buffers": ("buffer_params", "num"), "keras_params": ("keras_total_params", "num")}


class ProseReferenceError(ValueError):
    """An unknown or malformed reference, with its position in the prose."""

    def __init__(self, line: int, column: int, message: str):
        super().__init__(message)
        self.line, self.column = line, column


@dataclass
class Labels:
    """Numbers handed out by the document: section labels → section number, figure and table numbers."""

    sections: dict[str, int] = field(default_factory=dict)
    figures: dict[str, list[dict]] = field(default_factory=dict)  # label → the section's figures, in order
    tables: dict[str, list[dict]] = field(default_factory=dict)


@dataclass
class Context:
    """What references may name: the results, the document's labels, the bibliography, math rendering."""

    results: Results
    labels: Labels
    references: dict[str, str]
    cited: list[str] = field(default_factory=list)  # citation keys in order of first citation, across the document
    math: list[str] = field(default_factory=list)  # SVG of each formula, substituted after sanitizing
    math_source: list[str] = field(default_factory=list)  # each formula's TeX, for where no SVG can go (alt text)
    keyed: list[tuple[str, str, str]] = field(default_factory=list)  # (text, results key, data-fmt) of each number


def _fmt_spec(fmt: str) -> str | None:
    """A reference format as a data-fmt spec ('pct1' → 'pct:1', 'dec4' → 'dec:4'); None for text."""
    m = re.fullmatch(r"(pct|dec|sig)(\d)", fmt)
    if m:
        return f"{m[1]}:{m[2]}"
    return None if fmt == "text" else fmt


def field_at(record, path: tuple):
    """The value at a path of results.json names and list indexes in a record (its fields, then the dicts of its
    `Json` fields), or None where anything along it is missing."""
    for part in path:
        if isinstance(part, int):
            record = record[part] if isinstance(record, list) and record else None
        elif isinstance(record, Record):
            found = field_named(record, part)
            record = None if found is MISSING else found
        else:
            record = record.get(part) if isinstance(record, dict) else None
        if record is None:
            return None
    return record


def _runs_of(results: Results, name: str) -> list[RunRecord]:
    runs = results.runs
    return [runs[name]] if name in runs else [r for rid, r in runs.items() if (r.group or rid) == name]


STATS = ("mean", "std", "ci", "ci_low", "ci_high", "n")  # over the seeds of a repeated run: @{RUN.accuracy.std}
AGGREGATED = {"accuracy": "accuracy", "loss": "loss", "precision": "precision_weighted", "recall": "recall_weighted",
              "f1": "f1_weighted", "time": "train_seconds", "final_train_loss": "train_loss",
              "final_val_loss": "val_loss", "final_val_acc": "val_acc"}


def _split_stat(body: str) -> tuple[str, str | None]:
    """`RUN.accuracy.std` → ('RUN.accuracy', 'std'); anything else → (body, None)."""
    head, _, last = body.rpartition(".")
    if last in STATS and head.rpartition(".")[2] in AGGREGATED:
        return head, last
    return body, None


def _seeds(run: RunRecord | None, field_: str) -> Summary | None:
    """A repeated run's summary of one metric over its seeds; None for a run without an aggregate."""
    return getattr(run.aggregate, AGGREGATED[field_]) if run is not None and run.aggregate else None


def _aggregate_value(run: RunRecord, base: tuple, field_: str, stat: str | None, fmt: str, default: str):
    """(text, key, spec) of a seed statistic of a repeated run; ValueError for a run without repeats."""
    metric, agg = AGGREGATED[field_], _seeds(run, field_)
    if agg is None or agg.n < 2:
        raise ValueError(f"{run.id} has no repeats (set train.repeats ≥ 2): no .{stat} of {field_}")
    fmt = fmt.strip() or ("num" if stat == "n" else default)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    key = ".".join(str(p) for p in (*base, "aggregate", metric))
    if stat == "ci":
        return [(FORMATS[fmt](getattr(agg, k)), f"{key}.{k}", _fmt_spec(fmt)) for k in ("ci_low", "ci_high")]
    return FORMATS[fmt](getattr(agg, stat)), f"{key}.{stat}", _fmt_spec(fmt)


def _value(expr: str, ctx: Context):
    """Evaluate a reference (see _one_value); `RUN.METRIC.STAT` gives a statistic over a repeated run's seeds,
    and a plain metric of a repeated run is its mean; `.ci` gives two numbers, [(low…), (high…)]."""
    body, _, fmt = expr.strip().partition(":")
    body, stat = _split_stat(body.strip())
    m = re.fullmatch(r"best\(([^()]+)\)\.(\w+)|(.+)\.(\w+)", body)
    field_ = (m[2] or m[4]) if m else None
    if m and field_ in AGGREGATED:
        run, base = _subject_run(m, ctx.results)
        seeds = _seeds(run, field_)
        if run is not None and (stat is not None or (seeds is not None and seeds.n >= 2)):
            return _aggregate_value(run, base, field_, stat or "mean", fmt, RUN_FIELDS[field_][1])
    if stat is not None:
        raise ValueError(f".{stat} applies to a run's accuracy, loss, precision, recall, f1, time and final losses")
    return _one_value(expr, ctx)


def _subject_run(m, results: Results) -> tuple[RunRecord | None, tuple]:
    """The run a parsed reference names (best(...) picks by mean accuracy over seeds), or (None, ())."""
    if m[1] is not None:
        from reportgen.report.wording.significance import accuracy

        runs = [r for r in _runs_of(results, m[1]) if accuracy(r) is not None]
        if not runs:
            raise ValueError(f"best({m[1]}): no experiment or run {m[1]!r} with test results")
        best = max(runs, key=accuracy)
        return best, ("runs", best.id)
    if m[3] in results.runs:
        return results.runs[m[3]], ("runs", m[3])
    return None, ()


def _one_value(expr: str, ctx: Context) -> tuple[str, str | None, str | None]:
    """Evaluate `SUBJECT.FIELD[:FORMAT]` to (text, results key, data-fmt spec); the key is None for text and for
    numbers that are not stored as such (the number of classes). ValueError with a helpful message."""
    body, _, fmt = expr.strip().partition(":")
    m = re.fullmatch(r"best\(([^()]+)\)\.(\w+)|(.+)\.(\w+)", body.strip())
    if not m:
        raise ValueError(f"expected @{{RUN.FIELD}}, @{{MODEL.FIELD}} or @{{best(EXPERIMENT).FIELD}}, got @{{{expr}}}")
    results = ctx.results
    if m[1] is not None:
        subject, base = _subject_run(m, results)
        field_, kind = m[2], "run"
    else:
        name, field_ = m[3], m[4]
        if name in results.runs:
            subject, kind, base = results.runs[name], "run", ("runs", name)
        elif name in results.models:
            subject, kind, base = results.models[name], "model", ("models", name)
        elif name == "dataset":
            subject, kind, base = results.dataset, "dataset", ("dataset",)
        else:
            raise ValueError(f"no run, model or `dataset` named {name!r}")
    if kind == "model":
        if field_ not in MODEL_FIELDS:
            raise ValueError(f"a model has {', '.join(MODEL_FIELDS)}; not {field_!r}")
        key, default = MODEL_FIELDS[field_]
        value, path = getattr(subject, key), (key,)
    elif kind == "dataset":
        sizes = subject.sizes
        known = {"train": sizes.get("train"), "validation": sizes.get("validation"), "test": sizes.get("test"),
                 "classes": len(subject.classes)}
        if field_ not in known:
            raise ValueError(f"the dataset has {', '.join(known)}; not {field_!r}")
        value, default = known[field_], "num"
        path = None if field_ == "classes" else ("sizes", field_)
    else:
        if field_ in RUN_FIELDS:
            path, default = RUN_FIELDS[field_]
            value = field_at(subject, path)
        elif field_ in subject.varied:
            value, default, path = subject.varied[field_], "text", ("varied", field_)
        else:
            raise ValueError(f"a run has {', '.join(RUN_FIELDS)} (and what its sweep varied); not {field_!r}")
    fmt = fmt.strip() or default
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "text" and isinstance(value, float):
        return sig(value, 4), None, None
    text = FORMATS[fmt](value) if value is not None else "—"
    spec = _fmt_spec(fmt) if path is not None and value is not None else None
    return text, (".".join(str(p) for p in (*base, *path)) if spec else None), spec


def _crossref(kind: str, label: str, ctx: Context) -> str:
    name, _, index = label.partition("/")
    if kind == "sec":
        if label not in ctx.labels.sections:
            raise ValueError(f"no section labelled {label!r}; labelled: {', '.join(ctx.labels.sections) or 'none'}")
        n = ctx.labels.sections[label]
        return f"[Section {n}](#sec-{n})"
    pool = ctx.labels.figures if kind == "fig" else ctx.labels.tables
    what = "figure" if kind == "fig" else "table"
    items = pool.get(name)
    if not items:
        raise ValueError(f"no {what} in a section labelled {name!r} (give the section a `label:`)")
    i = int(index) if index.isdigit() else 1 if not index else 0
    if not 1 <= i <= len(items):
        raise ValueError(f"section {name!r} has {len(items)} {what}(s); {label!r} names none of them")
    item = items[i - 1]
    return f"[{what.capitalize()} {item['number']}](#{item['id']})"


def _cite(key: str, ctx: Context) -> str:
    if key not in ctx.references:
        raise ValueError(f"no reference {key!r} in report.references" +
                         (f"; known: {', '.join(sorted(ctx.references))}" if ctx.references else ""))
    if key not in ctx.cited:
        ctx.cited.append(key)
    n = ctx.cited.index(key) + 1
    return f"[\\[{n}\\]](#ref-{n})"


def math_svg(tex: str, display: bool, prefix: str) -> str:
    """A formula drawn by matplotlib's mathtext (no LaTeX needed) as deterministic inline SVG; ids start `prefix`."""
    import matplotlib.pyplot as plt

    from reportgen.report.figures.plots import to_svg
    from reportgen.report.figures.style import STYLE

    with plt.rc_context({**STYLE, "font.size": 11 if display else 10}):
        fig = plt.figure(figsize=(0.01, 0.01))
        fig.text(0, 0, f"${tex}$")
        try:
            svg = to_svg(fig, prefix, pad=0.01)
        except ValueError as exc:
            plt.close(fig)
            raise ValueError(f"cannot typeset ${tex}$: {str(exc).splitlines()[0][:200]}") from None
    return svg


def expand(text: str, ctx: Context) -> str:
    """Prose with every reference replaced (math by placeholders, see placing.place_math); code is left alone."""
    out, last = [], 0
    skip = code_spans(text)
    for m in REF.finditer(text):
        if inside(m.start(), skip):
            continue
        line = text.count("\n", 0, m.start()) + 1
        column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
        try:
            if m[1] is not None:
                found = _value(m[1], ctx)
                parts = []
                for shown, key, spec in (found if isinstance(found, list) else [found]):
                    part = _escape_md(shown)
                    if key is not None:  # a placeholder, swapped for a keyed <span> after sanitizing (placing)
                        ctx.keyed.append((shown, key, spec))
                        part = f"REPORTGENKEY{len(ctx.keyed) - 1}X"
                    parts.append(part)
                new = "–".join(parts)
            elif m[2] is not None:
                new = _crossref(m[2], m[3], ctx)
            elif m[4] is not None:
                new = _cite(m[4], ctx)
            else:
                display = m[5] is not None
                # numbered in document order: the same formula twice must not repeat its SVG ids
                svg = math_svg(m[5] if display else m[6], display, f"math{len(ctx.math)}")
                ctx.math.append(("display:" if display else "inline:") + svg)
                ctx.math_source.append(m[5] if display else m[6])
                new = f"REPORTGENMATH{len(ctx.math) - 1}X"
        except ValueError as exc:
            raise ProseReferenceError(line, column, str(exc)) from None
        out.append(text[last:m.start()] + new)
        last = m.end()
    return "".join(out) + text[last:]


def _escape_md(text: str) -> str:
    """A value as literal Markdown text (run ids contain `_` and `*`-free text, but be safe)."""
    return re.sub(r"([\\`*_\[\]<>#|])", r"\\\1", text)


def static_problems(text: str, names: dict) -> list[tuple[int, int, str]]:
    """(line, column, message) of every reference that cannot work whatever the results: unknown runs, models,
    fields, formats, section labels and citation keys. `names` is what manifest.static.names_of returns; no
    results are needed (figure and table counts are not checked, only that the label exists)."""
    found = []
    skip = code_spans(text)
    for m in REF.finditer(text):
        if inside(m.start(), skip):
            continue
        why = _static_value(m[1], names) if m[1] is not None else _static_label(m[2], m[3], names) \
            if m[2] is not None else _static_cite(m[4], names) if m[4] is not None else None
        if why:
            line = text.count("\n", 0, m.start()) + 1
            found.append((line, m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1, why))
    return found


def _close(word: str, known) -> str:
    import difflib

    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _static_value(expr: str, names: dict) -> str | None:
    body, _, fmt = expr.strip().partition(":")
    body, stat = _split_stat(body.strip())
    m = re.fullmatch(r"best\(([^()]+)\)\.(\w+)|(.+)\.(\w+)", body.strip())
    if not m:
        return f"expected @{{RUN.FIELD}}, @{{MODEL.FIELD}} or @{{best(EXPERIMENT).FIELD}}, got @{{{expr}}}"
    runs, groups = names["runs"], names["groups"]
    if m[1] is not None:
        if m[1] not in runs and m[1] not in groups:
            return f"best({m[1]}): no experiment or run {m[1]!r}" + _close(m[1], [*groups, *runs])
        varied = set().union(*(runs.get(r, set()) for r in groups.get(m[1], [m[1]])))
        kind, field_ = "run", m[2]
    else:
        name, field_ = m[3], m[4]
        if name in runs:
            kind, varied = "run", runs[name]
        elif name in names["models"]:
            kind, varied = "model", set()
        elif name == "dataset":
            kind, varied = "dataset", set()
        else:
            return f"no run, model or `dataset` named {name!r}" + _close(name, [*runs, *names["models"]])
    known = {"run": [*RUN_FIELDS, *sorted(varied)], "model": list(MODEL_FIELDS),
             "dataset": ["train", "validation", "test", "classes"]}[kind]
    if field_ not in known:
        what = {"run": f"a run has {', '.join(RUN_FIELDS)} (and what its sweep varied)",
                "model": f"a model has {', '.join(MODEL_FIELDS)}",
                "dataset": f"the dataset has {', '.join(known)}"}[kind]
        return f"{what}; not {field_!r}" + _close(field_, known)
    if fmt.strip() and fmt.strip() not in FORMATS:
        return f"unknown format {fmt.strip()!r}; use one of {', '.join(FORMATS)}" + _close(fmt.strip(), FORMATS)
    repeated = names.get("repeated")
    if stat is not None and repeated is not None:
        if not any(r in repeated for r in (groups.get(m[1], [m[1]]) if m[1] is not None else [m[3]])):
            return f"{m[1] or m[3]} has no repeats (set train.repeats ≥ 2): no .{stat} of {field_}"
    return None


def _static_label(kind: str, label: str, names: dict) -> str | None:
    name = label if kind == "sec" else label.partition("/")[0]
    labels = {k: v for k, v in names["labels"].items() if kind == "fig" or v != "figure"}
    if name in labels:
        return None
    what = {"sec": "section", "fig": "figure in a section", "tab": "table in a section"}[kind]
    return (f"no {what} labelled {name!r} (give the section a `label:`); labelled: {', '.join(labels) or 'none'}"
            + _close(name, labels))


def _static_cite(key: str, names: dict) -> str | None:
    refs = names["references"]
    if key in refs:
        return None
    return (f"no reference {key!r} in report.references" + (f"; known: {', '.join(sorted(refs))}" if refs else "")
            + _close(key, refs))
