"""A new user's mistakes, planted together: `validate` lists every one at once, located, with "did you mean",
before anything trains; `--set` problems at the argument; YAML syntax in plain words; --strict warnings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO, TINY_MANIFEST, cli, write_manifest

MISTAKES = """\
report:
  title: Mistakes
  references:
    lecun98: "LeCun et al., Gradient-based learning, 1998."
dataset:
  name: imagefolder
  root: no-such-images
  split: [60, 20, 20]
  image_size: 16
models:
  cnn:
    layers:
      - conv: {filters: 8, kernel_size: 3}
      - relu
      - flatten
      - linear: classes
  mlp:
    layers: [flatten, {linear: classes}]
train:
  epoch: 3
  device: cpu
experiments:
  - id: baseline
    model: mlp
  - id: lr_sweep
    model: mlp
    sweep: {lr: [0.1, 0.01]}
  - id: adam
    model: mpl
sections:
  - training: {experiments: [lr_sweep/lr=0.5], label: curves}
  - prose: {file: prose/intro.md}
  - results_table: {colums: [run]}
"""

PROSE = """\
# Introduction

The baseline reached @{baselin.accuracy} and @{baseline.acuracy}, formatted @{baseline.loss:pct9}.
The best rate was @{best(lr_swep).lr}; see @fig:curvs and @sec:curves, as [@lecun89] showed.
![a missing plot](plots/missing.png)
`@{not.checked}` in code is left alone.
"""


def at(text: str, needle: str, offset: int = 0) -> str:
    """`line:column` (1-based) of needle in text."""
    idx = text.index(needle) + offset
    return f"{text.count(chr(10), 0, idx) + 1}:{idx - (text.rfind(chr(10), 0, idx) + 1) + 1}"


def planted(tmp_path: Path, manifest: str = MISTAKES, prose: str = PROSE) -> Path:
    folder = tmp_path / "m"
    (folder / "prose").mkdir(parents=True)
    (folder / "prose" / "intro.md").write_text(prose, "utf-8")
    path = folder / "manifest.yaml"
    path.write_text(manifest, "utf-8")
    return path


@pytest.mark.unit
def test_validate_reports_every_planted_mistake_at_once(tmp_path):
    path = planted(tmp_path)
    prose = path.parent / "prose" / "intro.md"
    result = cli("validate", path)
    out = result.output
    assert result.exit_code == 2, out
    assert "Traceback" not in out
    m, p = MISTAKES, PROSE
    expected = [
        (path, at(m, "filters"), "unknown key 'filters'", "did you mean 'out'?"),
        (path, at(m, "kernel_size"), "unknown key 'kernel_size'", "did you mean 'kernel'?"),
        (path, at(m, "epoch: 3"), "unknown key 'epoch' in train", "did you mean 'epochs'?"),
        (path, at(m, "lr: [0.1"), "unknown sweep key 'lr'", "did you mean 'optimizer.lr'?"),
        (path, at(m, "model: mpl"), "unknown model 'mpl'", "did you mean 'mlp'?"),
        (path, at(m, "root: no-such"), "cannot read the class names", "does not exist"),
        (path, at(m, "lr_sweep/lr=0.5"), "unknown run 'lr_sweep/lr=0.5'", "lr_sweep/lr=0.1, lr_sweep/lr=0.01"),
        (path, at(m, "colums"), "unknown key 'colums'", "did you mean 'columns'?"),
        (prose, at(p, "@{baselin."), "no run, model or `dataset` named 'baselin'", "did you mean 'baseline'?"),
        (prose, at(p, "@{baseline.acuracy"), "not 'acuracy'", "did you mean 'accuracy'?"),
        (prose, at(p, "@{baseline.loss:pct9"), "unknown format 'pct9'"),
        (prose, at(p, "@{best(lr_swep)"), "no experiment or run 'lr_swep'", "did you mean 'lr_sweep'?"),
        (prose, at(p, "@fig:curvs"), "labelled 'curvs'", "did you mean 'curves'?"),
        (prose, at(p, "[@lecun89]"), "no reference 'lecun89'", "did you mean 'lecun98'?"),
    ]
    lines = [ln.strip() for ln in out.splitlines()]
    for file, where, *fragments in expected:
        hits = [ln for ln in lines if ln.startswith(f"{file}:{where}:")]
        assert hits, (f"{file}:{where}", fragments, out)
        assert any(all(f in ln for f in fragments) for ln in hits), (fragments, hits)
    assert f"{len(expected)} problems in the manifest" in out, out
    # a missing image is a located warning (the report shows a note in its place); --strict makes it an error
    warning = f"warning: {prose}:{at(p, '![a missing')}: image file not found: plots/missing.png"
    assert any(ln.startswith(warning) for ln in lines), out
    assert "Extra inputs are not permitted" not in out and "missing required key 'out'" not in out
    assert "@sec:curves" not in out and "not.checked" not in out  # a real label; code is not read


def test_build_on_the_planted_manifest_trains_nothing(tmp_path):
    path = planted(tmp_path)
    out_dir = tmp_path / "out"
    result = cli("build", path, "--out", out_dir, "--no-pdf")
    assert result.exit_code == 2, result.output
    assert "unknown key 'filters'" in result.output and "baselin" in result.output
    assert not (out_dir / "cache").exists() and not (out_dir / "results.json").exists()
    result = cli("run", path, "--out", out_dir)
    assert result.exit_code == 2 and not out_dir.exists(), result.output


@pytest.mark.unit
def test_an_unknown_run_id_lists_the_valid_ones_and_its_example_is_valid(tmp_path):
    text = TINY_MANIFEST.replace("  - training\n", "  - training: {experiments: [bse]}\n")
    result = cli("validate", write_manifest(tmp_path, text))
    assert result.exit_code == 2
    assert "unknown experiment 'bse'; experiments: base, sgd, wild" in result.output
    assert "did you mean 'base'?" in result.output


@pytest.mark.unit
def test_set_problems_are_located_at_the_argument(tmp_path):
    path = write_manifest(tmp_path)
    result = cli("validate", path, "--set", "train.epoch=3", "--set", "train.optimizer.learning_rate=0.1")
    assert result.exit_code == 2
    assert "--set train.epoch=3: no key 'epoch' in train (did you mean 'epochs'?)" in result.output
    assert "--set train.optimizer.learning_rate=0.1: no key 'learning_rate' in train.optimizer " \
           "(did you mean 'lr'?)" in result.output
    assert ":1:1:" not in result.output


@pytest.mark.unit
def test_set_bracket_form_names_ids_with_dots(tmp_path):
    text = TINY_MANIFEST.replace("  - id: sgd\n", "  - id: sgd_lr_0.05\n")
    path = write_manifest(tmp_path, text)
    result = cli("validate", path, "--set", "experiments.sgd_lr_0.05.train.epochs=1")
    assert result.exit_code == 2
    assert "contains dots, so write it in brackets: --set experiments[sgd_lr_0.05].train.epochs=1" in result.output
    from reportgen.manifest.loaded import load_manifest

    loaded = load_manifest(path, ["experiments[sgd_lr_0.05].train.epochs=1", "experiments.0.train.epochs=2",
                                  "experiments.wild.title=Wild"])
    assert loaded.train["sgd_lr_0.05"].epochs == 1 and loaded.train["base"].epochs == 2
    assert loaded.experiment("wild").title == "Wild"


@pytest.mark.unit
@pytest.mark.parametrize("old, new, needle, offset, words", [
    ("  epochs: 3\n", "  epochs: 3\n    seed: 1\n", "    seed: 1", 4,
     "bad indentation: a key at column 5 where the mapping above starts at column 3"),
    ("  course: EN0000 Testing\n", "  course: EN0000: Testing\n", "EN0000: Testing", 6,
     "a value cannot start here; check the indentation or quote the text"),
])
def test_yaml_syntax_errors_are_explained_with_a_caret(tmp_path, old, new, needle, offset, words):
    text = TINY_MANIFEST.replace(old, new)
    path = write_manifest(tmp_path, text)
    result = cli("validate", path)
    assert result.exit_code == 2
    line, col = map(int, at(text, needle, offset).split(":"))
    assert f"{path}:{line}:{col}: invalid YAML: {words}" in result.output, result.output
    shown = text.splitlines()[line - 1]
    lines = result.output.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip() == shown.strip() and ln.endswith(shown))
    assert lines[i + 1].index("^") == len(lines[i]) - len(shown) + col - 1


@pytest.mark.unit
def test_strict_turns_warnings_into_errors(tmp_path):
    text = TINY_MANIFEST
    path = write_manifest(tmp_path, text)
    (tmp_path / "intro.md").write_text("# Intro\n\n![logo](logo.svg) and ![remote](https://example.org/a.png)\n")
    (tmp_path / "logo.svg").write_text("<svg/>")
    (tmp_path / "old-notes.md").write_text("# Forgotten\n")
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
    intro = tmp_path / "intro.md"
    assert f"warning: {intro}:3:1: SVG image 'logo.svg' is not embedded" in result.output
    assert f"warning: {intro}:3:23: image 'https://example.org/a.png' refused: remote images are not fetched" in result.output
    assert f"warning: {tmp_path / 'old-notes.md'}:1:1: no section uses this prose file" in result.output
    strict = cli("validate", path, "--strict")
    assert strict.exit_code == 2
    assert "3 problems in the manifest" in strict.output and "(--strict)" in strict.output


@pytest.mark.unit
def test_strict_warns_of_a_comparison_across_datasets(tmp_path):
    text = TINY_MANIFEST.replace("    title: Plain SGD\n", "    title: Plain SGD\n    dataset: {name: cifar10}\n")
    path = write_manifest(tmp_path, text)
    assert "the compared runs are on different datasets" in cli("validate", path).output
    assert cli("validate", path, "--strict").exit_code == 2


@pytest.mark.parametrize("manifest", sorted((REPO / "experiments").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_manifests_validate_cleanly_and_strictly(manifest):
    result = cli("validate", manifest, "--strict")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and re.search(r": ok \(", result.output)
