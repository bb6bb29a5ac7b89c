"""What grade finds across the class once each submission is checked: similar pairs, rubric scores, gradebook files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reportgen.errors import UserError
from reportgen.grading.grade.folders import MARKER
from reportgen.textsafe import json_text

EXPORTS = ("canvas", "moodle")


@dataclass
class Across:
    """The class-wide results: the similarity comparison and the rubric (each None when not asked for)."""

    similarity: object | None = None  # reportgen.grading.similar's ClassSimilarity
    rubric: object | None = None  # reportgen.grading.grade.rubric's Rubric
    base: object | None = None  # the --base folder read (reportgen.grading.similar's Sources), before any checking
    warnings: list[str] = field(default_factory=list)  # what the gradebook files leave out


def export_names(text: str | None) -> tuple[str, ...]:
    """--export's comma-separated gradebooks, checked: canvas, moodle."""
    names = tuple(dict.fromkeys(n.strip().lower() for n in (text or "").split(",") if n.strip()))
    unknown = [n for n in names if n not in EXPORTS]
    if unknown:
        raise UserError(f"--export {text}: unknown gradebook {', '.join(unknown)}; choose from {', '.join(EXPORTS)}")
    return names


def load(rubric_path: Path | None):
    """The rubric, read and validated before any submission is checked (a bad rubric stops grade at once)."""
    if rubric_path is None:
        return None
    from reportgen.grading.grade.rubric import load_rubric

    return load_rubric(rubric_path)


def read_base(base: Path | None):
    """The --base folder read before any submission is checked (one that cannot be read stops grade at once)."""
    if base is None:
        return None
    from reportgen.grading.similar.compare import read_base as read

    return read(base)


def compare(subs: list[Path], base, threshold: float | None):
    """Every pair of submissions compared (prose, code, design, runs), the base's content not counted."""
    from reportgen.grading.similar import DEFAULT_THRESHOLD, compare_class

    return compare_class(subs, base, DEFAULT_THRESHOLD if threshold is None else threshold)


def mark_similar(rows: list[dict], similarity) -> list[list[str]]:
    """Fill each row's similar_to (partners ranked, with scores and page slug) and its highest score; the groups of
    submissions whose runs are identical seed by seed, which replace grade's own flag."""
    for r in rows:
        r["similarity"] = similarity.highest(r["folder"])
        r["similarity_gaps"] = list(similarity.notes.get(r["folder"]) or [])  # what it could not compare
        r["similar_to"] = [{"folder": p.b if p.a == r["folder"] else p.a, "score": p.score, "slug": p.slug}
                           for p in similarity.partners(r["folder"])]
        r["identical_to"] = []
    groups = [list(g) for g in similarity.groups_identical]
    for names in groups:
        for r in rows:
            if r["folder"] in names:
                r["identical_to"] = [n for n in names if n != r["folder"]]
    return groups


def mark_scores(rows: list[dict], across: Across) -> None:
    """Score every row against the rubric (the similarity criterion from the comparison when it ran)."""
    from reportgen.grading.grade.scoring import score

    ran = across.similarity is not None
    for r in rows:
        r["rubric"] = score(across.rubric, r, r.get("similarity"), ran)


def similarity_files(across: Across, folder: Path, marker: bytes) -> dict[Path, bytes]:
    """The similarity folder: its marker, one side-by-side page per pair above the threshold and pairs.json."""
    from reportgen.grading.similar import pair_page

    sim = across.similarity
    # JSON with everything past ASCII escaped: a student's control or bidi characters reach no grader's terminal
    files = {folder / MARKER: marker, folder / "pairs.json": json_text(sim.record()).encode("ascii")}
    for pair in sim.pairs:
        files[folder / f"{pair.slug}.html"] = pair_page(pair, sim.threshold).encode("utf-8")
    return files


def gradebook_files(rows: list[dict], across: Across, names: tuple[str, ...], csv_path: Path) -> dict[Path, bytes]:
    """The gradebook CSVs asked for, beside grade's CSV: <stem>-canvas.csv, <stem>-moodle.csv."""
    from reportgen.grading.grade import gradebook

    if not names or across.rubric is None:
        return {}
    scored = [r["rubric"] for r in rows]
    writers = {"canvas": gradebook.canvas_csv, "moodle": gradebook.moodle_csv}
    out = {}
    for name in names:
        text = writers[name](rows, scored, across.rubric)
        out[csv_path.with_name(f"{csv_path.stem}-{name}.csv")] = text.encode("utf-8")
    across.warnings = gradebook.export_warnings(rows, scored)
    return out


def needs_similarity(rubric) -> bool:
    """Whether the rubric scores similarity, so the class is compared even without --similarity."""
    return rubric is not None and rubric.needs_similarity


def similarity_lines(across: Across) -> list[str]:
    """The summary's similarity line: how many pairs reach the threshold, the closest ones first."""
    sim = across.similarity
    if sim is None:
        return []
    noted = sum(bool(v) for v in sim.notes.values())
    partly = [f"similarity: {noted} submission{'s' if noted != 1 else ''} not compared in full (files not read or "
              "past the budget: see grades.html)"] if noted else []
    if not sim.pairs:
        return [f"similarity: no pair of submissions at or above {sim.threshold:.2f}", *partly]
    shown = ", ".join(f"{p.a} and {p.b} ({p.score:.2f})" for p in sim.pairs[:3])
    more = f" and {len(sim.pairs) - 3} more" if len(sim.pairs) > 3 else ""
    n = len(sim.pairs)
    return [f"similarity: {n} pair{'s' if n != 1 else ''} at or above {sim.threshold:.2f}: {shown}{more}", *partly]


def score_text(scored) -> str:
    """One row's rubric score in words: automatic points earned of possible, and the manual points left."""
    text = f"{scored.earned:g}/{scored.possible:g}"
    return text + (f" (+{scored.manual:g} manual)" if scored.manual else "")


def rubric_lines(rows: list[dict], across: Across) -> list[str]:
    """The summary's rubric line: the mean automatic score over the submissions that could be checked."""
    if across.rubric is None:
        return []
    scores = [r["rubric"].earned for r in rows if r.get("rubric") is not None and not r["error"]]
    if not scores:
        return ["rubric: no submission could be scored"]
    possible = rows[0]["rubric"].possible
    return [f"rubric: mean {sum(scores) / len(scores):.1f} of {possible:g} automatic points over {len(scores)} "
            "submissions"]


def rubric_record(rubric) -> dict:
    """The rubric as --format json shows it."""
    return rubric.model_dump(mode="json")
