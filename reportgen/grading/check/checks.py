"""The checks `reportgen check` runs on one submission; each returns its findings (problems) and notes."""

from __future__ import annotations

import re

from reportgen.grading.check.reading import Shown
from reportgen.grading.check.printed import Printed, occurrences
from reportgen.grading.check.submission import Submission, is_results_record
from reportgen.errors import UserError
from reportgen.grading.files import load_json, read_bytes
from reportgen.grading.diff.compare import Side, compare, value_text
from reportgen.report.wording.formatting import num, pct
from reportgen.report.document.keyed import format_spec
from reportgen.results.keys import resolve
from reportgen.results.store import results_digest

Found = list[tuple[str, dict]]  # (message, where) of each problem a check found


def _short(digest: str | None) -> str:
    return (digest or "none")[:7 + 12] + "…" if digest and len(digest) > 19 else str(digest)


def digest(sub: Submission) -> tuple[Found, str]:
    """The embedded results against the digest the report states (in a <meta> and in its provenance)."""
    actual = results_digest(sub.results)
    stated = sub.page.digest
    in_provenance = (sub.provenance or {}).get("results_sha256")
    if stated is None and in_provenance is None:
        return [("the report states no results digest (made by a reportgen before 0.1 checks, or the <meta "
                 "name=\"reportgen-results-sha256\"> was removed)", {"computed": actual})], "no digest stated"
    found = [(f"the embedded results were changed after the build: their digest is {_short(actual)}, the report "
              f"states {_short(claim)} ({where})", {"stated": claim, "computed": actual, "in": where})
             for where, claim in (("meta", stated), ("provenance", in_provenance)) if claim is not None and claim != actual]
    return found, f"embedded results match {_short(actual)}"


def results_file(sub: Submission, limit: int = 5) -> tuple[Found, str]:
    """results.json beside the report against the report's embedded results."""
    if sub.results_path is None:
        return [], "no results.json beside the report"
    name = sub.results_path.name
    try:
        data = load_json(read_bytes(sub.folder, sub.results_path), name)
    except (OSError, UnicodeDecodeError, UserError) as exc:
        return [(f"{name} cannot be read ({exc})", {"file": name})], "unreadable"
    except ValueError as exc:
        return [(f"{name} is not valid JSON ({exc})", {"file": name})], "not JSON"
    if not is_results_record(data):
        return [(f"{name} is not a reportgen results record", {"file": name})], "not a results record"
    if results_digest(data) == results_digest(sub.results):
        return [], f"{name} holds the report's results"
    # the same walk as `reportgen diff --strict --tolerance 0`: every field, rows matched by their names
    differences = compare(Side(name, name, data), Side("report", "report", sub.results), 0.0, True).differences
    found = [(f"{name} differs from the report's embedded results at {d['where']} ({_sides(d, name)})",
              {"file": name, "key": d["where"], "file_value": d.get("a"), "recorded": d.get("b")})
             for d in differences[:limit]]
    if len(differences) > limit:
        found.append((f"{name}: {len(differences) - limit} more differing values",
                      {"file": name, "more": len(differences) - limit}))
    return found, f"{len(differences)} differing value(s)"


def _sides(d: dict, name: str) -> str:
    """What each side holds at a difference: a value, or that the key is only in one of them (a renamed run)."""
    if d.get("only_in") == "A":
        return f"only in {name}; the report has no such key"
    if d.get("only_in") == "B":
        return f"only in the report; {name} has no such key"
    return f"{name}: {value_text(d.get('a'))}, report: {value_text(d.get('b'))}"


def _place(s: Shown) -> str:
    return " › ".join(p for p in (s.section, s.table, s.row) if p) or "the report"


def numbers(sub: Submission) -> tuple[Found, str]:
    """Every keyed number the page shows, recomputed from the embedded results."""
    found: Found = []
    for s in sub.page.shown:
        try:
            value = resolve(sub.results, s.key)
            expected = format_spec(value, s.spec)
        except KeyError:
            found.append((f"{_place(s)}: shows {s.text} for {s.key}, which the results do not hold",
                          _where(s, None)))
            continue
        except (ValueError, TypeError):
            found.append((f"{_place(s)}: {s.text} is tied to {s.key} with an unknown format {s.spec!r}",
                          _where(s, None)))
            continue
        if expected.replace("\u00a0", " ") != s.text:
            found.append((f"{_place(s)}: shows {s.text}, the results record {expected.replace(chr(160), ' ')} "
                          f"({s.key})", _where(s, expected)))
    return found, f"{len(sub.page.shown)} numbers tied to results keys, {len(found)} differ"


def _where(s: Shown, recorded: str | None) -> dict:
    return {"section": s.section, "table": s.table, "row": s.row, "key": s.key, "shown": s.text,
            "recorded": recorded}


def key_numbers(results: dict) -> list[tuple[str, str]]:
    """(what, formatted number) of the numbers the PDF must carry as the HTML does: test accuracies, parameter totals."""
    out = [(f"test accuracy of {rid}", pct(run["test"]["accuracy"])) for rid, run in results["runs"].items()
           if (run.get("test") or {}).get("accuracy") is not None]
    out += [(f"parameters of {name}", num(m["total_params"])) for name, m in results["models"].items()
            if m.get("total_params") is not None]
    return out


def pdf(sub: Submission, printed: Printed | None) -> tuple[Found, str]:
    """The PDF's digest and its key numbers against the HTML's."""
    if printed is None:
        return [], "no report.pdf beside the report"
    if printed.error:
        return [(f"report.pdf cannot be read ({printed.error})", {"file": "report.pdf"})], "unreadable"
    found: Found = []
    actual = results_digest(sub.results)
    if printed.digest is None:
        found.append(("report.pdf carries no results digest in its metadata (not made with this report's build)",
                      {"file": "report.pdf"}))
    elif printed.digest != actual:
        found.append((f"report.pdf was made from other results: its digest is {_short(printed.digest)}, the "
                      f"report's results {_short(actual)}", {"file": "report.pdf", "stated": printed.digest,
                                                            "computed": actual}))
    checked = 0
    for what, number in key_numbers(sub.results):
        in_html = occurrences(number, sub.page.text)
        if not in_html:
            continue
        checked += 1
        in_pdf = occurrences(number, printed.text)
        if in_pdf < in_html:
            found.append((f"report.pdf shows {number.replace(chr(160), ' ')} ({what}) {in_pdf} time(s), the HTML "
                          f"{in_html}", {"file": "report.pdf", "number": number, "what": what, "pdf": in_pdf,
                                         "html": in_html}))
    return found, f"{checked} key numbers compared over {printed.pages} pages"


_EXPRESSION = re.compile(r"[\d\s×*+,]+")  # one character class, matched whole: linear, whatever the padding
_STATED = re.compile(r"\s*[\d,]+\s*")
_LONGEST = 2000  # characters of a formula check evaluates; a real one is under 100 (int() of huge digit runs is slow)


def _formula_parts(formula) -> tuple[str, str] | None:
    """('1 × 16 × 3 × 3 + 16', '160') from a written formula, None when it is not one check can evaluate."""
    if not isinstance(formula, str) or len(formula) > _LONGEST or formula.count("=") != 1:
        return None
    left, _, right = formula.partition("=")
    if not _EXPRESSION.fullmatch(left) or not _STATED.fullmatch(right) or not re.search(r"\d", left):
        return None
    return left.strip(), right.strip()


def _evaluate(expression: str) -> int:
    """'1 × 16 × 3 × 3 + 16' → 160."""
    total = 0
    for term in expression.split("+"):
        product = 1
        for factor in re.split(r"[×*]", term):
            product *= int(factor.strip().replace(",", ""))
        total += product
    return total


def arithmetic(results: dict) -> tuple[Found, str]:
    """Per-layer (or per-block) counts add up to each model's stated totals, and every written formula holds."""
    found: Found = []
    for name, m in results["models"].items():
        parts = m.get("layers") or m.get("blocks") or []
        what = "layers" if m.get("layers") else "blocks"
        sums = {"total_params": sum(p.get("params") or 0 for p in parts),
                "trainable_params": sum(p.get("trainable") or 0 for p in parts)}
        for total, value in sums.items():
            if parts and m.get(total) is not None and value != m[total]:
                found.append((f"model {name}: its {what} add up to {num(value)} {total.replace('_', ' ')}, the "
                              f"stated total is {num(m[total])}", {"model": name, "total": total, "sum": value,
                                                                   "stated": m[total]}))
        keras = (m.get("total_params") or 0) + (m.get("buffer_params") or 0)
        if m.get("keras_total_params") is not None and m["keras_total_params"] != keras:
            found.append((f"model {name}: Keras-style total {num(m['keras_total_params'])} is not parameters + "
                          f"buffers ({num(keras)})", {"model": name, "total": "keras_total_params"}))
        for layer in m.get("layers") or []:
            formula = layer.get("formula")
            if isinstance(formula, str) and len(formula) > _LONGEST:
                found.append((f"model {name}, layer {layer.get('name')}: its formula is {len(formula):,} characters "
                              "long; reportgen writes short ones", {"model": name, "layer": layer.get("name")}))
                continue
            parts = _formula_parts(formula)
            if parts is None:
                continue
            try:
                value, stated = _evaluate(parts[0]), int(parts[1].replace(",", ""))
            except ValueError:  # a term with no digits ("3 ×  + 1"): not a formula reportgen writes
                found.append((f"model {name}, layer {layer.get('name')}: its formula cannot be evaluated",
                              {"model": name, "layer": layer.get("name")}))
                continue
            if value != stated or stated != layer.get("params"):
                found.append((f"model {name}, layer {layer.get('name')}: {layer['formula']} does not hold "
                              f"(it makes {num(value)}; the layer has {num(layer.get('params'))})",
                              {"model": name, "layer": layer.get("name"), "formula": layer["formula"]}))
    return found, f"{len(results['models'])} model(s)"


def build_kind(results: dict) -> tuple[Found, str]:
    """Smoke builds are not results."""
    if results.get("smoke"):
        return [("a smoke build (1 epoch on at most 256 images per split, synthetic images where data was "
                 "absent): its numbers are not results", {"smoke": True})], "smoke build"
    return [], "full build"


def run_outcomes(results: dict) -> tuple[Found, list[str], str]:
    """Failed runs are findings; diverged and stalled runs are notes (a sweep may diverge on purpose)."""
    found, notes = [], []
    runs = results["runs"]
    if not runs:
        found.append(("the results hold no runs", {}))
    for rid, run in runs.items():
        status = run.get("status")
        if status == "failed":
            found.append((f"run {rid} failed: {run.get('error') or 'no reason recorded'}", {"run": rid}))
        elif status == "diverged":
            notes.append(f"run {rid} diverged at epoch {run.get('diverged_epoch')}")
        elif status == "stalled":
            notes.append(f"run {rid} stalled at chance level")
    return found, notes, f"{len(runs)} run(s), {sum(r.get('status') == 'failed' for r in runs.values())} failed"
