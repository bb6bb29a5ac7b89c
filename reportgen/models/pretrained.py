"""torchvision and timm networks: pretrained weights from the local cache, a new head, freezing policies."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path

import torch
from torch import nn

from reportgen.errors import UserError
from reportgen.manifest.schema import FreezeLast, FreezeModules, HeadSpec, ModelSpec

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
MOBILENET_V2_TABLE = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2],
                      [6, 320, 1, 1]]
# torchvision builds these with auxiliary classifiers when it loads their ImageNet weights
_AUX = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}
_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$")


class WeightsMissing(UserError):
    """Pretrained weights that are neither in the local cache nor downloadable."""


def torchvision_names() -> list[str]:
    """The classification models torchvision can build."""
    import torchvision.models as tvm

    return sorted(tvm.list_models(module=tvm))


def _unknown(name: str, known: list[str], where: str) -> UserError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return UserError(f"{where} has no classification model {name!r}{hint}")


def checkpoint_dir() -> Path:
    """torch's hub cache for checkpoints: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _fetch(url: str, what: str, allow_download: bool) -> Path | None:
    """The cached file for url, downloaded into the cache when allowed; None when it cannot be had."""
    path = checkpoint_dir() / os.path.basename(url)
    if path.is_file():
        return path
    if not allow_download:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=None, progress=False)
    except Exception as exc:  # noqa: BLE001 - offline, proxy, disk: any failure means "not available"
        path.unlink(missing_ok=True)
        raise WeightsMissing(f"{what}: the ImageNet weights are not in the local cache and downloading "
                             f"{url} failed ({type(exc).__name__}: {exc}). Put {path.name} into {path.parent} "
                             "(or set TORCH_HOME to a folder whose hub/checkpoints/ holds it).") from None
    return path


def load_checkpoint(path: Path) -> dict:
    """A state dict from a file, never executing pickled code (weights_only; safetensors when it is one)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"cannot load the checkpoint {path}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]} "
                        "(checkpoints are read with weights_only=True: only tensors and plain containers load)") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{path} does not hold a state dict (found {type(state).__name__})")
    return state


def _torchvision(spec: ModelSpec, allow_download: bool, smoke: bool) -> tuple[nn.Module, dict]:
    import torchvision.models as tvm

    name = spec.torchvision
    if name not in torchvision_names():
        raise _unknown(name, torchvision_names(), "torchvision")
    kwargs: dict = {}
    if name in _AUX:
        kwargs["init_weights"] = False
    if spec.inverted_residual:
        kwargs["inverted_residual_setting"] = [list(r) for r in spec.inverted_residual]
    if spec.width_mult:
        kwargs["width_mult"] = spec.width_mult
    info: dict = {"source": "torchvision", "name": name, "weights": "none", "weights_file": None,
                  "random_in_smoke": None}
    if spec.weights != "imagenet":
        if name in _AUX:
            kwargs |= {"aux_logits": False, "init_weights": True}
        return tvm.get_model(name, weights=None, **kwargs), info
    enum = tvm.get_model_weights(name).DEFAULT
    path = _fetch(enum.url, f"torchvision {name}", allow_download and not smoke)
    info |= {"weights": "imagenet", "weights_file": os.path.basename(enum.url), "weights_tag": str(enum),
             "weights_mean": list(enum.transforms().mean), "weights_std": list(enum.transforms().std)}
    kwargs["num_classes"] = len(enum.meta["categories"])
    if name in _AUX:
        kwargs |= {"aux_logits": True, "transform_input": True}
    model = tvm.get_model(name, weights=None, **kwargs)
    if path is None:
        if not smoke:
            raise WeightsMissing(
                f"torchvision {name}: ImageNet weights {os.path.basename(enum.url)} not found in {checkpoint_dir()}. "
                f"Copy the file there (or set TORCH_HOME to a folder whose hub/checkpoints/ holds it); this machine "
                f"may download it from {enum.url} when it has network access. Or use `weights: none`.")
        info["random_in_smoke"] = os.path.basename(enum.url)  # the weights file a smoke build went without
    else:
        state = load_checkpoint(path)
        if name.startswith("densenet"):  # the published DenseNet files use older key names
            state = {(_DENSENET_KEY.sub(r"\1\2", k)): v for k, v in state.items()}
        _load_strict(model, state, path)
    for attr in _AUX.get(name, ()):  # keep only the main classifier, as torchvision does without aux_logits
        setattr(model, attr, None)
    model.aux_logits = False
    return model, info


def _timm(spec: ModelSpec, allow_download: bool, smoke: bool) -> tuple[nn.Module, dict]:
    try:
        import timm
    except ImportError:
        raise UserError(f"timm: {spec.timm} needs the timm package: pip install 'reportgen[timm]'") from None
    if not timm.is_model(spec.timm.split(".", 1)[0]):
        raise _unknown(spec.timm, timm.list_models(), "timm")
    model = timm.create_model(spec.timm, pretrained=False)
    cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    info: dict = {"source": "timm", "name": spec.timm, "weights": "none", "weights_file": None,
                  "random_in_smoke": None}
    if spec.weights != "imagenet":
        return model, info
    info |= {"weights": "imagenet", "weights_tag": cfg.get("tag") or cfg.get("hf_hub_id"),
             "weights_mean": list(cfg.get("mean", IMAGENET_MEAN)), "weights_std": list(cfg.get("std", IMAGENET_STD))}
    path, expected = _timm_file(cfg, allow_download and not smoke)
    info["weights_file"] = expected
    if path is None:
        if not smoke:
            raise WeightsMissing(f"timm {spec.timm}: pretrained weights not found; expected {expected}. Copy them "
                                 "there (timm reads the Hugging Face cache, HF_HOME), or use `weights: none`.")
        info["random_in_smoke"] = expected
        return model, info
    _load_strict(model, load_checkpoint(path), path)
    return model, info


def _timm_file(cfg: dict, allow_download: bool) -> tuple[Path | None, str]:
    """(cached weights file, where it was expected) for a timm pretrained config."""
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        cache = hf_cache_dir()
        for filename in ("model.safetensors", "pytorch_model.bin"):
            found = try_to_load_from_cache(hub_id, filename, cache_dir=cache)
            if isinstance(found, str):
                return Path(found), f"{hub_id}/{filename}"
        if allow_download:
            try:
                from huggingface_hub import hf_hub_download

                return Path(hf_hub_download(hub_id, "model.safetensors", cache_dir=cache)), f"{hub_id}/model.safetensors"
            except Exception:  # noqa: BLE001 - offline: reported as missing below
                pass
        return None, f"{hub_id}/model.safetensors in the Hugging Face cache {cache}"
    url = cfg.get("url")
    if url:
        path = checkpoint_dir() / os.path.basename(url)
        return (path if path.is_file() else None), str(path)
    return None, "a pretrained checkpoint (this timm model publishes none)"


def hf_cache_dir() -> str:
    """The Hugging Face hub cache, read from the environment now (HF_HUB_CACHE, else HF_HOME/hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return os.path.join(home, "hub")


def _load_strict(model: nn.Module, state: dict, path: Path) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise UserError(f"{path} does not fit the model: {str(exc).splitlines()[0][:400]}") from None


def _classifier(model: nn.Module) -> tuple[str, nn.Linear]:
    """The final classification layer: the last nn.Linear registered in the model."""
    found = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not found:
        raise UserError(f"{type(model).__name__} has no dense classifier layer whose head could be replaced")
    return found[-1]


def _new_head(in_features: int, num_classes: int, head) -> nn.Module:
    if not isinstance(head, HeadSpec):
        return nn.Linear(in_features, num_classes)
    from reportgen.models.layers import activation_module

    layers: list[nn.Module] = []
    width = in_features
    for out in head.dense:
        layers += [nn.Linear(width, out), activation_module(head.activation, {"negative_slope": None, "alpha": None})]
        if head.dropout:
            layers.append(nn.Dropout(head.dropout))
        width = out
    return nn.Sequential(*layers, nn.Linear(width, num_classes))


def _set(model: nn.Module, dotted: str, module: nn.Module) -> None:
    parent, _, leaf = dotted.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def blocks(model: nn.Module, head: str) -> list[str]:
    """The backbone's blocks in order: the parts of `features` when it has them, else the top-level children.

    A container that holds the head (`classifier` around `classifier.3`) contributes its other parts, so
    hidden dense layers before the head are blocks too."""
    names: list[str] = []

    def visit(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            if full == head or not any(True for _ in child.parameters()):
                continue
            if head.startswith(full + "."):
                visit(full + ".", child)
            elif not prefix and name == "features" and len(list(child.children())) > 3:
                visit(full + ".", child)
            else:
                names.append(full)

    visit("", model)
    return names


def _freeze(model: nn.Module, freeze, head: str, block_names: list[str]) -> list[str]:
    """Apply the freezing policy; returns the blocks (or named modules) left with no trainable parameter."""
    if freeze in (None, "none"):
        return []
    if freeze == "backbone":
        for p in model.parameters():
            p.requires_grad_(False)
        for p in model.get_submodule(head).parameters():
            p.requires_grad_(True)
    elif isinstance(freeze, FreezeLast):
        for name in block_names[:max(len(block_names) - freeze.train_last, 0)]:
            for p in model.get_submodule(name).parameters():
                p.requires_grad_(False)
    else:
        assert isinstance(freeze, FreezeModules)
        known = dict(model.named_modules())
        for name in freeze.modules:
            if not name or name not in known:
                close = difflib.get_close_matches(name, [n for n in known if n], n=3)
                raise UserError(f"freeze: no module {name!r} in {type(model).__name__}"
                                + (f"; did you mean {', '.join(close)}?" if close else f"; blocks: {', '.join(block_names)}"))
            for p in known[name].parameters():
                p.requires_grad_(False)
        return list(freeze.modules)
    return [n for n in block_names if not any(p.requires_grad for p in model.get_submodule(n).parameters())]


def build_network(spec: ModelSpec, num_classes: int, allow_download: bool = False, smoke: bool = False
                  ) -> tuple[nn.Module, dict]:
    """The network with its weights, a new head for num_classes, and the freezing policy applied."""
    model, info = _torchvision(spec, allow_download, smoke) if spec.torchvision else _timm(spec, allow_download, smoke)
    head_name, old = _classifier(model)
    _set(model, head_name, _new_head(old.in_features, num_classes, spec.head))
    block_names = blocks(model, head_name)
    info["head"] = head_name
    info["head_dense"] = list(spec.head.dense) if isinstance(spec.head, HeadSpec) else None  # None: one linear layer
    info["blocks"] = block_names
    info["frozen"] = _freeze(model, spec.freeze, head_name, block_names)
    if spec.inverted_residual:
        info["inverted_residual"] = {"custom": [list(r) for r in spec.inverted_residual], "original": MOBILENET_V2_TABLE}
    return model, info


def normalization(spec: ModelSpec, info: dict) -> str:
    """Which statistics standardise this network's inputs: 'weights', 'dataset' or 'none'."""
    if spec.source == "module":  # as for layer-language models: the dataset's `normalize` decides
        return info["normalization"]
    choice = spec.normalize or "auto"
    if choice == "auto":
        return "weights" if info.get("weights") == "imagenet" else "dataset"
    return {"imagenet": "weights", "dataset": "dataset", "none": "none"}[choice]


def carry_over(model: nn.Module, parent_state: dict) -> dict:
    """Copy every parent tensor whose name and shape match; report what was carried and what was not."""
    own = model.state_dict()
    carried = {k: v for k, v in parent_state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(carried, strict=False)
    fresh = sorted(k for k in own if k not in carried)
    return {"tensors": len(carried), "values": int(sum(v.numel() for v in carried.values()
                                                        if v.is_floating_point())),
            "reinitialised": fresh}
