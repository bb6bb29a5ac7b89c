"""Runs matched seed by seed: equal epoch logs and test evaluations (timings aside), or nearly equal ones.

Per-image predictions never reach results.json (they stay in the builder's run cache), so what a submission holds
of its predictions is each seed's test confusion matrix and per-class metrics: those are what is compared.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

from reportgen.hashing import json_digest

REL_TOL = 1e-3  # near-identical: every logged number within this relative difference ...
ABS_TOL = 1e-9
MOVED_CELLS = 3  # ... and at most this many test predictions moved in the confusion matrix (or 0.2 % of them)
MAX_SEEDS = 300  # per submission: a hostile results.json of a million runs is cut here
MAX_NUMBERS = 5000  # compared per seed (300 epochs of 7 numbers and 100 classes' metrics fit); the digest sees all
MAX_EQUAL = 400  # seeds of one digest paired up: 100 teams handing in the same four seeds
NEIGHBOURS = 16  # seeds compared with each seed for near-identity, after it in the sorted order
NEAR_CHECKS = 50_000  # near-identity comparisons in a whole class: a few seconds at most
_TIMINGS = {"seconds", "images_per_s"}
_EPOCH = ("epoch", "train_loss", "val_loss", "train_acc", "val_acc", "lr", "images")
_TEST = ("loss", "accuracy", "precision_weighted", "recall_weighted", "f1_weighted", "precision_macro",
         "recall_macro", "f1_macro", "support")


@dataclass(frozen=True)
class Seed:
    """One seed of one run: what is compared of it."""

    run: str
    seed: int | None
    digest: str  # the run's config digest: the same settings give the same digest
    exact: str  # digest of its epoch log without timings and its test evaluation
    numbers: tuple  # every logged number and test metric, in order (None where not logged)
    matrix: tuple[int, ...] | None
    label: str  # "run base seed 1"


@dataclass(frozen=True)
class RunMatch:
    """A seed of one submission found again in another."""

    a: str
    b: str
    relation: str  # "identical" or "near-identical"
    same_settings: bool

    def text(self) -> str:
        """The match in words."""
        settings = "same settings" if self.same_settings else "different settings"
        return f"{self.a} ↔ {self.b}: {self.relation} ({settings})"


def _num(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _seed(run: str, digest: str, seed, epochs: list, test) -> Seed | None:
    """One seed's record; None when it logged nothing to compare."""
    rows = [r for r in epochs if isinstance(r, dict)] if isinstance(epochs, list) else []
    test = test if isinstance(test, dict) else None
    if not rows and test is None:
        return None
    numbers = [_num(r.get(k)) for r in rows for k in _EPOCH]
    matrix = None
    if test is not None:
        numbers += [_num(test.get(k)) for k in _TEST]
        for c in test.get("per_class") if isinstance(test.get("per_class"), list) else []:
            numbers += [_num(c.get(k)) for k in ("precision", "recall", "f1", "support")] if isinstance(c, dict) \
                else [None]
        cm = test.get("confusion_matrix")
        if isinstance(cm, list) and all(isinstance(r, list) for r in cm):
            matrix = tuple(int(_num(v) or 0) for r in cm for v in r)
    exact = json_digest([[{k: v for k, v in r.items() if k not in _TIMINGS} for r in rows], test])
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None
    label = f"run {run}" + (f" seed {seed}" if seed is not None else "")
    return Seed(run, seed, digest, exact, tuple(numbers[:MAX_NUMBERS]), matrix, label)


def seeds(results: dict | None, base_digests: frozenset[str] = frozenset()) -> list[Seed]:
    """Every seed of every run in a results record (a repeated run's `repeats`, else the run itself), leaving out
    runs whose settings digest is one of the base's."""
    runs = (results or {}).get("runs")
    out: list[Seed] = []
    for rid, run in (runs.items() if isinstance(runs, dict) else []):
        if not isinstance(run, dict) or len(out) >= MAX_SEEDS:
            continue
        digest = run.get("digest") if isinstance(run.get("digest"), str) else ""
        if digest and digest in base_digests:
            continue
        repeats = run.get("repeats")
        if isinstance(repeats, list) and repeats:
            found = [_seed(str(rid), digest, r.get("seed"), r.get("epochs"), r.get("test"))
                     for r in repeats[:MAX_SEEDS] if isinstance(r, dict)]
        else:
            seed = run.get("config", {}).get("seed") if isinstance(run.get("config"), dict) else None
            found = [_seed(str(rid), digest, seed, run.get("epochs"), run.get("test"))]
        out += [s for s in found if s is not None]
    return out[:MAX_SEEDS]


def base_digests(results: dict | None) -> frozenset[str]:
    """The settings digests of the base's runs: runs made with them are never counted."""
    runs = (results or {}).get("runs")
    return frozenset(r["digest"] for r in (runs.values() if isinstance(runs, dict) else [])
                     if isinstance(r, dict) and isinstance(r.get("digest"), str) and r["digest"])


def _close(x: float | None, y: float | None) -> bool:
    if x is None or y is None:
        return x is y
    return abs(x - y) <= max(ABS_TOL, REL_TOL * max(abs(x), abs(y)))


def near(a: Seed, b: Seed) -> bool:
    """Same epochs and metrics to within REL_TOL, and at most a few test predictions moved."""
    if len(a.numbers) != len(b.numbers) or (a.matrix is None) != (b.matrix is None):
        return False
    if a.matrix is not None and b.matrix is not None:
        if len(a.matrix) != len(b.matrix):
            return False
        moved = sum(abs(x - y) for x, y in zip(a.matrix, b.matrix)) / 2
        if moved > max(MOVED_CELLS, 0.002 * sum(a.matrix)):
            return False
    return all(_close(x, y) for x, y in zip(a.numbers, b.numbers))


def _sort_key(s: Seed) -> tuple:
    first = next((v for v in s.numbers if v is not None and v != int(v)), None)  # a loss: rarely shared
    return (len(s.numbers), first is None, first or 0.0)


def _found(found: dict, f: str, s: Seed, g: str, t: Seed, relation: str) -> None:
    """Record seed s of folder f found again as seed t of folder g, under the pair's (a < b) key."""
    (x, sx), (y, sy) = sorted([(f, s), (g, t)], key=lambda p: p[0])
    found[(x, y)].append(RunMatch(sx.label, sy.label, relation, sx.digest == sy.digest and bool(sx.digest)))


def match_all(by_folder: dict[str, list[Seed]]) -> dict[tuple[str, str], list[RunMatch]]:
    """For every pair of folders (a < b), the seeds of a found again in b: equal ones through an index of their
    digests, nearly equal ones by a sweep over the seeds sorted by their first loss, each compared with at most
    NEIGHBOURS seeds after it and NEAR_CHECKS comparisons in all (hostile records of equal numbers stay bounded)."""
    found: dict[tuple[str, str], list[RunMatch]] = defaultdict(list)
    equal: dict[str, list[tuple[str, Seed]]] = defaultdict(list)
    for f, ss in by_folder.items():
        for s in ss:
            equal[s.exact].append((f, s))
    for members in equal.values():
        for (f, s), (g, t) in combinations(members[:MAX_EQUAL], 2):
            if f != g:
                _found(found, f, s, g, t, "identical")
    flat = sorted(((s, f) for f, ss in by_folder.items() for s in ss), key=lambda p: _sort_key(p[0]))
    checks = 0
    for i, (s, f) in enumerate(flat):
        ks = _sort_key(s)
        for j in range(i + 1, min(i + 1 + NEIGHBOURS, len(flat))):
            t, g = flat[j]
            kt = _sort_key(t)
            if kt[:2] != ks[:2] or (not ks[1] and not _close(ks[2], kt[2])):
                break
            if g == f or s.exact == t.exact:
                continue
            if checks >= NEAR_CHECKS:
                return found
            checks += 1
            if near(s, t):
                _found(found, f, s, g, t, "near-identical")
    return found


def score(matches: list[RunMatch]) -> float:
    """1 when a seed is found again identical, 0.9 when only nearly: independent trainings never log the same
    numbers, so one such seed is as telling as all of them (how many is said beside it)."""
    if any(m.relation == "identical" for m in matches):
        return 1.0
    return 0.9 if matches else 0.0


def identical_groups(by_folder: dict[str, list[Seed]]) -> list[list[str]]:
    """Folders whose counted runs are identical seed by seed (every seed of one equals one of the other's, one to
    one), in groups of two or more."""
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for folder, ss in by_folder.items():
        if ss:
            groups[tuple(sorted(s.exact for s in ss))].append(folder)
    return sorted(sorted(g) for g in groups.values() if len(g) > 1)
