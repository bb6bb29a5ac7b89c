"""Model variants: `extends: base` plus overrides (blocks, channels, kernels, pooling, activation, dense, dropout)."""

from __future__ import annotations

import copy

from reportgen.manifest.layers import blocked_override, normalize, replace_activations, walk

Layer = tuple[str, dict]  # (kind, options) as layers.normalize returns it
POOLS = ("maxpool", "avgpool")
HEAD_START = ("flatten", "global_avgpool", "linear")


class VariantError(ValueError):
    """An override that does not fit the model it extends; `key` names the offending override."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def split_blocks(layers: list[Layer]) -> tuple[list[Layer], list[list[Layer]], list[Layer]]:
    """(layers before the first conv, conv blocks, head from flatten/global pool/first dense on)."""
    head_at = next((i for i, (k, _) in enumerate(layers) if k in HEAD_START), len(layers))
    body, head = layers[:head_at], layers[head_at:]
    starts = [i for i, (k, _) in enumerate(body) if k == "conv"]
    if not starts:
        return body, [], head
    blocks = [body[a:b] for a, b in zip(starts, starts[1:] + [len(body)])]
    return body[:starts[0]], blocks, head


def _set_each(layers: list[Layer], kinds: tuple, key: str, field: str, values, what: str) -> None:
    """Set `field` on every layer of `kinds`: one value for all, or a list with one per layer."""
    targets = [opts for kind, opts in layers if kind in kinds]
    if not isinstance(values, list):
        values = [values] * len(targets)
    if len(values) != len(targets):
        raise VariantError(key, f"{key} lists {len(values)} values but the model has {len(targets)} {what}")
    for opts, value in zip(targets, values):
        opts[field] = value


def apply(layers: list[Layer], overrides: dict) -> list[Layer]:
    """A new layer list with the overrides applied; raise VariantError if one does not fit."""
    layers = copy.deepcopy(layers)
    if blocked := blocked_override(layers, overrides):
        raise VariantError(*blocked)
    if "drop_blocks" in overrides or "blocks" in overrides:
        pre, blocks, head = split_blocks(layers)
        drop = set(overrides.get("drop_blocks") or [])
        if drop and max(drop) > len(blocks):
            raise VariantError("drop_blocks", f"the model has {len(blocks)} conv blocks; cannot drop block {max(drop)}")
        blocks = [b for i, b in enumerate(blocks, 1) if i not in drop]
        n = overrides.get("blocks")
        if n is not None:
            if not blocks:
                raise VariantError("blocks", "the model has no conv blocks to keep or repeat")
            blocks = blocks[:n] + [copy.deepcopy(blocks[-1]) for _ in range(n - len(blocks))]
        if not blocks:
            raise VariantError("drop_blocks", "a variant must keep at least one conv block")
        layers = pre + [layer for block in blocks for layer in block] + head
    if "channels" in overrides:
        _set_each(layers, ("conv",), "channels", "out", list(overrides["channels"]), "conv layers")
    if "kernel" in overrides:
        _set_each(layers, ("conv",), "kernel", "kernel", tuple(overrides["kernel"]), "conv layers")
    if "padding" in overrides:
        _set_each(layers, ("conv",), "padding", "padding", overrides["padding"], "conv layers")
    if "pool" in overrides:
        pool = overrides["pool"]
        values = [tuple(p) for p in pool] if isinstance(pool, list) else (pool, pool)
        _set_each(layers, POOLS, "pool", "kernel", values, "pooling layers")
        for kind, opts in layers:
            if kind in POOLS:
                opts["stride"] = None  # stride follows the new kernel
    if "dense" in overrides:
        hidden = [(k, o) for k, o in layers if k == "linear" and o["out"] != "classes"]
        _set_each(hidden, ("linear",), "dense", "out", list(overrides["dense"]), "hidden dense layers")
    if "dropout" in overrides:
        _set_each(list(walk(layers)), ("dropout",), "dropout", "p", overrides["dropout"], "dropout layers")
    if "activation" in overrides:
        layers = replace_activations(layers, overrides["activation"])
    return layers


def resolve_all(models: dict) -> tuple[dict[str, list[Layer]], dict[str, tuple[str, str]]]:
    """Layers of every model, following `extends`; errors as {model: (key, message)}."""
    resolved: dict[str, list[Layer]] = {}
    errors: dict[str, tuple[str, str]] = {}

    def visit(name: str, chain: tuple[str, ...]) -> list[Layer] | None:
        """The layers of model `name` (None on error), reached through the `extends` chain `chain`."""
        if name in resolved or name in errors:
            return resolved.get(name)
        spec = models[name]
        if spec.source != "custom":
            return None  # torchvision/timm networks have no layer list
        if spec.layers is not None:
            resolved[name] = [normalize(item) for item in spec.layers]
            return resolved[name]
        if spec.extends not in models:
            errors[name] = ("extends", f"unknown model {spec.extends!r}; defined: {', '.join(models)}")
            return None
        if spec.extends in chain:
            errors[name] = ("extends", f"models extend each other in a cycle: {' → '.join(chain + (spec.extends,))}")
            return None
        base = visit(spec.extends, chain + (spec.extends,))
        if base is None and models[spec.extends].source != "custom":
            errors[name] = ("extends", f"{spec.extends} is a {models[spec.extends].source} network; only "
                                       "layer-language models can be extended")
            return None
        if base is None:
            errors.setdefault(name, ("extends", f"cannot derive from {spec.extends!r}, which has problems itself"))
            return None
        try:
            resolved[name] = apply(base, spec.overrides())
        except VariantError as exc:
            errors[name] = (exc.key, str(exc))
            return None
        return resolved[name]

    for name in models:
        visit(name, (name,))
    return resolved, errors
