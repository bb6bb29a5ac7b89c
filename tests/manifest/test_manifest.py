"""Tests for the manifest: typed loading, train merging, located errors, and the validate/schema/params commands.

Expected positions are computed from the manifest text itself (never hard-coded line numbers), so the tests
keep working when TINY_MANIFEST grows, but still check the exact `file:line:column` of every problem.
"""

from __future__ import annotations

import contextlib
import cProfile
import functools
import json
import pstats
import re
from pathlib import Path

import pytest
import yaml

from reportgen.build import load
from reportgen.errors import ManifestError, Problem
from reportgen.manifest.loaded import load_manifest
from reportgen.manifest.schema import DEFAULT_SECTIONS
from reportgen.manifest.sections import Section

from conftest import REPO, TINY_MANIFEST, cli, deadline, write_manifest

TINY = yaml.safe_load(TINY_MANIFEST)  # plain reading, only to derive indices/names the tests expect
EN3150 = REPO / "experiments" / "en3150.yaml"


# ---------------------------------------------------------------- helpers

def sub(old: str, new: str, text: str = TINY_MANIFEST) -> str:
    """Replace a snippet that must occur exactly once (so a changed fixture fails loudly, not silently)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the manifest"
    return text.replace(old, new)


def at(text: str, needle: str, nth: int = 1, offset: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle in text, plus offset characters."""
    idx = -1
    for _ in range(nth):
        idx = text.index(needle, idx + 1)
    idx += offset
    return text.count("\n", 0, idx) + 1, idx - (text.rfind("\n", 0, idx) + 1) + 1


def layer_index(value) -> int:
    """Index in tiny_cnn's layer list of the item equal to value (e.g. {'dropout': 0.2})."""
    return TINY["models"]["tiny_cnn"]["layers"].index(value)


def experiment_index(exp_id: str) -> int:
    return [e["id"] for e in TINY["experiments"]].index(exp_id)


def section_index(item) -> int:
    return TINY["sections"].index(item)


def problems(tmp_path: Path, text: str, overrides: list[str] | None = None) -> tuple[Path, list[Problem], str]:
    """Load a manifest that must fail; return its path, the problems and the formatted message."""
    path = write_manifest(tmp_path / "m", text)
    with pytest.raises(ManifestError) as info:
        load(path, overrides)
    return path, info.value.problems, str(info.value)


def check(problem: Problem, path: Path | str, pos: tuple[int, int], key: str, *fragments: str) -> None:
    """A problem sits exactly at file:line:column with the dotted key path, and says each fragment."""
    assert (problem.file, problem.line, problem.column, problem.path) == (str(path), *pos, key), problem
    prefix = f"{path}:{pos[0]}:{pos[1]}:" + (f" {key}:" if key else "")
    assert str(problem).startswith(prefix), str(problem)
    for fragment in fragments:
        assert fragment in problem.message, (fragment, problem.message)


def only(tmp_path: Path, text: str, overrides: list[str] | None = None) -> tuple[Path, Problem, str]:
    path, found, message = problems(tmp_path, text, overrides)
    assert len(found) == 1, message
    assert message.startswith("1 problem in the manifest:\n"), message
    assert str(found[0]) in message
    return path, found[0], message


# ---------------------------------------------------------------- a valid manifest

def test_tiny_manifest_loads_with_typed_values(tmp_path):
    loaded = load(write_manifest(tmp_path, TINY_MANIFEST))
    m = loaded.manifest
    assert m.report.date == "15 January 2024"
    assert [t.id for t in m.report.team] == ["T001", "T002"]
    assert m.dataset.name == "digits" and m.dataset.image_size == 8 and type(m.dataset.image_size) is int
    assert m.dataset.input_shape() == (1, 8, 8) and m.dataset.num_classes() == 10
    assert type(m.train.optimizer.lr) is float and m.train.optimizer.lr == 0.01
    assert type(m.train.epochs) is int and m.train.epochs == TINY["train"]["epochs"]
    assert m.train.device == "cpu"
    assert list(m.models) == list(TINY["models"])
    assert [e.id for e in m.experiments] == [e["id"] for e in TINY["experiments"]]
    assert set(loaded.train) == {e["id"] for e in TINY["experiments"]}
    assert loaded.base_dir == tmp_path.resolve() and loaded.stem == "tiny"


@pytest.mark.parametrize("written, value", [("1e-3", 0.001), ("2.5E-4", 0.00025), ("1e+2", 100.0), ("3.0e-2", 0.03)])
def test_exponent_numbers_are_floats(tmp_path, written, value):
    """YAML 1.2 reads `1e-3` as a number (PyYAML's 1.1 rules would leave a string)."""
    text = sub("optimizer: {name: adam, lr: 0.01}", f"optimizer: {{name: adam, lr: {written}}}")
    loaded = load(write_manifest(tmp_path, text))
    lr = loaded.manifest.train.optimizer.lr
    assert type(lr) is float and lr == pytest.approx(value)
    assert loaded.train[TINY["experiments"][0]["id"]].optimizer.lr == pytest.approx(value)


def test_exponent_float_in_an_experiment_override(tmp_path):
    text = sub("{optimizer: {name: sgd, lr: 0.05}", "{optimizer: {name: sgd, lr: 5e-4}")
    loaded = load(write_manifest(tmp_path, text))
    lr = loaded.train["sgd"].optimizer.lr
    assert type(lr) is float and lr == pytest.approx(0.0005)
    raw = loaded.experiment("sgd").train["optimizer"]["lr"]  # untyped overrides keep the YAML value itself
    assert type(raw) is float and raw == 0.0005


@pytest.mark.unit
def test_yaml_numbers_follow_yaml_1_2():
    from reportgen.manifest.yamlsource import parse_yaml

    data = parse_yaml("a: 1e-3\nb: 2.5E-4\nc: 1e+2\nd: '1e-3'\ne: 12\nf: 0.5\ng: 1e3x\n", "n.yaml").data
    assert data == {"a": 0.001, "b": 0.00025, "c": 100.0, "d": "1e-3", "e": 12, "f": 0.5, "g": "1e3x"}
    assert [type(data[k]) for k in "abcdefg"] == [float, float, float, str, int, float, str]


@pytest.mark.parametrize("written, printed", [
    ("2024-01-15", "15 January 2024"),
    ("2023-12-02", "2 December 2023"),           # no leading zero on the day
    ("2023-12-02 10:30:00", "2 December 2023"),  # a YAML timestamp prints its date
    ("'2023-12-02'", "2023-12-02"),              # a quoted string prints as written
    ("December 2023", "December 2023"),
])
def test_report_date(tmp_path, written, printed):
    text = sub("  date: 2024-01-15\n", f"  date: {written}\n")
    assert load(write_manifest(tmp_path, text)).manifest.report.date == printed


def test_experiment_train_deep_merges_over_defaults(tmp_path):
    text = sub("optimizer: {name: adam, lr: 0.01}", "optimizer: {name: adam, lr: 0.01, weight_decay: 0.001}")
    text = sub("  batch_size: 64\n", "  batch_size: 32\n", text)
    loaded = load(write_manifest(tmp_path, text))
    sgd, base = loaded.train["sgd"], loaded.train["base"]
    # overridden by the experiment
    assert (sgd.optimizer.name, sgd.optimizer.lr, sgd.epochs) == ("sgd", 0.05, 2)
    # inherited from the top-level train, including a sibling inside the overridden `optimizer` mapping
    assert sgd.optimizer.weight_decay == 0.001
    assert (sgd.batch_size, sgd.device, sgd.seed) == (32, "cpu", TINY["train"]["seed"])
    assert (base.optimizer.name, base.optimizer.lr, base.optimizer.weight_decay) == ("adam", 0.01, 0.001)
    assert (base.epochs, base.batch_size) == (TINY["train"]["epochs"], 32)
    # the defaults themselves are untouched by the merge
    assert loaded.manifest.train.optimizer.name == "adam" and loaded.manifest.train.epochs == TINY["train"]["epochs"]


def test_loss_aliases_resolve(tmp_path):
    text = sub("  epochs: 3\n", "  epochs: 3\n  loss: sparse_categorical_crossentropy\n")
    loaded = load(write_manifest(tmp_path, text))
    assert {t.loss for t in loaded.train.values()} == {"cross_entropy"}


def test_sections_are_normalised(tmp_path):
    loaded = load(write_manifest(tmp_path, TINY_MANIFEST))
    expected_kinds = [s if isinstance(s, str) else next(iter(s)) for s in TINY["sections"]]
    assert all(isinstance(s, Section) for s in loaded.sections)
    assert [s.kind for s in loaded.sections] == expected_kinds
    by_kind = {s.kind: s for s in loaded.sections}
    assert by_kind["cover"].options == {}
    assert by_kind["prose"].options == {"title": None, "label": None, "file": "intro.md", "text": None}
    assert by_kind["training"].options == {"title": None, "label": None, "experiments": None}
    assert by_kind["architecture"].options == {"title": None, "label": None, "models": None}


def test_section_options_are_kept(tmp_path):
    text = sub("  - training\n", "  - training: {title: Curves, experiments: [sgd]}\n")
    loaded = load(write_manifest(tmp_path, text))
    training = next(s for s in loaded.sections if s.kind == "training")
    assert training.options == {"title": "Curves", "label": None, "experiments": ["sgd"]}


def test_missing_sections_get_the_defaults(tmp_path):
    text = TINY_MANIFEST.split("sections:\n")[0]
    loaded = load(write_manifest(tmp_path, text))
    assert [s.kind for s in loaded.sections] == DEFAULT_SECTIONS


def test_anchors_and_merge_keys_still_work(tmp_path):
    """The alias limits must not break ordinary anchors, aliases and `<<` merge keys."""
    text = sub("    train: {optimizer: {name: sgd, lr: 0.05}, epochs: 2,",
               "    train: &fast {optimizer: {name: sgd, lr: 0.05}, epochs: 2,")
    text = sub("sections:\n", "  - id: again\n    model: tiny_cnn\n    train: {<<: *fast, batch_size: 16}\n"
                              "  - id: same\n    model: tiny_cnn\n    train: *fast\nsections:\n", text)
    loaded = load(write_manifest(tmp_path, text))
    again, same = loaded.train["again"], loaded.train["same"]
    assert (again.optimizer.name, again.optimizer.lr, again.epochs, again.batch_size) == ("sgd", 0.05, 2, 16)
    assert (same.optimizer.name, same.epochs, same.batch_size) == ("sgd", 2, 64)


# ---------------------------------------------------------------- located errors, one each

def test_unknown_top_level_key(tmp_path):
    text = TINY_MANIFEST + "extra: 1\n"
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "extra: 1"), "extra", "unknown key 'extra'")


def test_unknown_nested_key(tmp_path):
    text = sub("report:\n", "report:\n  colour: red\n")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "colour"), "report.colour", "unknown key 'colour'")


def test_typo_in_layer_options_names_the_typo_and_the_key_meant(tmp_path):
    """The misspelt key and the required key it stands for are one problem, with "did you mean"."""
    text = sub("conv: {out: 4, kernel: 3, padding: same}", "conv: {out: 8, kernal: 3}")
    path, found, message = problems(tmp_path, text)
    assert len(found) == 1, message
    i = layer_index({"conv": {"out": 4, "kernel": 3, "padding": "same"}})
    check(found[0], path, at(text, "kernal"), f"models.tiny_cnn.layers[{i}].conv.kernal", "unknown key 'kernal'",
          "did you mean 'kernel'?")
    assert "missing required key" not in message


@pytest.mark.parametrize("old, new, needle, fragments", [
    # kind: {options} form, and two kinds in one item: the message lists every layer kind
    ("      - maxpool: 2\n", "      - maxpol: 2\n", "maxpol", ("a layer is one of", "conv", "maxpool", "flatten")),
    ("      - batchnorm\n", "      - {conv: {out: 2, kernel: 1}, relu: {}}\n", "{conv: {out: 2",
     ("a layer is one of", "conv")),
    # bare form: the message lists the layers that may be written bare
    ("      - flatten\n", "      - flattn\n", "flattn", ("'flatten'", "'relu'", "(got 'flattn')")),
])
def test_unknown_layer_kind(tmp_path, old, new, needle, fragments):
    i = layer_index(yaml.safe_load(old)[0])
    text = sub(old, new)
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, needle), f"models.tiny_cnn.layers[{i}]", *fragments)


@pytest.mark.parametrize("old, new, needle, key, fragment", [
    ("  epochs: 3\n", "  epochs: 0\n", "epochs: 0", "train.epochs", "greater than or equal to 1 (got 0)"),
    ("  batch_size: 64\n", "  batch_size: lots\n", "batch_size: lots", "train.batch_size", "valid integer"),
    ("{name: adam, lr: 0.01}", "{name: adam, lr: -1}", "lr: -1", "train.optimizer.lr", "greater than 0 (got -1)"),
    ("  device: cpu\n", "  device: tpu\n", "device: tpu", "train.device", "got 'tpu'"),
    ("  image_size: 8\n", "  image_size: 2\n", "image_size: 2", "dataset.image_size", "greater than or equal to 4"),
    ("  name: digits\n", "  name: emnist\n", "name: emnist", "dataset.name", "got 'emnist'"),
    ("  repository: https://example.org/tiny\n", "  repository: ftp://example.org/tiny\n", "repository: ftp",
     "report.repository", "http:// or https://"),
])
def test_wrong_types_and_ranges(tmp_path, old, new, needle, key, fragment):
    text = sub(old, new)
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, needle), key, fragment)


def test_dropout_probability_out_of_range(tmp_path):
    i = layer_index({"dropout": 0.2})
    text = sub("- dropout: 0.2\n", "- dropout: 1.5\n")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "dropout: 1.5"), f"models.tiny_cnn.layers[{i}].dropout.p", "less than 1 (got 1.5)")


def test_conv_padding_must_be_same_valid_or_an_integer(tmp_path):
    i = layer_index({"conv": {"out": 4, "kernel": 3, "padding": "same"}})
    text = sub("padding: same}", "padding: full}")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "padding: full"), f"models.tiny_cnn.layers[{i}].conv.padding",
          "`same` or `valid`", "(got 'full')")


def test_bad_value_in_an_experiment_override_is_located_there(tmp_path):
    i = experiment_index("sgd")
    text = sub("{optimizer: {name: sgd, lr: 0.05}, epochs: 2,", "{optimizer: {name: sgd, lr: 0.05}, epochs: 0,")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "epochs: 0"), f"experiments[{i}].train.epochs", "greater than or equal to 1")


def test_unknown_key_in_an_experiment_override(tmp_path):
    i = experiment_index("sgd")
    text = sub("{optimizer: {name: sgd, lr: 0.05}, epochs: 2,", "{optimizer: {name: sgd, lr: 0.05}, epoch: 2,")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "epoch: 2"), f"experiments[{i}].train.epoch", "unknown key 'epoch'")


def test_unknown_optimizer(tmp_path):
    text = sub("{name: adam, lr: 0.01}", "{name: adamx, lr: 0.01}")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "name: adamx"), "train.optimizer.name", "(got 'adamx')", "'sgd'", "'adam'")


@pytest.mark.parametrize("old, new, needle, suffix", [
    ("  - contents\n", "  - contnets\n", "contnets", ""),
    ("  - architecture\n", "  - architecure: {title: Model}\n", "architecure", ".architecure"),
])
def test_unknown_section_kind(tmp_path, old, new, needle, suffix):
    i = section_index(old.strip()[2:])
    text = sub(old, new)
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, needle), f"sections[{i}]{suffix}", f"(got '{needle}')", "'cover'")


def test_unknown_key_in_section_options(tmp_path):
    i = section_index("training")
    text = sub("  - training\n", "  - training: {title: Curves, colour: red}\n")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "colour"), f"sections[{i}].training.colour", "unknown key 'colour'")


def test_experiment_referencing_an_unknown_model(tmp_path):
    i = experiment_index("sgd")
    text = sub("    model: tiny_cnn\n    title: Plain SGD\n", "    model: huge_cnn\n    title: Plain SGD\n")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "model: huge_cnn"), f"experiments[{i}].model", "unknown model 'huge_cnn'", "tiny_cnn")


def test_duplicate_experiment_ids(tmp_path):
    i = experiment_index("sgd")
    text = sub("  - id: sgd\n", "  - id: base\n")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "id: base", nth=2), f"experiments[{i}].id",
          "duplicate experiment id 'base'", f"experiments[{experiment_index('base')}]")


@pytest.mark.parametrize("old, new, key, what", [
    ("  - training\n", "  - training: {experiments: [base, nope]}\n", "training.experiments[1]", "unknown experiment 'nope'"),
    ("  - architecture\n", "  - architecture: {models: [ghost]}\n", "architecture.models[0]", "unknown model 'ghost'"),
])
def test_section_referencing_unknown_names(tmp_path, old, new, key, what):
    i = section_index(old.strip()[2:])
    text = sub(old, new)
    name = what.split("'")[1]
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, name), f"sections[{i}].{key}", what)


def test_prose_file_that_does_not_exist(tmp_path):
    i = section_index({"prose": {"file": "intro.md"}})
    text = sub("file: intro.md", "file: missing.md")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "file: missing.md"), f"sections[{i}].prose.file", "not found: missing.md")


@pytest.mark.parametrize("escape", ["../x.md", "ABSOLUTE"])
def test_prose_file_escaping_the_folder(tmp_path, escape):
    outside = tmp_path / "x.md"  # exists, so only the escape can be the reason for refusing it
    outside.write_text("# secret\n", "utf-8")
    target = str(outside) if escape == "ABSOLUTE" else escape
    i = section_index({"prose": {"file": "intro.md"}})
    text = sub("file: intro.md", f"file: {target}")
    path, p, _ = only(tmp_path, text)
    assert path.parent.parent == tmp_path
    check(p, path, at(text, f"file: {target}"), f"sections[{i}].prose.file", "inside the manifest's folder")


def test_prose_needs_exactly_one_source(tmp_path):
    i = section_index({"prose": {"file": "intro.md"}})
    text = sub("{file: intro.md}", "{file: intro.md, text: hello}")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "prose: {file"), f"sections[{i}].prose", "exactly one of `file` or `text`")


def test_duplicate_yaml_keys_name_both_lines(tmp_path):
    text = sub("  epochs: 3\n", "  epochs: 3\n  epochs: 4\n")
    text = sub("  course: EN0000 Testing\n", "  course: EN0000 Testing\n  course: Again\n", text)
    path, found, message = problems(tmp_path, text)
    assert len(found) == 2, message
    epochs_first, epochs_again = at(text, "epochs: 3"), at(text, "epochs: 4")
    check(found[1], path, epochs_again, "train.epochs",
          "duplicate key 'epochs'", f"first defined on line {epochs_first[0]}")
    check(found[0], path, at(text, "course: Again"), "report.course",
          f"first defined on line {at(text, 'course: EN0000')[0]}")


@pytest.mark.parametrize("new, needle, offset, fragment", [
    ("  epochs: 3: 4\n", "epochs: 3: 4", len("epochs: 3"), "mapping values are not allowed here"),
    ("  epochs: 3\n\tseed: 1\n", "\tseed", 0, "found character '\\t'"),
])
def test_invalid_yaml_syntax_is_located(tmp_path, new, needle, offset, fragment):
    text = sub("  epochs: 3\n", new)
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, needle, offset=offset), "", "invalid YAML", fragment)


@pytest.mark.parametrize("value", [
    '!!python/object/apply:os.system ["touch MARK"]',
    "!!python/object/apply:os.system {args: [touch MARK]}",
    "!!python/object/new:os.system [touch MARK]",
    "!!python/name:os.system",
])
def test_python_tags_are_refused_and_not_executed(tmp_path, value):
    mark = tmp_path / "pwned"
    value = value.replace("MARK", str(mark))
    text = sub("  epochs: 3\n", f"  epochs: {value}\n")
    path, p, _ = only(tmp_path, text)
    check(p, path, at(text, "!!python"), "", "invalid YAML", "tag:yaml.org,2002:python/")
    assert not mark.exists()


@pytest.mark.unit
def test_python_tag_in_a_set_override_is_not_executed(tmp_path):
    mark = tmp_path / "pwned"
    path = write_manifest(tmp_path / "m", TINY_MANIFEST)
    result = cli("validate", path, "--set", f"report.title=!!python/object/apply:os.system [touch {mark}]")
    assert not mark.exists()
    assert "Traceback" not in result.output


def _nested_bomb(levels: int = 9, width: int = 9) -> str:
    """Billion laughs: few aliases (72 here, under the alias-count limit), exponentially many values."""
    lines = ['lol0: &lol0 ["lol"]']
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _wide_bomb(count: int = 500) -> str:
    return "lol: &lol [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\nlols: [" + ", ".join(["*lol"] * count) + "]\n"


def calls(fn, *args) -> int:
    """How many calls (Python functions and built-ins) fn(*args) makes, ManifestError or not: the work it does,
    counted the same on any machine under any load."""
    with contextlib.suppress(ManifestError):
        fn(*args)  # the first run imports and caches what it needs: not the work counted
    profile = cProfile.Profile()
    with contextlib.suppress(ManifestError), profile:
        fn(*args)
    return pstats.Stats(profile).total_calls


@pytest.mark.parametrize("bomb, message", [
    (_nested_bomb, "YAML aliases expand to more than 100,000 values; refusing to expand"),  # 9**8 values
    (_wide_bomb, "more than 100 YAML aliases; refusing to expand"),
], ids=["nested", "wide"])
def test_alias_bombs_are_rejected_without_being_expanded(tmp_path, bomb, message):
    text = sub("dataset:\n", bomb() + "dataset:\n")
    with deadline(20):  # a bomb expanded for real would run for hours: fail instead of hanging
        path, p, _ = only(tmp_path, text)
    check(p, path, (1, 1), "", message)
    # the work: refusing costs no more than reading the same text with each alias written out as a plain value
    defused = write_manifest(tmp_path / "defused", re.sub(r"\*lol\d*", "lol", text))
    with deadline(20):
        work, defused_work = calls(load, path), calls(load, defused)
    assert work <= 2 * defused_work, f"refusing the bomb: {work:,} calls; reading it defused: {defused_work:,}"


@pytest.mark.parametrize("filler", ["#" + "x" * 98 + "\n", "# " + "é" * 48 + "\n"], ids=["ascii", "utf8-bytes"])
def test_manifest_over_one_megabyte_is_refused(tmp_path, filler):
    base, per_line = len(TINY_MANIFEST.encode("utf-8")), len(filler.encode("utf-8"))
    text = TINY_MANIFEST + filler * ((1_000_000 - base) // per_line + 1)
    assert 1_000_000 < len(text.encode("utf-8")) <= 1_000_000 + per_line
    if filler.startswith("# é"):
        assert len(text) < 1_000_000  # under the limit in characters: the limit is on bytes
    path, p, _ = only(tmp_path, text)
    check(p, path, (1, 1), "", "manifest is larger than 1,000,000 bytes")
    # refused unread: the work is less than reading a one-line manifest (a 1 MB one parsed is millions of calls)
    one_line = write_manifest(tmp_path / "one-line", "42\n")
    assert calls(load, path) < calls(load, one_line), "the manifest over the limit was parsed"


@pytest.mark.parametrize("text", ["- report\n- dataset\n", "just a sentence\n", "42\n", "[1, 2]\n"])
def test_top_level_must_be_a_mapping(tmp_path, text):
    path, p, _ = only(tmp_path, text)
    check(p, path, (1, 1), "", "a manifest is a mapping")


def test_empty_manifest_lists_every_missing_section(tmp_path):
    path, found, message = problems(tmp_path, "# nothing here\n")
    assert sorted(p.path for p in found) == ["dataset", "experiments", "models", "report"], message
    assert all("missing required key" in p.message for p in found)


@pytest.mark.unit
def test_unreadable_and_non_utf8_manifests(tmp_path):
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_manifest(tmp_path / "absent.yaml")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(TINY_MANIFEST.replace("Test University", "Universit\xe9").encode("latin-1"))
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(bad)


# ---------------------------------------------------------------- every error at once

def test_independent_schema_mistakes_are_all_reported_together(tmp_path):
    text = sub("report:\n", "report:\n  colour: red\n")
    text = sub("  epochs: 3\n", "  epochs: 0\n", text)
    text = sub("- dropout: 0.2\n", "- dropout: 1.5\n", text)
    text = sub("padding: same}", "padding: full}", text)
    text = sub("{name: adam, lr: 0.01}", "{name: adamx, lr: 0.01}", text)
    text = sub("  - contents\n", "  - contnets\n", text)
    path, found, message = problems(tmp_path, text)
    assert message.startswith("6 problems in the manifest:\n"), message
    assert len(found) == 6 and len(message.splitlines()) == 7
    assert all(str(p) in message for p in found)
    expected = sorted(at(text, n)[0] for n in ("colour", "epochs: 0", "dropout: 1.5", "padding: full",
                                               "adamx", "contnets"))
    assert [p.line for p in found] == expected  # sorted by line, one per mistake
    assert {p.file for p in found} == {str(path)}


def test_independent_reference_mistakes_are_all_reported_together(tmp_path):
    text = sub("    model: tiny_cnn\n    title: Plain SGD\n", "    model: huge_cnn\n    title: Plain SGD\n")
    text = sub("  - id: base\n", "  - id: twin\n", text)
    text = sub("  - id: sgd\n", "  - id: twin\n", text)
    text = sub("file: intro.md", "file: missing.md", text)
    text = sub("  - training\n", "  - training: {experiments: [nope]}\n", text)
    path, found, message = problems(tmp_path, text)
    assert message.startswith("4 problems in the manifest:\n"), message
    assert [p.line for p in found] == sorted(at(text, n)[0] for n in (
        "model: huge_cnn", "id: twin\n    model: huge_cnn", "file: missing.md", "[nope]"))
    assert [p.path.rsplit(".", 1)[-1] for p in found] == ["id", "model", "file", "experiments[0]"]


# ---------------------------------------------------------------- layer shapes (model building)

BAD_MODELS = """\
models:
  flat_missing:
    layers:
      - conv: {out: 4, kernel: 3}
      - linear: classes
  big_pool:
    layers:
      - maxpool: 2
      - maxpool: 16
      - flatten
      - linear: classes
  big_kernel:
    layers:
      - conv: {out: 4, kernel: 9}
      - flatten
      - linear: classes
  no_classes:
    layers:
      - flatten
      - linear: 16
"""


@pytest.mark.unit
def test_layer_shape_errors_are_located_by_validate(tmp_path):
    text = sub("models:\n", BAD_MODELS)
    path = write_manifest(tmp_path, text)
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "4 problems in the manifest" in result.output
    expected = [
        ("linear: classes", 1, "models.flat_missing.layers[1]", "linear needs a flat input"),
        ("maxpool: 16", 1, "models.big_pool.layers[1]", "maxpool cannot take an input of shape [1, 4, 4]"),
        ("conv: {out: 4, kernel: 9}", 1, "models.big_kernel.layers[0]", "conv cannot take an input of shape [1, 8, 8]"),
        ("linear: 16", 1, "models.no_classes.layers[1]", "must end in 10 outputs"),
    ]
    for needle, nth, key, fragment in expected:
        line, col = at(text, needle, nth)
        located = [ln for ln in result.output.splitlines() if f"{path}:{line}:{col}: {key}:" in ln]
        assert len(located) == 1 and fragment in located[0], (needle, result.output)


def test_good_model_builds_after_a_bad_one_is_fixed(tmp_path):
    """The shape check is not simply failing everything: the same models with the fix pass."""
    fixed = (BAD_MODELS.replace("      - conv: {out: 4, kernel: 3}\n      - linear", "      - conv: {out: 4, kernel: 3}\n"
                                "      - flatten\n      - linear")
             .replace("maxpool: 16", "maxpool: 4").replace("kernel: 9", "kernel: 8").replace("linear: 16", "linear: classes"))
    loaded = load(write_manifest(tmp_path, sub("models:\n", fixed)))
    assert {"flat_missing", "big_pool", "big_kernel", "no_classes"} <= set(loaded.manifest.models)


# ---------------------------------------------------------------- CLI: validate, schema, --set

@pytest.mark.unit
def test_validate_ok(tmp_path):
    path = write_manifest(tmp_path, TINY_MANIFEST)
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
    assert f"{path}: ok" in result.output
    assert f"{len(TINY['experiments'])} experiment(s)" in result.output


@pytest.mark.unit
@pytest.mark.parametrize("text, fragment", [
    (TINY_MANIFEST + "extra: 1\n", "unknown key 'extra'"),
    (TINY_MANIFEST.replace("  epochs: 3\n", "  epochs: [3\n"), "invalid YAML"),
    ("- a\n- b\n", "a manifest is a mapping"),
    (TINY_MANIFEST.replace("  epochs: 3\n", "  epochs: !!python/object/apply:os.system [echo hi]\n"), "python/object"),
    ("", "missing required key 'report'"),
])
def test_validate_bad_manifests_exit_2_without_traceback(tmp_path, text, fragment):
    path = write_manifest(tmp_path, text)
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and fragment in result.output
    assert "Traceback" not in result.output and "internal error" not in result.output


@pytest.mark.unit
def test_validate_missing_file_exit_2(tmp_path):
    result = cli("validate", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "cannot read manifest" in result.output
    assert "Traceback" not in result.output


def _walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


@pytest.mark.unit
def test_every_section_kind_has_typed_options_in_the_schema():
    from reportgen.manifest.sections import SECTION_KINDS

    schema = json.loads(cli("schema").output)
    items = schema["properties"]["sections"]["items"]["oneOf"]
    assert set(items[0]["enum"]) == set(SECTION_KINDS)
    objects = {next(iter(item["properties"])): item for item in items[1:]}
    assert set(objects) == set(SECTION_KINDS)
    for kind, item in objects.items():
        assert item["additionalProperties"] is False and item["required"] == [kind]
        ref = item["properties"][kind]["anyOf"][0]["$ref"].rsplit("/", 1)[-1]
        options = schema["$defs"][ref]
        assert options["type"] == "object" and options["additionalProperties"] is False, kind
        assert options.get("description"), kind
        for name, prop in options.get("properties", {}).items():
            assert prop.get("description"), (kind, name)
            assert {"type", "anyOf", "oneOf", "enum", "$ref", "items"} & set(prop), (kind, name, prop)
    columns = schema["$defs"]["ResultsTableSection"]["properties"]["columns"]["items"]
    assert "accuracy" in columns["enum"]
    assert set(schema["$defs"]["DatasetSection"]["properties"]) >= {"grid", "pca", "tsne", "sample", "tsne_sample"}


@pytest.mark.unit
def test_schema_is_json_schema():
    result = cli("schema")
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert {"report", "dataset", "models", "train", "experiments", "sections"} <= set(schema["properties"])
    assert set(schema["required"]) == {"report", "dataset", "models", "experiments"}
    assert schema["additionalProperties"] is False
    assert sum(1 for n in _walk(schema) if isinstance(n, dict) and n.get("additionalProperties") is False) > 5


@functools.cache
def _schema_validator():
    import jsonschema  # a test dependency (pyproject's `test` extra): missing, these tests fail rather than skip
    from reportgen.manifest.jsonschema import json_schema

    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _schema_errors(instance) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _schema_validator().iter_errors(instance)]


def _as_json(text: str):
    from reportgen.manifest.yamlsource import parse_yaml
    return json.loads(json.dumps(parse_yaml(text, "m.yaml").data, default=str))


@pytest.mark.unit
@pytest.mark.parametrize("source", ["tiny", "en3150.yaml", "digits.yaml"])
def test_schema_accepts_valid_manifests_including_layer_shorthands(source):
    """`maxpool: 2`, `linear: 64`, `linear: classes`, `dropout: 0.5` are valid, so the schema must accept them."""
    text = TINY_MANIFEST if source == "tiny" else (REPO / "experiments" / source).read_text("utf-8")
    assert _schema_errors(_as_json(text)) == []


@pytest.mark.unit
@pytest.mark.parametrize("layer", [{"dropout": 1.5}, {"linear": 0}, {"linear": "many"}, {"maxpool": [2, 2, 2]},
                                   {"maxpool": {"kernal": 2}}, {"conv": {"out": 8}}, {"flattn": None}])
def test_schema_rejects_what_validation_rejects(layer):
    instance = _as_json(TINY_MANIFEST)
    instance["models"]["tiny_cnn"]["layers"][0] = layer
    assert _schema_errors(instance)


@pytest.mark.unit
def test_schema_rejects_unknown_keys():
    instance = _as_json(TINY_MANIFEST)
    instance["report"]["colour"] = "red"
    assert _schema_errors(instance)


def test_set_changes_the_resolved_value(tmp_path):
    path = write_manifest(tmp_path, TINY_MANIFEST)
    loaded = load(path, ["train.epochs=5", "train.optimizer.lr=0.5"])
    assert loaded.manifest.train.epochs == 5 and loaded.train["base"].epochs == 5
    assert loaded.train["base"].optimizer.lr == 0.5
    assert loaded.train["sgd"].epochs == 2 and loaded.train["sgd"].optimizer.lr == 0.05  # experiment overrides win
    assert load(path).train["base"].epochs == TINY["train"]["epochs"]  # the file is untouched
    assert cli("validate", path, "--set", "train.epochs=5").exit_code == 0


def test_set_selects_a_list_item_by_id(tmp_path):
    path = write_manifest(tmp_path, TINY_MANIFEST)
    loaded = load(path, ["experiments.sgd.train.batch_size=8"])
    assert loaded.train["sgd"].batch_size == 8
    assert loaded.train["sgd"].optimizer.name == "sgd" and loaded.train["sgd"].epochs == 2  # rest of its train kept
    assert loaded.train["base"].batch_size == TINY["train"]["batch_size"]
    assert load(path, ["experiments.0.title=Zero"]).manifest.experiments[0].title == "Zero"


@pytest.mark.unit
def test_set_invalid_value_is_a_validation_error(tmp_path):
    path = write_manifest(tmp_path, TINY_MANIFEST)
    result = cli("validate", path, "--set", "train.epochs=0")
    assert result.exit_code == 2, result.output
    line, col = at(TINY_MANIFEST, "epochs: 3")
    assert f"{path}:{line}:{col}: train.epochs: Input should be greater than or equal to 1 (got 0)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.unit
@pytest.mark.parametrize("override, fragment", [
    ("train.epochs", "--set train.epochs: expected KEY=VALUE"),
    ("experiments.nope.train.epochs=1", "no list item 'nope'"),
    ("report.title.x=1", "is not a mapping or list"),
])
def test_malformed_set_exit_2(tmp_path, override, fragment):
    path = write_manifest(tmp_path, TINY_MANIFEST)
    result = cli("validate", path, "--set", override)
    assert result.exit_code == 2, result.output
    assert fragment in result.output and "Traceback" not in result.output


# ---------------------------------------------------------------- params for the EN3150 manifest

@pytest.fixture(scope="module")
def en3150_json() -> dict:
    result = cli("params", EN3150, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.slow
def test_params_json_matches_the_built_model(en3150_json):
    from reportgen.models.build import build_manifest_model

    loaded = load(EN3150)
    model = build_manifest_model(loaded, "en3150_cnn")
    rec = en3150_json["en3150_cnn"]
    assert list(en3150_json) == list(loaded.manifest.models)
    assert rec["total_params"] == sum(p.numel() for p in model.parameters()) == 390_858
    assert rec["buffer_params"] == sum(b.numel() for n, b in model.named_buffers() if "running_" in n) == 448
    assert rec["keras_total_params"] == 390_858 + 448
    rows = {r["name"]: r for r in rec["layers"]}
    assert rows["conv1"]["formula"] == "3 × 32 × 5 × 5 + 32 = 2,432" and rows["conv1"]["params"] == 2_432
    assert rows["fc1"]["formula"] == "2,048 × 64 + 64 = 131,136" and rows["fc1"]["params"] == 131_136
    assert sum(r["params"] for r in rec["layers"]) == rec["total_params"]


@pytest.mark.slow
def test_params_text_shows_the_formulas():
    result = cli("params", EN3150)
    assert result.exit_code == 0, result.output
    for text in ("3 × 32 × 5 × 5 + 32 = 2,432", "2,048 × 64 + 64 = 131,136", "390,858", "448"):
        assert text in result.output, text


def test_params_unknown_model_lists_the_models():
    result = cli("params", EN3150, "--model", "nope")
    assert result.exit_code == 2, result.output
    assert "no model 'nope'" in result.output and "en3150_cnn" in result.output
    assert "Traceback" not in result.output


@pytest.mark.unit
def test_an_option_the_activation_or_optimizer_would_ignore_is_a_located_error(tmp_path):
    text = """\
report: {title: T}
dataset: {name: digits, image_size: 8, channels: 1}
models:
  net:
    layers: [{conv: {out: 4, kernel: 3}}, {leaky_relu: {alpha: 0.2}}, {relu: {negative_slope: 0.1}}, flatten,
             {linear: classes}]
train: {optimizer: {name: sgd, lr: 0.1, nesterov: true}, epochs: 1}
experiments: [{id: a, model: net}]
sections: [cover]
"""
    path = tmp_path / "m.yaml"
    path.write_text(text, "utf-8")
    done = cli("validate", path)
    assert done.exit_code == 2
    assert ("m.yaml:5:44: models.net.layers[1].leaky_relu: leaky_relu has no option alpha; its slope for negative "
            "inputs is negative_slope (Keras's alpha)") in done.output
    assert "models.net.layers[2].relu: relu has no option negative_slope; it takes only name" in done.output
    assert "m.yaml:7:9: train.optimizer: nesterov: true needs a momentum above 0 (e.g. momentum: 0.9)" in done.output
    fixed = (text.replace("{leaky_relu: {alpha: 0.2}}", "{leaky_relu: {negative_slope: 0.2}}")
             .replace("{relu: {negative_slope: 0.1}}", "{elu: {alpha: 0.5}}")
             .replace("nesterov: true", "nesterov: true, momentum: 0.9"))
    path.write_text(fixed, "utf-8")
    done = cli("validate", path)
    assert done.exit_code == 0, done.output
