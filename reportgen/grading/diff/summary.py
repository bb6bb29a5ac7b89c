"""The text form of `reportgen diff`, causes first: what differs in the inputs, then one line per run."""

from __future__ import annotations

from reportgen.grading.diff.compare import IGNORED_HELP, Comparison, describe, grouped, value_text

CAUSE_KINDS = ("build", "config", "dataset")  # differences in what went in (manifest, settings, data), not results
# the environment fields that change numbers: code and library versions, the device, the CPU thread count
ENVIRONMENT = (("code_version", "code version"), ("torch", "torch"), ("torchvision", "torchvision"),
               ("numpy", "NumPy"), ("device", "device"), ("gpu", "GPU"), ("cpu_threads", "CPU threads"))
NUMERIC_SETUP = ("device", "gpu", "cpu_threads")  # what alone makes CPU/GPU numbers differ for identical inputs


def environment_changes(c: Comparison) -> list[tuple[str, str]]:
    """(field, 'label: a → b') for each environment field that differs between the builds."""
    ea, eb = c.a.results.get("environment") or {}, c.b.results.get("environment") or {}
    return [(key, f"{label}: {value_text(ea.get(key))} → {value_text(eb.get(key))}")
            for key, label in ENVIRONMENT if ea.get(key) != eb.get(key)]


def _metric(run: dict | None, *path: str):
    for key in path:
        run = run.get(key) if isinstance(run, dict) else None
    return run


def _change(label: str, a, b, points: bool = False) -> str | None:
    """'label a → b (Δ …)' when the values differ, else None."""
    if a == b:
        return None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        delta = f"{(b - a) * 100:+.2f} points" if points else f"{b - a:+.6g}"
        shown = (lambda v: f"{v * 100:.2f} %") if points else value_text
        return f"{label} {shown(a)} → {shown(b)} (Δ {delta})"
    return f"{label} {value_text(a)} → {value_text(b)}"


def run_headlines(c: Comparison) -> list[str]:
    """One line per run that differs: its test accuracy, test loss, parameters and epochs, A → B."""
    runs_a, runs_b = c.a.results["runs"], c.b.results["runs"]
    touched = {d.get("run") for d in c.differences if d.get("run")}
    lines = []
    for rid in dict.fromkeys([*runs_a, *runs_b]):
        if rid not in touched:
            continue
        if rid not in runs_b or rid not in runs_a:
            lines.append(f"  {rid}: only in {'A' if rid in runs_a else 'B'}")
            continue
        ra, rb = runs_a[rid], runs_b[rid]
        parts = [_change("status", ra.get("status"), rb.get("status")),
                 _change("test accuracy", _metric(ra, "test", "accuracy"), _metric(rb, "test", "accuracy"), True),
                 _change("test loss", _metric(ra, "test", "loss"), _metric(rb, "test", "loss")),
                 _change("parameters", _metric(ra, "measured", "params"), _metric(rb, "measured", "params")),
                 _change("epochs", len(ra.get("epochs") or []), len(rb.get("epochs") or []))]
        shown = [p for p in parts if p]
        lines.append(f"  {rid}: " + ("; ".join(shown) if shown else "headline numbers equal; details differ"))
    return lines


def to_text(c: Comparison, full: bool = False) -> str:
    """Causes first (inputs, environment), then a headline per run, then every difference with `full`."""
    lines = [f"A: {c.a.what}", f"B: {c.b.what}",
             f"tolerance {c.tolerance:g} (absolute); " + ("strict: every field compared" if c.strict else
                                                           f"ignored (use --strict to compare): {IGNORED_HELP}")]
    lines += [f"note: {n}" for n in c.notes]
    env = environment_changes(c)
    causes = [d for d in c.differences if d["kind"] in CAUSE_KINDS]
    if c.equal:
        lines.append(f"no differences (within tolerance {c.tolerance:g})")
        if env:
            lines.append("the builds ran in different environments (ignored): " + "; ".join(t for _, t in env))
        return "\n".join(lines) + "\n"
    lines.append(f"{len(c.differences)} difference(s)")
    if not causes and env and all(key in NUMERIC_SETUP for key, _ in env):
        lines.append("The inputs are the same: the builds differ only in " + "; ".join(t for _, t in env)
                     + ". CPU numbers depend on the thread count and the device (set REPORTGEN_THREADS to the "
                       "same value to compare CPU builds).")
    lines += ["", "What differs in the inputs:"]
    lines += [f"  {describe(d)}" for d in causes] or ["  nothing: the same manifest settings and dataset"]
    lines += [f"  environment: {t}" for _, t in env]
    headlines = run_headlines(c)
    if headlines:
        lines += ["", "Runs (A → B):", *headlines]
    if not full:
        rest = len(c.differences) - len(causes)
        lines += ["", f"{rest} more difference(s) in results and section text: --full lists every one "
                      "(--format json and html always do)."] if rest else []
        return "\n".join(lines) + "\n"
    for title, items in grouped(c):
        lines += ["", f"{title}:"]
        for d in items:
            lines += d["diff"] if d["kind"] == "section" and "diff" in d else ["  " + describe(d)]
    return "\n".join(lines) + "\n"
