"""What can be known before training: the names prose may use, the prose texts, their images, unused prose files,
and whether a `module:` model's file defines its class (read, never imported)."""

from __future__ import annotations

import ast
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from reportgen.errors import Problem
from reportgen.manifest.files import MAX_PROSE_BYTES, check_file
from reportgen.manifest.prose_rules import ImageRefused, code_spans, image_path, inside
from reportgen.manifest.suggest import did_you_mean
from reportgen.manifest.sweeps import label, show
from reportgen.manifest.yamlsource import Located
from reportgen.textsafe import slug

MAX_NAMED_RUNS = 10_000
MAX_MODULE_BYTES = 4 * 1024 * 1024
IMAGE = re.compile(r"!\[(?:[^\]\n]|\](?!\())*\]\(\s*<?([^)\s>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
EMBEDDED = (".png", ".jpg", ".jpeg", ".gif", ".webp")


@dataclass
class Prose:
    """One prose text: from a file (located by its own lines) or a manifest `text:` (located at that key)."""

    text: str
    file: str  # the prose file as shown in messages, or the manifest
    folder: Path  # where its image paths start
    at: tuple[int, int] | None = None  # the `text:` key in the manifest; None for a file
    path: str = ""  # the manifest key path of an inline text


@dataclass
class Gathered:
    """Every problem found before training, the warnings, and what the report-side checks need."""

    loaded: Any = None  # the LoadedManifest, or None when its checks could not run
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    prose: list[Prose] = field(default_factory=list)
    names: dict = field(default_factory=dict)
    complete: bool = False  # every part validated as written: model shapes can be checked too


def _dict(v: Any) -> dict:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list:
    return v if isinstance(v, list) else []


def names_of(data: Any, runs: list | None = None) -> dict:
    """The run, experiment, model, label and citation names prose may use, read from the manifest as written (so a
    broken experiment still has its names): {"runs": {id: varied}, "groups": {exp: [ids]}, "models", "labels",
    "references", "repeated": the run ids with train.repeats > 1 (None without `runs`)}."""
    data = _dict(data)
    named: dict[str, set] = {}
    groups: dict[str, list[str]] = {}
    models = set()
    for exp in _list(data.get("experiments")):
        exp = _dict(exp)
        if not isinstance(exp.get("id"), str):
            continue
        if isinstance(exp.get("model"), str):
            models.add(exp["model"])
        sweep = {k: v for k, v in _dict(exp.get("sweep")).items() if isinstance(v, list) and v}
        keys = [k for k in sweep if isinstance(k, str)]
        labels = [label(k) for k in keys]
        ids = groups.setdefault(exp["id"], [])
        for combo in itertools.islice(itertools.product(*(sweep[k] for k in keys)) if keys else [()], MAX_NAMED_RUNS):
            suffix = ",".join(f"{lab}={show(v)}" for lab, v in zip(labels, combo))
            rid = f"{exp['id']}/{suffix}" if suffix else exp["id"]
            named[rid] = set(labels)
            ids.append(rid)
    models |= {r.model for r in runs or []}
    labels = {}
    for item in _list(data.get("sections")):
        if isinstance(item, dict) and len(item) == 1:
            kind, opts = next(iter(item.items()))
            if isinstance(_dict(opts).get("label"), str):
                labels.setdefault(opts["label"], kind)
    refs = set(_dict(_dict(data.get("report")).get("references")))
    # the runs trained with several seeds, known once the manifest resolved (None: not known, nothing is checked)
    repeated = {r.id for r in runs if r.train.repeats > 1} if runs else None
    return {"runs": named, "groups": groups, "models": models, "labels": labels, "references": refs,
            "repeated": repeated}


FIGURE_LABEL = re.compile(r"\]\([^)\n]*\)\{[^}\n]*#fig:([A-Za-z0-9][A-Za-z0-9_.-]*)")


def figure_labels(prose: list[Prose]) -> list[str]:
    """The labels of prose figures, `![Caption](file.png){#fig:LABEL}`, which `@fig:LABEL` may name too."""
    return [m[1] for p in prose for m in FIGURE_LABEL.finditer(p.text)]


def prose_of(located: Located, base_dir: Path) -> list[Prose]:
    """Every prose text the sections name that can be read (unreadable files are reported by check_references)."""
    out = []
    for i, item in enumerate(_list(_dict(located.data).get("sections"))):
        if not (isinstance(item, dict) and len(item) == 1 and "prose" in item):
            continue
        opts = _dict(item["prose"])
        if isinstance(opts.get("text"), str):
            key = ("sections", i, "prose", "text")
            out.append(Prose(opts["text"], located.file, base_dir, located.where(key), f"sections[{i}].prose.text"))
        elif isinstance(opts.get("file"), str):
            target = (base_dir / opts["file"]).resolve()
            if target.is_relative_to(base_dir) and target.is_file() and check_file(target) is None:
                with open(target, "rb") as f:
                    text = f.read(MAX_PROSE_BYTES).decode("utf-8", "replace")
                shown = str(Path(located.file).parent / opts["file"])
                out.append(Prose(text, shown, target.parent))
    return out


def place(prose: Prose, line: int, column: int, message: str) -> Problem:
    """A problem at a line and column of a prose text: in its file, or at the manifest's `text:` key."""
    if prose.at is None:
        return Problem(prose.file, line, column, "", message)
    return Problem(prose.file, *prose.at, prose.path, f"line {line}, column {column} of the text: {message}")


def _refusal(src: str, folder: Path, top: Path) -> tuple[str, str] | None:
    """('error'|'warning', why) for an image the report would not embed: prose_rules.image_path's rules (which
    rendering applies too), then whether the file is there and of a kind that is embedded."""
    shown = src if len(src) <= 60 else src[:57] + "..."
    try:
        real = image_path(src, top, folder)
    except ImageRefused as why:
        return "warning", f"image {shown!r} refused: {why}"
    if not real.is_file():
        return "warning", f"image file not found: {src} (the report shows a note in its place)"
    suffix = Path(unquote(src.strip())).suffix.lower()  # as written: the name the student gave it
    if suffix == ".svg":
        return "warning", f"SVG image {shown!r} is not embedded (only PNG, JPEG, GIF and WebP are)"
    if suffix not in EMBEDDED:
        return "warning", f"image {shown!r} is not a PNG, JPEG, GIF or WebP file and may be refused"
    return None


def check_images(prose: list[Prose], base_dir: Path) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for the images of every prose text: missing files; refused kinds and places."""
    errors, warnings = [], []
    for p in prose:
        skip = code_spans(p.text)
        for m in IMAGE.finditer(p.text):
            if inside(m.start(), skip):
                continue
            found = _refusal(m[1], p.folder, base_dir.resolve())
            if found:
                line = p.text.count("\n", 0, m.start()) + 1
                column = m.start() - (p.text.rfind("\n", 0, m.start()) + 1) + 1
                (errors if found[0] == "error" else warnings).append(place(p, line, column, found[1]))
    return errors, warnings


def unused_prose(located: Located, base_dir: Path) -> list[Problem]:
    """Markdown files beside the manifest's prose files that no section uses (a forgotten or misnamed file)."""
    used = set()
    for item in _list(_dict(located.data).get("sections")):
        if isinstance(item, dict) and "prose" in item and isinstance(_dict(item["prose"]).get("file"), str):
            target = (base_dir / item["prose"]["file"]).resolve()
            if target.is_relative_to(base_dir):
                used.add(target)
    warnings = []
    for folder in sorted({p.parent for p in used}):
        for md in sorted(folder.glob("*.md")):
            if md.resolve() not in used and md.name.lower() != "readme.md":
                shown = Path(located.file).parent / md.relative_to(base_dir)
                warnings.append(Problem(str(shown), 1, 1, "", "no section uses this prose file (add a "
                                        "`- prose: {file: ...}` section, or remove it)"))
    return warnings


def mixed_datasets(loaded) -> list[Problem]:
    """Comparison sections whose runs are on different datasets (their accuracies do not compare)."""
    warnings = []
    for i, sec in enumerate(loaded.sections):
        if sec.kind != "comparison":
            continue
        chosen = sec.options.get("experiments")
        runs = [r for r in loaded.runs if chosen is None or r.id in chosen or r.group in chosen]
        kinds = {}
        for r in runs:
            ds = r.dataset
            if ds is not None:
                kinds.setdefault((ds.name, ds.labels, ds.root, ds.train_root), []).append(r.id)
        if len(kinds) > 1:
            shown = "; ".join(f"{k[0]}: {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}" for k, v in kinds.items())
            warnings.append(loaded.problem(("sections", i, "comparison"), f"the compared runs are on different "
                                           f"datasets ({shown}); their accuracies do not compare"))
    return warnings


def label_clashes(loaded) -> list[Problem]:
    """Section labels that differ only in case or punctuation: their export names (tables/<label>.tex) would
    coincide, so the later one gets `-2`, which an \\input written for it would not expect."""
    warnings, seen = [], {}
    for i, sec in enumerate(loaded.sections):
        label = sec.options.get("label")
        if not label:
            continue
        name = slug(label, limit=80)
        if name in seen and seen[name] != label:
            warnings.append(loaded.problem(("sections", i, sec.kind, "label"), f"label {label!r} and {seen[name]!r} "
                                           f"give the same export name ({name}); this one's files get `-2`"))
        seen.setdefault(name, label)
    return warnings


def _top_level_names(tree: ast.Module) -> tuple[list[str], set[str]]:
    """(the classes a module defines at top level, every name it binds there: classes, assignments, imports)."""
    classes, bound = [], set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                bound.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return classes, bound | set(classes)


def module_problems(loaded, name: str) -> list[Problem]:
    """A `module:` model's file exists in readable Python and defines its class at top level (parsed, not run)."""
    spec = loaded.manifest.models[name]
    path, cls = spec.module_parts()
    where = ("models", name, "module")
    target = loaded.base_dir / path
    if not target.resolve().is_relative_to(loaded.base_dir.resolve()):  # as prose files: a submission brings its own code
        return [loaded.problem(where, f"module files must lie inside the manifest's folder; {path} does not")]
    if not target.is_file():
        return [loaded.problem(where, f"module file not found: {path} (paths are relative to the manifest's folder)")]
    if target.stat().st_size > MAX_MODULE_BYTES:
        return [loaded.problem(where, f"{path} is larger than {MAX_MODULE_BYTES // 2**20} MB; is it Python source?")]
    try:
        tree = ast.parse(target.read_bytes(), filename=path)
    except SyntaxError as exc:
        return [loaded.problem(where, f"{path} is not valid Python: line {exc.lineno}: {exc.msg}")]
    except ValueError as exc:  # null bytes, undecodable source
        return [loaded.problem(where, f"{path} is not Python source ({exc})")]
    classes, bound = _top_level_names(tree)
    if cls not in bound:
        listed = f"; it defines {', '.join(classes)}" if classes else "; it defines no class at top level"
        return [loaded.problem(where, f"{path} defines no top-level class {cls!r}" + did_you_mean(cls, classes, "")
                               + listed)]
    return []


def module_notes(loaded) -> list[Problem]:
    """One note per `module:` model: building the manifest runs that file's code."""
    notes = []
    for name, spec in loaded.manifest.models.items():
        if spec.source == "module":
            path, cls = spec.module_parts()
            notes.append(loaded.problem(("models", name, "module"), (
                f"building this manifest imports {path} and runs its code (class {cls}), with your permissions; "
                "validate, render, check and diff never do. Build it only if you trust that file")))
    return notes
