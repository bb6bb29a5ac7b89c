"""The typed record of one run: what it trained on, how, every epoch, its test metrics and measurements."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Status = Literal["completed", "stalled", "diverged", "failed"]
Fraction = Annotated[float, Field(ge=0, le=1)]  # an accuracy, precision, recall or F1
Json = dict[str, Any]  # settings the manifest's own schema validated (training config, weights' origin, sweeps)


class Record(BaseModel):
    """A part of the results record: every field always present, nothing else accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


class EpochRow(Record):
    """One epoch: losses and accuracies (None once a loss diverged), learning rate, time and speed."""

    epoch: int
    train_loss: float | None
    val_loss: float | None
    train_acc: Fraction | None
    val_acc: Fraction | None
    lr: float | None
    seconds: float
    images: int
    images_per_s: float | None


class ClassMetrics(Record):
    """Precision, recall, F1 and support of one class on the test set."""

    name: str = Field(alias="class")
    precision: Fraction
    recall: Fraction
    f1: Fraction
    support: int


class Evaluation(Record):
    """Test-set metrics: accuracy, weighted and macro precision/recall/F1, per class, confusion matrix."""

    loss: float | None
    accuracy: Fraction
    precision_weighted: Fraction
    recall_weighted: Fraction
    f1_weighted: Fraction
    precision_macro: Fraction
    recall_macro: Fraction
    f1_macro: Fraction
    support: int
    per_class: list[ClassMetrics]
    confusion_matrix: list[list[int]]


class Measured(Record):
    """Size, arithmetic and speed of the trained model, measured on its device."""

    params: int
    trainable_params: int
    size_mb: float
    flops: int
    macs: int
    latency_ms: float
    latency_repeats: int
    throughput: float
    throughput_batch: int
    input_shape: list[int]
    device: str
    precision: str
    epoch_seconds: float | None


class RunEnvironment(Record):
    """The process and device a run trained in."""

    reportgen: str
    code_version: str
    python: str
    platform: str
    machine: str
    torch: str
    torchvision: str
    numpy: str
    scikit_learn: str
    threads: int
    device: str
    device_name: str | None
    cuda: str | None


class RunDataset(Record):
    """The data a run trained and was tested on."""

    name: str
    classes: list[str]
    sizes: dict[str, int]
    source: Json


class InputRecord(Record):
    """How images reached the network: shape, standardisation, resizing, grey repeated to RGB."""

    shape: list[int]
    normalization: str
    mean: list[float]
    std: list[float]
    resized: bool
    channels_repeated: bool


class Transfer(Record):
    """The weights a run started from: another run's, how many tensors carried over, which were re-initialised."""

    origin: str = Field(alias="from")
    tensors: int
    values: int
    reinitialised: list[str]


class Compute(Record):
    """Device, precision, memory format and compilation a run used, with where its data lived and whether its frozen
    part's outputs were cached."""

    device: str
    device_name: str | None
    precision: str
    autocast: bool
    loss_scaling: bool
    tf32: bool
    channels_last: bool
    compile: str | None
    data_on: str
    augment: Json | None
    features: str | None = None  # frozen features cached ("cached: ...") or why not; None: recorded before them


class Execution(Record):
    """Which executor ran the run, with how many runs at once and threads."""

    executor: str | None = None
    jobs: int | None = None
    threads: int | None = None
    gpu_share: float | None = None
    cpus: float | None = None

    def merged(self, **fields) -> Execution:
        """These facts with the given ones added (a worker knows its threads, the driver the executor)."""
        return self.model_copy(update={k: v for k, v in fields.items() if v is not None})


class Predictions(Record):
    """Test-set predictions and labels as base64 bytes: kept by the run cache for paired tests, never in results."""

    n: int
    dtype: Literal["uint8", "uint16"]
    predicted: str
    labels: str


class SeedRecord(Record):
    """One seed of a repeated run: what the aggregate is computed from."""

    seed: int
    status: Status
    stopped_epoch: int | None
    diverged_epoch: int | None
    epochs: list[EpochRow]
    test: Evaluation | None
    train_seconds: float | None
    cache_key: str


class Summary(Record):
    """Mean, sample standard deviation and 95 % confidence interval of one number over seeds, with the values."""

    n: int
    values: list[float]
    mean: float | None
    std: float | None
    ci_low: float | None
    ci_high: float | None
    interval: Literal["t", "normal"]


class CurveBand(Record):
    """One curve's mean and standard deviation per epoch over seeds."""

    mean: list[float | None]
    std: list[float | None]


class Curves(Record):
    """Mean ± std curves over the epochs every seed ran."""

    epoch: list[int]
    train_loss: CurveBand
    val_loss: CurveBand
    train_acc: CurveBand
    val_acc: CurveBand


class Aggregate(Record):
    """A repeated run's numbers over its seeds."""

    n: int
    seeds: list[int]
    level: float
    accuracy: Summary
    loss: Summary
    precision_weighted: Summary
    recall_weighted: Summary
    f1_weighted: Summary
    train_loss: Summary
    val_loss: Summary
    train_acc: Summary
    val_acc: Summary
    epoch_seconds: Summary
    train_seconds: Summary
    statuses: dict[str, int]
    curves: Curves | None


class RunRecord(Record):
    """One run of the manifest: names, settings, environment, every epoch, test metrics and measurements."""

    id: str
    experiment: str
    group: str
    varied: Json
    model: str
    title: str
    status: Status
    error: str | None
    diverged_epoch: int | None
    stopped_epoch: int | None
    stopped_after: int | None
    best_epoch: int | None
    class_weights: list[float] | None
    digest: str
    cache_key: str
    config: Json
    device: str | None
    environment: RunEnvironment | None
    dataset: RunDataset | None
    input: InputRecord | None
    weights: Json | None
    transfer: Transfer | None
    compute: Compute | None
    execution: Execution | None
    epochs: list[EpochRow]
    train_seconds: float | None
    test: Evaluation | None
    measured: Measured | None
    repeats: list[SeedRecord] | None
    aggregate: Aggregate | None
    predictions: Predictions | None = None

    @field_validator("varied")
    @classmethod
    def _sorted(cls, varied: Json) -> Json:
        """Varied labels in one order however the record was made (results.json sorts its keys): a build, a render
        and a cached run show the same columns."""
        return dict(sorted(varied.items()))

    def named(self, **names) -> RunRecord:
        """The same record under other names (a twin's cache entry, a title edited since it ran)."""
        return self.model_copy(update=names)

    def seed_record(self, seed: int) -> SeedRecord:
        """What a repeated run keeps of this seed."""
        return SeedRecord(seed=seed, status=self.status, stopped_epoch=self.stopped_epoch,
                          diverged_epoch=self.diverged_epoch, epochs=self.epochs, test=self.test,
                          train_seconds=self.train_seconds, cache_key=self.cache_key)
