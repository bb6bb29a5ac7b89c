"""Tests for reportgen.manifest.shapes: arithmetic shape inference agrees with building the model in PyTorch.

Every layer-language model and swept variant of experiments/*.yaml, a table of hand-picked stacks (each shape
mistake build_model reports) and random stacks from hypothesis are run both ways: the shapes, and the messages
and layer indices of the errors, must be equal. A subprocess checks that the manifest stage imports no torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from reportgen.manifest.layers import LayerItem, normalize
from reportgen.manifest.loaded import load_manifest
from reportgen.manifest.shapes import LayerError, check_shapes, layer_shapes, model_context, named_shapes, \
    network_models
from reportgen.models.build import build_model, check_models

from conftest import REPO

EXPERIMENTS = sorted((REPO / "experiments").glob("*.yaml"))
HEAVY = ("torch", "torchvision", "numpy", "sklearn", "jinja2", "markdown_it", "nh3", "PIL", "matplotlib")
_ITEM = TypeAdapter(LayerItem)


def layers_of(*items) -> list[tuple[str, dict]]:
    """Normalised layers from YAML-shaped items, validated exactly as a manifest's `layers:` are."""
    return [normalize(_ITEM.validate_python(item)) for item in items]


def by_torch(layers, input_shape, num_classes):
    """("ok", [(name, shape), ...]) from build_model and a probe through each module, or ("error", index, message)."""
    try:
        model = build_model(layers, input_shape, num_classes)
    except LayerError as exc:
        return "error", exc.index, str(exc)
    x, out = torch.zeros(1, *input_shape), []
    with torch.no_grad():
        for name, module in model.named_children():
            x = module.eval()(x)
            out.append((name, tuple(x.shape[1:])))
    return "ok", out


def by_arithmetic(layers, input_shape, num_classes):
    """The same result from reportgen.manifest.shapes, without torch."""
    try:
        return "ok", named_shapes(layers, input_shape, num_classes)
    except LayerError as exc:
        return "error", exc.index, str(exc)


def _model_names(loaded) -> list[str]:
    return list(dict.fromkeys([*loaded.model_layers, *(r.model for r in loaded.runs)]))


# ---------------------------------------------------------------- the manifest stage imports no torch

IMPORT_CHECK = textwrap.dedent("""\
    import importlib, json, pkgutil, sys
    import reportgen.manifest
    for info in pkgutil.iter_modules(reportgen.manifest.__path__):
        importlib.import_module(f"reportgen.manifest.{info.name}")
    from reportgen.manifest.jsonschema import json_schema
    from reportgen.manifest.loaded import load_manifest
    from reportgen.manifest.shapes import check_shapes, layer_shapes
    for path in sys.argv[1:]:
        loaded = load_manifest(path, ["train.epochs=2"])
        check_shapes(loaded)
        for name in loaded.model_layers:
            ds = loaded.manifest.dataset
            layer_shapes(loaded.layers_of(name), ds.input_shape(), ds.num_classes())
    json_schema()
    print(json.dumps(sorted(sys.modules)))
""")


def test_manifest_stage_imports_no_torch_numpy_or_jinja(tmp_path):
    """Importing every manifest module, loading manifests (prose files, class folders) and checking shapes."""
    for cls in ("cat", "dog", ".hidden"):
        (tmp_path / "images" / cls).mkdir(parents=True)
    folder_manifest = tmp_path / "folder.yaml"
    folder_manifest.write_text(textwrap.dedent("""\
        report: {title: T}
        dataset: {name: imagefolder, root: images, split: [60, 20, 20], image_size: 16}
        models:
          cnn: {layers: [{conv: {out: 4, kernel: 3}}, relu, global_avgpool, {linear: classes}]}
        experiments: [{id: a, model: cnn}]
        sections: [cover, {prose: {text: "Some *prose*."}}]
        """), "utf-8")
    manifests = [REPO / "experiments" / "digits.yaml", REPO / "experiments" / "en3150.yaml", folder_manifest]
    done = subprocess.run([sys.executable, "-c", IMPORT_CHECK, *map(str, manifests)], capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout.strip().splitlines()[-1])
    assert "reportgen.manifest.loaded" in modules and "reportgen.manifest.files" in modules
    loaded_heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert loaded_heavy == [], loaded_heavy
    assert not [m for m in modules if m.startswith("reportgen.") and not m.startswith(("reportgen.manifest",
                                                                                         "reportgen.errors",
                                                                                         "reportgen.hashing",
                                                                                         "reportgen.textsafe"))]


def test_image_folder_classes_are_read_by_the_manifest_stage(tmp_path):
    """scan_classes moved into reportgen.manifest.files: visible sub-folders, sorted."""
    from reportgen.manifest.files import scan_classes

    for name in ("zebra", "ant", ".git"):
        (tmp_path / name).mkdir()
    (tmp_path / "file.txt").write_text("x")
    assert scan_classes(tmp_path) == ["ant", "zebra"]
    assert scan_classes(tmp_path / "absent") == []


# ---------------------------------------------------------------- the shipped manifests

@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_layer_language_model_and_variant_matches_torch(path):
    loaded = load_manifest(path)
    networks = set(network_models(loaded))
    checked = 0
    for name in _model_names(loaded):
        dataset, network = model_context(loaded, name)
        if network is not None and network.source == "module":  # a Python file's shapes are torch's own
            continue
        assert (network is not None) == (name in networks)
        if network is not None:
            continue
        layers, shape, k = loaded.layers_of(name), dataset.input_shape(), dataset.num_classes()
        expected = by_torch(layers, shape, k)
        assert expected[0] == "ok", (name, expected)
        assert by_arithmetic(layers, shape, k) == expected, name
        assert layer_shapes(layers, shape, k) == [s for _, s in expected[1]]
        checked += 1
    assert checked >= 1
    assert check_shapes(loaded) == []


def test_networks_are_left_to_torch():
    loaded = load_manifest(REPO / "experiments" / "en3150.yaml")
    assert network_models(loaded) == ["resnet18", "densenet121", "googlenet"]


# ---------------------------------------------------------------- hand-picked stacks

CONV = {"conv": {"out": 4, "kernel": 3}}
TABLE = [
    # (input shape, classes, layers)
    ((1, 8, 8), 10, [CONV, "batchnorm", "relu", {"maxpool": 2}, "flatten", {"linear": 16}, "dropout",
                     {"linear": "classes"}]),
    ((3, 32, 32), 10, [{"conv": {"out": 8, "kernel": 5, "stride": 2, "padding": 2}}, "gelu",
                       {"avgpool": {"kernel": 3, "stride": 2, "padding": 1}}, "global_avgpool", "batchnorm",
                       {"linear": "classes"}]),
    ((3, 9, 13), 3, [{"conv": {"out": 2, "kernel": [3, 5], "stride": [2, 1], "padding": "valid"}},
                     {"maxpool": {"kernel": [2, 3]}}, "flatten", "flatten", {"linear": "classes"}]),
    ((1, 5, 7), 2, [{"conv": {"out": 3, "kernel": [5, 2], "padding": "same"}}, "leaky_relu", "flatten",
                    {"linear": 2}]),
    ((1, 4, 4), 2, [{"maxpool": {"kernel": 3, "stride": 1, "padding": 1}}, "flatten", {"linear": 2}]),
    # wrong input rank
    ((1, 8, 8), 10, ["flatten", CONV, {"linear": "classes"}]),
    ((1, 8, 8), 10, [CONV, {"linear": "classes"}]),
    ((1, 8, 8), 10, ["flatten", {"maxpool": 2}, {"linear": "classes"}]),
    ((1, 8, 8), 10, ["flatten", {"avgpool": 2}, {"linear": "classes"}]),
    ((1, 8, 8), 10, ["global_avgpool", "global_avgpool", {"linear": "classes"}]),
    # kernels larger than the (padded) input, pooling outputs of zero or fewer pixels
    ((1, 8, 8), 10, [{"conv": {"out": 4, "kernel": 9}}, "flatten", {"linear": "classes"}]),
    ((1, 8, 8), 10, [{"conv": {"out": 4, "kernel": [3, 11], "padding": 1}}, "flatten", {"linear": "classes"}]),
    ((1, 8, 8), 10, [{"maxpool": 2}, {"maxpool": 16}, "flatten", {"linear": "classes"}]),
    ((1, 1, 1), 10, [{"maxpool": {"kernel": 3, "stride": 1}}, "flatten", {"linear": "classes"}]),
    ((3, 1, 5), 10, [{"avgpool": {"kernel": 3, "stride": 1}}, "flatten", {"linear": "classes"}]),
    ((3, 6, 1), 10, [{"avgpool": {"kernel": [2, 2]}}, "flatten", {"linear": "classes"}]),
    # pool padding more than half the kernel: torch checks the height first, then the width
    ((1, 8, 8), 10, [{"maxpool": {"kernel": 2, "padding": 2}}, "flatten", {"linear": "classes"}]),
    ((1, 8, 8), 10, [{"avgpool": {"kernel": [4, 2], "padding": 2}}, "flatten", {"linear": "classes"}]),
    ((1, 8, 8), 10, [{"maxpool": {"kernel": [3, 4], "padding": 2}}, "flatten", {"linear": "classes"}]),
    # 'same' padding cannot be strided
    ((1, 8, 8), 10, [{"conv": {"out": 4, "kernel": 3, "stride": 2, "padding": "same"}}, "flatten",
                     {"linear": "classes"}]),
    # duplicate names, explicit and generated
    ((1, 8, 8), 10, [{"conv": {"out": 4, "kernel": 3, "name": "conv2"}}, CONV, "flatten", {"linear": "classes"}]),
    ((1, 8, 8), 10, [{"relu": {"name": "x"}}, {"dropout": {"name": "x"}}, "flatten", {"linear": "classes"}]),
    # not ending in one output per class
    ((1, 8, 8), 10, ["flatten", {"linear": 16}]),
    ((1, 8, 8), 10, [CONV, "relu"]),
    ((1, 8, 8), 64, ["flatten"]),
]


@pytest.mark.parametrize("input_shape, classes, items", TABLE)
def test_hand_picked_stacks_match_torch(input_shape, classes, items):
    layers = layers_of(*items)
    assert by_arithmetic(layers, input_shape, classes) == by_torch(layers, input_shape, classes)


def test_error_messages_are_build_models():
    """A few messages in full, so a change of wording on either side shows here."""
    cases = [
        ([{"conv": {"out": 4, "kernel": 9}}, "flatten", {"linear": "classes"}],
         (0, "conv cannot take an input of shape [1, 8, 8]: Calculated padded input size per channel: (8 x 8). "
             "Kernel size: (9 x 9). Kernel size can't be greater than actual input size")),
        ([{"maxpool": {"kernel": 2, "padding": 2}}, "flatten", {"linear": "classes"}],
         (0, "maxpool cannot take an input of shape [1, 8, 8]: pad should be at most half of effective kernel size, "
             "but got pad=2, kernel_size=2 and dilation=1")),
        ([{"maxpool": 2}, {"maxpool": 16}], (1, "maxpool cannot take an input of shape [1, 4, 4]: Given input size: "
                                              "(1x4x4). Calculated output size: (1x0x0). Output size is too small")),
        ([CONV, {"linear": "classes"}], (1, "linear cannot take an input of shape [4, 6, 6]: linear needs a flat "
                                          "input, got [4, 6, 6]; add `flatten` or `global_avgpool` before it")),
        ([CONV, CONV, {"conv": {"out": 4, "kernel": 3, "name": "conv2"}}], (2, "duplicate layer name 'conv2'")),
        (["flatten", {"linear": 16}], (1, "the model must end in 10 outputs (one per class), but it ends in [16]; "
                                         "finish with `linear: classes`")),
    ]
    for items, (index, message) in cases:
        with pytest.raises(LayerError) as exc:
            layer_shapes(layers_of(*items), (1, 8, 8), 10)
        assert (exc.value.index, str(exc.value)) == (index, message)


# ---------------------------------------------------------------- random stacks

_names = st.none() | st.sampled_from(["a", "b", "conv1", "conv2", "pool1", "fc1", "relu1"])
_size = st.integers(1, 6) | st.tuples(st.integers(1, 6), st.integers(1, 6)).map(list)
_stride = st.integers(1, 3) | st.tuples(st.integers(1, 3), st.integers(1, 3)).map(list)


def _named(kind: str, opts: dict, name) -> dict:
    return {kind: {**opts, **({"name": name} if name else {})}}


_conv = st.builds(lambda out, k, s, p, name: _named("conv", {"out": out, "kernel": k, "stride": s, "padding": p}, name),
                  st.integers(1, 6), _size, _stride, st.integers(0, 3) | st.sampled_from(["same", "valid"]), _names)
_pool = st.builds(lambda kind, k, s, p, name: _named(kind, {"kernel": k, "stride": s, "padding": p}, name),
                  st.sampled_from(["maxpool", "avgpool"]), _size, st.none() | _stride, st.integers(0, 2), _names)
_short_pool = st.builds(lambda kind, k: {kind: k}, st.sampled_from(["maxpool", "avgpool"]), st.integers(1, 4))
_linear = st.builds(lambda out, name: _named("linear", {"out": out}, name),
                    st.integers(1, 12) | st.just("classes"), _names)
_plain = st.sampled_from(["batchnorm", "relu", "gelu", "tanh", "leaky_relu", "dropout", "flatten", "global_avgpool",
                          {"dropout": 0.3}, {"elu": {"alpha": 0.5}}, {"batchnorm": {"name": "a"}}])
_layer = st.one_of(_conv, _conv, _pool, _short_pool, _linear, _plain)
_head = st.sampled_from([[], [{"linear": "classes"}], ["flatten", {"linear": "classes"}],
                         ["global_avgpool", {"linear": "classes"}], ["flatten", {"linear": 8}, "relu",
                                                                     {"linear": "classes"}]])
_input = st.tuples(st.sampled_from([1, 3]), st.integers(1, 20), st.integers(1, 20))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.lists(_layer, min_size=0, max_size=6), head=_head, input_shape=_input, classes=st.integers(2, 10))
def test_random_stacks_match_torch(body, head, input_shape, classes):
    items = body + head
    if not items:
        items = ["flatten"]
    layers = layers_of(*items)
    assert by_arithmetic(layers, input_shape, classes) == by_torch(layers, input_shape, classes)


@settings(max_examples=150, deadline=None)
@given(body=st.lists(st.one_of(_conv, _short_pool, st.sampled_from(["relu", "batchnorm"])), min_size=1, max_size=4),
       size=st.integers(4, 32))
def test_random_valid_looking_cnns_match_torch(body, size):
    """Conv/pool stacks on square images with a proper head: mostly buildable, so the shapes get compared."""
    layers = layers_of(*body, "flatten", {"linear": "classes"})
    assert by_arithmetic(layers, (3, size, size), 10) == by_torch(layers, (3, size, size), 10)


# ---------------------------------------------------------------- check_shapes locates like check_models

BAD = """\
report: {title: Shapes}
dataset: {name: digits, image_size: 8, channels: 1}
models:
  cnn:
    layers:
      - conv: {out: 4, kernel: 3, padding: same}
      - relu
      - maxpool: 2
      - flatten
      - linear: classes
  flat_missing:
    layers: [{conv: {out: 4, kernel: 3}}, {linear: classes}]
  big_pool:
    layers: [{maxpool: 2}, {maxpool: 16}, flatten, {linear: classes}]
  no_classes:
    layers: [flatten, {linear: 16}]
  wide_kernel:
    extends: cnn
    kernel: 9
    padding: 0
  unused_bad:
    layers: [{conv: {out: 4, kernel: 30}}, flatten, {linear: classes}]
experiments:
  - {id: a, model: cnn}
  - {id: b, model: flat_missing}
  - {id: c, model: big_pool}
  - {id: d, model: no_classes}
  - {id: e, model: wide_kernel}
  - id: kernels
    model: cnn
    sweep: {model.kernel: [3, 11], model.padding: [0]}
  - id: pools
    model: cnn
    sweep: {model.pool: [2, 9]}
  - id: small
    model: cnn
    dataset: {image_size: 4, channels: 1}
  - id: smaller
    model: cnn
    dataset: {image_size: 4}
    sweep: {model.pool: [8]}
"""


def test_check_shapes_finds_and_locates_what_check_models_does(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, "utf-8")
    loaded = load_manifest(path)
    expected = check_models(loaded)
    found = check_shapes(loaded)
    assert found == expected
    keys = {p.path for p in found}
    assert {"models.flat_missing.layers[1]", "models.big_pool.layers[1]", "models.no_classes.layers[1]",
            "models.wide_kernel", "models.unused_bad.layers[0]", "experiments[5].sweep",
            "experiments[6].sweep", "experiments[8].sweep"} <= keys, keys
    assert all(p.line > 1 for p in found)


def test_check_shapes_skips_networks(tmp_path):
    text = BAD.replace("models:\n", "models:\n  net: {torchvision: resnet18, weights: none}\n") \
        .replace("experiments:\n", "experiments:\n  - {id: n, model: net}\n")
    path = tmp_path / "net.yaml"
    path.write_text(text, "utf-8")
    loaded = load_manifest(path)
    assert network_models(loaded) == ["net"]
    assert not [p for p in check_shapes(loaded) if "net" in p.path.split(".")]
