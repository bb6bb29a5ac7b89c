"""Frozen features computed once: a run whose trainable parameters all lie after a frozen part trains on that part's
cached outputs.

The network is traced with torch.fx and cut at the latest tensor that everything after depends on alone and
before which no parameter trains (ResNet with `freeze: backbone`: after avgpool and the flatten, 512 numbers per
image). When that frozen part computes the same in training as in evaluation (no augmentation, no dropout, no
batch normalisation left in training mode: `train.train_mode` keeps frozen ones in eval), it runs once per image
in eval mode, without gradients and in the run's precision, for the training, validation and test splits; the
epochs then train the rest on those features with the same batch order, seeds and optimizer, so the losses
equal the uncached run's within floating-point tolerance. The features are held for the run only (in device
memory, within a budget); the model itself stays whole: its weights are saved, tested and measured as one
network. Every run records the choice, or why not, as `compute.features`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import fx, nn
from torch.nn.modules.batchnorm import _BatchNorm, _NormBase
from torch.nn.modules.dropout import _DropoutNd

from reportgen.run.input_pipeline import DEVICE_FRACTION, Held
from reportgen.run.train import TrainState, train_mode

KEY = "frozen-prefix/1"  # joins a candidate run's cache key; a change to how features are cached bumps it
NOT_APPLICABLE = "not applicable: nothing is frozen"


def key_material(network, spec) -> dict:
    """{'features': KEY} for a run that may train on cached features (a network with a freezing policy or a module
    of its own, no augmentation, `cache_features` not false), else {}: other runs keep their keys."""
    if network is None or spec.cache_features is False or spec.augment.active():
        return {}
    frozen = network.source == "module" or network.freeze not in (None, "none")
    return {"features": KEY} if frozen else {}


@dataclass
class Split:
    """A traced network cut in two: the frozen part (input → features) and the rest (features → logits)."""

    prefix: fx.GraphModule
    rest: fx.GraphModule
    where: str  # the last module of the frozen part
    stopped: str | None  # what ended it before the first trainable layer (e.g. 'dropout at classifier.0'), if anything


@dataclass
class Cached:
    """What `frozen_features` decided (`choice`, as recorded) and, when cached, the run over features with its
    test split's features."""

    choice: str
    run: TrainState | None = None
    test: Held | None = None


class FeatureInputs:
    """The input pipeline of a run over cached features: batches are used as they are, nothing is drawn."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def draw(self, n: int, generator: torch.Generator) -> None:
        """No augmentation, as in the run it stands for: the generator is not advanced."""
        return None

    def train_batch(self, x: torch.Tensor, draws: None) -> torch.Tensor:
        return x


def _parameters(gm: fx.GraphModule, node: fx.Node) -> list[torch.Tensor]:
    """The parameters a node of the graph uses."""
    if node.op == "call_module":
        return list(gm.get_submodule(node.target).parameters())
    if node.op == "get_attr":
        found = gm
        for part in node.target.split("."):
            found = getattr(found, part)
        return [found] if isinstance(found, nn.Parameter) else []
    return []


def _mode_dependent(module: nn.Module) -> str | None:
    """What makes a module compute otherwise in training than in evaluation, as `train_mode` left it (dropout,
    normalisation from batch statistics); None when nothing does."""
    if isinstance(module, _DropoutNd) and module.p > 0:
        return "dropout"
    if isinstance(module, _NormBase) and (module.training and module.track_running_stats or
                                          isinstance(module, _BatchNorm) and not module.track_running_stats):
        return "batch normalisation in training mode"
    return None


def _cut(gm: fx.GraphModule) -> tuple[int | None, str | None]:
    """(index of the latest node after which nothing uses an earlier node, before which no parameter trains and no
    module depends on the training mode, with at least one frozen parameter before it, or None; what ended the frozen
    part when a mode-dependent module did, e.g. 'dropout at classifier.0')."""
    nodes = list(gm.graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    last_use = [max((index[u] for u in n.users), default=i) for i, n in enumerate(nodes)]
    reach, best, frozen = -1, None, False
    for i, node in enumerate(nodes):
        params = _parameters(gm, node)
        if any(p.requires_grad for p in params) or node.op == "output":
            return best, None
        why = _mode_dependent(gm.get_submodule(node.target)) if node.op == "call_module" else None
        if why is not None:
            return best, f"{why} at {node.target}"
        frozen = frozen or bool(params)
        reach = max(reach, last_use[i - 1]) if i else reach
        if node.op != "placeholder" and reach <= i and frozen:
            best = i
    return best, None


def _graph_of(nodes: list[fx.Node], inputs: dict, output: fx.Node | None) -> fx.Graph:
    """A new graph of copies of nodes, `inputs` mapping outside nodes to placeholder names; output: what it returns
    (None: the copied output node)."""
    graph, env = fx.Graph(), {}
    for node, name in inputs.items():
        env[node] = graph.placeholder(name)
    for node in nodes:
        env[node] = graph.node_copy(node, lambda n: env[n])
    if output is not None:
        graph.output(env[output])
    return graph


def split(model: nn.Module) -> Split | str:
    """The model cut after its frozen part, or why it cannot be (the reason as recorded)."""
    try:
        traced = {mode: fx.symbolic_trace(model.train(mode)) for mode in (True, False)}
    except Exception as exc:  # noqa: BLE001 - any tracing failure means "not split"
        return f"not cached: the network could not be traced ({type(exc).__name__})"
    gm = traced[True]
    if gm.code != traced[False].code:
        return "not cached: the network's forward pass changes with training mode"
    nodes = list(gm.graph.nodes)
    if sum(n.op == "placeholder" for n in nodes) != 1:
        return "not cached: the network takes more than one input"
    train_mode(model)  # as training leaves it: frozen batch normalisation keeps its running statistics
    at, stopped = _cut(gm)
    if at is None:
        return f"not cached: {stopped} comes first in the frozen part" if stopped else \
            "not cached: no frozen layer comes before the first trainable one"
    placeholder = nodes[0]
    prefix = fx.GraphModule(gm, _graph_of(nodes[1:at + 1], {placeholder: "x"}, nodes[at]))
    rest = fx.GraphModule(gm, _graph_of(nodes[at + 1:], {nodes[at]: "features"}, None))
    where = [n.target for n in nodes[:at + 1] if n.op == "call_module"]
    return Split(prefix, rest, where[-1] if where else nodes[at].name, stopped)


def _probe(model: nn.Module, prefix: fx.GraphModule, xb: torch.Tensor, run: TrainState) -> torch.Tensor | str:
    """The frozen part's output for a few images, checked to be the same twice in training mode and in evaluation;
    the random state is left as it was."""
    devices = [run.compute.device] if run.compute.device.type == "cuda" else []
    with torch.no_grad(), torch.random.fork_rng(devices=devices), run.compute.autocast():
        train_mode(model)
        first, second = prefix(xb), prefix(xb)
        model.eval()
        evaluated = prefix(xb)
    if not isinstance(evaluated, torch.Tensor):
        return "not cached: the frozen part does not end in one tensor"
    close = lambda a, b: torch.allclose(a.float(), b.float(), rtol=1e-4, atol=1e-5)  # noqa: E731 - GPU kernels vary
    if not (close(first, second) and close(first, evaluated)):
        return "not cached: the frozen part is not deterministic in training mode"
    return evaluated


def budget_bytes(device: torch.device) -> int:
    """How much memory cached features may take: DEVICE_FRACTION of the GPU's free memory, a quarter of the
    machine's memory elsewhere (2 GiB where the system does not say)."""
    if device.type == "cuda":
        return int(DEVICE_FRACTION * torch.cuda.mem_get_info(device)[0])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (AttributeError, ValueError, OSError):
        return 2 << 30


@torch.no_grad()
def _features(prefix: fx.GraphModule, data: Held, run: TrainState) -> Held:
    """The frozen part's output for every image of a split (in order, eval mode), held on the device."""
    out, labels = [], []
    for xb, yb in data.batches(torch.arange(data.n), max(run.spec.batch_size, 256)):
        with run.compute.autocast():
            out.append(prefix(run.pipe(xb)))
        labels.append(yb)
    x = torch.cat(out) if out else torch.empty(0)
    y = torch.cat(labels) if labels else torch.empty(0, dtype=torch.long)
    return Held(x, y, run.compute.device, "device")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


def choose(run: TrainState, images: int, budget: int | None = None) -> tuple[Split | None, str]:
    """(split, choice as recorded) for a run over `images` images in all, before anything is computed: the split is
    None when the frozen part is not cached."""
    model = run.model
    if all(p.requires_grad for p in model.parameters()):
        return None, NOT_APPLICABLE
    if run.spec.cache_features is False:
        return None, "not cached: cache_features: false"
    if run.spec.augment.active():
        return None, "not cached: augmentation changes the frozen part's inputs every epoch"
    cut = split(model)
    if isinstance(cut, str):
        return None, cut
    xb = next(run.train.batches(torch.arange(min(2, run.train.n)), 2))[0]
    probe = _probe(model, cut.prefix, run.pipe(xb), run)
    if isinstance(probe, str):
        return None, probe
    per_image = probe[0].numel() * probe.element_size()
    need, allowed = per_image * images, budget_bytes(run.compute.device)
    allowed = allowed if budget is None else budget
    shape = "×".join(str(s) for s in probe.shape[1:])
    if need > allowed:
        return None, f"not cached: the features would take {_megabytes(need)}, over the budget of " \
                     f"{_megabytes(allowed)}"
    after = f"; not past the {cut.stopped}" if cut.stopped else ""
    return cut, f"cached: the frozen part up to {cut.where} runs once per image ({shape} features, " \
                f"{_megabytes(need)}){after}"


def frozen_features(run: TrainState, test: Held, progress: Callable[[str], None], budget: int | None = None
                    ) -> Cached:
    """The run's choice and, where the frozen part can be cached, the run over its features (sharing the model,
    optimizer, schedule, generator and loss scaling of `run`) with the test split's features; `budget` overrides
    budget_bytes (tests)."""
    cut, choice = choose(run, run.train.n + run.val.n + test.n, budget)
    if cut is None:
        if not choice.startswith("not applicable"):
            progress(f"  frozen features {choice}")
        return Cached(choice)
    t0 = time.perf_counter()
    cut.prefix.eval()
    train, val, tested = (_features(cut.prefix, data, run) for data in (run.train, run.val, test))
    rest = torch.compile(cut.rest, mode=run.compute.compile) if run.compute.compile else cut.rest
    progress(f"  frozen features {choice}; computed in {time.perf_counter() - t0:.1f} s")
    return Cached(choice, dataclasses.replace(run, forward=rest, pipe=FeatureInputs(), train=train, val=val), tested)
