"""The package layout keeps its promises: one rule per stage package, no import cycles, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit  # torch-free: the unit tier (`-m unit`) runs it with torch blocked

PACKAGE = Path(__file__).resolve().parent.parent / "reportgen"
SHARED = {"reportgen", "reportgen.errors", "reportgen.writer", "reportgen.sourcehash", "reportgen.textsafe",
          "reportgen.units", "reportgen.toolpage",
          "reportgen.messages", "reportgen.strictjson", "reportgen.hashing", "reportgen.caching"}


def rule_of(init: Path) -> tuple[set[str], set[str]] | None:
    """A package's import rule, read from its docstring's "May import:" and "Never imports:" lines."""
    doc = ast.get_docstring(ast.parse(init.read_text("utf-8"))) or ""
    lines = {line.split(":", 1)[0]: line.split(":", 1)[1] for line in doc.splitlines() if ":" in line}
    if "May import" not in lines:
        return None
    words = lambda text: {w.strip(" .") for w in text.split(",") if w.strip(" .")}  # noqa: E731
    allowed = {w for w in words(lines["May import"]) if w != "nothing else of reportgen"}
    return allowed, words(lines.get("Never imports", ""))


# what each stage package may import from reportgen (besides itself and SHARED), and third-party modules it must not
RULES = {init.parent.relative_to(PACKAGE).as_posix().replace("/", "."): rule
         for init in sorted(PACKAGE.rglob("__init__.py")) if (rule := rule_of(init)) is not None}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside functions, relative imports resolved."""
    tree = ast.parse(path.read_text("utf-8"))
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # `from reportgen.report.writers import pdf` imports the module reportgen.report.writers.pdf
            for alias in node.names:
                if (PACKAGE.parent / (base.replace(".", "/") + "/" + alias.name + ".py")).is_file() or \
                        (PACKAGE.parent / base.replace(".", "/") / alias.name / "__init__.py").is_file():
                    found.add(f"{base}.{alias.name}")
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}


def stage(module: str) -> str | None:
    """The deepest package with a rule that holds the module (e.g. "grading.check")."""
    parts = module.split(".")[1:]
    for depth in range(len(parts), 0, -1):
        if ".".join(parts[:depth]) in RULES:
            return ".".join(parts[:depth])
    return None


@pytest.mark.parametrize("package", sorted(RULES))
def test_each_stage_package_imports_only_what_its_rule_allows(package):
    allowed, banned = RULES[package]
    broken = []
    for name, path in MODULES.items():
        if stage(name) != package:
            continue
        for target in imports(path):
            top = target.split(".")[0]
            if top == "reportgen":
                if target in SHARED or target in allowed or stage(target) in ({package} | allowed) or \
                        target.removeprefix("reportgen.") in allowed:
                    continue
                if stage(target) is None and target not in MODULES:
                    continue
                broken.append(f"{name} imports {target}")
            elif top in banned:
                broken.append(f"{name} imports {target}")
    assert not broken, "\n".join(broken)


def test_there_are_no_import_cycles():
    """Depth-first search over every import between reportgen's modules, lazy ones included."""
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            # importing a package runs its __init__, which is not a dependency on the importer's siblings
            if state.get(nxt) == 1:
                cycles.append(" → ".join(trail[trail.index(nxt):] + [nxt]) if nxt in trail else f"{node} → {nxt}")
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_the_cycle_check_finds_a_planted_cycle():
    saved = {k: set(v) for k, v in GRAPH.items()}
    try:
        GRAPH["reportgen.results.store"].add("reportgen.results.cache")
        GRAPH["reportgen.results.cache"].add("reportgen.results.store")
        with pytest.raises(AssertionError, match="reportgen.results"):
            test_there_are_no_import_cycles()
    finally:
        GRAPH.clear()
        GRAPH.update(saved)


def test_modules_stay_small_and_say_what_they_hold():
    long = [f"{name}: {len(path.read_text('utf-8').splitlines())} lines" for name, path in MODULES.items()
            if len(path.read_text("utf-8").splitlines()) > 400]
    assert not long, "\n".join(long)
    undocumented = [name for name, path in MODULES.items() if ast.get_docstring(ast.parse(path.read_text("utf-8"))) is None]
    assert not undocumented, undocumented


def test_every_stage_states_its_rule_and_no_docstring_is_a_placeholder():
    expected = {"manifest", "data", "models", "run", "results", "report", "grading.check", "grading.diff",
                "grading.verify", "grading.grade", "project.serve", "project.init"}
    assert expected <= set(RULES), sorted(expected - set(RULES))
    placeholders = [name for name, path in MODULES.items()
                    if (ast.get_docstring(ast.parse(path.read_text("utf-8"))) or "").strip() in {"TBD.", "TODO"}]
    assert not placeholders, placeholders
