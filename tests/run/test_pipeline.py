"""The device input pipeline: equal to the classic per-image transforms, augmentation within its bounds, placement,
precision and compilation recorded in the run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms as T

from conftest import execute_json, TINY_MANIFEST, write_manifest
from manifests import manifest_text
from reportgen.build import load
from reportgen.manifest.schema import AugmentSpec, TrainSpec
from reportgen.run.input_pipeline import InputPipeline, crop_flip, cutout, resolve_compute
from reportgen.run.plan import Datasets, plan_runs

CPU = torch.device("cpu")
MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def _images(n=12, c=3, s=10, seed=0) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _classic(x: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """torchvision's per-image path as a DataLoader worker runs it: PIL image → ToTensor (→ Resize) → Normalize."""
    steps = [T.ToTensor()] + ([T.Resize(size, antialias=True)] if size else []) + [T.Normalize(MEAN, STD)]
    tf = T.Compose(steps)
    return torch.stack([tf(Image.fromarray(img.permute(1, 2, 0).numpy())) for img in x])


def test_device_pipeline_equals_classic_transforms_without_augmentation():
    x = _images()
    pipe = InputPipeline(MEAN, STD, CPU)
    assert torch.equal(pipe(x), _classic(x))
    assert pipe.draw(len(x), torch.Generator()) is None
    assert torch.equal(pipe.train_batch(x, None), _classic(x)), "no augmentation declared: training sees the same"


@pytest.mark.parametrize("size", [16, 6])
def test_device_resize_equals_classic_resize(size):
    x = _images(s=10)
    pipe = InputPipeline(MEAN, STD, CPU, size=size)
    out, ref = pipe(x), _classic(x, size)
    assert out.shape == ref.shape == (12, 3, size, size)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode,pad_mode", [("reflect", "reflect"), ("zeros", "constant"), ("edge", "replicate")])
def test_crop_flip_equals_padding_then_cropping(mode, pad_mode):
    x = _images(n=9, s=7)
    p = 3
    offsets = torch.tensor([[dy, dx] for dy in (-3, 0, 2) for dx in (-1, 3, 0)])
    flips = torch.tensor([i % 2 == 0 for i in range(9)])
    out = crop_flip(x, offsets, flips, mode)
    padded = F.pad(x.float(), (p, p, p, p), mode=pad_mode).to(torch.uint8)
    for i, (dy, dx) in enumerate(offsets.tolist()):
        window = padded[i][:, p + dy:p + dy + 7, p + dx:p + dx + 7]  # RandomCrop's window, then the flip
        want = window.flip(-1) if flips[i] else window
        assert torch.equal(out[i], want), (i, dy, dx, bool(flips[i]))


def _translations(img: torch.Tensor, p: int) -> list[tuple[int, int, bool, torch.Tensor]]:
    padded = F.pad(img[None].float(), (p, p, p, p), mode="reflect")[0]
    s = img.shape[-1]
    out = []
    for flip in (False, True):
        for dy in range(-p, p + 1):
            for dx in range(-p, p + 1):
                window = padded[:, p + dy:p + dy + s, p + dx:p + dx + s]
                out.append((dy, dx, flip, window.flip(-1) if flip else window))
    return out


def test_augmentation_stays_within_declared_bounds():
    p = 2
    x = _images(n=64, s=8, seed=3)
    spec = AugmentSpec(crop=p, flip=True)
    pipe = InputPipeline([0.0] * 3, [1.0] * 3, CPU, augment=spec)  # outputs are pixels / 255
    out = pipe.train_batch(x, pipe.draw(len(x), torch.Generator().manual_seed(1))) * 255.0
    seen_dy, seen_flip = set(), set()
    for i in range(len(x)):
        matches = [(dy, dx, f) for dy, dx, f, cand in _translations(x[i].float(), p)
                   if torch.allclose(out[i], cand, atol=1e-3)]
        assert matches, f"image {i} is not a translation of at most ±{p} px (or its mirror) of the original"
        seen_dy.update(m[0] for m in matches)
        seen_flip.update(m[2] for m in matches)
    assert seen_dy == set(range(-p, p + 1)) and seen_flip == {False, True}, "every offset and both flips occur"


def test_cutout_sets_one_clipped_square_to_the_mean():
    x = torch.rand(4, 3, 9, 9)
    fill = torch.tensor(MEAN).view(1, 3, 1, 1)
    centres = torch.tensor([[4, 4], [0, 0], [8, 2], [5, 8]])
    out = cutout(x, centres, 4, fill)
    for i, (cy, cx) in enumerate(centres.tolist()):
        changed = (out[i] != x[i]).any(dim=0)
        rows, cols = changed.nonzero(as_tuple=True)
        top, left = max(cy - 2, 0), max(cx - 2, 0)
        bottom, right = min(cy + 2, 9), min(cx + 2, 9)
        assert changed.sum() == (bottom - top) * (right - left)
        assert rows.min() == top and rows.max() == bottom - 1 and cols.min() == left and cols.max() == right - 1
        assert torch.equal(out[i][:, changed], fill.view(3, 1).expand(3, int(changed.sum())))
    norm = InputPipeline(MEAN, STD, CPU, augment=AugmentSpec(cutout=3))
    batch = norm.train_batch(_images(n=20, s=8), norm.draw(20, torch.Generator().manual_seed(0)))
    zeros = (batch.abs() < 1e-6).all(dim=1).sum(dim=(1, 2))
    assert ((zeros >= 4) & (zeros <= 9)).all(), "after normalisation the cut square is zero, 2×2 … 3×3 pixels"


def test_reflect_padding_larger_than_the_image_is_refused():
    pipe = InputPipeline(MEAN, STD, CPU, augment=AugmentSpec(crop={"padding": 8}))
    with pytest.raises(ValueError, match="padding 8"):
        pipe.train_batch(_images(s=8), pipe.draw(12, torch.Generator()))


def test_host_and_device_placement_give_the_same_batches():
    x, y = _images(n=20), torch.arange(20)
    pipe = InputPipeline(MEAN, STD, CPU)
    order = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    a = list(pipe.hold(x, y).batches(order, 6))
    held = pipe.hold(x, y, "host")
    assert held.on == "host"
    b = list(held.batches(order, 6))
    assert len(a) == len(b) == 4 and all(torch.equal(p[0], q[0]) and torch.equal(p[1], q[1]) for p, q in zip(a, b))


def test_auto_precision_and_memory_format_by_device():
    cpu = resolve_compute(TrainSpec(), CPU)
    assert (cpu.precision, cpu.channels_last, cpu.autocast().__class__.__name__) == ("fp32", True, "nullcontext")
    assert not resolve_compute(TrainSpec(channels_last=False), CPU).channels_last
    assert not resolve_compute(TrainSpec(), torch.device("mps")).channels_last
    bf = resolve_compute(TrainSpec(precision="bf16", channels_last=True), CPU)
    assert bf.dtype == torch.bfloat16 and bf.channels_last and not bf.scaler().is_enabled()
    assert resolve_compute(TrainSpec(precision="fp16"), CPU).scaler().is_enabled()
    assert [resolve_compute(TrainSpec(compile=c), CPU).compile for c in (False, True, "reduce-overhead")] == \
        [None, "default", "reduce-overhead"]
    with pytest.raises(ValueError, match="compile"):
        TrainSpec(compile="fastest")


AUGMENTED = {"augment": {"crop": {"padding": 1, "mode": "zeros"}, "flip": True, "cutout": 2}}


def _execute(tmp_path, extra: dict, overrides=()):
    """The tiny manifest's `base` run with extra train settings."""
    text = manifest_text(train=extra)
    assert text != TINY_MANIFEST
    manifest = write_manifest(tmp_path, text)
    loaded = load(manifest, list(overrides))
    datasets = Datasets(loaded, smoke=False)
    plan = next(p for p in plan_runs(loaded, datasets, smoke=False) if p.id == "base")
    return execute_json(loaded, plan, datasets.get(), progress=lambda _: None)


def test_augmented_bf16_run_learns_repeats_and_records_how_it_computed(tmp_path):
    extra = {**AUGMENTED, "precision": "bf16", "channels_last": True, "data_on": "host"}
    (rec, state), (again, state2) = _execute(tmp_path, extra), _execute(tmp_path, extra)
    assert rec["test"]["accuracy"] > 0.4, "bf16 with augmentation still learns the digits (chance: 0.1)"
    strip = lambda r: [{k: v for k, v in e.items() if k not in ("seconds", "images_per_s")} for e in r["epochs"]]  # noqa: E731
    assert strip(rec) == strip(again) and all(torch.equal(state[k], state2[k]) for k in state)
    comp = rec["compute"]
    assert comp["precision"] == "bf16" and comp["autocast"] and comp["channels_last"] and not comp["compile"]
    assert comp["data_on"] == "host" and comp["augment"]["flip"] and comp["augment"]["crop"]["padding"] == 1
    assert rec["measured"]["precision"] == "bf16"
    assert all(e["images"] == rec["dataset"]["sizes"]["train"] and e["images_per_s"] > 0 for e in rec["epochs"])
    plain, _ = _execute(tmp_path, {**AUGMENTED, "precision": "fp32"})
    assert plain["compute"]["precision"] == "fp32" and strip(plain) != strip(rec)


@pytest.mark.slow
def test_compiled_fp16_training_scales_the_loss_and_keeps_the_models_own_weights():
    from types import SimpleNamespace

    from reportgen.run.train import fit, train_state

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(96) % 2
    x = (y.view(-1, 1, 1, 1) * 120 + torch.randint(0, 100, (96, 1, 6, 6), generator=gen)).to(torch.uint8)
    splits = SimpleNamespace(train_x=x[:64], train_y=y[:64], val_x=x[64:], val_y=y[64:], classes=["a", "b"])
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(64, 2))
    spec = TrainSpec(epochs=2, batch_size=32, precision="fp16", compile=True,
                     optimizer={"name": "sgd", "lr": 0.05})
    compute = resolve_compute(spec, CPU)
    out = fit(train_state(model, splits, spec, compute, InputPipeline([0.5], [0.25], CPU)))
    assert compute.compile and compute.scaler().is_enabled()
    assert out.status == "completed" and out.epochs[-1]["val_acc"] >= 0.9, out.epochs
    assert not any(k.startswith("_orig_mod") for k in model.state_dict()), "weights keep the model's own names"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_pipeline_equals_cpu_pipeline_and_defaults_to_bf16():
    gpu = torch.device("cuda")
    x = _images(n=32, s=16)
    spec = AugmentSpec(crop=3, flip=True, cutout=4)
    cpu_pipe = InputPipeline(MEAN, STD, CPU, size=24, augment=spec)
    cpu_out = cpu_pipe.train_batch(x, cpu_pipe.draw(32, torch.Generator().manual_seed(5)))
    pipe = InputPipeline(MEAN, STD, gpu, size=24, augment=spec)
    held = pipe.hold(x, torch.arange(32))
    assert held.x.is_cuda
    gpu_out = pipe.train_batch(held.x, pipe.draw(32, torch.Generator().manual_seed(5)))
    torch.testing.assert_close(gpu_out.cpu(), cpu_out, rtol=0, atol=1e-4)
    compute = resolve_compute(TrainSpec(), gpu)
    assert compute.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp32") and compute.channels_last


@pytest.mark.slow
def test_the_report_says_which_precision_and_device_produced_its_numbers(tiny_build):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(tiny_build.html, "html.parser")
    settings = {th.get_text(strip=True): td.get_text(" ", strip=True)
                for tr in soup.select("section.training table tr") if (th := tr.find("th")) and (td := tr.find("td"))}
    assert settings["Computation"] == "fp32, channels-last on cpu; images held on the device"
    assert settings["Training throughput"].endswith("images/s (mean over epochs)")
    caption = soup.select_one("section.comparison table caption").get_text(" ", strip=True)
    assert caption.endswith("trained and tested in fp32 on cpu")
    provenance = soup.select_one("section.provenance").get_text(" ", strip=True)
    assert "completed, fp32 on cpu" in provenance
    for run in tiny_build.results["runs"].values():
        assert run["compute"]["precision"] == "fp32" and run["compute"]["data_on"] == "device"
    augmented = "random crop with 1 px zeros padding, horizontal flip (training batches only, on the device)"
    assert settings["Augmentation"] == augmented, "only the sgd run augments, and its settings say how"
    assert tiny_build.results["runs"]["sgd"]["compute"]["augment"]["flip"]
    assert tiny_build.results["runs"]["base"]["compute"]["augment"] is None
    pdf = " ".join(" ".join(tiny_build.pdf_pages()).split())
    assert "trained and tested in fp32 on cpu" in pdf and "random crop with 1 px zeros padding" in pdf


def test_reflect_padding_as_large_as_the_images_is_a_located_manifest_error(tmp_path):
    from conftest import cli

    text = TINY_MANIFEST.replace("  device: cpu\n", "  device: cpu\n  augment: {crop: 8}\n")
    result = cli("build", write_manifest(tmp_path, text), "--out", tmp_path / "out")
    assert result.exit_code == 2 and not (tmp_path / "out").exists()
    assert "2 problems" in result.output and "Traceback" not in result.output
    assert "tiny.yaml:35:13: train.augment.crop: run base: reflect padding of 8 px needs images larger" in result.output
