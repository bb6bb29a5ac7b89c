"""results.json holds data, the report holds the words: the wording of layer configurations and freezing policies,
the section-kind registry, and that rewording the report never changes a run's cache key. No training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reportgen import sourcehash
from reportgen.build import load
from reportgen.manifest.schema import FreezeLast, FreezeModules
from reportgen.manifest.sections import SECTION_KINDS
from reportgen.models.build import freeze_policy, layer_config, model_record
from reportgen.report.document import assemble as document
from reportgen.report.document import registry
from reportgen.report.wording import describe as wording
from reportgen.report.writers import html as render
from reportgen.results.record import LayerRow, parse_results
from reportgen.run import environment
from reportgen.run.plan import Datasets, plan_runs

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"


def _words(kind: str, opts: dict, shape=(1,)) -> str:
    layer = LayerRow(name="layer", type=kind, output_shape=list(shape), params=0, trainable=0, buffers=0, formula="",
                     buffer_formula="", config=layer_config(kind, opts))
    return wording.layer_config(layer)


CONV = {"out": 8, "kernel": (3, 5), "stride": (1, 2), "padding": "valid", "bias": False, "name": None}


@pytest.mark.parametrize("kind, opts, shape, config, text", [
    ("conv", CONV, (8, 6, 2),
     {"kind": "conv", "out": 8, "kernel": [3, 5], "stride": [1, 2], "padding": "valid", "bias": False},
     "8 filters, kernel 3×5, stride 1×2, padding valid, no bias"),
    ("conv", CONV | {"kernel": (5, 5), "stride": (1, 1), "padding": 2, "bias": True}, (8, 8, 8), None,
     "8 filters, kernel 5×5, stride 1, padding 2"),
    ("maxpool", {"kernel": (2, 2), "stride": None, "padding": 0, "name": None}, (8, 4, 4),
     {"kind": "maxpool", "kernel": [2, 2], "stride": [2, 2], "padding": 0}, "kernel 2×2, stride 2"),
    ("avgpool", {"kernel": (3, 3), "stride": (1, 1), "padding": 1, "name": None}, (8, 4, 4), None,
     "kernel 3×3, stride 1, padding 1"),
    ("linear", {"out": "classes", "bias": True, "name": None}, (10,),
     {"kind": "linear", "out": "classes", "bias": True}, "10 (one per class) outputs"),
    ("linear", {"out": 64, "bias": False, "name": None}, (64,), None, "64 outputs, no bias"),
    ("dropout", {"p": 0.25, "name": None}, (64,), {"kind": "dropout", "p": 0.25}, "p = 0.25"),
    ("batchnorm", {"eps": 1e-5, "momentum": 0.1, "name": None}, (8, 4, 4), None, "eps 1e-05, momentum 0.1"),
    ("flatten", {"name": None}, (128,), {"kind": "flatten"}, "to a vector"),
    ("global_avgpool", {"name": None}, (8,), None, "mean over height and width"),
    ("leaky_relu", {"negative_slope": None, "alpha": None, "name": None}, (8,),
     {"kind": "leaky_relu", "negative_slope": 0.01}, "negative slope 0.01"),
    ("elu", {"negative_slope": None, "alpha": None, "name": None}, (8,), {"kind": "elu", "alpha": 1.0}, "activation"),
    ("relu", {"negative_slope": None, "alpha": None, "name": "act"}, (8,), {"kind": "relu"}, "activation"),
])
def test_a_layer_is_recorded_as_its_options_and_worded_by_the_report(kind, opts, shape, config, text):
    if config is not None:
        assert layer_config(kind, opts) == config
    assert json.loads(json.dumps(layer_config(kind, opts))) == layer_config(kind, opts)  # plain JSON
    assert _words(kind, opts, shape) == text


@pytest.mark.parametrize("freeze, policy, text", [
    (None, {"policy": "none"}, "nothing frozen: every layer is fine-tuned"),
    ("none", {"policy": "none"}, "nothing frozen: every layer is fine-tuned"),
    ("backbone", {"policy": "backbone"}, "backbone frozen: only the new head is trained"),
    (FreezeLast(train_last=2), {"policy": "train_last", "blocks": 2}, "all but the last 2 blocks frozen"),
    (FreezeModules(modules=["layer1", "layer2"]), {"policy": "modules", "modules": ["layer1", "layer2"]},
     "frozen: layer1, layer2"),
])
def test_a_freezing_policy_is_recorded_as_data_and_worded_by_the_report(freeze, policy, text):
    assert freeze_policy(freeze) == policy
    assert wording.freeze_policy(policy) == text


def test_the_fixture_records_layer_options_not_sentences():
    """The template fixture's model record is what model_record writes today: options, not words."""
    loaded = load(FIXTURES / "results-small.yaml")
    record = json.loads(json.dumps(model_record(loaded, "tiny_cnn")))
    fixture = json.loads((FIXTURES / "results-small.json").read_text("utf-8"))["models"]["tiny_cnn"]
    assert [layer["config"] for layer in fixture["layers"]] == [layer["config"] for layer in record["layers"]]
    assert all(isinstance(layer["config"], dict) and layer["config"]["kind"] for layer in fixture["layers"])
    assert not any("timed" in run["measured"] for run in
                   json.loads((FIXTURES / "results-small.json").read_text("utf-8"))["runs"].values())


def test_every_section_kind_has_one_registry_entry_and_a_template():
    assert set(registry.KINDS) == set(SECTION_KINDS)
    for pack in render.TEMPLATE_PACKS:
        env = render.environment(pack)
        for entry in registry.KINDS.values():
            env.get_template(entry.template)  # found in the pack or in templates/base
            assert entry.options is SECTION_KINDS[entry.name]
    assert registry.titles("paper")["architecture"] == "Model" and registry.titles("lab")["notebook"] == "Questions"
    assert registry.titles(None)["architecture"] == "CNN Model" and "cover" not in registry.titles(None)


class _Stubs(dict):
    """Every figure, as an empty named SVG: nothing is drawn."""

    def __contains__(self, key) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f'<svg data-figure="{key}"></svg>'


def _html(results: dict, loaded) -> str:
    return render.render_html(document.build(parse_results(results), loaded.sections, _Stubs(), loaded.base_dir))


def _keys() -> list[str]:
    loaded = load(REPO / "experiments" / "digits.yaml")
    return [plan.key for plan in plan_runs(loaded, Datasets(loaded, smoke=False), smoke=False)]


def _use_source(monkeypatch, root: Path) -> None:
    """Hash reportgen's source from `root` from now on (and forget what was hashed before)."""
    monkeypatch.setattr(sourcehash, "PACKAGE_ROOT", root)
    sourcehash.source_digest.cache_clear()
    environment.code_version.cache_clear()


def test_rewording_the_report_changes_the_html_and_no_run_cache_key(tmp_path, monkeypatch):
    fixture = load(FIXTURES / "results-small.yaml")
    results = json.loads((FIXTURES / "results-small.json").read_text("utf-8"))
    before = _html(results, fixture)
    reworded = wording.layer_config
    monkeypatch.setattr(wording, "layer_config", lambda layer: reworded(layer).replace("filters", "kernels"))
    after = _html(results, fixture)
    assert "4 filters, kernel 3×3" in before and "4 kernels, kernel 3×3" in after and before != after

    keys = _keys()
    copy = Path(shutil.copytree(sourcehash.PACKAGE_ROOT, tmp_path / "reportgen",
                                ignore=shutil.ignore_patterns("__pycache__")))
    words = copy / "report" / "wording" / "describe.py"
    words.write_text(words.read_text("utf-8").replace("filters, kernel", "kernels of size"), "utf-8")
    try:
        _use_source(monkeypatch, copy)
        assert _keys() == keys  # the report's words are not part of any run's key
        measure = copy / "run" / "measure.py"
        measure.write_text(measure.read_text("utf-8") + "\n# a change on the run side\n", "utf-8")
        _use_source(monkeypatch, copy)
        assert set(_keys()).isdisjoint(keys)  # ... while the run side's source is
    finally:
        monkeypatch.undo()
        sourcehash.source_digest.cache_clear()
        environment.code_version.cache_clear()
