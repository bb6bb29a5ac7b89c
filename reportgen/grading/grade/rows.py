"""Rows of the class overview: one per submission, from its recorded outcome; identical runs across teams."""

from __future__ import annotations

from collections import Counter

PROBLEM_VERIFICATIONS = ("differs", "could not run")


def _dict(value) -> dict:
    """The value when it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    """The value as a list when it is one (or a tuple), else an empty one."""
    return list(value) if isinstance(value, (list, tuple)) else []


def _team(facts: dict) -> list[dict]:
    """The team as [{"name", "id"}], whatever shape the facts hold it in (names and ids as strings)."""
    out = []
    for member in _list(facts.get("team")):
        if isinstance(member, dict):
            out.append({"name": str(member.get("name") or ""), "id": str(member.get("id") or "")})
        elif member is not None:
            out.append({"name": str(member), "id": ""})
    return out


def findings_summary(findings: list[dict]) -> list[str]:
    """The checks that found something, in the order first found, each with its count when more than one."""
    counts = Counter(str(f.get("check") or "?") for f in findings)
    return [name if n == 1 else f"{name} ({n})" for name, n in counts.items()]


def row(outcome: dict, reused: bool) -> dict:
    """One submission's row (structured; table.py flattens it for the CSV)."""
    report = outcome.get("report") or {}
    facts = _dict(report.get("facts"))
    findings = [f for f in _list(report.get("findings")) if isinstance(f, dict)]
    verification = _dict(outcome.get("verification")) or {"status": "not verified"}
    manifest = _dict(facts.get("manifest"))
    best = {str(exp): {"run": _dict(v).get("run"), "accuracy": _dict(v).get("accuracy")}
            for exp, v in _dict(facts.get("best_accuracy")).items()}
    out = {"folder": outcome["folder"], "path": outcome.get("path"), "team": _team(facts),
           "title": str(facts.get("title") or ""),
           "manifest": {"file": manifest.get("file"), "sha256": manifest.get("sha256")},
           "smoke": facts.get("smoke") if isinstance(facts.get("smoke"), bool) else None,
           "models": {str(k): v for k, v in _dict(facts.get("models")).items()}, "best_accuracy": best,
           "runs": len(_dict(facts.get("runs"))),
           "diverged": [str(r) for r in _list(facts.get("diverged"))],
           "stalled": [str(r) for r in _list(facts.get("stalled"))],
           "failed": [str(r) for r in _list(facts.get("failed"))],
           "findings": len(findings), "findings_summary": findings_summary(findings), "finding_list": findings,
           "check_level": str(facts.get("check_level") or ""),
           "notes": [str(n) for n in _list(report.get("notes"))], "identical_to": [],
           "verification": str(verification.get("status") or "not verified"),
           "verification_detail": verification.get("detail"), "error": outcome.get("error"), "reused": reused,
           "seconds": outcome.get("seconds"), "peak_rss_mib": outcome.get("peak_rss_mib"),
           "runs_fingerprint": facts.get("runs_fingerprint"),
           "run_digests": sorted(str(d) for d in _list(facts.get("run_digests"))),
           "sections": [str(s) for s in facts["sections"]] if isinstance(facts.get("sections"), list) else None,
           "repeated_runs": ({str(k): v for k, v in facts["repeated_runs"].items()}
                             if isinstance(facts.get("repeated_runs"), dict) else None),
           "comparisons": ([[str(x) for x in _list(c)] for c in facts["comparisons"]]
                           if isinstance(facts.get("comparisons"), list) else None),
           "run_accuracy": {str(rid): _dict(v).get("test_accuracy") for rid, v in _dict(facts.get("runs")).items()}}
    out["problem"] = bool(out["error"] or out["findings"] or out["verification"] in PROBLEM_VERIFICATIONS)
    return out


def mark_identical(rows: list[dict]) -> list[list[str]]:
    """Fill each row's identical_to from equal runs (fingerprint and run digests); the groups, by folder."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["error"] or not r["runs"] or not isinstance(r["runs_fingerprint"], str) or not r["runs_fingerprint"]:
            continue
        groups.setdefault((r["runs_fingerprint"], tuple(r["run_digests"])), []).append(r)
    found = []
    for members in groups.values():
        if len(members) < 2:
            continue
        names = [m["folder"] for m in members]
        for m in members:
            m["identical_to"] = [n for n in names if n != m["folder"]]
        found.append(names)
    return sorted(found)


def experiments(rows: list[dict]) -> list[str]:
    """Every experiment with a best accuracy anywhere in the class, in the order first seen."""
    seen: dict[str, None] = {}
    for r in rows:
        seen.update(dict.fromkeys(r["best_accuracy"]))
    return list(seen)


def together(names: list[str]) -> str:
    """'a and b', 'a, b and c'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def identical_line(names: list[str]) -> str:
    """The summary line for one group of identical submissions."""
    return f"{together(names)} hand in identical runs"


_INTERNAL = ("runs_fingerprint", "run_digests", "path", "run_accuracy", "repeated_runs", "comparisons")


def public(r: dict) -> dict:
    """A row for --format json: without the internals (fingerprints, digests, paths, what the rubric reads), its
    rubric score as data."""
    out = {k: v for k, v in r.items() if k not in _INTERNAL}
    if out.get("rubric") is not None:
        out["rubric"] = out["rubric"].record()
    return out
