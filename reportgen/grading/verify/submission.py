"""A submission to verify: where its recorded results and its manifest are, and which of its runs to re-run."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import UserError
from reportgen.hashing import file_digest


@dataclass
class Submission:
    """A grader's copy of a student's build: its recorded results and the manifest they came from."""

    given: Path  # the path as the grader gave it
    folder: Path  # the folder holding the submission's files
    results_file: Path  # the file the recorded results were read from
    results: dict
    manifest: Path
    manifest_sha256: str
    recorded_sha256: str | None  # the manifest hash the results record

    @property
    def same_manifest(self) -> bool:
        """Whether the manifest file is byte for byte the one the results were built from."""
        return self.recorded_sha256 == self.manifest_sha256

    @property
    def smoke(self) -> bool:
        """Whether the recorded results are from a smoke build."""
        return bool(self.results.get("smoke"))


def results_file(path: Path) -> Path:
    """The file reportgen.grading.diff.compare.load reads the results from: results.json before report.html in a folder."""
    if path.is_dir():
        return path / "results.json" if (path / "results.json").is_file() else path / "report.html"
    return path


def find_manifest(folder: Path, results: dict, given: Path | None) -> Path:
    """--manifest, else the file the results name in the submission folder, else the folder's only YAML file."""
    if given is not None:
        if not given.is_file():
            raise UserError(f"--manifest {given}: no such file")
        return given
    named = (results.get("manifest") or {}).get("file")
    if isinstance(named, str) and named and Path(named).name == named and (folder / named).is_file():
        return folder / named
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))
    if len(found) == 1:
        return found[0]
    expected = f"{named} (named by the results) or " if named else ""
    what = "no .yaml/.yml file" if not found else f"{len(found)} .yaml/.yml files ({', '.join(p.name for p in found)})"
    raise UserError(f"cannot tell which manifest to re-run: {folder} holds {what}; expected {expected}"
                    "exactly one manifest there, or name it with --manifest")


def open_submission(path: Path, manifest: Path | None = None) -> Submission:
    """Read a submission (a folder, a results.json or a report.html) and locate its manifest; DiffError when the
    results cannot be read, UserError when no manifest can be found."""
    from reportgen.grading.diff.compare import load

    path = Path(path)
    results = load(path, "submission").results
    folder = path if path.is_dir() else path.parent
    manifest_path = find_manifest(folder, results, manifest)
    recorded = (results.get("manifest") or {}).get("sha256")
    return Submission(path, folder, results_file(path), results, manifest_path,
                      file_digest(manifest_path), recorded)


def file_hashes(folder: Path) -> dict[str, str]:
    """Every file under a folder (relative path → SHA-256): what verify promises never to change."""
    return {p.relative_to(folder).as_posix(): file_digest(p)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Selection:
    """Which recorded runs to verify, and how they were chosen."""

    how: str  # "all", "named" or "sample"
    ids: list[str]  # in the order chosen (sample) or the submission's run order
    seed: int | None = None
    sample: int | None = None
    available: int = 0  # runs in the submission
    asked: int | None = None  # --sample N as given (more than available: every run is chosen)


def recorded_ids(results: dict) -> list[str]:
    """The submission's run ids in its own order (run_order), then any others sorted; a repeated run's further seeds
    follow it as `id#2`, `id#3`, …"""
    runs = results.get("runs") or {}
    ordered = [rid for rid in results.get("run_order") or [] if rid in runs]
    ids = []
    for rid in ordered + sorted(rid for rid in runs if rid not in ordered):
        ids.append(rid)
        seeds = runs[rid].get("repeats") if isinstance(runs[rid], dict) else None
        ids += [f"{rid}#{k}" for k in range(2, len(seeds) + 1)] if isinstance(seeds, list) else []
    return ids


def seed_records(results: dict) -> dict[str, dict]:
    """Every verifiable record by id: each run's own record (its first seed), and each further seed's record
    (`id#k`: the seed's epochs, status and test metrics, with the run's environment and transfer)."""
    out: dict[str, dict] = {}
    for rid, record in (results.get("runs") or {}).items():
        record = record if isinstance(record, dict) else {}
        out[rid] = record
        for k, seed in enumerate(record.get("repeats") or [], 1):
            if k > 1 and isinstance(seed, dict):
                out[f"{rid}#{k}"] = {"environment": record.get("environment"), "digest": record.get("digest"),
                                      **{key: value for key, value in seed.items() if key != "seed"}}
    return out


def _split_named(texts: list[str], valid: set[str]) -> tuple[list[str], list[str]]:
    """(known ids, unknown names) from --runs values, each one id or several joined by commas (run ids of sweeps
    hold commas themselves, e.g. grid/lr=0.1,bs=32: the longest valid id wins)."""
    known, unknown = [], []
    for text in texts:
        parts = [p.strip() for p in text.split(",")]
        i = 0
        while i < len(parts):
            j = next((j for j in range(len(parts), i, -1) if ",".join(parts[i:j]) in valid), None)
            if j is None:
                if parts[i]:
                    unknown.append(parts[i])
                i += 1
                continue
            known.append(",".join(parts[i:j]))
            i = j
    return list(dict.fromkeys(known)), unknown


def choose_runs(results: dict, named: list[str] | tuple[str, ...] = (), sample: int | None = None,
                seed: int = 0) -> Selection:
    """All recorded runs and seeds, the named ones (a run's id names all its seeds, `id#2` one of them; UserError
    listing the valid ids for unknown ones), or a seeded sample of N across runs and seeds: random.Random(seed).sample(sorted ids, N) (every run, in that order, when N is more than there are)."""
    ids = recorded_ids(results)
    if not ids:
        raise UserError("the submission's results hold no runs to verify")
    if named and sample is not None:
        raise UserError("give either --runs or --sample, not both")
    if named:
        known, unknown = _split_named(list(named), set(ids))
        known += [seed for rid in known for seed in ids if seed.startswith(f"{rid}#") and "#" not in rid]
        if unknown:
            raise UserError(f"unknown run id{'s' if len(unknown) > 1 else ''} for --runs: {', '.join(unknown)}; "
                            f"the submission's runs are: {', '.join(ids)}")
        if not known:
            raise UserError(f"--runs names no run; the submission's runs are: {', '.join(ids)}")
        return Selection("named", [rid for rid in ids if rid in known], available=len(ids))
    if sample is not None:
        if sample < 1:
            raise UserError(f"--sample must be at least 1, got {sample}")
        chosen = random.Random(seed).sample(sorted(ids), min(sample, len(ids)))  # more than there are: all of them
        return Selection("sample", chosen, seed, len(chosen), len(ids), asked=sample)
    return Selection("all", ids, available=len(ids))
