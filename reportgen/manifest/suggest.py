""""Did you mean": close matches and Keras/torchvision vocabulary for unknown keys, kinds and ids."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag

# a word from Keras, torchvision or PyTorch → what the manifest calls it (the first that fits where it was written)
ALIASES: dict[str, tuple[str, ...]] = {
    "filters": ("out", "channels"), "out_channels": ("out", "channels"), "kernel_size": ("kernel",),
    "units": ("out", "linear", "dense"), "out_features": ("out",), "strides": ("stride",), "pool_size": ("kernel",),
    "epoch": ("epochs",), "n_epochs": ("epochs",), "num_epochs": ("epochs",), "max_epochs": ("epochs",),
    "learning_rate": ("lr", "optimizer.lr"), "lr": ("optimizer.lr",), "momentum": ("optimizer.momentum",),
    "weight_decay": ("optimizer.weight_decay",), "optimiser": ("optimizer",), "opt": ("optimizer",),
    "batch": ("batch_size",), "batchsize": ("batch_size",), "rate": ("p",), "use_bias": ("bias",),
    "scheduler": ("schedule",), "lr_scheduler": ("schedule",), "lr_schedule": ("schedule",),
    "dense": ("linear",), "conv2d": ("conv",), "convolution": ("conv",), "maxpooling2d": ("maxpool",),
    "max_pool": ("maxpool",), "maxpool2d": ("maxpool",), "avgpool2d": ("avgpool",), "averagepooling2d": ("avgpool",),
    "batch_normalization": ("batchnorm",), "batchnormalization": ("batchnorm",), "batchnorm2d": ("batchnorm",),
    "globalaveragepooling2d": ("global_avgpool",), "relu_layer": ("relu",), "input_shape": ("image_size",),
    "img_size": ("image_size",), "augmentation": ("augment",), "data_augmentation": ("augment",),
    "smoothing": ("label_smoothing",), "patience": ("early_stopping.patience",), "size": ("image_size",),
    "reducelronplateau": ("plateau",), "reduce_lr_on_plateau": ("plateau",), "steplr": ("step",),
    "cosineannealinglr": ("cosine",), "onecyclelr": ("one_cycle",),
    "clipnorm": ("grad_clip.max_norm",), "global_clipnorm": ("grad_clip.max_norm",),
    "clip_grad_norm": ("grad_clip.max_norm",), "max_grad_norm": ("grad_clip.max_norm",),
    "clipvalue": ("grad_clip.value",), "clip_grad_value": ("grad_clip.value",), "gradient_clipping": ("grad_clip",),
    "class_weight": ("class_weights",), "focal_alpha": ("class_weights",), "restore_best_weights": ("checkpoint",),
    "save_best_only": ("checkpoint",), "min_delta": ("threshold",),
}
# keys that have no place where they were written, with what to do instead
ADVICE = {"activation": "a layer takes no activation option; add an activation layer after it, e.g. `- relu`",
          "input_size": "`input_size` applies to torchvision/timm models; a layer-language model reads the dataset's "
                        "`image_size`"}


def suggestion(word: str, known: list[str] | set[str]) -> str | None:
    """The key or id meant by an unknown word among known ones: a Keras/torchvision alias, else a close spelling."""
    known = list(known)
    for target in ALIASES.get(str(word).lower(), ()):
        if target.split(".")[0] in known:
            return target
    close = difflib.get_close_matches(str(word), known, n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, known: list[str] | set[str], extra: str = "") -> str:
    """` (did you mean 'X'?)` for an unknown word among known ones, advice for a few Keras habits, else extra."""
    target = suggestion(word, known)
    if target is not None:
        return f" (did you mean {target!r}?)"
    if str(word) in ADVICE and known:
        return f" ({ADVICE[str(word)]})"
    return extra


def _members(t: Any) -> list[tuple[Any, str | None]]:
    """The concrete types an annotation stands for, each with its discriminator tag (Annotated, unions unwrapped)."""
    origin = get_origin(t)
    if origin is Annotated:
        base, *meta = get_args(t)
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        return [(x, tag or xtag) for x, xtag in _members(base)]
    if origin in (Union, types.UnionType):
        return [m for arg in get_args(t) for m in _members(arg)]
    return [(t, None)]


def _field(model: type[BaseModel], key: str):
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def types_at(root: Any, loc: tuple) -> list[Any]:
    """The types a pydantic error location can be inside `root` (tags of unions are followed, never guessed)."""
    cands = [root]
    for seg in loc:
        nxt = []
        for cand in cands:
            for t, tag in _members(cand):
                is_model = isinstance(t, type) and issubclass(t, BaseModel)
                if seg == tag or (is_model and seg == t.__name__):
                    nxt.append(t)
                elif isinstance(seg, int) and get_origin(t) in (list, tuple) and get_args(t):
                    nxt.append(get_args(t)[0])
                elif isinstance(seg, str) and is_model and _field(t, seg) is not None:
                    nxt.append(_field(t, seg))
                elif isinstance(seg, str) and get_origin(t) is dict and len(get_args(t)) == 2:
                    nxt.append(get_args(t)[1])
        cands = nxt
    return cands


def keys_at(root: Any, loc: tuple) -> list[str]:
    """The keys allowed in the mapping at `loc` (empty when unknown)."""
    out: list[str] = []
    for cand in types_at(root, loc):
        for t, _ in _members(cand):
            if isinstance(t, type) and issubclass(t, BaseModel):
                out += [info.alias or name for name, info in t.model_fields.items() if (info.alias or name) not in out]
    return out


def check_path(root: type[BaseModel], parts: list[str]) -> tuple[int, list[str]] | None:
    """Where a dotted key path leaves the schema: (index of the bad part, keys allowed there); None when it fits."""
    for i, part in enumerate(parts):
        known = keys_at(root, tuple(parts[:i]))
        if part not in known:
            return i, known
    return None


def close_ids(word: str, ids: list[str], n: int = 3) -> list[str]:
    """The ids most like word (for "did you mean" on run and experiment ids)."""
    return difflib.get_close_matches(word, ids, n=n, cutoff=0.5)
