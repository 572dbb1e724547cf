"""What a run's run.json holds: the typed records and the one validator that parses every field into them.

Nothing here touches the disk: `parse_run` takes the decoded JSON of a run folder and returns a RunInfo, or
raises RunFieldError (or ConfigError) naming the field and what is wrong; the run store reads the file, wraps
those errors and saves what `tensors_record` and the config write.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aecore.architectures import ArchSpec, build_model
from aecore.config import RunConfig
from aecore.records import EpochRecord
from aecore.text import printable, shown

if TYPE_CHECKING:  # torch is imported only where a model is built: parsing run.json never needs it
    import torch

FORMAT = 2
LEGACY_FORMAT = 1
FILE_PATTERNS: dict[str, re.Pattern] = {
    "weights": re.compile(r"^weights-[0-9a-f]{12}\.safetensors$"),
    "evaluation": re.compile(r"^evaluation-[0-9a-f]{12}\.npz$"),
    "timeline": re.compile(r"^timeline-[0-9a-f]{12}\.npz$"),
}
LEGACY_WEIGHTS = re.compile(r"^weights-[0-9a-f]{12}\.pt$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class StoredFile:
    """A file of a run, as run.json names it."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class TensorSpec:
    """One tensor of a run's weights file as run.json records it: safetensors' dtype name ("F32") and shape, and
    whether it is a trained parameter (a batch norm's running statistics are not)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    parameter: bool = True

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class DigitScore:
    """One row of a per-digit table: the test images of one class and their mean squared error (NaN when n is 0)."""

    digit: int
    n: int
    mse: float


@dataclass(frozen=True)
class EvalMetrics:
    """Test MSE of a model (or of its PCA baseline), overall and per digit (10 rows, in digit order)."""

    mse: float
    per_digit: tuple[DigitScore, ...]

    @property
    def n(self) -> int:
        """How many test images were scored."""
        return sum(row.n for row in self.per_digit)

    def to_json(self) -> dict[str, Any]:
        return {"mse": self.mse, "per_digit": [{"digit": r.digit, "n": r.n, "mse": r.mse} for r in self.per_digit]}


@dataclass(frozen=True)
class PcaMetrics(EvalMetrics):
    """The PCA baseline's test MSE, and how it was fit. A format-1 run recorded a PCA fit on other images and none
    of the rest: there `train_images` and `val_mse` are None and the pages compute the baseline themselves."""

    train_images: int | None = None  # the run's own training images, which the PCA was fit on
    val_mse: float | None = None  # on the validation images the run's loss curve uses
    clipped: bool = False  # reconstructions clipped to [0, 1], as the models' are

    @property
    def is_baseline(self) -> bool:
        """Whether these are the figures of the run's PCA baseline (fit on its training images)."""
        return self.train_images is not None

    def to_json(self) -> dict[str, Any]:
        if not self.is_baseline:
            return super().to_json()
        fit = {"val_mse": self.val_mse, "train_images": self.train_images, "clipped": self.clipped}
        return {**super().to_json(), **fit}


@dataclass(frozen=True)
class RunMetrics:
    """run.json's `metrics`: the model's and its PCA baseline's test figures, and the model's best validation MSE."""

    test: EvalMetrics
    pca: PcaMetrics
    val_mse: float

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test.to_json(), "pca": self.pca.to_json(), "val_mse": self.val_mse}


@dataclass(frozen=True)
class DatasetRecord:
    """run.json's `dataset`: which copy of the data the run was trained and scored on."""

    name: str
    fingerprint: str
    description: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "fingerprint": self.fingerprint, "description": self.description}


@dataclass(frozen=True)
class RunInfo:
    """Everything stored about a run except the arrays themselves; every field was validated when read."""

    run_id: str
    path: Path
    config: RunConfig
    history: tuple[EpochRecord, ...]
    best_epoch: int
    metrics: RunMetrics
    parameters: int
    created: str  # ISO 8601 with a zone
    train_seconds: float
    dataset: DatasetRecord
    versions: dict[str, str]
    files: Mapping[str, StoredFile]  # "weights" always; "evaluation" and "timeline" in format 2
    format: int = FORMAT
    tensors: tuple[TensorSpec, ...] | None = None  # the weights file's tensors; None in run.json of older versions
    architecture: str | None = None  # the model's layers, one a line (aecore.models.describe); None in older ones

    @property
    def spec(self) -> ArchSpec:
        return self.config.spec

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def test_mse(self) -> float:
        return self.metrics.test.mse

    @property
    def pca_mse(self) -> float:
        return self.metrics.pca.mse

    @property
    def weights_sha256(self) -> str:
        return self.files["weights"].sha256

    @property
    def weights_path(self) -> Path:
        return self.path / self.files["weights"].name

    @property
    def created_at(self) -> datetime:
        return datetime.fromisoformat(self.created)

    @property
    def n_test(self) -> int:
        """How many test images the run was scored on."""
        return self.metrics.test.n

    @property
    def epochs_trained(self) -> int:
        return len(self.history)

    @property
    def train_images(self) -> int | None:
        """How many training images the run saw, when run.json records it (format 2)."""
        return self.metrics.pca.train_images


class RunFieldError(ValueError):
    """A field of run.json has the wrong type or an impossible value."""


class _Fields:
    """Typed access to one JSON object, with the field's dotted path in every error."""

    def __init__(self, block: Any, where: str) -> None:
        if not isinstance(block, dict):
            raise RunFieldError(f"{where or 'the top level'} must be an object, got {_kind(block)}")
        self.block, self.where = block, where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str) -> Any:
        if key not in self.block:
            raise RunFieldError(f"missing field {self._name(key)}")
        return self.block[key]

    def object(self, key: str) -> _Fields:
        return _Fields(self.get(key), self._name(key))

    def text(self, key: str, pattern: re.Pattern | None = None, limit: int = 1000) -> str:
        value = self.get(key)
        if not isinstance(value, str) or len(value) > limit:
            raise RunFieldError(f"{self._name(key)} must be a string of at most {limit} characters, got {shown(value)}")
        if pattern is not None and not pattern.match(value):
            raise RunFieldError(f"{self._name(key)} has an unexpected form: {shown(value)}")
        return value

    def whole(self, key: str, low: int, high: int) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            allowed = f"a whole number from {low:,} to {high:,}"
            raise RunFieldError(f"{self._name(key)} must be {allowed}, got {shown(value)}")
        return value

    def number(self, key: str, low: float = 0.0, high: float = math.inf, allow_nan: bool = False) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RunFieldError(f"{self._name(key)} must be a number, got {shown(value)}")
        value = float(value)
        if math.isnan(value) and allow_nan:
            return value
        if not (math.isfinite(value) and low <= value <= high):
            allowed = f"a finite number from {low:g} to {high:g}"
            raise RunFieldError(f"{self._name(key)} must be {allowed}, got {shown(value)}")
        return value

    def array(self, key: str) -> list:
        value = self.get(key)
        if not isinstance(value, list):
            raise RunFieldError(f"{self._name(key)} must be a list, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def parse_run(path: Path, raw: Any) -> RunInfo:
    """The RunInfo of the run folder `path` from its decoded run.json; RunFieldError or ConfigError when a field
    is missing, of the wrong type or impossible."""
    top = _Fields(raw, "")
    version = top.whole("format", LEGACY_FORMAT, FORMAT)
    config = RunConfig.from_dict(top.get("config"))
    if config.run_id != path.name:
        raise RunFieldError(f"the config hashes to {config.run_id}, not the folder name")
    entries = enumerate(top.array("history"), start=1)
    history = tuple(_parse_epoch(_Fields(entry, f"history[{n - 1}]"), n) for n, entry in entries)
    if not 1 <= len(history) <= config.epochs:
        raise RunFieldError(f"history must hold 1 to {config.epochs} epochs (the config's), got {len(history)}")
    best_epoch = top.whole("best_epoch", 1, len(history))
    metrics = _parse_metrics(top.object("metrics"), version)
    parameters = top.whole("parameters", 1, 10**10)
    tensors = _parse_tensors(top)
    _check_parameters(config, parameters, tensors)
    architecture = top.text("architecture", limit=20_000) if "architecture" in top.block else None
    created = top.text("created", limit=64)
    try:
        created_at = datetime.fromisoformat(created)
    except ValueError:
        raise RunFieldError(f"created must be an ISO 8601 time, got {shown(created)}") from None
    if created_at.tzinfo is None:
        raise RunFieldError(f"created must include a time zone, got {shown(created)}")
    _check_created(created_at, created)
    train_seconds = top.number("train_seconds", 0.0, 1e8)
    dataset_block = top.object("dataset")
    dataset = DatasetRecord(*(dataset_block.text(key, limit=500) for key in ("name", "fingerprint", "description")))
    if dataset.name != config.dataset:
        raise RunFieldError(f"dataset.name is {shown(dataset.name)}, but the config trains on {config.dataset}")
    versions_block = top.object("versions")
    versions = {printable(k, 40): versions_block.text(k, limit=100) for k in list(versions_block.block)[:20]}
    if version == LEGACY_FORMAT:
        files = {"weights": StoredFile(top.text("weights", LEGACY_WEIGHTS), top.text("weights_sha256", SHA256), 0)}
    else:
        files = _parse_files(top.object("files"))
    return RunInfo(
        run_id=path.name, path=path, config=config, history=history, best_epoch=best_epoch, metrics=metrics,
        parameters=parameters, created=created, train_seconds=train_seconds, dataset=dataset, versions=versions,
        files=files, format=version, tensors=tensors, architecture=architecture,
    )  # fmt: skip


# --- the weights check ----------------------------------------------------------------------------------
# run.json records every tensor of the weights file (name, dtype, shape) when the run is saved, so listing checks
# the file's checksum and safetensors header against that record without importing torch or building a model
# (`import torch` was 78% of the home page's first run). Loading then checks the same against the built model.

MAX_TENSORS = 1000  # a real model has 8-20
# Every architecture stores float32 tensors, and int64 batch counters (batch norm's num_batches_tracked): a weights
# file recording bf16, float16 or int8 tensors is refused when run.json is read, whatever its checksum says.
MODEL_DTYPES = ("F32", "I64")


def _parse_tensors(top: _Fields) -> tuple[TensorSpec, ...] | None:
    """run.json's `tensors` ({name: {"dtype", "shape"}}), or None when it predates the field (then listing
    builds the model to check the weights; `python -m aecore migrate` adds the field)."""
    if "tensors" not in top.block:
        return None
    block = top.object("tensors")
    if not 1 <= len(block.block) <= MAX_TENSORS:
        raise RunFieldError(f"tensors must name 1 to {MAX_TENSORS} tensors, got {len(block.block)}")
    tensors = []
    for name in block.block:
        entry = block.object(name)
        dtype = entry.text("dtype", limit=20)
        if dtype not in MODEL_DTYPES:
            allowed = " or ".join(MODEL_DTYPES)
            raise RunFieldError(f"tensors.{printable(name, 80)}.dtype is {shown(dtype)}; the models store {allowed}")
        parameter = entry.get("parameter")
        if not isinstance(parameter, bool):
            raise RunFieldError(f"tensors.{printable(name, 80)}.parameter must be true or false")
        shape = tuple(entry.array("shape"))
        if len(shape) > 8 or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 10**9 for d in shape):
            raise RunFieldError(f"tensors.{printable(name, 80)}.shape must be at most 8 sizes from 0 to 10⁹")
        tensors.append(TensorSpec(printable(name, 200), dtype, shape, parameter))
    if len({t.name for t in tensors}) != len(tensors):
        raise RunFieldError("tensors has names that differ only in unprintable characters")
    return tuple(tensors)


def _check_parameters(config: RunConfig, parameters: int, tensors: tuple[TensorSpec, ...] | None) -> None:
    """`parameters` must be what the weights hold: the sum over the recorded tensors, or (older run.json) the
    count of a model built from the config."""
    if tensors is not None:
        held = sum(t.numel for t in tensors if t.parameter)
        if parameters != held:
            what = f"a {config.spec.title} of this config has {held:,} (the parameter tensors listed)"
            raise RunFieldError(f"parameters is {parameters:,}, but {what}")
        return
    expected = _parameters_of(config.model, config.bottleneck, config.options)
    if parameters != expected:
        raise RunFieldError(f"parameters is {parameters:,}, but a {config.spec.title} of this config has {expected:,}")


CREATED_YEARS = (1970, 2200)  # pages sort and show `created` as pandas timestamps (years 1677 to 2262)


def _check_created(created_at: datetime, created: str) -> None:
    """`created` converts to UTC (9999-12-31T23:59:59-23:59 overflows) within the years a page can show."""
    try:
        year = created_at.astimezone(UTC).year
    except OverflowError:
        year = None
    if year is None or not CREATED_YEARS[0] <= year <= CREATED_YEARS[1]:
        low, high = CREATED_YEARS
        raise RunFieldError(f"created must be a time between the years {low} and {high}, got {shown(created)}")


@functools.lru_cache(maxsize=256)
def _parameters_of(model: str, bottleneck: int, options: tuple[tuple[str, float], ...]) -> int:
    """How many parameters a model of this config has (built once per distinct config; imports torch)."""
    return sum(t.numel for t in _model_tensors(model, bottleneck, options) if t.parameter)


def expected_tensors(config: RunConfig) -> tuple[TensorSpec, ...]:
    """The state_dict a model of `config` has, as TensorSpecs (built once per distinct config; imports torch)."""
    return _model_tensors(config.model, config.bottleneck, config.options)


@functools.lru_cache(maxsize=256)
def _model_tensors(model: str, bottleneck: int, options: tuple[tuple[str, float], ...]) -> tuple[TensorSpec, ...]:
    return model_tensors(build_model(model, bottleneck, dict(options)))


def model_tensors(model: torch.nn.Module) -> tuple[TensorSpec, ...]:
    """The TensorSpecs of a model's state_dict, parameters marked."""
    trained = {name for name, _ in model.named_parameters()}
    return tuple(replace(t, parameter=t.name in trained) for t in tensor_specs(model.state_dict()))


def tensor_specs(state: Mapping[str, torch.Tensor]) -> tuple[TensorSpec, ...]:
    """TensorSpecs of a state_dict, in its order, dtypes named as safetensors names them ("F32", "BF16");
    every one marked a parameter (a state_dict does not say)."""
    import torch

    names = {
        torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
        torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL",
    }  # fmt: skip
    return tuple(TensorSpec(k, names.get(v.dtype, str(v.dtype)), tuple(v.shape)) for k, v in state.items())


def tensors_record(tensors: tuple[TensorSpec, ...]) -> dict[str, dict[str, Any]]:
    """run.json's `tensors` field."""
    return {t.name: {"dtype": t.dtype, "shape": list(t.shape), "parameter": t.parameter} for t in tensors}


def _parse_epoch(entry: _Fields, number: int) -> EpochRecord:
    epoch = entry.whole("epoch", number, number)
    return EpochRecord(
        epoch=epoch,
        train_loss=entry.number("train_loss", 0.0, 1e6),
        val_loss=entry.number("val_loss", 0.0, 1e6),
        seconds=entry.number("seconds", 0.0, 1e7),
        learning_rate=entry.number("learning_rate", 0.0, 10.0),
    )


def _parse_metrics(block: _Fields, version: int) -> RunMetrics:
    """The metrics block; a format-1 run's PCA figures are kept with `train_images` None (see PcaMetrics)."""
    val_mse = block.number("val_mse", 0.0, 1.0)
    parts = {}
    for part in ("test", "pca"):
        section = block.object(part)
        # A model's MSE of exactly 0 is impossible on real digits; PCA's is not: with as many components as
        # pixels (a code of >= 1,024 dims) it rebuilds the images exactly, up to rounding (~4e-14).
        mse = section.number("mse", 1e-12 if part == "test" else 0.0, 1.0)
        rows = section.array("per_digit")
        if len(rows) != 10:
            raise RunFieldError(f"metrics.{part}.per_digit must hold 10 rows, got {len(rows)}")
        per_digit = []
        for digit, row in enumerate(rows):
            fields = _Fields(row, f"metrics.{part}.per_digit[{digit}]")
            n = fields.whole("n", 0, 10**8)
            per_digit.append(DigitScore(fields.whole("digit", digit, digit), n,
                                        fields.number("mse", 0.0, 1.0, allow_nan=n == 0)))  # fmt: skip
        parts[part] = (mse, tuple(per_digit))
    pca = PcaMetrics(*parts["pca"])
    if version >= FORMAT:
        fit = block.object("pca")
        pca = replace(pca, train_images=fit.whole("train_images", 1, 10**8), val_mse=fit.number("val_mse", 0.0, 1.0),
                      clipped=fit.get("clipped") is True)  # fmt: skip
    return RunMetrics(EvalMetrics(*parts["test"]), pca, val_mse)


def _parse_files(block: _Fields) -> dict[str, StoredFile]:
    files = {}
    for kind, pattern in FILE_PATTERNS.items():
        if kind == "timeline" and kind not in block.block:
            continue  # a migrated format-1 run has no timeline: that needs the training itself
        entry = block.object(kind)
        files[kind] = StoredFile(
            entry.text("name", pattern), entry.text("sha256", SHA256), entry.whole("size", 1, 10**10)
        )
    return files
