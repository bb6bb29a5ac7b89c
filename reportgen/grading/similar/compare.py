"""Every pair of a class compared by kind (prose, code, design, runs), ranked, with the matching passages.

How the scores are computed. Prose (the Markdown files and the student text of report.html: prose sections,
notebook questions and comments, the abstract; not the headings' numbers and labels reportgen prints) is cut into
words, casefolded, punctuation dropped, every word holding a digit made the one token "0"; code (every .py file,
the manifest's `module:` files first) into Python tokens without comments, docstrings and layout, strings "S",
numbers "N" and every name the student chose "V" (keywords, builtins, `self`, imported names and attributes
reached through them stay). Each document is fingerprinted by winnowing (Schleimer et al. 2003) hashes of k-grams:
prose k = 5 words in windows of w = 4 (any 8 words in a row shared are seen), code k = 12 tokens in windows of
w = 6. Fingerprints of the base folder (`--base`, like MOSS's -b) are removed, and so are those held by more than
COMMON of the class (at least COMMON_LEAST submissions, like MOSS's -m). A pair's prose or code score is the
largest of: shared fingerprints over the smaller side's, and for each document of either side, its fingerprints
found in the other submission over its own (so one copied file among several own ones is found); every
denominator counts at least MIN_PRINTS, so that a few shared phrases never make a score. Design compares the
manifests' features (each model's definition, each experiment's effective training settings with its model's
definition, each sweep, names and titles left out, the base manifest's features removed): shared over the
smaller side's, at least 3. Runs compare every seed of every run (timings aside) and what results hold of the
predictions (each seed's test confusion matrix and per-class metrics): identical, or near-identical (the same
epochs, every number within 0.1 % and at most 3 test predictions moved, or 0.2 %); runs whose settings digest is
one of the base's results.json are left out. Runs score 1 with an identical seed, 0.9 with a near-identical one.
A pair's score is its largest kind score: each kind is evidence on its own. Pairs at or above the threshold
(default 0.5) are listed, highest first.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

from reportgen.hashing import cache_key
from reportgen.errors import UserError
from reportgen.grading.similar.design import Feature, features, score as design_score
from reportgen.grading.similar.runs import RunMatch, base_digests, identical_groups, match_all, seeds as run_seeds
from reportgen.grading.similar.runs import score as runs_score
from reportgen.grading.similar.passages import Passage, Side, passages
from reportgen.grading.similar.sources import Sources, read_sources
from reportgen.grading.similar.winnow import CODE_K, CODE_W, PROSE_K, PROSE_W, winnow
from reportgen.textsafe import one_line

DEFAULT_THRESHOLD = 0.5
KINDS = ("prose", "code", "design", "runs")
WINNOW = {"prose": (PROSE_K, PROSE_W), "code": (CODE_K, CODE_W)}
GAP = {"prose": 12, "code": 24}  # tokens between two matches of one passage
MIN_PRINTS = {"prose": 30, "code": 20}  # about 75 words of prose or 40 tokens of code
COMMON, COMMON_LEAST = 0.2, 10


@dataclass
class Pair:
    """Two submissions (a < b) and how alike they are, by kind."""

    a: str
    b: str
    score: float
    scores: dict[str, float | None]
    identical_runs: bool = False
    passages: dict[str, list[Passage]] = field(default_factory=dict)
    runs: list[RunMatch] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """A stable file name stem for the pair's page, from a digest of both names (never the names)."""
        return "pair-" + cache_key([self.a, self.b])

    def record(self) -> dict:
        """JSON-ready."""
        return {"a": self.a, "b": self.b, "slug": self.slug, "score": round(self.score, 4),
                "scores": {k: None if v is None else round(v, 4) for k, v in self.scores.items()},
                "identical_runs": self.identical_runs,
                "runs": [{"a": m.a, "b": m.b, "relation": m.relation, "same_settings": m.same_settings}
                         for m in self.runs],
                "passages": {k: [p.record() for p in ps] for k, ps in self.passages.items()}}


@dataclass
class ClassSimilarity:
    """The pairs of a class at or above the threshold, ranked, and what could not be compared."""

    pairs: list[Pair]
    threshold: float
    groups_identical: list[list[str]]
    unreadable: dict[str, str]
    notes: dict[str, list[str]]
    best: dict[str, float]
    seconds: dict[str, float]

    def highest(self, folder: str) -> float | None:
        """The folder's highest score with any other submission; None when it could not be read."""
        return None if folder in self.unreadable else self.best.get(folder, 0.0)

    def partners(self, folder: str) -> list[Pair]:
        """The listed pairs the folder is in, highest first."""
        return [p for p in self.pairs if folder in (p.a, p.b)]

    def record(self) -> dict:
        """JSON-ready: folder names only, never a path."""
        return {"threshold": self.threshold, "kinds": list(KINDS), "pairs": [p.record() for p in self.pairs],
                "identical_runs": self.groups_identical, "unreadable": self.unreadable, "notes": self.notes,
                "highest": {k: round(v, 4) for k, v in sorted(self.best.items())}}


@dataclass
class _Prints:
    """One submission's documents of one kind and their fingerprints, base and common ones left out."""

    docs: list
    where: dict[int, list[tuple[int, int]]]
    per_doc: list[int] = field(default_factory=list)


def _prints(src: Sources, kind: str, drop: set[int]) -> _Prints:
    k, w = WINNOW[kind]
    docs = [d for d in src.documents if d.kind == kind]
    where: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for i, doc in enumerate(docs):
        for fp, positions in winnow(doc.tokens.words, k, w).items():
            if fp not in drop:
                where[fp] += [(i, p) for p in positions]
        doc.tokens = doc.tokens.compact()
    return _Prints(docs, dict(where))


def _kind_scores(prints: dict[str, _Prints], kind: str) -> dict[tuple[str, str], float]:
    """The kind's score of every pair that shares a fingerprint, through an index fingerprint → submissions; the
    fingerprints too common in the class are dropped from each submission's prints on the way."""
    index: dict[int, list[str]] = defaultdict(list)
    for name, p in prints.items():
        for fp in p.where:
            index[fp].append(name)
    limit = max(COMMON_LEAST, int(COMMON * len(prints)))
    least = MIN_PRINTS[kind]
    pair_shared: Counter = Counter()
    doc_shared: Counter = Counter()
    for name, p in prints.items():
        p.where = {fp: v for fp, v in p.where.items() if len(index[fp]) <= limit}
        p.per_doc = [0] * len(p.docs)
        for fp, occ in p.where.items():
            for d in {i for i, _ in occ}:
                p.per_doc[d] += 1
                doc_shared.update((name, d, other) for other in index[fp] if other != name)
    for fp, holders in index.items():
        if 1 < len(holders) <= limit:
            pair_shared.update(combinations(sorted(holders), 2))
    best: dict[tuple[str, str], float] = {}
    for (a, b), n in pair_shared.items():
        best[(a, b)] = n / max(min(len(prints[a].where), len(prints[b].where)), least)
    for (name, d, other), n in doc_shared.items():
        key = (name, other) if name < other else (other, name)
        best[key] = max(best.get(key, 0.0), n / max(prints[name].per_doc[d], least))
    return {key: min(v, 1.0) for key, v in best.items()}


def read_base(base: Path) -> Sources:
    """The base folder (the course's starter) read; UserError when nothing in it can be read."""
    src = read_sources(base)
    if src.unreadable:
        raise UserError(f"the base folder cannot be read: {src.unreadable}")
    return src


def _base(base: Path | Sources | None) -> tuple[Sources | None, dict[str, set[int]], dict, frozenset[str]]:
    """The base folder's fingerprints by kind, design features and run digests: what is never counted."""
    if base is None:
        return None, {"prose": set(), "code": set()}, {}, frozenset()
    src = base if isinstance(base, Sources) else read_base(base)
    drop = {kind: set(_prints(src, kind, set()).where) for kind in WINNOW}
    return src, drop, features(src.manifest), base_digests(src.results)


def _read(folders: list[Path]) -> tuple[dict[str, Sources], dict[str, str]]:
    read, unreadable = {}, {}
    for folder in folders:
        src = read_sources(folder)
        if src.unreadable:
            unreadable[folder.name] = src.unreadable
        else:
            read[folder.name] = src
    return read, unreadable


def compare_class(folders: list[Path], base: Path | Sources | None = None, threshold: float = DEFAULT_THRESHOLD
                  ) -> ClassSimilarity:
    """Every pair of the submissions compared by kind; the pairs at or above the threshold, ranked (`base`: the
    starter's folder, or it already read by read_base)."""
    clock, seconds = time.perf_counter(), {}

    def lap(stage: str) -> None:
        """The time since the last lap, as the stage's."""
        nonlocal clock
        seconds[stage] = round(time.perf_counter() - clock, 3)
        clock = time.perf_counter()

    _, drop, base_design, digests = _base(base)
    read, unreadable = _read(folders)
    lap("read")
    prints = {kind: {n: _prints(s, kind, drop[kind]) for n, s in read.items()} for kind in WINNOW}
    lap("fingerprint")
    scores: dict[str, dict[tuple[str, str], float | None]] = {k: _kind_scores(prints[k], k) for k in WINNOW}
    lap("index")
    feats = {n: {h: f for h, f in features(s.manifest).items() if h not in base_design} for n, s in read.items()}
    scores["design"] = {}
    for a, b in combinations(sorted(feats), 2):
        if feats[a].keys() & feats[b].keys():
            scores["design"][(a, b)] = design_score(feats[a], feats[b])
    seeds = {n: run_seeds(s.results, digests) for n, s in read.items()}
    matches = match_all(seeds)
    scores["runs"] = {key: runs_score(m) for key, m in matches.items()}
    groups = identical_groups(seeds)
    lap("design and runs")
    same = {(a, b) for g in groups for a, b in combinations(g, 2)}
    pairs, best = [], {}
    for key in sorted(set().union(*(s.keys() for s in scores.values()))):
        kinds = {k: scores[k].get(key, 0.0) for k in KINDS}
        kinds = {k: (None if _absent(k, key, prints, feats, seeds) else v) for k, v in kinds.items()}
        top = max((v for v in kinds.values() if v is not None), default=0.0)
        for name in key:
            best[name] = max(best.get(name, 0.0), top)
        if top >= threshold:
            pair = Pair(key[0], key[1], top, kinds, key in same, runs=matches.get(key, []))
            pair.passages = _pair_passages(pair, prints, feats)
            pairs.append(pair)
    pairs.sort(key=lambda p: (-p.score, -sum(v or 0 for v in p.scores.values()), p.a, p.b))
    lap("passages")
    notes = {n: s.notes for n, s in read.items() if s.notes}
    return ClassSimilarity(pairs, threshold, groups, unreadable, notes, best, seconds)


def _absent(kind: str, key: tuple[str, str], prints: dict, feats: dict, seeds: dict) -> bool:
    """Whether either side has nothing of this kind to compare (its score is then None, not 0)."""
    if kind in WINNOW:
        return not (prints[kind][key[0]].where and prints[kind][key[1]].where)
    held = feats if kind == "design" else seeds
    return not (held[key[0]] and held[key[1]])


def _pair_passages(pair: Pair, prints: dict, feats: dict) -> dict[str, list[Passage]]:
    """The matching passages of a listed pair, by kind."""
    out: dict[str, list[Passage]] = {}
    for kind in WINNOW:
        a, b = prints[kind][pair.a], prints[kind][pair.b]
        shared = a.where.keys() & b.where.keys()
        if shared:
            out[kind] = passages(shared, (a.docs, a.where), (b.docs, b.where), WINNOW[kind][0], GAP[kind])
    shared_design = sorted(feats[pair.a].keys() & feats[pair.b].keys())
    if shared_design:
        out["design"] = [Passage(_feature_side(feats[pair.a][h]), _feature_side(feats[pair.b][h]), 1)
                         for h in shared_design]
    return out


def _feature_side(feature: Feature) -> Side:
    return Side(one_line(f"manifest: {feature.label}"), None, feature.definition, ((0, len(feature.definition)),))
