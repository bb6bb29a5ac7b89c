"""The documentation: it builds with Sphinx (warnings as errors), its links and anchors resolve, its shell examples
run, and the generated references name every manifest key and section kind."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.md") if "_build" not in path.parts) + [REPO / "README.md"]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
NOT_RUN = re.compile(r"^<!--\s*not-run:\s*(?P<reason>.+?)\s*-->$")
FAST_SUBCOMMANDS = {"init", "validate", "schema", "params", "completion", "--version", "--help"}  # seconds, no training


@dataclass
class ShellBlock:
    """A fenced shell block of a page: its commands, the output it shows under each, and why it is not run if so."""

    page: str
    line: int
    language: str
    text: str
    commands: list[tuple[str, list[str]]] = field(default_factory=list)
    not_run: str | None = None

    @property
    def runnable(self) -> bool:
        """Whether every command is a reportgen command."""
        return bool(self.commands) and all(command.split()[0] == "reportgen" for command, _ in self.commands)

    @property
    def fast(self) -> bool:
        """Whether every command finishes in seconds (nothing trains or renders)."""
        return all(command.split()[1] in FAST_SUBCOMMANDS for command, _ in self.commands)


def fenced_blocks(text: str) -> list[tuple[int, str, list[str], str]]:
    """(line of the opening fence, language, the block's lines, the last non-blank line before it) of every fence."""
    blocks, lines, index = [], text.splitlines(), 0
    while index < len(lines):
        opening = re.match(r"^(`{3,}|~{3,})\s*([\w{}-]*)", lines[index])
        if not opening:
            index += 1
            continue
        fence, language, start = opening.group(1), opening.group(2), index
        before = next((line.strip() for line in reversed(lines[:start]) if line.strip()), "")
        index += 1
        body = []
        while index < len(lines) and not lines[index].startswith(fence):
            body.append(lines[index])
            index += 1
        blocks.append((start + 1, language, body, before))
        index += 1
    return blocks


def shell_commands(language: str, body: list[str]) -> list[tuple[str, list[str]]]:
    """The commands of a shell block with the output shown under each (`console`: `$ ` prompts, then output)."""
    commands: list[tuple[str, list[str]]] = []
    if language == "console":
        for line in body:
            if line.startswith("$ "):
                commands.append((line[2:].strip(), []))
            elif commands and line.strip():
                commands[-1][1].append(line.rstrip())
        return commands
    pending = ""
    for line in body:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pending += line.rstrip().removesuffix("\\")
        if not line.rstrip().endswith("\\"):
            commands.append((pending.strip(), []))
            pending = ""
    return commands


def shell_blocks() -> list[ShellBlock]:
    """Every shell block of README.md and docs/, the first of identical ones only."""
    found, seen = [], set()
    for page in PAGES:
        for line, language, body, before in fenced_blocks(page.read_text("utf-8")):
            if language not in SHELL_LANGUAGES:
                continue
            text = "\n".join(body)
            if (language, text) in seen:
                continue
            seen.add((language, text))
            marked = NOT_RUN.match(before)
            found.append(ShellBlock(str(page.relative_to(REPO)), line, language, text, shell_commands(language, body),
                                    marked.group("reason") if marked else None))
    return found


BLOCKS = shell_blocks()
EXAMPLES = [block for block in BLOCKS if block.not_run is None]


@pytest.mark.unit
def test_every_shell_block_runs_or_says_why_not():
    """A shell block either holds only reportgen commands, which the tests run, or is marked not-run with a reason."""
    unmarked = [f"{block.page}:{block.line}" for block in EXAMPLES if not block.runnable]
    assert not unmarked, f"shell blocks with other commands than reportgen's, not marked `<!-- not-run: why -->`: {unmarked}"
    skipped = [f"{block.page}:{block.line} ({block.not_run})" for block in BLOCKS if block.not_run is not None]
    print(f"\ndocs shell examples: {len(EXAMPLES)} run, {len(skipped)} marked not-run:", *skipped, sep="\n  ")
    assert len(EXAMPLES) >= 5


def scratch_copy(tmp_path: Path) -> Path:
    """A working folder holding a copy of experiments/ without its outputs, where the examples run."""
    shutil.copytree(REPO / "experiments", tmp_path / "experiments",
                    ignore=shutil.ignore_patterns("output", "__pycache__"))
    return tmp_path


def example_environment() -> dict[str, str]:
    """The environment examples run in: this Python's reportgen first on PATH, offline, plain output."""
    env = dict(os.environ, MPLBACKEND="Agg", REPORTGEN_OFFLINE="1", NO_COLOR="1", CI="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def appears_in_order(shown: list[str], output: str) -> list[str]:
    """The shown lines that do not appear, in their order, among the output's lines (compared without edge spaces)."""
    lines, position, missing = [line.strip() for line in output.splitlines()], 0, []
    for expected in (line.strip() for line in shown):
        try:
            position = lines.index(expected, position) + 1
        except ValueError:
            missing.append(expected)
    return missing


@pytest.mark.parametrize("block", [pytest.param(block, id=f"{block.page}:{block.line}",
                                                marks=() if block.fast else pytest.mark.slow)
                                   for block in EXAMPLES if block.runnable])
def test_shell_example_runs(block: ShellBlock, tmp_path):
    """Each command of the example exits 0 in a copy of experiments/, and prints the output the page shows."""
    folder, env = scratch_copy(tmp_path), example_environment()
    for command, shown in block.commands:
        proc = subprocess.run(["bash", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                              timeout=600)
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{block.page}:{block.line}: `{command}` exited {proc.returncode}:\n{output[-3000:]}"
        missing = appears_in_order(shown, output)
        assert not missing, f"{block.page}:{block.line}: `{command}` did not print {missing}; it printed:\n{output}"


def github_slug(title: str) -> str:
    """A heading's anchor as GitHub and MyST (myst_heading_anchors) make it."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower().replace(" ", "-"))


def anchors(page: Path) -> set[str]:
    """The heading anchors of a page, outside code blocks, with -1, -2 for repeated headings."""
    found: set[str] = set()
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", page.read_text("utf-8"), flags=re.M | re.S)
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", text, flags=re.M):
        slug, n = github_slug(match.group(1)), 1
        candidate = slug
        while candidate in found:
            candidate, n = f"{slug}-{n}", n + 1
        found.add(candidate)
    return found


def links(page: Path) -> list[str]:
    """Targets of the Markdown links and images of a page, outside code blocks and code spans."""
    text = re.sub(r"^(`{3,}|~{3,}).*?^\1\s*$", "", page.read_text("utf-8"), flags=re.M | re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"!?\[[^\]]*\]\(([^)\s]+)\)", text)


@pytest.mark.unit
def test_every_link_and_anchor_resolves():
    """Every relative link of README.md and docs/ names an existing file, and every #anchor one of its headings."""
    broken = []
    for page in PAGES:
        for target in links(page):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(REPO)}: {target} (no such file)")
            elif anchor and anchor not in anchors(resolved):
                broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)


@pytest.mark.unit
def test_readme_picture_is_small():
    """The report page on the README's first screen stays under 200 KB."""
    assert (DOCS / "_static" / "report-page.png").stat().st_size <= 200_000


def schema_reference():
    """docs/_ext/schema_reference.py, the Sphinx extension that writes the reference pages."""
    spec = importlib.util.spec_from_file_location("schema_reference", DOCS / "_ext" / "schema_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.unit
def test_manifest_reference_names_every_key_and_section_kind():
    """The generated manifest reference has a row for every top-level key, section kind and layer kind."""
    from reportgen.manifest.sections import SECTION_KINDS

    reference = schema_reference()
    schema = reference.manifest_schema()
    text = reference.manifest_reference()
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    assert set(schema["properties"]) <= rows
    assert set(SECTION_KINDS) <= rows
    assert {"conv", "maxpool", "avgpool", "linear", "dropout", "batchnorm", "residual", "branches"} <= rows
    headings = re.findall(r"^## `([^`]+)`$", text, flags=re.M)
    assert {"report", "dataset", "models.NAME", "train", "experiments[]", "sections[]"} <= set(headings)


@pytest.mark.unit
def test_results_reference_names_every_field_of_a_run():
    """The generated results reference has a row for every top-level field and every field of a run's record."""
    reference = schema_reference()
    schema = reference.results_schema()
    text = reference.results_reference()
    rows = set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.M))
    assert set(schema["properties"]) | set(schema["$defs"]["RunRecord"]["properties"]) <= rows


@pytest.mark.unit
@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    """sphinx-build -W builds the site: MyST pages, generated references, links and heading anchors all resolve."""
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS),
                           str(tmp_path / "html")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    reference = (tmp_path / "html" / "reference" / "manifest.html").read_text("utf-8")
    assert "train.optimizer" in reference and "results_table" in reference
