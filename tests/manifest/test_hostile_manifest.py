"""Hostile input: random and mutated manifests, the YAML safety promises, and escaping of every string a user writes.

Three parts:

1. property-based tests (hypothesis, derandomized so CI sees the same examples every run) that feed random
   YAML-ish text and mutations of the shipped manifests to `reportgen validate`: every input either validates
   (exit 0) or fails with one clear message (exit 2, "error: N problems in the manifest:", every problem at
   `file:line:column`), never a traceback or an "internal error";
2. one test per YAML safety promise of the README (Python tags, duplicate keys, alias bombs, the size limit,
   `1e-3`, all problems located and reported at once, exit code 2), plus regressions for crashes found here;
3. one real build (1 epoch, HTML and PDF) whose every manifest string is hostile: nothing is executed or
   evaluated, and every payload shows up literally in the HTML and in the PDF text.
"""

from __future__ import annotations

import contextlib
import cProfile
import datetime as dt
import json
import os
import pstats
import re
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from reportgen.build import load
from reportgen.errors import ManifestError
from reportgen.manifest import yamlsource
from reportgen.manifest.loaded import load_manifest

from conftest import REPO, cli, deadline

EXPERIMENTS = REPO / "experiments"

# A manifest written for these tests: cheap to validate (digits, tiny custom models), yet it uses most of the
# manifest language (variants, sweeps, per-experiment train and dataset overrides, every cheap section kind), so
# mutations of it reach deep into validation.
BASE_MANIFEST = """\
report:
  title: Hostile-input base manifest
  course: Testing
  team: [{name: A. Student, id: "001"}]
  date: 2024-01-15
  repository: https://example.org/base
dataset: {name: digits, image_size: 8, channels: 1, seed: 3}
models:
  base:
    description: A small CNN.
    layers:
      - conv: {out: 4, kernel: 3, padding: same}
      - batchnorm
      - relu
      - maxpool: {kernel: 2, stride: 2}
      - dropout: 0.1
      - flatten
      - linear: {out: 8, bias: false}
      - relu
      - linear: classes
  wide:
    extends: base
    channels: [6]
    activation: gelu
    dense: [12]
    label: Wide
train:
  optimizer: {name: adam, lr: 1e-3, betas: [0.9, 0.999]}
  schedule: {name: step, step_size: 2, gamma: 0.5}
  early_stopping: {patience: 2}
  epochs: 2
  batch_size: 16
  device: cpu
  measure: {warmup: 1, latency_repeats: 3, throughput_batch: 4, throughput_repeats: 1}
experiments:
  - id: a
    model: base
    title: Adam
  - id: b.sweep
    model: wide
    sweep: {optimizer.lr: [0.01, 0.1], model.dropout: [0.2]}
  - id: c
    model: base
    train: {optimizer: {name: sgd, momentum: 0.9}, label_smoothing: 0.1}
    dataset: {val_fraction: 0.2}
sections:
  - cover
  - contents: {title: Contents}
  - prose: {text: "# Intro\\n\\nSome *text*."}
  - architecture: {models: [base]}
  - parameters
  - training: {experiments: [a]}
  - evaluation
  - comparison: {experiments: [a, b.sweep]}
  - notebook: {items: [{title: Q, question: "Why *this*?", experiments: [c], comment: Because.}]}
  - results_table: {columns: [run, model, accuracy], caption: All runs}
  - tradeoff: {experiments: [a, c], notes: {a: fast}}
  - dataset: {grid: [2, 2], tsne: false}
  - repository
  - provenance
"""

SMALL = ("base.yaml", "digits.yaml", "cnn-lab.yaml")  # cheap to validate: most examples
LARGE = ("en3150.yaml", "fast-response.yaml", "realwaste.yaml")  # torchvision/timm networks: a few examples only


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A copy of experiments/ (manifests and the prose files they name) plus the base manifest."""
    root = tmp_path_factory.mktemp("hostile") / "experiments"
    shutil.copytree(EXPERIMENTS, root)
    (root / "base.yaml").write_text(BASE_MANIFEST, "utf-8")
    return root


# ---------------------------------------------------------------- the "clear failure" contract

_LINE_BREAKS = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")  # what PyYAML counts as a line break


def assert_clear(result, path: Path, content: str | bytes, expect: int | None) -> None:
    """`reportgen validate` said ok (exit 0), or failed with exit 2 and a located problem list; `expect` is the exit
    code the input must give. None only for a mutation of a valid manifest, which the generator cannot tell valid
    or not (deleting an optional key keeps it valid, deleting a required one does not): there either outcome is
    right, and what the output must say is checked in full for the one that came (never a crash, exit 1)."""
    out = result.output
    assert result.exit_code in ((0, 2) if expect is None else (expect,)), f"exit code {result.exit_code}:\n{out}"
    assert "Traceback" not in out and "internal error" not in out, out
    if result.exit_code == 0:
        assert f"{path}: ok" in out, out
        return
    assert out.startswith("error: "), out
    head = re.fullmatch(r"error: (\d+) problems? in the manifest:", out.splitlines()[0])
    assert head, f"a manifest problem without the problem list:\n{out}"
    located = re.findall(rf"^  {re.escape(str(path))}:(\d+):(\d+): .", out, flags=re.M)
    assert len(located) == int(head.group(1)) >= 1, f"every problem needs file:line:column:\n{out}"
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    last_line = len(_LINE_BREAKS.findall(text)) + 1
    for line, col in located:
        assert 1 <= int(line) <= last_line and int(col) >= 1, f"position {line}:{col} outside the file:\n{out}"


def validate_text(folder: Path, content: str | bytes, name: str = "fuzzed.yaml", expect: int | None = 2):
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, "utf-8")
    result = cli("validate", path)
    assert_clear(result, path, content, expect)
    return result


def fuzz_settings(examples: int):
    # derandomize: CI sees the same examples every run; no example database (nothing written into the checkout);
    # no shrinking phase, so a failure costs at most `examples` validations (the failing input is printed as is).
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])


# ---------------------------------------------------------------- strategies: random YAML-ish text

NASTY_SCALARS = [
    "~", "null", "true", "yes", "on", "NO", "1e-3", "1E3", ".inf", "-.inf", ".nan", "0x1F", "0o17", "1_000", "1:30",
    "-0", "2024-01-15", "2020-13-45", "2024-02-30 10:00:00", "9" * 5000, "-" + "9" * 4400, "1e99999", "0." + "0" * 400 + "1",
    "'single ''quoted'''", '"\\ud800"', '"\\udfff tail"', '"\\x00\\t\\u202e\\x1b[31m"', '"\\N\\_\\L\\P"', "'\u202eRTL'",
    "!!python/object/apply:os.system ['echo PWNED']", "!!python/object/new:os.system [x]",
    "!!python/name:os.system", "!!python/tuple [1, 2]", "!!python/module:os", "!!binary aGVsbG8=", "!!binary '###'",
    "!!int abc", "!!int 99999999999999999999", "!!float x", "!!bool maybe", "!!timestamp nope", "!!null x",
    "!!str 3", "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a: 1]", "!!map [1]", "!!seq {a: 1}", "!foo bar",
    "!<tag:yaml.org,2002:python/object:os.system> {}", "!!merge x", "*undefined", "&anchor value", "*anchor",
    "&anchor [*anchor]", "&m {a: *m}", "{<<: 3}", "{<<: [1]}", "|\n  block\n", ">-\n  folded\n", "? complex",
    "-", ":", "{", "[", "}", "]", "#", "@", "`", "%", "\t", "\ufeff", "\u202e", "\U0001F600", "'", '"', "\\",
    "---", "...", "- - -", "[[[[[[[[[[]]]]]]]]]]", "{a: {b: {c: {d: {}}}}}", "classes", "same", "valid", "relu",
    "imagenet", "backbone", "cover", "notebook", "digits", "cifar10", "imagefolder", "<script>alert(1)</script>",
    "{{ 7*7 }}", "x" * 2000,
]
MANIFEST_KEYS = [
    "report", "dataset", "models", "train", "experiments", "sections", "title", "team", "name", "id", "date",
    "repository", "template", "layers", "conv", "out", "kernel", "stride", "padding", "bias", "maxpool", "linear",
    "dropout", "flatten", "batchnorm", "extends", "channels", "blocks", "torchvision", "timm", "weights", "from",
    "head", "freeze", "train_last", "input_size", "optimizer", "lr", "epochs", "batch_size", "schedule", "sweep",
    "model", "experiments", "items", "question", "caption", "notes", "columns", "image_size", "classes", "split",
    "root", "<<", "? x", "-", "", "1", "true", "null", "~", "a b", "k: v", "#", "&a k", "*a", "!!python/name:os k",
]

_plain = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=16)
_scalar_text = st.one_of(
    st.sampled_from(NASTY_SCALARS),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    _plain.map(json.dumps),  # double-quoted, with \\uXXXX escapes for control characters
    _plain,  # raw: control characters, tabs, colons, quotes as they come
)
_key_text = st.one_of(st.sampled_from(MANIFEST_KEYS), _plain.filter(lambda s: "\n" not in s))

_tree = st.recursive(
    _scalar_text.map(lambda s: ("s", s)),
    lambda kids: st.one_of(
        st.tuples(st.just("m"), st.lists(st.tuples(_key_text, kids), max_size=5), st.booleans(),
                  st.sampled_from(["", "", "&a ", "&b ", "!!map ", "!!python/object:os.system "])),
        st.tuples(st.just("l"), st.lists(kids, max_size=5), st.booleans(),
                  st.sampled_from(["", "", "&a ", "&b ", "!!seq ", "!!python/tuple "]))),
    max_leaves=30)


# for splicing into a manifest: quoted text instead of raw control characters, so more inputs get past the parser
_tame_tree = st.recursive(
    st.one_of(st.sampled_from(NASTY_SCALARS), st.integers().map(str), _plain.map(json.dumps)).map(lambda s: ("s", s)),
    lambda kids: st.one_of(
        st.tuples(st.just("m"), st.lists(st.tuples(st.sampled_from(MANIFEST_KEYS[:-8]), kids), max_size=4),
                  st.booleans(), st.sampled_from(["", "&a "])),
        st.tuples(st.just("l"), st.lists(kids, max_size=4), st.booleans(), st.sampled_from(["", "&a "]))),
    max_leaves=8)


def _render(node, indent: int = 0, flow: bool = False) -> str:
    """YAML-ish text of a drawn tree: block or flow style, anchors and tags in front of collections."""
    if node[0] == "s":
        return node[1]
    kind, items, flow_style, prefix = node
    pad = " " * indent
    if flow or flow_style:
        if kind == "m":
            return prefix + "{" + ", ".join(f"{k}: {_render(v, flow=True)}" for k, v in items) + "}"
        return prefix + "[" + ", ".join(_render(v, flow=True) for v in items) + "]"
    if not items:
        return prefix + ("{}" if kind == "m" else "[]")
    lines = []
    for item in items:
        key, value = item if kind == "m" else ("-", item)
        head = f"{pad}{key}:" if kind == "m" else f"{pad}-"
        if value[0] == "s" or value[2]:
            lines.append(f"{head} {_render(value, indent + 2)}")
        else:
            lines.append(f"{head} {value[3]}".rstrip() + "\n" + _render(value, indent + 2))
    return prefix.strip() + ("\n" if prefix.strip() else "") + "\n".join(lines)


_deep = st.builds(lambda n, opener, closer: opener * n + closer * n,
                  st.integers(min_value=1, max_value=3000),
                  st.sampled_from(["[", "{a: ", "- ", "[{x: "]), st.sampled_from(["]", "}", "", "}]"]))
_deep_block = st.integers(min_value=1, max_value=400).map(
    lambda n: "".join(" " * i + "k:\n" for i in range(n)) + " " * n + "v\n")

random_yaml = st.one_of(
    _tree.map(_render),
    _tree.map(lambda t: _render(t) + "\n" + _render(t)),  # repeated keys at the top level
    st.text(max_size=400),  # arbitrary unicode, control characters, tabs
    st.binary(max_size=300),  # binary junk (mostly not UTF-8)
    _deep, _deep_block,
)


@pytest.mark.slow
@fuzz_settings(200)
@given(content=random_yaml)
def test_random_yaml_text_fails_clearly(workspace, content):
    validate_text(workspace, content)  # text drawn at random is never a whole manifest: exit 2, located problems


@st.composite
def spliced(draw):
    """The base manifest with one value (or one line) replaced by random YAML-ish text, at that line's indent."""
    lines = BASE_MANIFEST.splitlines()
    i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
    line = lines[i]
    indent = len(line) - len(line.lstrip())
    fragment = _render(draw(_tame_tree), indent + 2, flow=draw(st.booleans()))  # flow style fits on the line
    if line.lstrip().startswith("- "):
        lines[i] = line[:indent] + "- " + fragment.lstrip()
    elif ":" in line:
        lines[i] = line.split(":", 1)[0] + ": " + fragment
    else:
        lines[i] = " " * indent + fragment.lstrip()
    return "\n".join(lines) + "\n"


@pytest.mark.slow
@fuzz_settings(80)
@given(content=spliced())
def test_random_yaml_spliced_into_a_manifest_fails_clearly(workspace, content):
    validate_text(workspace, content, expect=None)  # a spliced value may still be a valid one (`title: 3`)


# ---------------------------------------------------------------- strategies: mutated manifests

# Random replacement values. Integers stay small or overflow outright: values between about 1e5 and 2**63 once made
# the layer shape check allocate that many floats for real (gigabytes); sizes are now bounded at 65,536
# (MAX_SIZE, reportgen/manifest/layers.py; see test_huge_layer_sizes_fail_clearly), so such draws would only repeat
# that one refusal.
VALUES = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-3, max_value=300),
    st.sampled_from([0, -1, 2**63, 2**70, 10**30, -(10**30)]),
    st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not (f.is_integer() and 1e5 <= abs(f) < 2**63)),
    st.sampled_from([1e-3, 0.5, 1.0, 1e300, -0.0]),
    _plain,
    st.sampled_from(["", "classes", "same", "valid", "relu", "gelu", "imagenet", "none", "backbone", "linear",
                     "cover", "notebook", "digits", "cifar10", "cifar100", "imagefolder", "adam", "sgd", "step",
                     "cosine", "one_cycle", "split", "test", "auto", "cpu", "cuda", "mps", "fine", "coarse",
                     "resnet18", "mobilenet_v2", "../../etc/passwd", "/etc/passwd", "javascript:alert(1)",
                     "<script>alert(1)</script>", "{{ 7*7 }}", "x" * 300]),
    st.dates(min_value=dt.date(1, 1, 1)),
    st.lists(st.integers(min_value=-2, max_value=64), max_size=4),
    st.lists(st.sampled_from(["a", "b.sweep", "c", "base", "wide", "cover", "relu", "adam_lr_0.001"]), max_size=3),
    st.dictionaries(st.sampled_from(["out", "kernel", "from", "dense", "train_last", "modules", "name", "lr",
                                     "title", "id", "model", "x"]),
                    st.one_of(st.integers(min_value=-1, max_value=64), _plain), max_size=2),
)


def _slots(node, out: list) -> list:
    """Every (container, key or index) in a parsed manifest, depth first."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in list(items):
        out.append((node, k))
        _slots(v, out)
    return out


def _containers(node, out: list) -> list:
    if isinstance(node, (dict, list)):
        out.append(node)
        for v in (node.values() if isinstance(node, dict) else node):
            _containers(v, out)
    return out


@st.composite
def mutate_data(draw, data):
    """Delete, duplicate, swap, retype or add values anywhere in a parsed manifest (1 to 3 mutations)."""
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        slots = _slots(data, [])
        op = draw(st.sampled_from(["delete", "replace", "replace", "insert", "duplicate", "swap"]))
        if op == "insert":
            containers = _containers(data, [])
            target = containers[draw(st.integers(min_value=0, max_value=len(containers) - 1))]
            value = draw(VALUES)
            if isinstance(target, dict):
                target[draw(st.one_of(st.sampled_from(MANIFEST_KEYS), _plain))] = value
            else:
                target.insert(draw(st.integers(min_value=0, max_value=len(target))), value)
            continue
        if not slots:
            break
        parent, key = slots[draw(st.integers(min_value=0, max_value=len(slots) - 1))]
        if op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(VALUES)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key], default=str)))
        elif op == "swap":
            other_parent, other = slots[draw(st.integers(min_value=0, max_value=len(slots) - 1))]
            if other_parent is not parent or other != key:
                a, b = parent[key], other_parent[other]
                if not _contains(a, b) and not _contains(b, a):
                    parent[key], other_parent[other] = b, a
    return data


def _contains(outer, inner) -> bool:
    return outer is inner or (isinstance(outer, (dict, list)) and
                              any(_contains(v, inner) for v in (outer.values() if isinstance(outer, dict) else outer)))


def _source(name: str) -> str:
    return BASE_MANIFEST if name == "base.yaml" else (EXPERIMENTS / name).read_text("utf-8")


@st.composite
def mutated_data_text(draw, names):
    name = draw(st.sampled_from(names))
    data = draw(mutate_data(yaml.safe_load(_source(name))))
    return name, yaml.safe_dump(data, sort_keys=False, allow_unicode=draw(st.booleans()), width=10_000)


@st.composite
def mutated_raw_text(draw, names):
    """Line-level edits of the manifest text: delete, duplicate, swap, re-indent, replace a scalar, insert, cut."""
    name = draw(st.sampled_from(names))
    lines = _source(name).splitlines()
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "indent", "scalar", "insert", "cut", "chars"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "indent":
            delta = draw(st.sampled_from([-4, -2, -1, 1, 2, 4, "\t"]))
            lines[i] = ("\t" + lines[i]) if delta == "\t" else \
                (" " * delta + lines[i]) if delta > 0 else lines[i][min(-delta, len(lines[i]) - len(lines[i].lstrip())):]
        elif op == "scalar" and ":" in lines[i]:
            lines[i] = lines[i].split(":", 1)[0] + ": " + draw(_scalar_text).replace("\n", " ")
        elif op == "insert":
            key, value = draw(_key_text), draw(_scalar_text).replace("\n", " ")
            lines.insert(i, " " * draw(st.integers(min_value=0, max_value=8)) + f"{key}: {value}")
        elif op == "cut":
            lines = lines[:max(i, 1)]
        elif op == "chars":
            pos = draw(st.integers(min_value=0, max_value=len(lines[i])))
            lines[i] = lines[i][:pos] + draw(st.text(max_size=4)) + lines[i][pos:]
    return name, "\n".join(lines) + "\n"


@pytest.mark.slow
@fuzz_settings(40)
@given(case=mutated_data_text(SMALL))
def test_mutated_manifest_data_fails_clearly(workspace, case):
    name, text = case
    validate_text(workspace, text, "mutated-" + name, expect=None)  # beside the shipped one: its prose files resolve


@pytest.mark.unit
@fuzz_settings(40)
@given(case=mutated_raw_text(SMALL))
def test_mutated_manifest_text_fails_clearly(workspace, case):
    name, text = case
    validate_text(workspace, text, "mutated-" + name, expect=None)


@pytest.mark.unit
@fuzz_settings(4)
@given(case=st.one_of(mutated_data_text(LARGE), mutated_raw_text(LARGE)))
def test_mutated_large_manifests_fail_clearly(workspace, case):
    name, text = case
    validate_text(workspace, text, "mutated-" + name, expect=None)


# ---------------------------------------------------------------- the YAML safety promises

def _at(text: str, needle: str) -> tuple[int, int]:
    """1-based (line, column) of needle's first occurrence in text."""
    idx = text.index(needle)
    return text.count("\n", 0, idx) + 1, idx - (text.rfind("\n", 0, idx) + 1) + 1


def _replace(old: str, new: str, text: str = BASE_MANIFEST) -> str:
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def _fails(tmp_path: Path, text: str, *fragments: str, name: str = "m.yaml") -> tuple[Path, list[str], str]:
    """Validate through the CLI; it must fail clearly (exit 2) and say every fragment. Returns the problem lines."""
    path = tmp_path / name
    path.write_text(text, "utf-8")
    result = cli("validate", path)
    assert_clear(result, path, text, expect=2)
    for fragment in fragments:
        assert fragment in result.output, (fragment, result.output)
    return path, [ln.strip() for ln in result.output.splitlines()[1:] if ln.startswith(f"  {path}:")], result.output


@pytest.mark.unit
def test_base_manifest_is_valid(workspace):
    result = cli("validate", workspace / "base.yaml")
    assert result.exit_code == 0, result.output


@pytest.mark.unit
@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system [\"touch MARK\"]",
    "!!python/object/new:os.system [touch MARK]",
    "!!python/name:os.system",
    "!<tag:yaml.org,2002:python/object/apply:os.system> [touch MARK]",
])
def test_python_tags_are_refused(tmp_path, tag):
    mark = tmp_path / "pwned"
    text = _replace("  epochs: 2\n", f"  epochs: {tag.replace('MARK', str(mark))}\n")
    path, problems, _ = _fails(tmp_path, text, "invalid YAML", "python/")
    line, col = _at(text, tag.split(" ")[0][:5])
    assert problems == [p for p in problems if p.startswith(f"{path}:{line}:{col}: ")] and len(problems) == 1
    assert not mark.exists()


@pytest.mark.unit
def test_duplicate_keys_are_errors_naming_both_lines(tmp_path):
    text = _replace("  epochs: 2\n", "  epochs: 2\n  seed: 1\n  epochs: 5\n")
    text = _replace("  title: Adam\n", "  title: Adam\n    title: Again\n", text)
    path, problems, message = _fails(tmp_path, text, "duplicate key")
    assert len(problems) == 2, message
    for first, again, key in (("epochs: 2", "epochs: 5", "train.epochs"), ("title: Adam", "title: Again",
                                                                           "experiments[0].title")):
        (l1, _), (l2, c2) = _at(text, first), _at(text, again)
        assert any(p.startswith(f"{path}:{l2}:{c2}: {key}: ") and f"line {l1}" in p for p in problems), message


def _billion_laughs(levels: int = 10, width: int = 10) -> str:
    lines = ['lol0: &lol0 ["lol"]']
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"  # 90 aliases (under the alias-count limit), 10**9 values once expanded


def _defused(text: str) -> str:
    """The same text with every alias written out as one plain value: the same size to read, nothing to expand."""
    return re.sub(r"\*lol\d*", "lol", text)


def _calls(fn, *args) -> tuple[int, Exception | None]:
    """How many calls (Python functions and built-ins) fn(*args) makes, and the ManifestError it raised: a count of
    the work done, which does not depend on the machine's speed or load. Counted on a second run: the first
    imports and caches what it needs."""
    with contextlib.suppress(ManifestError):
        fn(*args)
    profile, error = cProfile.Profile(), None
    with profile:
        try:
            fn(*args)
        except ManifestError as exc:
            error = exc
    return pstats.Stats(profile).total_calls, error


def test_alias_bomb_is_rejected_without_being_expanded(tmp_path, monkeypatch):
    """Refusing the bomb costs no more than reading the same text with its 90 aliases written out as plain values
    (the work counted in calls; benchmarks/hostile_input.py prints the counts and the times side by side)."""
    text = _replace("dataset: {name", _billion_laughs() + "dataset: {name")
    path, plain = tmp_path / "bomb.yaml", tmp_path / "defused.yaml"
    path.write_text(text, "utf-8")
    plain.write_text(_defused(text), "utf-8")
    with deadline(60):  # a bomb expanded for real would run for hours: fail instead
        work, error = _calls(load, path)
    defused_work, defused_error = _calls(load, plain)
    assert error is not None and [(p.line, p.column) for p in error.problems] == [(1, 1)]
    assert error.problems[0].message == "YAML aliases expand to more than 100,000 values; refusing to expand"
    assert defused_error is not None and all("unknown key 'lol" in p.message for p in defused_error.problems)
    assert work <= 2 * defused_work, f"refusing the bomb took {work:,} calls, reading it defused {defused_work:,}"
    _fails(tmp_path, text, "YAML aliases expand to more than 100,000 values")
    # the count sees an expansion: without the count of values before building, the same bomb is built value by
    # value until the 100,000-value limit stops it (the same message); the check above fails on that (~12 times)
    monkeypatch.setattr(yamlsource, "_expanded_size", lambda *_: 0)
    with deadline(60):
        expanded, error = _calls(load, path)
    assert error is not None and "more than 100,000 values" in error.problems[0].message
    assert expanded > 2 * defused_work, f"expanded: {expanded:,} calls; defused: {defused_work:,}"


@pytest.mark.unit
def test_manifest_above_the_size_limit_is_refused(tmp_path):
    text = BASE_MANIFEST + ("# " + "x" * 78 + "\n") * (1_000_000 // 80 + 1)
    assert len(text.encode("utf-8")) > 1_000_000
    path, problems, _ = _fails(tmp_path, text, "larger than 1,000,000 bytes")
    assert problems and problems[0].startswith(f"{path}:1:1: ")


@pytest.mark.unit
@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_manifest_is_refused_without_reading_it_all(tmp_path):
    """`reportgen validate /dev/zero` used to read forever (the whole file was read before the size check), and a
    FIFO nobody writes to used to wait forever: a manifest is a regular file."""
    result = cli("validate", "/dev/zero")
    assert result.exit_code == 2 and "/dev/zero:1:1: manifest is not a regular file" in result.output
    fifo = tmp_path / "m.yaml"
    os.mkfifo(fifo)
    result = cli("validate", fifo)
    assert result.exit_code == 2 and f"{fifo}:1:1: manifest is not a regular file" in result.output


def test_exponent_notation_is_a_number(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(_replace("lr: 1e-3,", "lr: 1e-3, weight_decay: 5E-4,"), "utf-8")
    loaded = load(path)
    opt = loaded.manifest.train.optimizer
    assert (opt.lr, opt.weight_decay) == (0.001, 0.0005) and isinstance(opt.lr, float)


@pytest.mark.unit
def test_five_independent_mistakes_give_five_located_problems(tmp_path):
    text = BASE_MANIFEST
    for old, new in [("  course: Testing\n", "  course: Testing\n  colour: blue\n"),       # unknown key
                     ("seed: 3}", "seed: many}"),                                           # wrong type
                     ("  epochs: 2\n", "  epochs: 0\n"),                                    # out of range
                     ("      - dropout: 0.1\n", "      - dropout: 1.5\n"),                  # p >= 1
                     ("  - id: c\n    model: base\n", "  - id: c\n    model: base\n    flavour: x\n")]:  # unknown key
        text = _replace(old, new, text)
    path, problems, message = _fails(tmp_path, text)
    assert message.startswith("error: 5 problems in the manifest:"), message
    expected = [(_at(text, "colour"), "report.colour"), (_at(text, "seed: many"), "dataset.seed"),
                (_at(text, "epochs: 0"), "train.epochs"), (_at(text, "dropout: 1.5"), "models.base.layers[4]"),
                (_at(text, "flavour"), "experiments[2].flavour")]
    for (line, col), key in expected:
        assert any(p.startswith(f"{path}:{line}:{col}: {key}") for p in problems), (line, col, key, message)


@pytest.mark.parametrize("snippet, fragment", [
    ("[" * 2000 + "]" * 2000, "nested more than"),          # deep nesting (was a RecursionError)
    ("&loop [1, *loop]", "recursive alias"),              # an alias inside its own anchor (was a RecursionError)
    ("2020-13-45", "month must be in 1..12"),              # looks like a date, is none (was a ValueError)
    ("!!int abc", "cannot read 'abc' as int"),
    ("!!timestamp never", "cannot read 'never' as timestamp"),
    ("9" * 5000, "more than 4,300 digits"),                 # int() digit limit (was a ValueError)
    ('"\\ud800"', "lone surrogate"),                        # not a character: cannot be written to HTML/PDF
], ids=["deep", "recursive-alias", "bad-date", "int-tag", "timestamp-tag", "5000-digits", "surrogate"])
@pytest.mark.unit
def test_values_yaml_cannot_construct_are_located_problems(tmp_path, snippet, fragment):
    text = _replace("  title: Hostile-input base manifest\n", f"  title: {snippet}\n")
    path, problems, message = _fails(tmp_path, text, fragment)
    line, _ = _at(text, f"title: {snippet[:20]}")
    assert any(p.startswith(f"{path}:{line}:") for p in problems), message


# ---------------------------------------------------------------- crashes outside the YAML layer (regressions)

@pytest.mark.unit
@pytest.mark.parametrize("value", ["2020-13-45", "!!int abc", "9" * 5000], ids=["date", "int-tag", "5000-digits"])
def test_set_override_with_an_unreadable_value_is_taken_as_text(workspace, value):
    """Regression (was "internal error", exit 1): `yaml.safe_load(raw)` raises ValueError/AttributeError for these.
    reportgen/manifest/overrides.py (apply_overrides) now takes a VALUE that YAML cannot read as the text written:
    a text field accepts it as is, a number field refuses it as a located problem naming the `--set`."""
    path = workspace / "base.yaml"
    result = cli("validate", path, "--set", f"report.title={value}")
    assert result.exit_code == 0 and result.output.startswith(f"{path}: ok ("), result.output
    assert load_manifest(path, [f"report.title={value}"]).manifest.report.title == value
    result = cli("validate", path, "--set", f"train.epochs={value}")
    line, col = _at(BASE_MANIFEST, "epochs: 2")
    assert result.exit_code == 2 and result.output.startswith("error: 1 problem in the manifest:\n"), result.output
    assert result.output.splitlines()[1].startswith(f"  {path}:{line}:{col}: train.epochs: "), result.output
    assert "as an integer" in result.output and f"(set by --set train.epochs={value})" in result.output


@pytest.mark.unit
@pytest.mark.parametrize("old, new, key, limit", [
    ("conv: {out: 4,", "conv: {out: 100000000000000000000000000000,", "models.base.layers[0].conv.out",
     "less than or equal to 65536"),
    ("kernel: 3, padding", "kernel: 100000000000000000000000000000, padding", "models.base.layers[0].conv.kernel",
     "sizes must be at most 65,536"),
    ("maxpool: {kernel: 2, stride: 2}", "maxpool: 100000000000000000000000000000",
     "models.base.layers[3].maxpool.kernel", "sizes must be at most 65,536"),
], ids=["conv-out", "conv-kernel", "maxpool"])
def test_huge_layer_sizes_fail_clearly(tmp_path, old, new, key, limit):
    """Regression (was "internal error", exit 1): torch raises TypeError ("Overflow when unpacking long long") for
    sizes above 2**63, and sizes between ~1e5 and 2**63 made validate allocate gigabytes. Sizes are now bounded at
    65,536 (MAX_SIZE in reportgen/manifest/layers.py), and reportgen/models/build.py turns TypeError and
    OverflowError from torch into a located problem too."""
    _, problems, message = _fails(tmp_path, _replace(old, new), key, limit)
    assert len(problems) == 1, message


@pytest.mark.unit
@pytest.mark.parametrize("name", ['"cnn\\n\\\\input{/etc/passwd}\\n%"', "'=HYPERLINK(1)'", "'[1em]x'", "'a b'"])
def test_a_model_name_that_would_break_out_of_an_export_is_a_located_problem(tmp_path, name):
    """Model names reach numbers.tex comments, LaTeX tables, CSV cells and file names: the characters of run ids only."""
    text = _replace("models:\n  base:\n", f"models:\n  {name}:\n").replace("model: base", f"model: {name}")
    path, problems, message = _fails(tmp_path, text, "use letters, digits and `_ . = -`")
    line, col = _at(text, name)
    assert problems[0].startswith(f"{path}:{line}:{col}: models"), message
    assert not any(ln.startswith(("\\input", "%")) for ln in message.splitlines()), message  # one line, quoted


@pytest.mark.parametrize("command", [pytest.param("validate", marks=pytest.mark.unit), "params"])  # params: torch
def test_a_layer_too_large_to_allocate_is_refused_before_it_is(tmp_path, command):
    """Regression: a conv of 65,536 filters of 65×65 (1.1 GB of weights; a typo away from far more) passed validate
    and made `params`, build and verify allocate it; shapes.weights now refuses a conv or linear layer above 2**28
    parameters, by arithmetic, first."""
    text = _replace("      - conv: {out: 4, kernel: 3, padding: same}\n", "      - conv: {out: 65536, kernel: 65, padding: same}\n")
    path = tmp_path / "m.yaml"
    path.write_text(text, "utf-8")
    result = cli(command, path)
    line, col = _at(text, "conv: {out: 65536")
    assert result.exit_code == 2, result.output
    assert f"{path}:{line}:{col}: models.base.layers[0]: conv cannot take an input of shape [1, 8, 8]: it would have " \
           "276,955,136 parameters; the limit is 268,435,456 per layer" in result.output, result.output


def _with_network(model: str) -> str:
    """The base manifest plus one torchvision model (given as a flow mapping) and an experiment using it."""
    text = _replace("models:\n", f"models:\n  net: {model}\n")
    return _replace("    dataset: {val_fraction: 0.2}\n", "    dataset: {val_fraction: 0.2}\n  - id: n\n    model: net\n", text)


@pytest.mark.parametrize("text, key, limit", [
    (_replace("      - batchnorm\n      - relu\n", "      - batchnorm\n      - relu: {name: a.b}\n"),
     "models.base.layers[2].relu.name", "should match pattern"),
    (_replace("sweep: {optimizer.lr: [0.01, 0.1], model.dropout: [0.2]}",
              "sweep: {model.channels: [[100000000000000000000000000000]]}"), "experiments[1].sweep.model.channels",
     "less than or equal to 65536"),
    (_with_network("{torchvision: mobilenet_v2, weights: none, width_mult: .inf}"), "models.net.width_mult",
     "finite number"),
    (_with_network("{torchvision: resnet18, weights: none, head: {dense: [100000000000000000000000000000]}}"),
     "models.net.head.dense[0]", "less than or equal to 65536"),
], ids=["layer-name-with-dot", "swept-huge-channels", "width-mult-inf", "head-dense-huge"])
@pytest.mark.unit
def test_model_options_that_torch_refuses_fail_clearly(tmp_path, text, key, limit):
    """Regressions outside the YAML layer, each once an "internal error" (exit 1) from `reportgen validate`, now a
    located problem from the manifest's schema before torch sees the value:

    - layer `name: a.b` -> KeyError from torch ("module name can't contain '.'"); now the LayerName pattern of
      reportgen/manifest/layers.py;
    - `sweep: {model.channels: [[1e29]]}` -> the TypeError of test_huge_layer_sizes_fail_clearly (sweeps build
      models too); now the 65,536 bound of ModelSpec.channels (reportgen/manifest/schema.py), checked per swept run
      by reportgen/manifest/sweeps.py;
    - `width_mult: .inf` -> OverflowError in torchvision's mobilenet_v2; now ModelSpec.width_mult (gt=0, le=8,
      finite) in reportgen/manifest/schema.py;
    - `head: {dense: [1e29]}` -> TypeError from torch in reportgen/models/pretrained.py; now the bound of
      HeadSpec.dense in reportgen/manifest/schema.py (and reportgen/models/build.py catches TypeError and
      OverflowError from torch).
    """
    _, problems, message = _fails(tmp_path, text)
    assert any(p.split(": ", 2)[1] == key and limit in p for p in problems), (key, limit, message)


@pytest.mark.parametrize("override, where, limit", [
    ("train.seed=1180591620717411303424", None, "less than or equal to 4294967295"),
    ("dataset.seed=1180591620717411303424", "seed: 3", "less than or equal to 4294967295"),
    ("dataset.seed=-1", "seed: 3", "greater than or equal to 0"),
], ids=["train-seed-huge", "data-seed-huge", "data-seed-negative"])
def test_seeds_out_of_range_fail_clearly(tmp_path, override, where, limit):
    """Regression (was "internal error", exit 1, from `run`/`build` after `validate` had accepted the seed: torch's
    manual_seed overflows, scikit-learn's train_test_split wants 0 <= random_state < 2**32): TrainSpec.seed and
    DatasetSpec.seed are now Field(ge=0, le=2**32 - 1) in reportgen/manifest/schema.py, so `run` stops before
    training with the problem at the seed (or at the `--set` that added it, train has no seed in the file)."""
    path = tmp_path / "m.yaml"
    path.write_text(BASE_MANIFEST, "utf-8")
    result = cli("run", path, "--smoke", "--out", tmp_path / "out", "--set", override,
                 "--set", "experiments=[{id: a, model: base}]", "--set", "sections=[cover]")
    assert result.exit_code == 2 and result.output.startswith("error: 1 problem in the manifest:\n"), result.output
    problem = result.output.splitlines()[1]
    if where is None:
        assert problem.startswith(f"  --set {override}: ") and limit in problem, result.output
    else:
        line, col = _at(BASE_MANIFEST, where)
        assert problem.startswith(f"  {path}:{line}:{col}: dataset.seed: ") and limit in problem, result.output
        assert problem.endswith(f"(set by --set {override})"), result.output
    assert not (tmp_path / "out" / "results.json").exists()  # stopped before training anything


@pytest.mark.unit
def test_swept_value_errors_are_plain_sentences(tmp_path):
    """Clarity (reportgen/manifest/sweeps.py): a bad swept model value once printed pydantic's raw multi-line
    ValidationError ("1 validation error for ModelSpec ... For further information visit
    https://errors.pydantic.dev/...") inside the problem line, instead of one sentence like every other problem."""
    text = _replace("sweep: {optimizer.lr: [0.01, 0.1], model.dropout: [0.2]}", "sweep: {model.kernel: [0]}")
    _, problems, message = _fails(tmp_path, text, "experiments[1].sweep")
    assert "validation error for" not in message and "errors.pydantic.dev" not in message, message
    assert len(message.strip().splitlines()) == 1 + len(problems), message


# ---------------------------------------------------------------- escaping: one hostile build, HTML and PDF

PAYLOAD = ('<script>alert(1)</script> "><img src=x onerror=alert(1)> J{{ 7*7 }}J R{% raw %}R </title><style> '
           '&amp; $\\frac{1}{$ \u202eRTL')
# Markdown fields: `$...$` is math there (typeset, or a located error when it cannot be), not literal text
MD_PAYLOAD = PAYLOAD.replace(" $\\frac{1}{$", "")
# experiment ids must match ^[A-Za-z0-9][A-Za-z0-9_.=-]*$: the hostile-but-allowed characters are . = - _
EXP_A, EXP_B = "a=1.0_-x", "b.2=-_"
MODEL = "m=1.0_-x"  # model names follow the run-id rule too: the hostile-but-allowed characters (labels are free text)
LONG = "long " + "word " * 400 + "L" * 300 + " end"


def _v(tag: str) -> str:
    return f"{tag}: {PAYLOAD}"


# EXP2's title is printed nowhere in this report (its run is in no training/evaluation/notebook section), so it is
# checked in results.json and the embedded JSON only.
HOSTILE_FIELDS = ["TITLE", "SUBTITLE", "COURSE", "ASSIGN", "INST", "DEPT", "DATE", "NAME1", "ID1", "NAME2", "DESC",
                  "EXP1", "SEC-CONTENTS", "SEC-PROSE", "SEC-ARCH", "SEC-PARAMS", "SEC-TRAIN", "SEC-EVAL",
                  "SEC-COMP", "SEC-NB", "NB-ITEM", "SEC-RT", "RT-CAP", "SEC-TO", "TO-CAP", "NOTE1", "NOTE2",
                  "SEC-REPO", "SEC-PROV", "SEC-DATA"]
MARKDOWN_FIELDS = ["MD-PROSE", "MD-Q", "MD-C"]  # Markdown: `&amp;` is an entity there and shows as `&`


def _hostile_manifest() -> str:
    m = {
        "report": {"title": _v("TITLE"), "subtitle": _v("SUBTITLE"), "course": _v("COURSE"),
                   "assignment": _v("ASSIGN"), "institution": _v("INST"), "department": _v("DEPT"),
                   "date": _v("DATE"), "repository": 'https://example.org/"><script>alert(1)</script>',
                   "team": [{"name": _v("NAME1"), "id": _v("ID1")}, {"name": _v("NAME2")}]},
        "dataset": {"name": "digits", "image_size": 8, "channels": 1, "seed": 7, "test_fraction": 0.5},
        "models": {
            MODEL: {"description": _v("DESC") + " " + LONG, "layers": [
                {"conv": {"out": 4, "kernel": 3, "padding": "same"}}, "relu", {"maxpool": 2}, "flatten",
                {"linear": "classes"}]},
            "labelled": {"extends": MODEL, "label": "LABEL <script>x</script>{{ 7*7 }}&amp;\u202e", "channels": [2]},
        },
        "train": {"epochs": 1, "batch_size": 64, "device": "cpu",
                  "measure": {"warmup": 1, "latency_repeats": 3, "throughput_batch": 4, "throughput_repeats": 1}},
        "experiments": [
            {"id": EXP_A, "model": MODEL, "title": _v("EXP1"), "description": _v("EXPDESC")},
            {"id": EXP_B, "model": "labelled", "title": _v("EXP2")},
        ],
        "sections": [
            "cover", {"contents": {"title": _v("SEC-CONTENTS")}},
            {"prose": {"title": _v("SEC-PROSE"), "text": "MD-PROSE: " + MD_PAYLOAD}},
            {"architecture": {"title": _v("SEC-ARCH")}}, {"parameters": {"title": _v("SEC-PARAMS")}},
            {"training": {"title": _v("SEC-TRAIN"), "experiments": [EXP_A]}},
            {"evaluation": {"title": _v("SEC-EVAL"), "experiments": [EXP_A]}},
            {"comparison": {"title": _v("SEC-COMP")}},
            {"notebook": {"title": _v("SEC-NB"), "items": [
                {"title": _v("NB-ITEM"), "question": "MD-Q: " + MD_PAYLOAD, "experiments": [EXP_A],
                 "comment": "MD-C: " + MD_PAYLOAD}]}},
            {"results_table": {"title": _v("SEC-RT"), "caption": _v("RT-CAP"),
                               "columns": ["run", "model", "architecture", "accuracy"]}},
            {"tradeoff": {"title": _v("SEC-TO"), "caption": _v("TO-CAP"),
                          "notes": {EXP_A: _v("NOTE1"), EXP_B: _v("NOTE2") + " " + LONG}}},
            {"dataset": {"title": _v("SEC-DATA"), "grid": [2, 2], "pca": False, "tsne": False}},
            {"repository": {"title": _v("SEC-REPO")}}, {"provenance": {"title": _v("SEC-PROV")}},
        ],
    }
    return yaml.safe_dump(m, sort_keys=False, allow_unicode=True, width=10_000)


@pytest.fixture(scope="module")
def hostile_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-build")
    manifest = folder / "hostile.yaml"
    manifest.write_text(_hostile_manifest(), "utf-8")
    out = folder / "out"
    result = cli("build", manifest, "--out", out)
    assert result.exit_code == 0, result.output
    return out


def _squash(text: str) -> str:
    """Compare modulo whitespace (line breaks, justification) and case (the cover prints some lines in capitals)."""
    return re.sub(r"\s+", "", text).casefold()


@pytest.mark.slow
def test_hostile_strings_are_inert_in_the_html(hostile_build):
    from bs4 import BeautifulSoup

    html = (hostile_build / "report.html").read_text("utf-8")
    soup = BeautifulSoup(html, "html.parser")
    scripts = soup.find_all("script")
    assert [s for s in scripts if s.get("type") != "application/json"] == [], scripts[:3]
    assert len(re.findall(r"</script", html, flags=re.I)) == len(scripts)  # no payload closed a script element
    for script in scripts:  # inert data: JSON that still holds the strings, literally
        data = json.dumps(json.loads(script.string), ensure_ascii=False)
        assert "<" not in script.string and "&" not in script.string, script.get("id")
        if script.get("id") == "reportgen-results":
            assert json.dumps(_v("EXP2"), ensure_ascii=False)[1:-1] in data
    results = json.loads((hostile_build / "results.json").read_text("utf-8"))
    assert results["runs"][EXP_B]["title"] == _v("EXP2")
    handlers = [(t.name, a) for t in soup.find_all(True) for a in t.attrs if a.lower().startswith("on")]
    assert handlers == []
    for img in soup.find_all("img"):
        assert img.get("src", "").startswith("data:") or img.find_parent("svg") is not None, img
    urls = [(t.name, a, v) for t in soup.find_all(True) for a, v in t.attrs.items()
            if isinstance(v, str) and v.strip().lower().startswith(("javascript:", "data:text/html"))]
    assert urls == []
    assert len([s for s in soup.find_all("style") if s.find_parent("svg") is None]) == 1  # `</title><style>` stayed text
    csp = soup.find_all("meta", attrs={"http-equiv": "Content-Security-Policy"})
    assert len(csp) == 1 and "default-src 'none'" in csp[0]["content"]
    assert soup.title.string == _v("TITLE")

    text = soup.get_text()
    for tag in HOSTILE_FIELDS:
        assert _v(tag) in text, f"{tag} is not shown literally"
    for tag in MARKDOWN_FIELDS:
        assert f"{tag}: " + MD_PAYLOAD.replace("&amp;", "&") in text, f"{tag} is not shown literally"
    assert "LABEL <script>x</script>{{ 7*7 }}&amp;\u202e" in text
    assert EXP_A in text and EXP_B in text and MODEL in text and LONG in text
    assert "J49J" not in _squash(text) and "R{% raw %}R" in text  # no template evaluation of user strings
    link = soup.find("a", href=re.compile("example.org"))
    assert link is not None and link["href"] == 'https://example.org/"><script>alert(1)</script>'


@pytest.mark.slow
def test_hostile_strings_are_literal_in_the_pdf(hostile_build):
    from pypdf import PdfReader

    reader = PdfReader(str(hostile_build / "report.pdf"))
    text = _squash("\n".join(page.extract_text() for page in reader.pages))
    md_head = MD_PAYLOAD.split(" \u202e")[0]  # PDF text is in visual order: the RTL override reverses what follows
    for tag in HOSTILE_FIELDS:
        assert _squash(f"{tag}: <script>alert(1)</script>") in text, f"{tag} is missing from the PDF"
    for tag in MARKDOWN_FIELDS:
        assert _squash(f"{tag}: " + md_head.replace("&amp;", "&")) in text, f"{tag} is missing from the PDF"
    for fragment in ('"><img src=x onerror=alert(1)>', "J{{ 7*7 }}J", "R{% raw %}R", "</title><style>", "&amp;",
                     "$\\frac{1}{$", _v("SUBTITLE").split(" \u202e")[0], "LABEL <script>x</script>{{ 7*7 }}&amp;",
                     EXP_A, EXP_B, MODEL, "L" * 40):
        assert _squash(fragment) in text, fragment
    assert text.count(_squash("J{{ 7*7 }}J")) >= len(HOSTILE_FIELDS) and "j49j" not in text
    assert reader.metadata.title == _v("TITLE")
