"""One submission's comparable material, read as hostile data: prose, Python files, the manifest and the runs.

Every file is read through grading/files.py (no link out of the folder, no FIFO or device, a size limit per file)
and there is a budget per submission: at most MAX_FILES Markdown and Python files, TEXT_BUDGET bytes of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from reportgen.errors import UserError
from reportgen.grading.files import UnsafeFile, entries, load_json, read_bytes
from reportgen.grading.htmlread import HtmlEvents, parse_html
from reportgen.grading.similar.winnow import Tokens, code_tokens, prose_tokens
from reportgen.manifest.yamlsource import parse_yaml
from reportgen.textsafe import one_line

MAX_FILES = 200
FILE_LIMIT = 1 << 20  # one Markdown or Python file: a long essay is 100 kB
# all of a submission's Markdown, Python and report prose together: a real one holds about 100 kB; a submission at
# 1 MiB took about 1.5 s and 32 MB to compare, so a class that hands in the most it can stays within minutes and GBs
TEXT_BUDGET = 512 << 10
MANIFEST_LIMIT = 1 << 20
# Markdown syntax that is no prose: link targets and references (@{best(x).accuracy} prints a number), tags
_MARKUP = re.compile(r"\]\([^)\n]*\)|<[^>\n]*>|@\{[^}\n]*\}")
_BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "div", "pre", "blockquote", "br", "dd", "dt",
           "figcaption", "caption", "td", "th"}


@dataclass
class Document:
    """One source of text: a Markdown or Python file, or a part of the report's student prose."""

    name: str
    kind: str  # "prose" or "code"
    text: str
    tokens: Tokens


@dataclass
class Sources:
    """What a submission holds that can be compared, and what could not be read of it."""

    folder: str
    documents: list[Document] = field(default_factory=list)
    manifest: dict | None = None
    results: dict | None = None
    notes: list[str] = field(default_factory=list)
    unreadable: str | None = None
    budget: int = TEXT_BUDGET  # characters of prose and code still to read


def _markdown(text: str) -> str:
    """The text with Markdown's non-prose blanked out, every character kept in place (references print as 0)."""
    return _MARKUP.sub(lambda m: ("0" if m.group().startswith("@") else " ").ljust(len(m.group())), text)


def document(name: str, kind: str, text: str) -> Document:
    """A document and its normalised tokens."""
    if kind == "code":
        return Document(name, kind, text, code_tokens(text))
    return Document(name, kind, text, prose_tokens(_markdown(text) if name.endswith(".md") else text))


class _ReportProse(HtmlEvents):
    """The student's prose in a reportgen report.html: prose sections, notebook questions and comments, the
    abstract; numbering and labels that reportgen prints are left out. Also the embedded results record."""

    def __init__(self) -> None:
        self.parts: list[list[str]] = []
        self.depth = 0  # open elements inside the part being read; 0 when outside any
        self.skip = 0  # open elements inside something reportgen printed (a section number, a label)
        self.script: list[str] | None = None
        self.results = ""

    def handle_starttag(self, tag, attrs):
        """A part of student text opens, or an element inside one (a block starts a line)."""
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "script" and a.get("id") == "reportgen-results":
            self.script = []
        elif self.depth:
            self.depth += 1
            self.skip += 1 if self.skip or classes & {"secnum", "label", "qnum"} or tag in ("script", "style") else 0
            if tag in _BLOCKS:
                self.parts[-1].append("\n")
        elif (tag == "section" and "prose" in classes) or (tag == "div" and classes & {"question", "comment",
                                                                                           "abstract"}):
            self.depth, self.skip = 1, 0
            self.parts.append([])

    def handle_endtag(self, tag):
        """An element closes."""
        if self.script is not None and tag == "script":
            self.results, self.script = "".join(self.script), None
        elif self.depth:
            self.depth -= 1
            self.skip = max(self.skip - 1, 0) if self.skip else 0
            if tag in _BLOCKS and self.depth:
                self.parts[-1].append("\n")

    def handle_data(self, data):
        """Text: kept inside a part of student text, but for what reportgen printed there."""
        if self.script is not None:
            self.script.append(data)
        elif self.depth and not self.skip:
            self.parts[-1].append(data)


def _report(folder: Path, src: Sources) -> _ReportProse:
    """The report read: its embedded results kept when there is no results.json, its prose for `_report_prose`."""
    reader = _ReportProse()
    parse_html(reader, read_bytes(folder, folder / "report.html").decode("utf-8", "replace"))
    if src.results is None and reader.results:
        loaded = load_json(reader.results, "report.html's embedded results")
        src.results = loaded if isinstance(loaded, dict) else None
    return reader


def _report_prose(reader: _ReportProse, src: Sources) -> None:
    """The report's student prose as documents, within what the budget leaves after the files."""
    for i, part in enumerate(reader.parts, 1):
        text = _within(re.sub(r"[ \t]*\n[\s]*", "\n", "".join(part)).strip(), src)
        if text:
            src.documents.append(document(f"report.html, student text {i}", "prose", text))


def _manifest_name(folder: Path, results: dict | None, yamls: list[str]) -> str | None:
    """The manifest the results name (a file in the folder), else the folder's one YAML file."""
    named = (results or {}).get("manifest", {}) if isinstance((results or {}).get("manifest"), dict) else {}
    name = named.get("file")
    if isinstance(name, str) and PurePosixPath(name).name == name and name in yamls:
        return name
    top = [y for y in yamls if "/" not in y]
    return top[0] if len(top) == 1 else None


def _read_manifest(folder: Path, name: str, src: Sources) -> None:
    raw = read_bytes(folder, folder / name, MANIFEST_LIMIT)
    data = parse_yaml(raw.decode("utf-8", "replace"), name).data
    src.manifest = data if isinstance(data, dict) else None


def _within(text: str, src: Sources) -> str:
    """As much of the text as the submission's budget still allows (a note says when some is left out)."""
    if len(text) > src.budget:
        note = f"over {TEXT_BUDGET >> 10} KiB of prose and code: the rest is not compared"
        if note not in src.notes:
            src.notes.append(note)
        text = text[:max(src.budget, 0)]
    src.budget -= len(text)
    return text


def _texts(folder: Path, names: list[str], src: Sources) -> None:
    """The Markdown and Python files, within the budget."""
    for name in names[:MAX_FILES]:
        if src.budget <= 0:
            break
        try:
            raw = read_bytes(folder, folder / name, FILE_LIMIT)
        except UnsafeFile as exc:
            src.notes.append(one_line(str(exc)))
            continue
        text = _within(raw.decode("utf-8", "replace"), src)
        src.documents.append(document(one_line(name), "code" if name.endswith(".py") else "prose", text))
    if len(names) > MAX_FILES:
        src.notes.append(f"{len(names) - MAX_FILES} more Markdown or Python files not compared")


def _modules(manifest: dict | None) -> set[str]:
    """The files the manifest's `module:` entries name."""
    models = (manifest or {}).get("models")
    found = set()
    for spec in (models.values() if isinstance(models, dict) else []):
        module = spec.get("module") if isinstance(spec, dict) else None
        if isinstance(module, str):
            found.add(module.split(":", 1)[0])
    return found


def _step(src: Sources, what: str, action) -> None:
    """Run one reading step; a file that cannot be read is a note, never a crash."""
    try:
        action()
    except (UserError, UnicodeError, ValueError, RecursionError, OSError) as exc:
        src.notes.append(one_line(f"{what} not compared: {exc}"))


def read_sources(folder: Path) -> Sources:
    """Everything comparable in one submission folder."""
    src = Sources(one_line(folder.name))
    if not folder.is_dir() or folder.is_symlink():
        src.unreadable = "not a folder"
        return src
    try:
        found, total = entries(folder)
    except OSError as exc:
        src.unreadable = one_line(f"cannot be listed ({exc.strerror or exc})")
        return src
    _unlisted(found, total, src)
    files = {e.rel.replace("\\", "/") for e in found if not e.rel.startswith(".git/")}
    if "results.json" in files:
        _step(src, "results.json", lambda: setattr(src, "results", _json_dict(folder, "results.json")))
    report: list[_ReportProse] = []
    if "report.html" in files:
        _step(src, "report.html", lambda: report.append(_report(folder, src)))
    name = _manifest_name(folder, src.results, sorted(f for f in files if f.endswith((".yaml", ".yml"))))
    if name:
        _step(src, name, lambda: _read_manifest(folder, name, src))
    modules = _modules(src.manifest)
    unlisted = modules - files if total > len(found) else set()  # named by the manifest: read wherever they lie
    texts = sorted({*(f for f in files if f.endswith((".md", ".py"))), *unlisted}, key=lambda f: (f not in modules, f))
    _texts(folder, texts, src)  # before the report's prose: padding report.html cannot push the files out
    for reader in report:
        _report_prose(reader, src)
    src.documents.sort(key=lambda d: d.name.startswith("report.html"))  # a file's own lines shown before the report's
    if not (src.documents or src.manifest or src.results):
        src.unreadable = "nothing to compare (no prose, Python, manifest or results could be read)"
    return src


def _unlisted(found: list, total: int, src: Sources) -> None:
    """Notes for what the listing left out: names past its limit, folders nested too deep to enter."""
    if total > len(found):
        src.notes.append(f"{total - len(found):,} files past the first {len(found):,} not listed, not compared")
    deep = sum(e.kind == "dir" for e in found)  # entries lists a folder only where it is too deep to enter
    if deep:
        src.notes.append(f"{deep} folder{'s' if deep != 1 else ''} nested too deep to enter, not compared")


def _json_dict(folder: Path, name: str) -> dict | None:
    loaded = load_json(read_bytes(folder, folder / name), name)
    return loaded if isinstance(loaded, dict) else None
