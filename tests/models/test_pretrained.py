"""torchvision/timm networks: cached pretrained weights, safe loading, heads, freezing, transfer chains, trade-offs.

Everything runs offline on real (small) models: the "ImageNet" checkpoints are written by the tests themselves into a
temporary TORCH_HOME / Hugging Face cache, in exactly the layout and under exactly the names the libraries use.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from bs4 import BeautifulSoup
from torch import nn

from reportgen.errors import UserError
from reportgen.report.wording.formatting import num, pct
from reportgen.manifest.schema import ModelSpec
from reportgen.models.pretrained import (IMAGENET_MEAN, IMAGENET_STD, WeightsMissing, build_network, checkpoint_dir,
                                  hf_cache_dir)

from conftest import cli, write_manifest
from manifests import SMALL, manifest_text, variant

RESNET18_FILE = os.path.basename(tvm.ResNet18_Weights.DEFAULT.url)
DENSENET121_FILE = os.path.basename(tvm.DenseNet121_Weights.DEFAULT.url)
TIMM_TINY = "test_efficientnet"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def _params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _trainable(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """The test machine has 2 cores shared with other jobs: OpenMP threads spinning against a busy core make a
    40k-parameter forward pass take 200 ms instead of 2 ms. One thread keeps the timings (and this file) sane."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def torch_home(tmp_path, monkeypatch) -> Path:
    """An empty TORCH_HOME, no downloads; returns its hub/checkpoints folder (not created)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("REPORTGEN_OFFLINE", "1")
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert checkpoint_dir() == folder  # the cache is read from the environment at call time
    return folder


# ---------------------------------------------------------------------------------------------------------------
# 1. ImageNet weights from the torch hub cache


def test_torchvision_imagenet_weights_are_read_from_torch_home(torch_home):
    torch.manual_seed(11)
    state = tvm.resnet18(weights=None).state_dict()
    state["layer2.0.conv1.weight"].fill_(0.0625)  # a known value no initialiser produces
    state["bn1.running_mean"].copy_(torch.arange(64, dtype=torch.float32))
    torch_home.mkdir(parents=True)
    torch.save(state, torch_home / RESNET18_FILE)

    torch.manual_seed(99)  # the model's own random init differs from the file's
    model, info = build_network(ModelSpec(torchvision="resnet18", weights="imagenet"), 10)

    got = model.state_dict()
    backbone = [k for k in state if not k.startswith("fc.")]
    assert set(got) == set(backbone) | {"fc.weight", "fc.bias"}
    for key in backbone:
        assert torch.equal(got[key], state[key]), key
    assert torch.all(model.layer2[0].conv1.weight == 0.0625)
    assert torch.equal(model.bn1.running_mean, torch.arange(64, dtype=torch.float32))
    # a new head: 10 outputs on the 512 pooled features, not a slice of the 1000-class one
    assert isinstance(model.fc, nn.Linear) and (model.fc.in_features, model.fc.out_features) == (512, 10)
    assert not torch.equal(model.fc.weight, state["fc.weight"][:10])
    assert model.eval()(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert info["source"] == "torchvision" and info["weights"] == "imagenet"
    assert info["weights_file"] == RESNET18_FILE and info["head"] == "fc" and info["random_in_smoke"] is None
    assert info["weights_mean"] == pytest.approx(IMAGENET_MEAN) and info["weights_std"] == pytest.approx(IMAGENET_STD)
    assert info["frozen"] == []
    assert all(p.requires_grad for p in model.parameters())


def test_densenet_checkpoints_with_old_style_key_names_are_remapped(torch_home):
    torch.manual_seed(5)
    new_state = tvm.densenet121(weights=None).state_dict()
    new_state["features.denseblock1.denselayer1.norm1.weight"].fill_(0.5)
    new_state["features.denseblock4.denselayer16.conv2.weight"].fill_(-0.25)
    # the published files: `norm.1` for `norm1`, `conv.2` for `conv2` ..., and no num_batches_tracked buffers
    old = {}
    for key, value in new_state.items():
        if key.endswith("num_batches_tracked"):
            continue
        old[re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key)] = value
    renamed = [k for k in old if k not in new_state]
    assert "features.denseblock1.denselayer1.norm.1.weight" in old and len(renamed) > 500
    torch_home.mkdir(parents=True)
    torch.save(old, torch_home / DENSENET121_FILE)

    model, info = build_network(ModelSpec(torchvision="densenet121", weights="imagenet"), 10)

    got = model.state_dict()
    assert info["weights_file"] == DENSENET121_FILE and info["head"] == "classifier"
    assert torch.all(model.features.denseblock1.denselayer1.norm1.weight == 0.5)
    assert torch.all(model.features.denseblock4.denselayer16.conv2.weight == -0.25)
    for key, value in new_state.items():
        if not key.startswith("classifier.") and not key.endswith("num_batches_tracked"):
            assert torch.equal(got[key], value), key
    assert model.classifier.out_features == 10


# ---------------------------------------------------------------------------------------------------------------
# 2. Missing weights


def test_missing_weights_name_the_file_and_the_cache_folder(torch_home):
    spec = ModelSpec(torchvision="resnet18", weights="imagenet")
    with pytest.raises(WeightsMissing) as err:
        build_network(spec, 10, allow_download=False)
    message = str(err.value)
    assert RESNET18_FILE in message and str(torch_home) in message
    assert "downloading" not in message  # it never tried the network
    assert not torch_home.exists()  # and wrote nothing

    # a smoke build goes on with random weights and says so (and never downloads, even when allowed to)
    model, info = build_network(spec, 10, smoke=True, allow_download=False)
    assert info["weights"] == "imagenet" and info["weights_file"] == RESNET18_FILE
    assert info["random_in_smoke"] == RESNET18_FILE
    assert model.fc.out_features == 10
    assert not torch_home.exists()


# one run of `net` for one epoch on the digits at their own size, trained with the defaults
ONE_RUN = variant(SMALL, dataset={"image_size": None, "channels": None, "seed": None},
                  train={"optimizer": None, "batch_size": None, "seed": None},
                  experiments=[{"id": "only", "model": "net"}])
SMALL_RESNET = manifest_text(ONE_RUN, report={"title": "Offline"},
                             models={"net": {"torchvision": "resnet18", "weights": "imagenet", "input_size": 32}})


@pytest.mark.slow
def test_reportgen_offline_run_fails_clearly_and_smoke_falls_back(tmp_path, torch_home):
    manifest = write_manifest(tmp_path, SMALL_RESNET, "offline.yaml")
    result = cli("run", manifest, "--out", tmp_path / "out")
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and RESNET18_FILE in result.output and str(torch_home) in result.output
    assert "downloading" not in result.output and "Traceback" not in result.output

    smoke = cli("run", manifest, "--smoke", "--out", tmp_path / "smoke")
    assert smoke.exit_code == 0, smoke.output
    record = json.loads((tmp_path / "smoke" / "results.json").read_text("utf-8"))["runs"]["only"]
    assert record["weights"]["weights"] == "imagenet" and record["weights"]["random_in_smoke"] == RESNET18_FILE
    assert record["input"]["normalization"] == "weights"
    assert record["input"]["mean"] == pytest.approx(IMAGENET_MEAN)


NORMALIZE_IMAGENET = manifest_text(
    ONE_RUN, report={"title": "ImageNet statistics"},
    models={"net": {"torchvision": "mobilenet_v2", "weights": "none", "normalize": "imagenet", "input_size": 16,
                    "inverted_residual": [[1, 8, 1, 1], [6, 16, 1, 2]]}})


def test_normalize_imagenet_without_pretrained_weights_uses_the_imagenet_statistics(tmp_path, torch_home):
    """`normalize: imagenet` is a choice of its own; it does not need ImageNet *weights*."""
    manifest = write_manifest(tmp_path, NORMALIZE_IMAGENET, "norm.yaml")
    result = cli("run", manifest, "--smoke", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "out" / "results.json").read_text("utf-8"))["runs"]["only"]
    assert record["input"]["mean"] == pytest.approx(IMAGENET_MEAN)
    assert record["input"]["std"] == pytest.approx(IMAGENET_STD)


# ---------------------------------------------------------------------------------------------------------------
# 3. A checkpoint never executes pickled code


class _Payload:
    """Unpickling this object with plain pickle creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_pickle_payload_in_a_checkpoint_is_refused_not_executed(torch_home, tmp_path):
    marker = tmp_path / "pwned"
    torch_home.mkdir(parents=True)
    path = torch_home / RESNET18_FILE
    torch.save({"conv1.weight": torch.zeros(1), "evil": _Payload(marker)}, path)
    assert not marker.exists()

    with pytest.raises(UserError) as err:
        build_network(ModelSpec(torchvision="resnet18", weights="imagenet"), 10)
    assert "weights_only" in str(err.value) and str(path) in str(err.value)
    assert not marker.exists()

    # the payload is real: an unsafe load does run it (which is why reportgen must not do one)
    torch.load(path, weights_only=False)
    assert marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# 4. timm weights from the Hugging Face cache


def test_timm_weights_are_read_from_the_hugging_face_cache(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    cache = tmp_path / "hf"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("REPORTGEN_OFFLINE", "1")
    assert hf_cache_dir() == str(cache)
    hub_id = timm.create_model(TIMM_TINY).pretrained_cfg["hf_hub_id"]
    assert hub_id == "timm/test_efficientnet.r160_in1k"
    spec = ModelSpec(timm=TIMM_TINY, weights="imagenet")

    with pytest.raises(WeightsMissing) as err:  # nothing in the cache yet
        build_network(spec, 10)
    assert hub_id in str(err.value) and str(cache) in str(err.value)

    torch.manual_seed(21)
    state = {k: v.detach().clone().contiguous() for k, v in timm.create_model(TIMM_TINY).state_dict().items()}
    state["conv_stem.weight"].fill_(0.375)
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / ("models--" + hub_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    (repo / "snapshots" / revision).mkdir(parents=True)
    save_file(state, str(repo / "snapshots" / revision / "model.safetensors"))

    torch.manual_seed(77)
    model, info = build_network(spec, 10)
    got = model.state_dict()
    assert info["source"] == "timm" and info["weights"] == "imagenet" and info["head"] == "classifier"
    assert info["weights_file"] == f"{hub_id}/model.safetensors"
    assert torch.all(model.conv_stem.weight == 0.375)
    for key, value in state.items():
        if not key.startswith("classifier."):
            assert torch.equal(got[key], value), key
    assert model.classifier.out_features == 10
    assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


# ---------------------------------------------------------------------------------------------------------------
# 5. Heads and freezing, counted independently from the modules


def _resnet(**kw) -> tuple[nn.Module, dict]:
    return build_network(ModelSpec.model_validate({"torchvision": "resnet18", **kw}), 10)


def test_linear_head_with_a_frozen_backbone_trains_only_the_head():
    model, info = _resnet(head="linear", freeze="backbone")
    assert _trainable(model) == 512 * 10 + 10
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"fc.weight", "fc.bias"}
    assert info["head_dense"] is None
    assert info["frozen"] == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]


def test_dense_head():
    model, info = _resnet(head={"dense": [128]}, freeze="backbone")
    assert _trainable(model) == (512 * 128 + 128) + (128 * 10 + 10)
    assert [type(m) for m in model.fc] == [nn.Linear, nn.ReLU, nn.Linear]
    assert (model.fc[0].in_features, model.fc[0].out_features, model.fc[2].out_features) == (512, 128, 10)
    assert info["head_dense"] == [128]
    assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)


def test_train_last_two_blocks_of_resnet18():
    model, info = _resnet(freeze={"train_last": 2})
    ref = tvm.resnet18(num_classes=10)
    assert _trainable(model) == _params(ref.layer3, ref.layer4, ref.fc)
    assert _params(model) == _params(ref)
    assert info["blocks"] == ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4"]
    assert info["frozen"] == ["conv1", "bn1", "layer1", "layer2"]
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer3", "layer4", "fc"}


def test_freeze_named_modules():
    model, info = _resnet(freeze={"modules": ["layer1"]})
    ref = tvm.resnet18(num_classes=10)
    assert _trainable(model) == _params(ref) - _params(ref.layer1)
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert info["frozen"] == ["layer1"]


def test_freezing_an_unknown_module_suggests_the_right_name():
    with pytest.raises(UserError) as err:
        _resnet(freeze={"modules": ["layr1"]})
    assert "layr1" in str(err.value) and "did you mean" in str(err.value) and "layer1" in str(err.value)


def test_train_last_zero_trains_exactly_what_a_frozen_backbone_trains():
    """`train_last: 0` means "train only the head", as `freeze: backbone` does. mobilenet_v3_small's head is
    classifier.3, but classifier.0 (a 576→1024 dense layer before it) belongs to no block: blocks() drops the whole
    `classifier` container because the head lies inside it, so no `train_last` ever freezes that layer."""
    spec = {"torchvision": "mobilenet_v3_small"}
    backbone, _ = build_network(ModelSpec.model_validate({**spec, "freeze": "backbone"}), 10)
    last0, info = build_network(ModelSpec.model_validate({**spec, "freeze": {"train_last": 0}}), 10)
    assert _trainable(backbone) == 1024 * 10 + 10
    left = sorted(n for n, p in last0.named_parameters() if p.requires_grad and not n.startswith(info["head"] + "."))
    assert left == [], (f"with freeze: {{train_last: 0}} these parameters "
                        f"outside the head {info['head']} still train: {left}; blocks = {info['blocks'][-2:]} ...")
    assert _trainable(last0) == _trainable(backbone)


def test_frozen_batchnorm_keeps_its_running_statistics_while_training():
    from reportgen.manifest.schema import TrainSpec
    from reportgen.run.input_pipeline import InputPipeline, resolve_compute
    from reportgen.run.train import TrainState, train_epoch, train_mode

    torch.manual_seed(0)
    model, _ = _resnet(freeze={"train_last": 2})
    train_mode(model)
    assert not model.bn1.training and not model.layer2[1].bn2.training  # frozen blocks
    assert model.layer3[0].bn1.training and model.layer4[1].bn2.training and model.training
    before = {k: v.clone() for k, v in model.state_dict().items()}

    x = torch.randint(0, 256, (24, 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (24,))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    pipe = InputPipeline(IMAGENET_MEAN, IMAGENET_STD, torch.device("cpu"))
    spec = TrainSpec(batch_size=8, seed=0)
    loss, _ = train_epoch(TrainState(model, opt, nn.CrossEntropyLoss(), pipe, pipe.hold(x, y), spec,
                                     resolve_compute(spec, torch.device("cpu"))))
    assert loss == loss  # finite, not NaN
    after = model.state_dict()
    for key in before:
        if key.split(".")[0] in ("conv1", "bn1", "layer1", "layer2"):
            assert torch.equal(after[key], before[key]), key  # weights and running statistics alike
    assert not torch.equal(after["layer3.0.bn1.running_mean"], before["layer3.0.bn1.running_mean"])
    assert after["layer3.0.bn1.num_batches_tracked"] == before["layer3.0.bn1.num_batches_tracked"] + 3
    assert not torch.equal(after["layer4.0.conv1.weight"], before["layer4.0.conv1.weight"])


# ---------------------------------------------------------------------------------------------------------------
# 6./7. A transfer chain and the trade-off section, built once through the CLI

TABLE = [[1, 8, 1, 1], [6, 16, 1, 2]]
# inline: the variants below are edits of this text, their errors located by line
CHAIN = """\
report: {title: Transfer chain}
dataset: {name: digits, image_size: 8, channels: 1, seed: 3}
models:
  cnn:
    layers:
      - conv: {out: 4, kernel: 3, padding: same}
      - relu
      - maxpool: 2
      - flatten
      - linear: 16
      - relu
      - linear: classes
  mnv2:
    torchvision: mobilenet_v2
    weights: none
    input_size: 32
    inverted_residual: [[1, 8, 1, 1], [6, 16, 1, 2]]
train:
  optimizer: {name: adam, lr: 0.005}
  epochs: 1
  batch_size: 64
  seed: 0
  device: cpu
  measure: {warmup: 1, latency_repeats: 3, throughput_batch: 8, throughput_repeats: 1}
experiments:
  - id: child
    model: mnv2
    weights: {from: parent}
    freeze: {train_last: 1}
    dataset: {name: digits, channels: 3}
  - id: parent
    model: mnv2
  - id: cnn
    model: cnn
sections:
  - cover
  - tradeoff:
      notes: {parent: "trained from scratch", child: "only its last block trains"}
"""
NOTES = {"parent": "trained from scratch", "child": "only its last block trains"}


class Chain:
    def __init__(self, manifest: Path, out: Path, log: str):
        self.manifest, self.out, self.log = manifest, out, log
        self.results = json.loads((out / "results.json").read_text("utf-8"))
        self.html = (out / "report.html").read_text("utf-8")

    def weights(self, run_id: str) -> dict:
        key = self.results["runs"][run_id]["cache_key"]
        return torch.load(self.out / "cache" / "runs" / f"{key}.pt", map_location="cpu", weights_only=True)

    def checkpoint_bytes(self, run_id: str) -> int:
        return (self.out / "cache" / "runs" / f"{self.results['runs'][run_id]['cache_key']}.pt").stat().st_size


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Chain:
    folder = tmp_path_factory.mktemp("chain")
    manifest = write_manifest(folder, CHAIN, "chain.yaml")
    out = folder / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REPORTGEN_OFFLINE", "1")
        mp.setenv("TORCH_HOME", str(folder / "torch"))
        # `build` always writes the PDF (only `render` has --no-pdf): run, then render the HTML from the cache
        ran = cli("run", manifest, "--out", out)
        assert ran.exit_code == 0, ran.output
        rendered = cli("render", manifest, "--out", out, "--no-pdf")
        assert rendered.exit_code == 0, rendered.output
    return Chain(manifest, out, ran.output)


def _mnv2(num_classes: int = 10) -> nn.Module:
    return tvm.mobilenet_v2(num_classes=num_classes, inverted_residual_setting=TABLE)


@pytest.mark.slow
def test_child_runs_after_its_parent_even_when_listed_first(chain):
    log = chain.log
    assert log.index("parent: training") < log.index("child: training")
    assert "child: training mnv2@child for 1 epochs from the weights of parent" in log
    assert chain.results["run_order"] == ["child", "parent", "cnn"]  # the report keeps the manifest's order
    assert all(r["status"] == "completed" for r in chain.results["runs"].values())


@pytest.mark.slow
def test_child_starts_from_the_parent_and_trains_only_its_last_block(chain):
    child_rec = chain.results["runs"]["child"]
    parent, child = chain.weights("parent"), chain.weights("child")
    assert child_rec["transfer"]["from"] == "parent"
    assert child_rec["transfer"]["tensors"] == len(parent) > 0  # same architecture: every tensor carried
    assert child_rec["transfer"]["reinitialised"] == []
    assert child_rec["weights"]["frozen"] == ["features.0", "features.1", "features.2"]
    assert set(child) == set(parent) == set(_mnv2().state_dict())

    frozen = [k for k in parent if k.split(".")[:2] in (["features", "0"], ["features", "1"], ["features", "2"])]
    assert len(frozen) > 20
    for key in frozen:  # weights and BatchNorm statistics, bit for bit
        assert torch.equal(child[key], parent[key]), key
    assert not torch.equal(child["features.3.0.weight"], parent["features.3.0.weight"])
    assert not torch.equal(child["features.3.1.running_mean"], parent["features.3.1.running_mean"])
    assert not torch.equal(child["classifier.1.weight"], parent["classifier.1.weight"])

    ref = _mnv2()
    assert child_rec["measured"]["trainable_params"] == _params(ref.features[3], ref.classifier)
    assert chain.results["runs"]["parent"]["measured"]["trainable_params"] == _params(ref)
    # the child sees its (3-channel) inputs with the statistics its parent was trained on
    assert child_rec["input"]["mean"] == chain.results["runs"]["parent"]["input"]["mean"]
    assert child_rec["dataset"]["name"] == "digits" and child_rec["input"]["shape"] == [3, 32, 32]


def _variant(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert old in CHAIN
    text = CHAIN.replace(old, new, 1)
    return write_manifest(tmp_path, text, "chain.yaml"), text


def test_weights_from_an_unknown_experiment_is_a_located_manifest_error(tmp_path):
    path, text = _variant(tmp_path, "weights: {from: parent}", "weights: {from: parnet}")
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "parnet" in row)
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert f"chain.yaml:{line}:" in result.output
    assert "'parnet'" in result.output and "parent" in result.output.split("parnet", 1)[1]


def test_weights_taken_in_a_cycle_is_an_error(tmp_path):
    path, _ = _variant(tmp_path, "  - id: parent\n    model: mnv2\n",
                       "  - id: parent\n    model: mnv2\n    weights: {from: child}\n")
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert "cycle" in result.output and "child → parent → child" in result.output


def test_experiment_level_imagenet_weights_on_a_custom_inverted_residual_table_is_a_manifest_error(tmp_path):
    """The model-level `weights: imagenet` with `inverted_residual` is refused ("ImageNet weights fit the original
    inverted-residual table only"); the same combination reached through an experiment's `weights:` override must be
    refused too, at the experiment's line."""
    path, text = _variant(tmp_path, "  - id: parent\n    model: mnv2\n",
                          "  - id: parent\n    model: mnv2\n    weights: imagenet\n")
    result = cli("validate", path)
    assert result.exit_code == 2, ("an experiment's `weights: imagenet` on a model with "
                                   "a custom `inverted_residual` table passes validation: " + result.output.strip())
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "weights: imagenet" in row)
    assert f"chain.yaml:{line}:" in result.output and "inverted-residual" in result.output


@pytest.mark.slow
def test_measured_costs_are_recorded_for_every_run(chain):
    runs = chain.results["runs"]
    assert set(runs) == {"child", "parent", "cnn"}
    expected_params = {"child": _params(_mnv2()), "parent": _params(_mnv2()),
                       "cnn": (1 * 4 * 9 + 4) + (64 * 16 + 16) + (16 * 10 + 10)}
    for run_id, rec in runs.items():
        m = rec["measured"]
        assert m["params"] == expected_params[run_id] == chain.results["models"][rec["model"]]["total_params"]
        assert m["size_mb"] > 0
        # the size is the state dict as torch.save writes it: within a few percent of the cached checkpoint
        assert m["size_mb"] * 1e6 == pytest.approx(chain.checkpoint_bytes(run_id), rel=0.05)
        assert m["flops"] > 0 and m["macs"] == m["flops"] // 2
        assert m["latency_ms"] > 0 and m["throughput"] > 0 and m["epoch_seconds"] > 0
        assert m["latency_repeats"] == 3 and m["throughput_batch"] == 8 and m["device"] == "cpu"
    # the custom CNN's FLOPs by hand: conv 2·(8·8·4)·(1·3·3), then two dense layers 2·64·16 and 2·16·10
    assert runs["cnn"]["measured"]["flops"] == 2 * 8 * 8 * 4 * 9 + 2 * 64 * 16 + 2 * 16 * 10
    assert runs["cnn"]["measured"]["input_shape"] == [1, 8, 8]
    assert runs["parent"]["measured"]["input_shape"] == [3, 32, 32]
    assert runs["child"]["measured"]["flops"] == runs["parent"]["measured"]["flops"]


@pytest.mark.slow
def test_tradeoff_section_shows_the_measured_numbers(chain):
    runs = chain.results["runs"]
    soup = BeautifulSoup(chain.html, "html.parser")
    tables = soup.select("table.tradeoff-table")
    assert len(tables) == 1
    rows = tables[0].select("tbody tr")
    assert [r["data-run"] for r in rows] == ["child", "parent", "cnn"]
    for row in rows:
        rec = runs[row["data-run"]]
        cell = {td["data-col"]: _norm(td.text) for td in row.select("td")}
        assert cell["accuracy"] == _norm(pct(rec["test"]["accuracy"]))
        assert re.fullmatch(r"\d{1,3}\.\d{2} %", cell["accuracy"])
        assert cell["params"] == num(rec["measured"]["params"])
        assert cell["trainable"] == num(rec["measured"]["trainable_params"])
        assert cell["latency"] == f"{rec['measured']['latency_ms']:.2f}"
    kinds = {r["data-run"]: _norm(r.select_one('td[data-col="source"]').text) for r in rows}
    assert kinds == {"child": "torchvision, from parent", "parent": "torchvision, from scratch", "cnn": "custom CNN"}

    section = soup.select_one("section.tradeoff")
    figures = section.select("figure")
    assert len(figures) == 2 and all(f.find("svg") is not None for f in figures)
    captions = [_norm(f.figcaption.text).lower() for f in figures]
    assert "latency" in captions[0] and "parameters" in captions[1]
    notes = section.select_one("dl.tradeoff-notes")
    assert {_norm(dt.text): _norm(dt.find_next_sibling("dd").text) for dt in notes.select("dt")} == NOTES


# ---------------------------------------------------------------------------------------------------------------
# 8. A network that cannot take the input size


INCEPTION = """\
report: {title: Too small}
dataset: {name: digits}
models:
  inc:
    torchvision: inception_v3
SIZE
experiments:
  - {id: a, model: inc}
"""


@pytest.mark.parametrize("size, shown", [("    input_size: 32", "32×32"), ("    weights: none", "8×8")])
def test_a_network_too_deep_for_the_input_size_is_a_manifest_error(tmp_path, size, shown):
    path = write_manifest(tmp_path, INCEPTION.replace("SIZE", size), "inc.yaml")
    result = cli("validate", path)
    assert result.exit_code == 2, result.output
    assert "inc.yaml:4:" in result.output and "inception_v3" in result.output
    assert f"cannot take {shown} images" in result.output and "larger `input_size`" in result.output
