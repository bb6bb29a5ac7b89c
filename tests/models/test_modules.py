"""`module: FILE.py:CLASS` models and residual/branches blocks in the layer language.

A ResNet written in the layer language and the same ResNet in a Python file are built, counted and (in one tiny
real build) trained and rendered: their parameter tables agree row for row, block for block and in total, and the
HTML read back shows each block as a foldable group whose count is the sum of its rows. Validate, render and check
never import a module file (it leaves a marker when imported); build does, and editing the file retrains its run.
"""

from __future__ import annotations

import math

import pytest
import torch
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from torch import nn

from reportgen.errors import ManifestError
from reportgen.manifest.digest import run_digests
from reportgen.manifest.layers import RESERVED_NAMES, LayerItem, normalize, walk
from reportgen.manifest.loaded import load_manifest
from reportgen.manifest.shapes import LayerError, check_shapes, named_shapes
from reportgen.models.build import build_manifest_model, build_model, check_models, model_record
from reportgen.models.layers import Branches, Residual
from reportgen.models.params import block_summary, summarize
from reportgen.models.pretrained import blocks as network_blocks

from conftest import cli

_ITEM = TypeAdapter(LayerItem)

RESNET_PY = '''\
import pathlib

import torch
from torch import nn

pathlib.Path(__file__).with_name("imported.marker").write_text("imported")


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(y + (x if self.down is None else self.down(x)))


class ResNet(nn.Module):
    def __init__(self, num_classes, in_channels, width=4):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.layer1 = Block(width, width, 1)
        self.layer2 = Block(width, 2 * width, 2)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x):
        x = self.layer2(self.layer1(self.relu(self.bn1(self.conv1(x)))))
        return self.fc(x.mean(dim=(2, 3)))


class Scale(nn.Module):
    """A leaf of a kind reportgen has no formula for."""

    def __init__(self, channels):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x):
        return x * self.gain


class Tokens(nn.Module):
    """Owns a cls token directly, besides its children."""

    def __init__(self, num_classes, width=4):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, width))
        self.embed = nn.Conv2d(1, width, 4, 4)
        self.scale = Scale(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.scale(self.embed(x)).flatten(2).mean(2)
        return self.head(x + self.cls_token)
'''

CONV = "{{conv: {{out: {o}, kernel: {k}, stride: {s}, padding: {p}, bias: false}}}}"


def conv(o: int, k: int = 3, s: int = 1, p: int = 1) -> str:
    return CONV.format(o=o, k=k, s=s, p=p)


MANIFEST = f"""\
report: {{title: Blocks and modules}}
dataset: {{name: digits, image_size: 8, channels: 1, seed: 7}}
models:
  yaml_resnet:
    layers:
      - {conv(4)}
      - batchnorm
      - relu
      - residual:
          layers: [{conv(4)}, batchnorm, relu, {conv(4)}, batchnorm]
          activation: relu
      - residual:
          layers: [{conv(8, s=2)}, batchnorm, relu, {conv(8)}, batchnorm]
          shortcut: [{conv(8, k=1, s=2, p=0)}, batchnorm]
          activation: relu
      - global_avgpool
      - linear: classes
  py_resnet:
    module: nets/resnet.py:ResNet
    args: {{width: 4}}
  tokens:
    module: nets/resnet.py:Tokens
train:
  epochs: 1
  batch_size: 256
  device: cpu
  seed: 0
  measure: {{warmup: 1, latency_repeats: 3, throughput_batch: 16, throughput_repeats: 1}}
experiments:
  - {{id: y, model: yaml_resnet}}
  - {{id: p, model: py_resnet}}
  - {{id: t, model: tokens}}
sections: [architecture, parameters]
"""


def write(folder, manifest: str = MANIFEST, module: str = RESNET_PY):
    """The manifest and its module file in folder; returns the manifest's path."""
    (folder / "nets").mkdir(parents=True, exist_ok=True)
    (folder / "nets" / "resnet.py").write_text(module, "utf-8")
    path = folder / "m.yaml"
    path.write_text(manifest, "utf-8")
    return path


def marker(folder) -> bool:
    return (folder / "nets" / "imported.marker").exists()


def layers_of(*items) -> list[tuple[str, dict]]:
    return [normalize(_ITEM.validate_python(item)) for item in items]


def evaluate(formula: str) -> tuple[int, int]:
    """'a × b + c = N' → (left side's value, N)."""
    left, right = formula.split(" = ")
    value = sum(math.prod(int(f.replace(",", "")) for f in term.split("×")) for term in left.split(" + "))
    return value, int(right.replace(",", ""))


def param_rows(record: dict) -> list[int]:
    return [r["params"] for r in record["layers"] if r["params"]]


# ---------------------------------------------------------------- the layer language: shapes both ways


def by_torch(layers, shape, classes):
    try:
        model = build_model(layers, shape, classes)
    except LayerError as exc:
        return "error", exc.index, exc.sub, str(exc)
    x, out = torch.zeros(2, *shape), []
    with torch.no_grad():
        for name, module in model.named_children():
            x = module.eval()(x)
            out.append((name, tuple(x.shape[1:])))
    return "ok", out


def by_arithmetic(layers, shape, classes):
    try:
        return "ok", named_shapes(layers, shape, classes)
    except LayerError as exc:
        return "error", exc.index, exc.sub, str(exc)


def test_branch_block_concatenates_channels_and_keeps_the_rest():
    layers = layers_of({"conv": {"out": 3, "kernel": 3, "padding": 1}},
                       {"branches": [[{"conv": {"out": 4, "kernel": 1}}],
                                     [{"conv": {"out": 6, "kernel": 3, "padding": 1}}, "relu"],
                                     [{"maxpool": {"kernel": 3, "stride": 1, "padding": 1}}]]},
                       "flatten", {"linear": "classes"})
    shapes = named_shapes(layers, (1, 8, 8), 10)
    assert shapes == [("conv1", (3, 8, 8)), ("branch1", (4 + 6 + 3, 8, 8)), ("flatten1", (13 * 64,)), ("fc1", (10,))]
    model = build_model(layers, (1, 8, 8), 10)
    assert isinstance(model.branch1, Branches)
    assert [n for n, _ in model.branch1.named_children()] == ["path1", "path2", "path3"]
    assert tuple(model.branch1(torch.zeros(2, 3, 8, 8)).shape) == (2, 13, 8, 8)
    assert by_torch(layers, (1, 8, 8), 10) == by_arithmetic(layers, (1, 8, 8), 10)


def test_residual_block_adds_its_shortcut_and_activates_after_the_sum():
    layers = layers_of({"residual": {"layers": [{"conv": {"out": 2, "kernel": 1, "bias": False}}],
                                     "shortcut": [{"conv": {"out": 2, "kernel": 1, "bias": False}}],
                                     "activation": "relu"}}, "flatten", {"linear": "classes"})
    model = build_model(layers, (1, 2, 2), 2)
    res = model.res1
    assert isinstance(res, Residual) and [n for n, _ in res.named_children()] == ["conv1", "shortcut", "relu1"]
    with torch.no_grad():
        res.conv1.weight.fill_(1.0)
        res.shortcut.conv1.weight.fill_(-3.0)
        x = torch.tensor([[[[1.0, -1.0], [2.0, 0.5]]]])
        assert torch.equal(res(x), torch.relu(x - 3 * x).expand(1, 2, 2, 2))
    identity = build_model(layers_of({"residual": ["tanh"]}, "flatten", {"linear": "classes"}), (1, 2, 2), 4)
    x = torch.randn(3, 1, 2, 2)
    assert torch.allclose(identity.res1(x), torch.tanh(x) + x)


_block_conv = st.builds(lambda o, k, s, p: {"conv": {"out": o, "kernel": k, "stride": s, "padding": p}},
                        st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.integers(0, 1))
_inner = st.lists(st.one_of(_block_conv, st.sampled_from(["relu", "batchnorm", {"maxpool": 2}])), min_size=1,
                  max_size=3)
_block = st.one_of(
    st.builds(lambda body, short, act: {"residual": {"layers": body, "shortcut": short, "activation": act}},
              _inner, st.none() | _inner, st.none() | st.just("relu")),
    st.builds(lambda paths: {"branches": paths}, st.lists(_inner, min_size=2, max_size=3)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(st.one_of(_block, _block_conv), min_size=1, max_size=3), size=st.integers(2, 9),
       channels=st.sampled_from([1, 2, 3]))
def test_random_block_stacks_match_torch(items, size, channels):
    """Shapes, names, and every error's item, path inside the block and message: the same by arithmetic and torch."""
    layers = layers_of(*items, "flatten", {"linear": "classes"})
    assert by_arithmetic(layers, (channels, size, size), 3) == by_torch(layers, (channels, size, size), 3)


# ---------------------------------------------------------------- located errors


def test_a_mismatched_shortcut_is_located_at_its_key(tmp_path):
    bad = MANIFEST.replace(conv(8, k=1, s=2, p=0), conv(8, k=1, s=1, p=0))
    path = write(tmp_path, bad)
    line = next(i for i, text in enumerate(bad.splitlines(), 1) if "shortcut:" in text)
    problems = check_shapes(load_manifest(path))
    assert [(p.line, p.path) for p in problems] == [(line, "models.yaml_resnet.layers[4].residual.shortcut")]
    message = problems[0].message
    assert message.startswith("residual block res2: its shortcut gives [8, 8, 8] but its layers give [8, 4, 4]")
    assert "stride: 2" in message  # the shortcut that would fit
    assert check_models(load_manifest(path)) == problems  # the build path says the same, at the same place
    result = cli("validate", path)
    assert result.exit_code == 2 and f"m.yaml:{line}:11: models.yaml_resnet.layers[4].residual.shortcut:" in result.output


def test_errors_inside_blocks_are_located_at_the_inner_layer(tmp_path):
    text = MANIFEST.replace("      - global_avgpool\n", "      - residual: [relu, {conv: {out: 8, kernel: 9}}]\n"
                                                       "      - global_avgpool\n")
    path = write(tmp_path, text)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "kernel: 9" in t)
    (problem,) = check_shapes(load_manifest(path))
    assert (problem.line, problem.path) == (line, "models.yaml_resnet.layers[5].residual[1]")
    assert problem.message.startswith("in res3: conv cannot take an input of shape [8, 4, 4]")
    identity = MANIFEST.replace("      - global_avgpool\n", "      - residual: [" + conv(16) + "]\n"
                                                           "      - global_avgpool\n")
    (problem,) = check_shapes(load_manifest(write(tmp_path, identity)))
    assert problem.path == "models.yaml_resnet.layers[5].residual"
    assert "its layers turn [8, 4, 4] into [16, 4, 4], but without a `shortcut:`" in problem.message


def test_branch_paths_that_disagree_are_located(tmp_path):
    text = MANIFEST.replace("      - global_avgpool\n", f"      - branches: [[{conv(2)}], [{conv(2, s=2)}]]\n"
                                                       "      - global_avgpool\n")
    (problem,) = check_shapes(load_manifest(write(tmp_path, text)))
    assert problem.path == "models.yaml_resnet.layers[5].branches[1]"
    assert problem.message == ("branches block branch1: path 2 gives [2, 2, 2] but path 1 gives [2, 4, 4]; the paths "
                               "are concatenated on channels, so every other size must be equal")


@pytest.mark.parametrize("name", ["forward", "training", "_hidden", "eval"])
def test_layer_names_clashing_with_module_attributes_are_manifest_errors(tmp_path, name):
    text = MANIFEST.replace("      - batchnorm\n", f"      - batchnorm: {{name: {name}}}\n", 1)
    loaded = load_manifest(write(tmp_path, text))
    expected = [p for p in check_models(loaded) if "yaml_resnet" in p.path]
    assert [p.path for p in expected] == ["models.yaml_resnet.layers[1]"]
    assert f"layer name {name!r} clashes with an attribute of PyTorch's nn.Module" in expected[0].message
    assert [p for p in check_shapes(loaded) if "yaml_resnet" in p.path] == expected


def test_reserved_names_cover_every_attribute_torch_would_refuse():
    taken = {n for cls in (nn.Sequential, Residual, Branches) for n in dir(cls) if not n.startswith("_")}
    taken |= {n for n in vars(nn.Sequential()) if not n.startswith("_")}
    assert taken <= RESERVED_NAMES | {"shortcut"}


def test_variants_of_models_with_blocks(tmp_path):
    text = MANIFEST.replace("  py_resnet:", "  wide: {extends: yaml_resnet, channels: [8, 8, 8, 16, 16, 16]}\n"
                            "  smooth: {extends: yaml_resnet, activation: gelu}\n  py_resnet:")
    text = text.replace("  - {id: y, model: yaml_resnet}", "  - {id: y, model: yaml_resnet}\n  - {id: s, model: smooth}"
                        "\n  - {id: k, model: yaml_resnet, sweep: {model.kernel: [5]}}")
    with pytest.raises(ManifestError) as caught:
        load_manifest(write(tmp_path, text))
    found = {p.path: p.message for p in caught.value.problems}
    assert set(found) == {"models.wide.channels", "experiments[2].sweep.model.kernel"}
    assert "`channels` would change layers inside residual/branches blocks" in found["models.wide.channels"]
    loaded = load_manifest(write(tmp_path, text.replace("  wide: {extends: yaml_resnet, channels: [8, 8, 8, 16, 16, "
                                                        "16]}\n", "").replace("  - {id: k, model: yaml_resnet, sweep:"
                                                                              " {model.kernel: [5]}}\n", "")))
    smooth = loaded.layers_of("smooth")
    assert [k for k, _ in walk(smooth) if k in ("relu", "gelu")] == ["gelu"] * 3
    assert [o["activation"] for k, o in smooth if k == "residual"] == ["gelu", "gelu"]
    assert [k for k, _ in walk(loaded.layers_of("yaml_resnet")) if k in ("relu", "gelu")] == ["relu"] * 3
    model = model_record(loaded, "smooth")
    assert [r["type"] for r in model["layers"]].count("GELU") == 3 + 2 and model["total_params"] == \
        model_record(loaded, "yaml_resnet")["total_params"]


# ---------------------------------------------------------------- module models


def test_validate_reads_the_module_file_without_importing_it(tmp_path):
    path = write(tmp_path)
    result = cli("validate", path)
    assert result.exit_code == 0, result.output
    assert not marker(tmp_path)
    notes = [line for line in result.output.splitlines() if line.startswith("note:")]
    assert len(notes) == 2 and all("runs its code" in n and "nets/resnet.py" in n for n in notes)
    assert notes[0].startswith("note: ") and "m.yaml:" in notes[0] and "models.py_resnet.module" in notes[0]
    loaded = load_manifest(path)
    assert check_shapes(loaded) == [] and not marker(tmp_path)
    check_models(loaded)  # what build and run do first
    assert marker(tmp_path)


def test_a_module_raising_at_import_passes_validate_and_stops_build_with_a_located_error(tmp_path):
    path = write(tmp_path, module=RESNET_PY + "\nraise RuntimeError('not on this machine')\n")
    assert cli("validate", path).exit_code == 0
    result = cli("build", path, "--no-pdf")
    line = next(i for i, t in enumerate(MANIFEST.splitlines(), 1) if "nets/resnet.py:ResNet" in t)
    assert result.exit_code == 2
    assert f"m.yaml:{line}:5: models.py_resnet.module: importing nets/resnet.py failed (line " in result.output
    assert "RuntimeError: not on this machine" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "output").exists() or not list((tmp_path / "output").rglob("results.json"))


@pytest.mark.parametrize("module, args, message", [
    ("nets/missing.py:ResNet", None, "module file not found: nets/missing.py"),
    ("../elsewhere/resnet.py:ResNet", None, "module files must lie inside the manifest's folder"),
    ("nets/resnet.py:Resnet", None, "nets/resnet.py defines no top-level class 'Resnet' (did you mean 'ResNet'?)"),
    ("nets/resnet.py:ResNet", "{width: -1}", "ResNet(width=-1, num_classes=10, in_channels=1) raised RuntimeError"),
    ("nets/resnet.py:ResNet", "{depth: 3}", "ResNet(depth=3, num_classes=10, in_channels=1) raised TypeError"),
    ("nets/resnet.py:Block", "{cin: 1, cout: 2, stride: 1}", "Block maps a batch of [2, 1, 8, 8] images to "
                                                             "[2, 2, 8, 8]; it must return (batch, 10)"),
    ("nets/resnet.py:Block", "{cin: 3, cout: 2, stride: 1}", "Block cannot take a batch of [2, 1, 8, 8] images: "
                                                             "RuntimeError"),
    ("nets/resnet.py:pathlib", None, "pathlib in nets/resnet.py is not a torch.nn.Module class"),
])
def test_module_mistakes_are_one_located_message(tmp_path, module, args, message):
    text = MANIFEST.replace("    module: nets/resnet.py:ResNet\n    args: {width: 4}\n",
                            f"    module: {module}\n" + (f"    args: {args}\n" if args else ""))
    loaded = load_manifest(write(tmp_path, text))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if f"module: {module}" in t)
    problems = [p for p in check_models(loaded) if "py_resnet" in p.path]
    assert [(p.line, p.path) for p in problems] == [(line, "models.py_resnet.module")], problems
    assert message in problems[0].message, problems[0].message
    static = [p for p in check_shapes(loaded) if "py_resnet" in p.path]
    assert static == (problems if any(w in message for w in ("found", "top-level", "inside")) else [])


def test_the_constructor_gets_num_classes_and_in_channels_where_it_names_them(tmp_path):
    loaded = load_manifest(write(tmp_path))
    resnet = build_manifest_model(loaded, "py_resnet")
    assert resnet.conv1.in_channels == 1 and resnet.fc.out_features == 10 and resnet.conv1.out_channels == 4
    tokens = build_manifest_model(loaded, "tokens")  # takes num_classes and width, not in_channels
    assert tokens.head.out_features == 10 and tokens.cls_token.shape == (1, 4)


def test_editing_the_module_file_changes_only_its_runs_digests(tmp_path):
    path = write(tmp_path)
    before = run_digests(load_manifest(path), smoke=False)
    (tmp_path / "nets" / "resnet.py").write_text(RESNET_PY + "# tuned\n", "utf-8")
    after = run_digests(load_manifest(path), smoke=False)
    assert before["y"] == after["y"]
    assert before["p"] != after["p"] and before["t"] != after["t"]
    assert not marker(tmp_path)


# ---------------------------------------------------------------- parameter tables


def test_the_resnet_counts_the_same_in_yaml_and_in_python(tmp_path):
    loaded = load_manifest(write(tmp_path))
    yaml_rec, py_rec = model_record(loaded, "yaml_resnet"), model_record(loaded, "py_resnet")
    assert param_rows(yaml_rec) == param_rows(py_rec) == [36, 8, 144, 8, 144, 8, 288, 16, 576, 16, 32, 16, 90]
    outer = {rec["source"]: [g["params"] for g in rec["groups"] if g["depth"] == 0] for rec in (yaml_rec, py_rec)}
    assert outer["custom"] == outer["module"] == [144 + 8 + 144 + 8, 288 + 16 + 576 + 16 + 32 + 16]
    inner = {rec["source"]: [(g["depth"], g["params"]) for g in rec["groups"] if g["depth"]] for rec in (yaml_rec, py_rec)}
    assert inner["custom"] == inner["module"] == [(1, 48)]  # the strided shortcut, `down` in the Python file
    for name, rec in (("yaml_resnet", yaml_rec), ("py_resnet", py_rec)):
        numel = sum(p.numel() for p in build_manifest_model(loaded, name).parameters())
        assert rec["total_params"] == numel == sum(r["params"] for r in rec["layers"]) == 1382
        for g in rec["groups"]:
            assert g["params"] == sum(r["params"] for r in rec["layers"][g["start"]:g["end"]])
            if g["formula"]:
                assert evaluate(g["formula"]) == (g["params"], g["params"])
    assert yaml_rec["groups"][0]["config"] == {"kind": "residual", "shortcut": "identity", "activation": "relu"}
    assert py_rec["module"] == "nets/resnet.py" and py_rec["class"] == "ResNet" and py_rec["args"] == {"width": 4}


def test_parameters_on_containers_and_unknown_leaves(tmp_path):
    rec = model_record(load_manifest(write(tmp_path)), "tokens")
    rows = {r["name"]: r for r in rec["layers"]}
    assert rows[""]["params"] == 4 and rows[""]["type"] == "Tokens"  # the cls token, on the model's own row
    assert rows[""]["formula"] == "1 × 4 = 4" and rows[""]["formula_known"] is False
    assert rows["scale"]["formula"] == "4 × 1 × 1 = 4" and rows["scale"]["formula_known"] is False
    assert "formula_known" not in rows["embed"] and rows["embed"]["formula"] == "1 × 4 × 4 × 4 + 4 = 68"
    assert rec["total_params"] == 4 + 68 + 4 + 50 == sum(r["params"] for r in rec["layers"])


@pytest.mark.slow
def test_nested_tables_of_a_torchvision_network_agree_with_its_block_table():
    import torchvision as tv
    torch.manual_seed(0)
    model = tv.models.resnet18(weights=None, num_classes=10)
    nested = summarize(model, (3, 16, 16), nested=True)
    blocks = network_blocks(model, "fc")
    by_block = {r["name"]: r["params"] for r in block_summary(model, (3, 16, 16), blocks, "fc")["blocks"]}
    outer = {g["name"]: g["params"] for g in nested["groups"] if g["depth"] == 0}
    assert outer == {k: v for k, v in by_block.items() if k.startswith("layer")}
    rows = {r["name"]: r["params"] for r in nested["layers"]}
    assert {k: rows[k] for k in ("conv1", "bn1", "fc")} == {k: by_block[k] for k in ("conv1", "bn1", "fc")}
    assert nested["total_params"] == sum(p.numel() for p in model.parameters()) == sum(rows.values())
    names = [r["name"] for r in nested["layers"]]
    for g in nested["groups"]:
        assert all(n.startswith(g["name"] + ".") for n in names[g["start"]:g["end"]])


# ---------------------------------------------------------------- one tiny real build, read back


def _table(soup: BeautifulSoup, section: str, model: str):
    heading = next(h for h in soup.select(f"section.{section} h3") if h.get_text(" ", strip=True).endswith(model))
    return heading.find_next("table")


def _count(cell) -> int:
    return int(cell.get_text(strip=True).replace(",", ""))


@pytest.mark.slow
def test_build_trains_renders_blocks_and_retrains_an_edited_module(tmp_path):
    path = write(tmp_path)
    out = tmp_path / "out"
    result = cli("build", path, "--out", out, "--no-pdf")
    assert result.exit_code == 0, result.output
    assert marker(tmp_path) and "note: " in result.output and "trained 3 run(s)" in result.output
    soup = BeautifulSoup((out / "report.html").read_text("utf-8"), "html.parser")
    counts = {}
    for name in ("yaml_resnet", "py_resnet"):
        table = _table(soup, "parameters", name)
        blocks = table.select("tbody.block")
        assert len(blocks) == 2
        for body in blocks:
            head, *rows = body.find_all("tr")
            label = head.find("label", class_="fold-label")  # the block folds by a box before its table
            assert "block-head" in head["class"] and soup.find("input", id=label["for"]).has_attr("checked")
            leaves = [r for r in rows if "block-head" not in r.get("class", [])]
            assert _count(head.find_all("td")[4]) == sum(_count(r.find_all("td")[4]) for r in leaves)
            value, total = evaluate(head.find("td", class_="formula").get_text(" ", strip=True))
            assert value == total == _count(head.find_all("td")[4])
        counts[name] = [_count(r.find_all("td")[4]) for r in table.select("tbody tr")
                        if "block-head" not in r.get("class", []) and _count(r.find_all("td")[4])]
        assert _count(table.select_one("tfoot tr").find("th", class_="num")) == 1382
        line = table.find_next("p", class_="sum").get_text(" ", strip=True)
        assert line.startswith("Sum of the blocks and the layers outside them:") and "= 1,382" in line
    assert counts["yaml_resnet"] == counts["py_resnet"] == [36, 8, 144, 8, 144, 8, 288, 16, 576, 16, 32, 16, 90]
    tokens = _table(soup, "parameters", "tokens").get_text(" ", strip=True)
    assert "(model) (own parameters)" in tokens and "formula not known; tensors 4 × 1 × 1 = 4" in tokens
    arch = _table(soup, "architecture", "yaml_resnet").get_text(" ", strip=True)
    assert "its layers + its shortcut, then relu" in arch and "its layers + the block's input (identity shortcut)" in arch
    assert "The class ResNet of nets/resnet.py" in soup.select_one("section.architecture").get_text(" ", strip=True)

    (tmp_path / "nets" / "imported.marker").unlink()
    for args in (("render", path, "--out", out, "--no-pdf"), ("check", out, "--no-pdf")):
        done = cli(*args)
        assert done.exit_code == 0, done.output
    assert not marker(tmp_path)

    module = tmp_path / "nets" / "resnet.py"
    module.write_text(module.read_text("utf-8") + "\n# one more comment\n", "utf-8")
    again = cli("build", path, "--out", out, "--no-pdf")
    assert again.exit_code == 0, again.output
    assert "trained 2 run(s), 1 cached" in again.output  # both runs of the edited file, not the YAML model
