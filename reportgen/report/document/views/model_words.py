"""The sentences of the architecture and parameter sections of one model, as the document holds them: what the
model is, where its weights come from, and the sums its totals are checked by (numbers keyed)."""

from __future__ import annotations

from markupsafe import Markup

from reportgen.results.record import LayerModel, NetworkModel

STARTS = {"imagenet": ", starting from its ImageNet weights", "none": ", randomly initialised (no pretrained weights)"}
COUNTED = ("Every count below is read from the instantiated PyTorch modules; the formulas write out the same "
           "arithmetic.\nA convolution has <em>in × out × k<sub>h</sub> × k<sub>w</sub></em> weights plus one "
           "bias per filter; a dense layer <em>in × out</em> weights plus one bias per output;\nBatchNorm learns a "
           "scale γ and a shift β per channel and keeps a running mean and variance per channel that are not learned.")
BLOCK_SUMS = (" A block (a residual or branches block, or a module holding others) shows its total, the sum of its "
              "parts, above its rows.")
UNKNOWN_KINDS = " A layer of a kind without a known formula shows its tensors’ sizes."


def _network(m: dict) -> Markup:
    s: NetworkModel = m["summary"]
    n = m["counts"]
    start = STARTS.get(s.weights) or Markup(", starting from the final weights of {}").format(s.weights_from)
    resized = (f" (images resized from {s.dataset_size}×{s.dataset_size} on the device)"
               if s.input_size != s.dataset_size else "")
    return Markup("{} <code>{}</code>{}.\nThe classifier <code>{}</code> is replaced by a new head for the classes "
                  "({}); {}.\nInput: {}{}.\n{} blocks, {} parameters, {} of them trained.").format(
        s.source, s.network, start, s.head, m["head_text"], m["freeze_text"], n["input_shape"], resized,
        len(s.blocks), n["total_params"], n["trainable_params"])


def _module(s: LayerModel) -> Markup:
    args = Markup(", ").join(Markup("<code>{}={}</code>").format(k, a) for k, a in sorted((s.args or {}).items()))
    built = Markup(", built with {}").format(args) if s.args else ""
    return Markup("The class <code>{}</code> of <code>{}</code>{}; its layers are read from the instantiated "
                  "module.").format(s.class_name, s.module, built)


def architecture_intro(m: dict) -> list[Markup]:
    """The paragraphs before a model's layer (or block) table (`m`: the model's entry of its section)."""
    s, n = m["summary"], m["counts"]
    out = [Markup("{}").format(s.description)] if s.description else []
    if isinstance(s, NetworkModel):
        return out + [_network(m)]
    out += [Markup("A variant of {}.").format(s.extends)] if s.extends else []
    out += [_module(s)] if s.source == "module" else []
    blocks = f" in {len(s.groups)} blocks" if m["segments"] else ""
    return out + [Markup("Input: {} (channels × height × width). {} layers{}, {} learnable parameters.").format(
        n["input_shape"], len(s.layers), blocks, n["total_params"])]


def parameters_intro(m: dict) -> list[Markup]:
    """The paragraph before a model's parameter table: where the counts come from and how they add up."""
    s = m["summary"]
    if isinstance(s, NetworkModel):
        return [Markup("Counts per block of the {} network <code>{}</code>, read from the instantiated modules; "
                       "frozen parameters are not trained.").format(s.source, s.network)]
    return [Markup(COUNTED) + (BLOCK_SUMS if m["segments"] else "")
            + (UNKNOWN_KINDS if s.source == "module" else "")]


def parameters_sum(m: dict) -> Markup:
    """The sentence under a parameter table: the sum it adds up to, and PyTorch's and Keras's totals."""
    n = m["counts"]
    if isinstance(m["summary"], NetworkModel):
        return Markup("{} of {} parameters are trained; {} are frozen.").format(
            n["trainable_params"], n["total_params"], n["non_trainable_params"])
    what = "the blocks and the layers outside them" if m["segments"] else "the per-layer counts"
    return Markup("Sum of {}: {} = <strong>{}</strong> learnable parameters.\nPyTorch’s count is {}; Keras would "
                  "report {} in total, of which {} non-trainable.").format(
        what, n["sum"], n["total_params"], n["total_params"], n["keras_total_params"],
        n["keras_non_trainable_params"])
