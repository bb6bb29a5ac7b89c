"""The manifest's typed specs (pydantic): report, dataset, models, training, experiments and sections."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BeforeValidator, Field, JsonValue, field_validator, model_validator

from reportgen.manifest.layers import ACTIVATIONS, ID_PATTERN, MAX_SIZE, IntPair, LayerItem, ModelName, Strict, check_padding
from reportgen.manifest.report_meta import ReportMeta
from reportgen.manifest.sections import SectionItem
from reportgen.manifest.train_options import LOSS_ALIASES, CacheFeatures, GradClipSpec, ScheduleSpec

IMAGE_EXTENSIONS = [".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"]
NATIVE = {"digits": (1, 8, 10), "cifar10": (3, 32, 10), "cifar100": (3, 32, 100), "mnist": (1, 28, 10),
          "fashion_mnist": (1, 28, 10), "svhn": (3, 32, 10), "stl10": (3, 96, 10)}


class DatasetSpec(Strict):
    """The images every run trains, validates and tests on, and how they are split and standardised."""

    name: Literal["digits", "cifar10", "cifar100", "mnist", "fashion_mnist", "svhn", "stl10", "imagefolder"] = Field(
        description="digits (scikit-learn's bundled 8×8 digits: nothing to download), cifar10, cifar100, mnist, "
        "fashion_mnist, svhn, stl10, or imagefolder (one folder of images per class)")
    root: str | None = Field(default=None, description="cifar10/cifar100: folder holding cifar-10-batches-py/ or "
                             "cifar-100-python/; mnist/fashion_mnist: folder holding MNIST/raw/ or FashionMNIST/raw/ "
                             "(IDX files, gzipped or not); svhn: folder holding train_32x32.mat and test_32x32.mat; "
                             "stl10: folder holding stl10_binary/; imagefolder: one folder of class folders "
                             "(relative to the manifest)")
    train_root: str | None = Field(default=None, description="imagefolder: a folder of class folders for training "
                                   "(validation is carved from it); needs test_root")
    test_root: str | None = Field(default=None, description="imagefolder: a folder of class folders for testing")
    split: list[Annotated[float, Field(gt=0)]] | None = Field(default=None, min_length=3, max_length=3,
        description="imagefolder with one root: train/validation/test ratios, e.g. [60, 20, 20] (stratified by class)")
    classes: list[str] | None = Field(default=None, min_length=2, description="imagefolder: the class folder names "
                                      "(default: every sub-folder, sorted); needed to smoke-build without the images")
    labels: Literal["fine", "coarse"] = Field(default="fine", description="cifar100: 100 fine or 20 coarse labels")
    bad_files: Literal["skip", "fail"] = Field(default="fail", description="imagefolder: unreadable images are "
                                               "skipped (and counted in the report) or stop the build")
    extensions: list[str] = Field(default_factory=lambda: list(IMAGE_EXTENSIONS),
                                  description="imagefolder: file extensions read as images")
    download: bool = Field(default=False, description="cifar10/cifar100: download the archive when it is missing "
                           "(the other datasets' files are put under `root:` by hand)")
    image_size: int | None = Field(default=None, ge=4, le=1024, description="resize to N×N (default: native size; "
                                   "required for imagefolder)")
    channels: Literal[1, 3] | None = Field(default=None, description="1 = grayscale, 3 = RGB (default: native)")
    val_fraction: float = Field(default=0.1, gt=0, lt=1, description="share of the training set held out for validation")
    validation: Literal["split", "test"] = Field(
        default="split", description="split: carve validation from train; test: validate on the test set (as some notebooks do)")
    test_fraction: float = Field(default=0.2, gt=0, lt=1, description="digits only: share held out as the test set")
    seed: int = Field(default=42, ge=0, le=2**32 - 1, description="seeds the train/validation/test splits, the "
                      "smoke-build subsets and synthetic images, and the dataset section's samples (training is "
                      "seeded by train.seed)")
    normalize: bool = Field(default=True, description="standardise with per-channel mean/std of the training split")

    @model_validator(mode="after")
    def _imagefolder(self) -> "DatasetSpec":
        """Root, split and class options that fit the dataset kind together."""
        if self.download and self.name in ("mnist", "fashion_mnist", "svhn", "stl10"):
            raise ValueError(f"`download` applies to cifar10 and cifar100 only: put the {self.name} files under "
                             "`root:` yourself (the build says where when they are missing), or smoke-build without them")
        if self.name != "imagefolder":
            for key in ("train_root", "test_root", "split", "classes"):
                if getattr(self, key) is not None:
                    raise ValueError(f"`{key}` applies to imagefolder datasets only")
            return self
        if self.image_size is None:
            raise ValueError("an imagefolder dataset needs `image_size` (its images are resized to N×N)")
        if (self.train_root is None) != (self.test_root is None):
            raise ValueError("give both `train_root` and `test_root`, or one `root` with a `split`")
        if (self.root is None) == (self.train_root is None):
            raise ValueError("an imagefolder dataset needs either `root` (with `split`) or `train_root` and `test_root`")
        if self.split is not None and self.train_root is not None:
            raise ValueError("`split` divides one `root`; with `train_root`/`test_root` validation is carved from "
                             "the training images by `val_fraction`")
        if self.root is not None and self.split is None:
            raise ValueError("an imagefolder `root` needs `split: [train, validation, test]` ratios, e.g. [60, 20, 20]")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError("`classes` lists a class twice")
        return self

    def native(self) -> tuple[int, int, int]:
        """(channels, image size, classes) as the dataset ships it (imagefolder: the declared size and classes)."""
        if self.name == "imagefolder":
            return 3, self.image_size or 0, len(self.classes or [])
        c, s, k = NATIVE[self.name]
        return c, s, 20 if self.name == "cifar100" and self.labels == "coarse" else k

    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the images the models see."""
        c, s, _ = self.native()
        return (self.channels or c, self.image_size or s, self.image_size or s)

    def num_classes(self) -> int:
        """How many classes the labels take."""
        return self.native()[2]


VARIANT_KEYS = ("blocks", "drop_blocks", "channels", "kernel", "padding", "pool", "activation", "dense", "dropout")
SOURCE_KEYS = ("weights", "head", "freeze", "input_size", "normalize", "inverted_residual", "width_mult")


class WeightsFrom(Strict):
    """Start from the final weights of an earlier experiment (or run) of the same manifest."""

    from_: str = Field(alias="from", min_length=1, description="experiment id or run id")


Weights = Union[Literal["imagenet", "none"], WeightsFrom]


class HeadSpec(Strict):
    """A small classifier head after the backbone's pooled features: dense layers, then one output per class."""

    dense: list[Annotated[int, Field(ge=1, le=MAX_SIZE)]] = Field(default_factory=list, description="hidden widths, e.g. [128]")
    activation: Literal[ACTIVATIONS] = Field(  # type: ignore[valid-type]
        default="relu", description="after each hidden dense layer")
    dropout: float = Field(default=0.0, ge=0, lt=1, description="p of a dropout after each hidden dense layer's "
                           "activation (0: none)")


class FreezeLast(Strict):
    train_last: int = Field(ge=0, description="train only the last K blocks (and the head)")


class FreezeModules(Strict):
    modules: list[str] = Field(min_length=1, description="freeze these named modules (dotted names)")


Freeze = Union[Literal["none", "backbone"], FreezeLast, FreezeModules]


class ModelSpec(Strict):
    """A model: custom `layers`, `extends: OTHER` plus variant overrides, a `torchvision:`/`timm:` network, or a
    class of your own in a Python file (`module: FILE.py:CLASS` with keyword `args`)."""

    description: str | None = Field(default=None, description="printed under the model's heading in the "
                                    "architecture section, and in results_table's architecture column when there "
                                    "is no `label`")
    label: str | None = Field(default=None, max_length=60, description="short name in results tables, e.g. ResNet-34")
    layers: list[LayerItem] | None = Field(default=None, min_length=1, description="the network, one layer per "
                                           "item: `kind` or `kind: {options}`; in-channels and in-features are "
                                           "inferred")
    extends: str | None = Field(default=None, description="derive from another model and override parts of it")
    torchvision: str | None = Field(default=None, description="a torchvision classification model, e.g. resnet18")
    timm: str | None = Field(default=None, description="a timm model, e.g. inception_resnet_v2 (pip install timm)")
    module: str | None = Field(default=None, description="an nn.Module class of your own: PATH.py:CLASS, the path "
                               "relative to the manifest; building (never validating) the manifest runs that file's code")
    args: dict[str, JsonValue] | None = Field(default=None, description="module: keyword arguments of the class "
                                        "(num_classes and in_channels are passed when its signature takes them)")
    blocks: int | None = Field(default=None, ge=1, le=64, description="keep the first N conv blocks (or repeat the last)")
    drop_blocks: list[Annotated[int, Field(ge=1)]] | None = Field(default=None, description="remove conv blocks (1-based)")
    channels: list[Annotated[int, Field(ge=1, le=MAX_SIZE)]] | None = Field(default=None, description="out channels of each conv")
    kernel: IntPair | None = Field(default=None, description="kernel size of every conv")
    padding: Annotated[Union[int, Literal["same", "valid"]], BeforeValidator(check_padding)] | None = Field(
        default=None, description="padding of every conv: pixels on each side, same or valid")
    pool: Union[Annotated[int, Field(ge=1)], list[IntPair]] | None = Field(
        default=None, description="kernel (= stride) of every pooling layer, or a list with one per layer")
    activation: Literal[ACTIVATIONS] | None = Field(default=None, description="replace every activation")  # type: ignore[valid-type]
    dense: list[Annotated[int, Field(ge=1, le=MAX_SIZE)]] | None = Field(default=None, description="widths of the hidden dense layers")
    dropout: float | None = Field(default=None, ge=0, lt=1, description="p of every dropout layer")
    weights: Weights | None = Field(default=None, description="imagenet (the library's pretrained weights, from the "
                                    "local cache), none (random), or {from: EXPERIMENT_ID}")
    head: Union[Literal["linear"], HeadSpec] | None = Field(
        default=None, description="linear (default): one dense layer to the classes; or {dense: [128], ...}")
    freeze: Freeze | None = Field(default=None, description="none (default), backbone, {train_last: K} or "
                                  "{modules: [names]}")
    input_size: int | None = Field(default=None, ge=8, le=1024, description="resize images to N×N on the device")
    normalize: Literal["auto", "dataset", "imagenet", "none"] | None = Field(
        default=None, description="auto (default): the weights' own statistics for pretrained weights, else the dataset's")
    inverted_residual: list[Annotated[list[Annotated[int, Field(ge=1, le=4096)]], Field(min_length=4, max_length=4)]] | None = \
        Field(default=None, min_length=1, description="mobilenet_v2: the (t, c, n, s) rows of its inverted residuals")
    width_mult: float | None = Field(default=None, gt=0, le=8, description="mobilenet_v2: channel width multiplier")

    @field_validator("module")
    @classmethod
    def _module(cls, v: str | None) -> str | None:
        """PATH.py:CLASS with a relative path and a Python class name."""
        if v is None:
            return v
        path, _, name = v.rpartition(":")
        if not path.endswith(".py") or not name.isidentifier():
            raise ValueError("module is FILE.py:CLASS, e.g. nets/resnet.py:ResNet")
        if path.startswith(("/", "\\")) or (len(path) > 1 and path[1] == ":") or "\0" in path:
            raise ValueError(f"the module path {path!r} must be relative to the manifest's folder")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "ModelSpec":
        """Exactly one source, and only the options that apply to it."""
        sources = [k for k in ("layers", "extends", "torchvision", "timm", "module") if getattr(self, k) is not None]
        if len(sources) != 1:
            raise ValueError("a model needs exactly one of `layers` (its own), `extends` (a variant of another), "
                             "`torchvision: NAME`, `timm: NAME` or `module: FILE.py:CLASS`"
                             + (f"; found {', '.join(sources)}" if sources else ""))
        network = sources[0] in ("torchvision", "timm")
        keys = VARIANT_KEYS if network else SOURCE_KEYS if sources[0] != "module" else VARIANT_KEYS + SOURCE_KEYS
        wrong = [k for k in keys if getattr(self, k) is not None]
        if wrong:
            what = "layer-language variants (`extends`)" if wrong[0] in VARIANT_KEYS else "torchvision and timm models"
            raise ValueError(f"`{wrong[0]}` applies to {what} only")
        if self.args is not None and self.module is None:
            raise ValueError("`args` applies to `module:` models only")
        given = [k for k in ("num_classes", "in_channels") if k in (self.args or {})]
        if given:
            raise ValueError(f"`args` may not set {given[0]}: reportgen passes the dataset's own")
        if (self.inverted_residual or self.width_mult) and self.torchvision != "mobilenet_v2":
            raise ValueError("`inverted_residual` and `width_mult` apply to `torchvision: mobilenet_v2` only")
        if self.inverted_residual and self.weights == "imagenet":
            raise ValueError("ImageNet weights fit the original inverted-residual table only; use weights: none")
        return self

    @property
    def source(self) -> str:
        """custom, torchvision, timm or module."""
        return "torchvision" if self.torchvision else "timm" if self.timm else "module" if self.module else "custom"

    def module_parts(self) -> tuple[str, str]:
        """(file path relative to the manifest, class name) of a `module:` model."""
        path, _, cls = (self.module or "").rpartition(":")
        return path, cls

    def overrides(self) -> dict:
        """The variant overrides that are set, in the order they apply."""
        return {k: getattr(self, k) for k in VARIANT_KEYS if getattr(self, k) is not None}


OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta"]


class OptimizerSpec(Strict):
    """A torch.optim optimizer and its options; an option the named optimizer does not take is ignored."""

    name: OptimizerName = Field(default="adam", description="torch.optim's SGD, Adam, AdamW, RMSprop, Adagrad or "
                                "Adadelta (on CUDA, sgd, adam and adamw use fused kernels)")
    lr: float = Field(default=1e-3, gt=0, description="initial learning rate (one_cycle: its default max_lr, starting "
                      "at max_lr / 25); 0.001 for every optimizer unless set (PyTorch's own default is 0.01 for "
                      "rmsprop and adagrad, 1.0 for adadelta)")
    momentum: float = Field(default=0.0, ge=0, description="sgd and rmsprop: the momentum factor (0: none)")
    nesterov: bool = Field(default=False, description="sgd: Nesterov momentum (needs momentum > 0)")
    weight_decay: float = Field(default=0.0, ge=0, description="L2 penalty added to the gradients (adamw: decoupled "
                                "weight decay); 0: none")
    betas: tuple[float, float] | None = Field(default=None, description="adam and adamw: the decay rates (β1, β2) of "
                                              "the gradients' running averages (default: PyTorch's (0.9, 0.999))")
    eps: float | None = Field(default=None, gt=0, description="every optimizer but sgd: the term added for numerical "
                              "stability (default: PyTorch's own for each)")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerSpec:
        """SGD with Nesterov momentum and no momentum: PyTorch would refuse it only once the run trains."""
        if self.name == "sgd" and self.nesterov and self.momentum <= 0:
            raise ValueError("nesterov: true needs a momentum above 0 (e.g. momentum: 0.9)")
        return self


class EarlyStoppingSpec(Strict):
    """Stop when validation loss has not improved by min_delta for `patience` epochs."""

    patience: int = Field(default=3, ge=1, description="epochs without improvement before training stops")
    min_delta: float = Field(default=0.0, ge=0, description="an epoch improves when its validation loss is below the "
                             "lowest so far minus this")


class MeasureSpec(Strict):
    """How every finished run's latency and throughput are measured after training (trade-off and results tables)."""

    warmup: int = Field(default=5, ge=1, description="untimed forward passes first")
    latency_repeats: int = Field(default=30, ge=3, description="timed batch-1 passes; the median is reported")
    throughput_batch: int = Field(default=256, ge=1, description="batch size of the throughput measurement")
    throughput_repeats: int = Field(default=5, ge=1, description="timed passes of one throughput_batch batch (after "
                                    "an untimed one); throughput is the batch size over their median time")


class CropSpec(Strict):
    """Random crop of the padded image: a translation of up to ±padding pixels."""

    padding: int = Field(ge=1, le=256, description="pixels added on each side before the random crop")
    mode: Literal["reflect", "zeros", "edge"] = Field(default="reflect", description="how the padding is filled")


def _crop_shorthand(v: Any) -> Any:
    """Let `crop: 4` stand for `{padding: 4}`."""
    return {"padding": v} if isinstance(v, int) and not isinstance(v, bool) else v


class AugmentSpec(Strict):
    """Training-batch augmentation, done on the device at the input resolution (before any resize)."""

    crop: Annotated[CropSpec | None, BeforeValidator(_crop_shorthand)] = Field(
        default=None, description="random crop/translate with padding; `crop: 4` is {padding: 4, mode: reflect}")
    flip: bool = Field(default=False, description="horizontal flip of half the images")
    cutout: int | None = Field(default=None, ge=1, le=MAX_SIZE, description="side of one square per image set to "
                               "the channel mean (zero after normalisation)")

    def active(self) -> bool:
        """Whether any augmentation is declared."""
        return self.crop is not None or self.flip or self.cutout is not None


class TrainSpec(Strict):
    """How every run trains, is tested and measured; an experiment's `train:` overrides any of it."""

    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec, description="the optimizer and its learning rate "
                                     "(default: adam, lr 0.001)")
    schedule: ScheduleSpec | None = Field(default=None, description="learning-rate schedule (default: none, a "
                                          "constant rate)")
    early_stopping: EarlyStoppingSpec | None = Field(default=None, description="stop when the validation loss stops "
                                                     "improving (default: none, every epoch is trained)")
    loss: str = Field(default="cross_entropy", description="cross_entropy, or focal: -α_t (1 - p_t)^γ log p_t")
    label_smoothing: float = Field(default=0.0, ge=0, lt=1, description="cross_entropy only: the share of each "
                                   "target spread evenly over the classes (CrossEntropyLoss's label_smoothing)")
    class_weights: Union[Literal["balanced"], list[Annotated[float, Field(gt=0)]]] | None = Field(
        default=None, description="balanced: n / (classes × count of the class) over the training split; or one "
        "weight per class, in the dataset's class order (focal loss: its α_t)")
    focal_gamma: float = Field(default=2.0, ge=0, le=10, description="focal loss: the focusing exponent γ (0 is "
                               "cross-entropy)")
    grad_clip: GradClipSpec | None = Field(default=None, description="{max_norm: 1.0} or {value: 0.5}")
    checkpoint: Literal["last", "best"] = Field(
        default="last", description="which weights are tested, measured and kept: the last epoch's, or best: those of "
        "the epoch with the lowest validation loss (a diverged run keeps its last finite weights)")
    epochs: int = Field(default=10, ge=1, le=10_000, description="epochs to train (fewer with early stopping); the "
                        "cosine and one_cycle schedules span them")
    batch_size: int = Field(default=64, ge=1, description="images per training step (validation and test are "
                            "evaluated in batches of max(batch_size, 256))")
    seed: int = Field(default=0, ge=0, le=2**32 - 1, description="seeds the weight initialisation, the batch order, "
                      "augmentation and dropout (the splits have dataset.seed)")
    repeats: int = Field(default=1, ge=1, le=100, description="train each setting with this many seeds (the first "
                         "is `seed`, the others derived from it); tables then show mean ± std over the seeds")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        default="auto", description="auto: CUDA, else Apple's MPS, else the CPU; cuda or mps on a machine without "
        "one is an error")
    augment: AugmentSpec = Field(default_factory=AugmentSpec, description="augmentation of the training batches "
                                 "(default: none)")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        default="auto", description="fp32, or autocast to bf16/fp16 (fp16 with loss scaling); auto: bf16 on a CUDA GPU "
        "that supports it, fp32 elsewhere")
    channels_last: bool | None = Field(default=None, description="channels-last memory format; default: on CUDA and "
                                       "the CPU, where convolutions run fastest in it, not on Apple's MPS")
    compile: bool | Literal["default", "reduce-overhead", "max-autotune"] = Field(
        default=False, description="torch.compile the model (the first epoch pays the compilation); true is `default`; "
        "reduce-overhead also captures CUDA graphs, for small networks whose steps are too short for the GPU")
    data_on: Literal["auto", "device", "host"] = Field(
        default="auto", description="where the uint8 images live while training: on the device, or in pinned host "
        "memory streamed batch by batch; auto: the device when they fit in half its free memory")
    cache_features: CacheFeatures = "auto"
    measure: MeasureSpec = Field(default_factory=MeasureSpec, description="how each run's latency and throughput "
                                 "are timed after training (shown by the trade-off section and results tables)")

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        """A known loss name, mapped to its canonical spelling."""
        if v not in LOSS_ALIASES:
            raise ValueError(f"unknown loss {v!r}; use one of {', '.join(LOSS_ALIASES)}")
        return LOSS_ALIASES[v]

    @model_validator(mode="after")
    def _focal(self) -> "TrainSpec":
        """Label smoothing is a cross-entropy option."""
        if self.loss == "focal" and self.label_smoothing:
            raise ValueError("label_smoothing applies to the cross_entropy loss only, not to focal")
        return self


class Experiment(Strict):
    """One experiment: a model trained with the top-level settings and its own overrides, as one run or a sweep."""

    id: str = Field(pattern=ID_PATTERN, max_length=80, description="named by sections, "
                    "`--set experiments[ID]...` and `weights: {from: ID}`; a sweep's run ids are ID/KEY=VALUE,...")
    model: str = Field(description="the name of a model under `models:`")
    title: str | None = Field(default=None, description="heading of its runs in the training and evaluation "
                              "sections (default: the id); a sweep's runs add their values, e.g. (lr=0.01)")
    description: str | None = Field(default=None, description="a note for readers of the manifest; the report does "
                                    "not print it")
    train: dict[str, Any] = Field(default_factory=dict, description="overrides of the top-level train settings")
    dataset: dict[str, Any] | None = Field(default=None, description="overrides of the top-level dataset, e.g. "
                                           "{name: cifar100} for the parent of a transfer chain")
    weights: Weights | None = Field(default=None, description="overrides the model's weights, e.g. {from: parent}")
    freeze: Freeze | None = Field(default=None, description="overrides the model's freezing policy")
    sweep: dict[str, Annotated[list[Any], Field(min_length=1)]] | None = Field(
        default=None, description="dotted path → values; several keys form a grid, e.g. {optimizer.lr: [0.001, 0.01]}; "
                                  "`model.KEY` varies the model (activation, channels, dense, ...)")


DEFAULT_SECTIONS = ["cover", "contents", "architecture", "parameters", "training", "evaluation", "comparison",
                    "provenance"]


class Manifest(Strict):
    report: ReportMeta = Field(description="the report's title, authors, course, template and page size")
    dataset: DatasetSpec = Field(description="the dataset every experiment trains and tests on (an experiment may "
                                 "override it)")
    models: dict[ModelName, ModelSpec] = Field(min_length=1, description="model name (letters, digits, `_ . = -`, "
                                               "as run ids) → model; experiments name theirs with `model:`")
    train: TrainSpec = Field(default_factory=TrainSpec, description="training settings of every experiment; an "
                             "experiment's `train:` overrides them")
    experiments: list[Experiment] = Field(min_length=1, description="the experiments, in order: each trains one run, "
                                          "or one per setting of its sweep")
    sections: list[SectionItem] = Field(default_factory=lambda: list(DEFAULT_SECTIONS), description="the report's "
                                        "sections, in order: a kind, e.g. `cover`, or `kind: {options}`")
