"""Tests for reportgen.models.params: per-layer parameter tables from forward hooks."""

from __future__ import annotations

import copy
import itertools
import json
import math

import pytest
import torch
from torch import nn

from reportgen.models import params as P
from reportgen.models.params import format_int, summarize

TIMES = "\u00d7"


def evaluate(formula: str) -> tuple[int, int]:
    """Independently evaluate 'a × b + c = N': returns (value of the left side, N)."""
    left, right = formula.split(" = ")
    value = sum(math.prod(int(f.strip().replace(",", "")) for f in term.split(TIMES)) for term in left.split(" + "))
    return value, int(right.strip().replace(",", ""))


def check(model: nn.Module, shape: tuple[int, ...]) -> dict:
    """Summarize and verify every invariant that must hold for any model."""
    before = copy.deepcopy(model.state_dict())
    modes = {n: m.training for n, m in model.named_modules()}
    s = summarize(model, shape)
    assert json.loads(json.dumps(s)) == s
    for row in s["layers"]:
        assert set(row) == {"name", "type", "output_shape", "params", "trainable", "buffers", "formula", "buffer_formula"}
        assert all(type(x) is int for x in row["output_shape"])
        for key, count in (("formula", "params"), ("buffer_formula", "buffers")):
            if row[count]:
                left, right = evaluate(row[key])
                assert left == right == row[count], row
            else:
                assert row[key] == "", row
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert s["total_params"] == total == sum(r["params"] for r in s["layers"])
    assert s["trainable_params"] == trainable == sum(r["trainable"] for r in s["layers"])
    assert s["non_trainable_params"] == total - trainable
    assert s["buffer_params"] == sum(r["buffers"] for r in s["layers"])
    assert s["keras_total_params"] == total + s["buffer_params"]
    assert s["keras_non_trainable_params"] == total - trainable + s["buffer_params"]
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert modes == {n: m.training for n, m in model.named_modules()}
    return s


def only(s: dict) -> dict:
    """The single row of a one-layer summary."""
    assert len(s["layers"]) == 1
    return s["layers"][0]


def out_shape(layer: nn.Module, shape: tuple[int, ...]) -> list[int]:
    """Reference output shape, computed by calling the layer directly."""
    with torch.no_grad():
        return list(layer.eval()(torch.zeros(1, *shape)).shape[1:])


def test_format_int():
    assert [format_int(n) for n in (0, 7, 999, 1000, 2432, 131136, 1234567)] == \
        ["0", "7", "999", "1,000", "2,432", "131,136", "1,234,567"]


CONV_CASES = [
    (k, pad, stride, bias, groups)
    for k, pad, stride, bias, groups in itertools.product(
        [1, 3, 5, (3, 5)], [0, 2, "same"], [1, 2], [True, False], [1, 2, "depthwise"])
    if not (pad == "same" and stride == 2)
]


@pytest.mark.parametrize("k,pad,stride,bias,groups", CONV_CASES)
def test_conv2d(k, pad, stride, bias, groups):
    cin, cout, g = (8, 8, 8) if groups == "depthwise" else (4, 6, groups)
    layer = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=bias, groups=g)
    row = only(check(layer, (cin, 11, 12)))
    kh, kw = (k, k) if isinstance(k, int) else k
    assert row["params"] == layer.weight.numel() + (cout if bias else 0) == (cin // g) * cout * kh * kw + bias * cout
    want = f"{cin // g} × {cout} × {kh} × {kw}" + (f" + {cout}" if bias else "")
    assert row["formula"] == f"{want} = {row['params']:,}"
    assert row["output_shape"] == out_shape(layer, (cin, 11, 12))
    assert row["type"] == "Conv2d" and row["name"] == "" and row["buffers"] == 0


@pytest.mark.parametrize("bias,want", [(True, "3 × 32 × 5 × 5 + 32 = 2,432"), (False, "3 × 32 × 5 × 5 = 2,400")])
def test_conv2d_spec_examples(bias, want):
    assert only(check(nn.Conv2d(3, 32, 5, padding=2, bias=bias), (3, 32, 32)))["formula"] == want


def test_depthwise_example():
    row = only(check(nn.Conv2d(32, 32, 3, groups=32), (32, 8, 8)))
    assert row["formula"] == "1 × 32 × 3 × 3 + 32 = 320" and row["params"] == 320


@pytest.mark.parametrize("layer,shape,want", [
    (nn.Conv1d(3, 16, 7, padding=3), (3, 50), "3 × 16 × 7 + 16 = 352"),
    (nn.Conv1d(4, 8, 3, groups=2, bias=False, stride=2), (4, 20), "2 × 8 × 3 = 48"),
    (nn.Conv3d(2, 4, (1, 3, 3)), (2, 4, 6, 6), "2 × 4 × 1 × 3 × 3 + 4 = 76"),
    (nn.ConvTranspose2d(8, 6, 4, stride=2, groups=2), (8, 5, 5), "8 × 3 × 4 × 4 + 6 = 390"),
    (nn.ConvTranspose1d(3, 5, 2, bias=False), (3, 9), "3 × 5 × 2 = 30"),
])
def test_other_convs(layer, shape, want):
    row = only(check(layer, shape))
    assert row["formula"] == want
    assert row["output_shape"] == out_shape(layer, shape)


@pytest.mark.parametrize("layer,shape,want,out", [
    (nn.Linear(2048, 64), (2048,), "2,048 × 64 + 64 = 131,136", [64]),
    (nn.Linear(2048, 64, bias=False), (2048,), "2,048 × 64 = 131,072", [64]),
    (nn.Linear(5, 3), (7, 5), "5 × 3 + 3 = 18", [7, 3]),
])
def test_linear(layer, shape, want, out):
    row = only(check(layer, shape))
    assert (row["formula"], row["output_shape"], row["type"]) == (want, out, "Linear")


@pytest.mark.parametrize("layer,shape,formula,params,buffer_formula", [
    (nn.BatchNorm2d(32), (32, 4, 4), "2 × 32 = 64", 64, "2 × 32 = 64"),
    (nn.BatchNorm2d(32, affine=False), (32, 4, 4), "", 0, "2 × 32 = 64"),
    (nn.BatchNorm1d(10), (10,), "2 × 10 = 20", 20, "2 × 10 = 20"),
    (nn.BatchNorm1d(10, affine=False), (10, 6), "", 0, "2 × 10 = 20"),
    (nn.BatchNorm2d(8, track_running_stats=False), (8, 4, 4), "2 × 8 = 16", 16, ""),
    (nn.LayerNorm(16), (5, 16), "2 × 16 = 32", 32, ""),
    (nn.LayerNorm((4, 6)), (4, 6), "2 × 4 × 6 = 48", 48, ""),
    (nn.LayerNorm(16, elementwise_affine=False), (16,), "", 0, ""),
    (nn.LayerNorm(16, bias=False), (16,), "16 = 16", 16, ""),
    (nn.GroupNorm(4, 12), (12, 3, 3), "2 × 12 = 24", 24, ""),
    (nn.GroupNorm(4, 12, affine=False), (12, 3, 3), "", 0, ""),
])
def test_norm_layers(layer, shape, formula, params, buffer_formula):
    row = only(check(layer, shape))
    assert (row["formula"], row["params"], row["buffer_formula"]) == (formula, params, buffer_formula)
    assert row["output_shape"] == list(shape)


@pytest.mark.parametrize("layer,shape,out", [
    (nn.MaxPool2d(2), (3, 8, 8), [3, 4, 4]),
    (nn.AvgPool2d(3, stride=2, padding=1), (3, 8, 8), [3, 4, 4]),
    (nn.AdaptiveAvgPool2d(1), (5, 7, 7), [5, 1, 1]),
    (nn.MaxPool1d(2), (3, 10), [3, 5]),
    (nn.Dropout(0.5), (10,), [10]),
    (nn.Dropout2d(0.2), (3, 4, 4), [3, 4, 4]),
    (nn.ReLU(), (3, 4), [3, 4]),
    (nn.Flatten(), (2, 3, 4), [24]),
])
def test_parameter_free_layers(layer, shape, out):
    row = only(check(layer, shape))
    assert (row["params"], row["buffers"], row["formula"], row["output_shape"]) == (0, 0, "", out)


class Embed(nn.Module):
    """Embedding behind a float-to-index cast (summarize feeds zeros)."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(1000, 32)

    def forward(self, x):
        return self.emb(x.long())


def test_embedding():
    row = only(check(Embed(), (12,)))
    assert (row["name"], row["formula"], row["output_shape"]) == ("emb", "1,000 × 32 = 32,000", [12, 32])


def en3150_cnn() -> nn.Sequential:
    """The EN3150 assignment CNN."""
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 5, padding=2), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*block(3, 32), *block(32, 64), *block(64, 128), nn.Flatten(),
                         nn.Linear(2048, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 10))


def test_en3150_cnn():
    model = en3150_cnn()
    s = check(model, (3, 32, 32))
    rows = s["layers"]
    assert [r["name"] for r in rows] == [str(i) for i in range(17)]
    assert [r["type"] for r in rows[:4]] == ["Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d"]
    assert [r["output_shape"] for r in rows] == [
        [32, 32, 32], [32, 32, 32], [32, 32, 32], [32, 16, 16],
        [64, 16, 16], [64, 16, 16], [64, 16, 16], [64, 8, 8],
        [128, 8, 8], [128, 8, 8], [128, 8, 8], [128, 4, 4],
        [2048], [64], [64], [64], [10]]
    conv = lambda cin, cout: cin * cout * 25 + cout  # noqa: E731
    assert [r["params"] for r in rows] == [
        conv(3, 32), 64, 0, 0, conv(32, 64), 128, 0, 0, conv(64, 128), 256, 0, 0,
        0, 2048 * 64 + 64, 0, 0, 64 * 10 + 10]
    assert rows[0]["formula"] == "3 × 32 × 5 × 5 + 32 = 2,432"
    assert rows[4]["formula"] == "32 × 64 × 5 × 5 + 64 = 51,264"
    assert rows[13]["formula"] == "2,048 × 64 + 64 = 131,136"
    assert rows[16]["formula"] == "64 × 10 + 10 = 650"
    assert rows[1]["buffer_formula"] == "2 × 32 = 64" and rows[1]["buffers"] == 64
    total = sum(p.numel() for p in model.parameters())
    assert s["total_params"] == total == 390_858
    assert s["trainable_params"] == total and s["non_trainable_params"] == 0
    assert s["buffer_params"] == 2 * (32 + 64 + 128) == 448
    assert s["keras_total_params"] == total + 448 and s["keras_non_trainable_params"] == 448
    assert s["input_shape"] == [3, 32, 32]


def test_state_and_modes_untouched():
    model = en3150_cnn()
    model.train()
    with torch.no_grad():  # make running stats non-trivial first
        model(torch.randn(4, 3, 32, 32))
    model[5].eval()  # mixed modes must be restored per module
    stats = {k: v.clone() for k, v in model.state_dict().items()}
    check(model, (3, 32, 32))
    assert model.training and not model[5].training and model[1].training
    assert all(torch.equal(stats[k], v) for k, v in model.state_dict().items())
    model.eval()
    check(model, (3, 32, 32))
    assert not model.training


def test_frozen_parameters():
    model = en3150_cnn()
    for p in model[0].parameters():
        p.requires_grad_(False)
    model[13].bias.requires_grad_(False)
    s = check(model, (3, 32, 32))
    assert s["non_trainable_params"] == 2432 + 64
    assert s["trainable_params"] == 390_858 - 2432 - 64
    assert s["keras_non_trainable_params"] == 2432 + 64 + 448
    assert (s["layers"][0]["trainable"], s["layers"][13]["trainable"]) == (0, 2048 * 64)


class Scaled(nn.Module):
    """A container that owns a parameter directly, next to child layers."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
        self.scale = nn.Parameter(torch.ones(3))
        self.offset = nn.Parameter(torch.zeros(2, 3))

    def forward(self, x):
        return self.body(x) * self.scale + self.offset[0]


def test_parameter_on_container():
    s = check(Scaled(), (4,))
    assert [(r["name"], r["type"], r["params"]) for r in s["layers"]] == [
        ("", "Scaled", 9), ("body.0", "Linear", 15), ("body.1", "ReLU", 0)]
    assert s["layers"][0]["formula"] == "3 + 2 × 3 = 9"
    assert s["layers"][0]["output_shape"] == [3]
    assert s["total_params"] == 24


def test_nested_container_parameter_and_buffer():
    model = nn.Sequential(nn.Linear(4, 4), Scaled())
    model[1].register_buffer("ema", torch.zeros(5))
    model[1].register_buffer("steps", torch.zeros(1, dtype=torch.long))
    s = check(model, (4,))
    row = next(r for r in s["layers"] if r["name"] == "1")
    assert (row["type"], row["params"], row["buffers"], row["buffer_formula"]) == ("Scaled", 9, 5, "5 = 5")
    assert s["buffer_params"] == 5


def test_shared_module_listed_once():
    act = nn.ReLU()
    lin = nn.Linear(3, 3)
    model = nn.Sequential(lin, act, lin, act)
    s = check(model, (3,))
    assert [(r["name"], r["type"]) for r in s["layers"]] == [("0", "Linear"), ("1", "ReLU")]


def test_tied_weights_counted_once():
    a, b = nn.Linear(6, 6), nn.Linear(6, 6)
    b.weight = a.weight
    s = check(nn.Sequential(a, b), (6,))
    assert [r["params"] for r in s["layers"]] == [42, 6]
    assert s["layers"][1]["formula"] == "6 = 6"
    assert s["total_params"] == 48


class Attention(nn.Module):
    """MultiheadAttention owns in_proj directly and never calls its out_proj child."""

    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x)[0]


def test_uncalled_module_still_counted():
    s = check(Attention(), (5, 8))
    rows = {r["name"]: r for r in s["layers"]}
    assert rows["mha"]["output_shape"] == [5, 8]
    assert rows["mha"]["formula"] == "24 × 8 + 24 = 216"
    assert rows["mha.out_proj"]["formula"] == "8 × 8 + 8 = 72"
    assert [r["name"] for r in s["layers"]][-1] == "mha.out_proj"


def test_weight_norm_parametrization_falls_back():
    layer = nn.utils.parametrizations.weight_norm(nn.Linear(5, 4))
    s = check(layer, (5,))
    assert s["total_params"] == 4 + 4 + 20


def test_formula_mismatch_raises(monkeypatch):
    monkeypatch.setattr(P, "_linear_terms", lambda m: [[m.in_features, m.out_features]])
    monkeypatch.setattr(P, "BUILDERS", ((nn.Linear, P._linear_terms),))
    with pytest.raises(AssertionError, match="formula '5 × 3 = 15' gives 15, but the tensors hold 18"):
        summarize(nn.Linear(5, 3), (5,))


def test_bad_input_shape():
    with pytest.raises(ValueError):
        summarize(nn.ReLU(), (3, 0, 4))


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_torchvision_models(name):
    import torchvision as tv
    torch.manual_seed(0)
    model = getattr(tv.models, name)(weights=None)
    s = check(model, (3, 64, 64))
    assert sum(r["params"] for r in s["layers"]) == sum(p.numel() for p in model.parameters())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert s["buffer_params"] == sum(2 * m.num_features for m in bns)
    assert s["layers"][0]["formula"] == ("3 × 64 × 7 × 7 = 9,408" if name == "resnet18" else "3 × 32 × 3 × 3 = 864")
    assert s["layers"][-1]["output_shape"] == [1000]
