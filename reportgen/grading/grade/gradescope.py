"""Gradescope autograder results for each submission: its checks as tests, its facts as extra data, and with a
rubric its criteria as scored tests."""

from __future__ import annotations

from reportgen.grading.grade.scoring import gradescope_tests, gradescope_total


def _output(r: dict) -> str:
    """The submission-level summary Gradescope shows above the tests."""
    if r["error"]:
        return f"The submission could not be checked: {r['error']}"
    lines = [f"{r['findings']} finding(s)" + (f": {'; '.join(r['findings_summary'])}" if r["findings"] else
                                             "; every check passed")]
    lines += [f"- {f.get('message', '')}" for f in r["finding_list"]]
    lines += [f"note: {n}" for n in r["notes"]]
    if r["identical_to"]:
        lines.append("identical runs to: " + ", ".join(r["identical_to"]))
    lines.append(f"verification: {r['verification']}" + (f" ({r['verification_detail']})"
                                                         if r["verification_detail"] else ""))
    return "\n".join(lines)


def _tests(r: dict, outcome: dict) -> list[dict]:
    """One test per check that ran (failed when it found something), plus verification when it ran."""
    if r["error"]:
        return [{"name": "submission", "status": "failed", "output": r["error"]}]
    report = outcome.get("report") or {}
    tests = []
    for check in report.get("checks") or []:
        if not isinstance(check, dict):
            continue
        name = str(check.get("name") or "?")
        found = [f.get("message", "") for f in r["finding_list"] if f.get("check") == name]
        detail = str(check.get("detail") or "")
        tests.append({"name": name, "status": "passed" if check.get("passed") else "failed",
                      "output": "\n".join([detail, *found]).strip()})
    named = {t["name"] for t in tests}
    for f in r["finding_list"]:  # a finding whose check is not listed still fails a test
        name = str(f.get("check") or "?")
        if name not in named:
            named.add(name)
            found = [g.get("message", "") for g in r["finding_list"] if g.get("check") == name]
            tests.append({"name": name, "status": "failed", "output": "\n".join(found)})
    if r["verification"] != "not verified":
        tests.append({"name": "verification", "status": "passed" if r["verification"] == "reproduced" else "failed",
                      "output": f"{r['verification']}: {r['verification_detail'] or ''}".rstrip(": ")})
    return tests


def results(r: dict, outcome: dict) -> dict:
    """Gradescope's results.json for one submission (the score is the rubric's, when grade has one)."""
    report = outcome.get("report") or {}
    extra = dict(report.get("facts") or {})
    extra.update({"folder": r["folder"], "identical_to": r["identical_to"], "verification": r["verification"],
                  "findings": r["finding_list"], "notes": r["notes"]})
    if r["error"]:
        extra["error"] = r["error"]
    out = {"tests": _tests(r, outcome), "output": _output(r), "visibility": "visible", "extra_data": extra}
    if r.get("rubric") is not None:  # the rubric's automatic criteria as scored tests, their sum as the score
        out["tests"] += gradescope_tests(r["rubric"])
        out["score"] = gradescope_total(r["rubric"])
    return out
