"""Run folders on disk: atomic writes, weights-only loading, the run registry and load-or-train.

A run lives in `<root>/<model>-<dataset>-<hash>/`:
- `weights-<sha12>.pt`: the state_dict, named by its content hash
- `run.json`: config, history, test metrics, versions, dataset fingerprint, creation time, and the
  name and sha256 of the weights file. Replacing run.json is the single commit point of a save:
  a crash before it leaves the previous run.json (and the weights it names) untouched.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import platform
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from aecore.config import ConfigError, RunConfig
from aecore.models import Autoencoder, build_model, parameter_count
from aecore.train import EpochRecord

FORMAT = 1
RUN_FILE = "run.json"
WEIGHTS_PATTERN = re.compile(r"^weights-[0-9a-f]{12}\.pt$")
TMP_PREFIX = ".tmp-"


class CheckpointError(RuntimeError):
    """A run cannot be read or written; the message says which run, why, and what to do."""


@dataclass(frozen=True)
class RunInfo:
    """Everything stored about a run except the weights themselves."""

    run_id: str
    path: Path
    config: RunConfig
    history: tuple[EpochRecord, ...]
    best_epoch: int
    metrics: dict[str, Any]  # test: {"mse", "per_digit"}, pca: {"mse", "per_digit"}, val_mse
    parameters: int
    created: str  # ISO 8601, UTC
    train_seconds: float
    dataset: dict[str, Any]  # name, fingerprint, description
    versions: dict[str, str]
    weights_file: str
    weights_sha256: str

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def test_mse(self) -> float:
        return float(self.metrics["test"]["mse"])

    @property
    def pca_mse(self) -> float:
        return float(self.metrics["pca"]["mse"])

    @property
    def weights_path(self) -> Path:
        return self.path / self.weights_file


@dataclass(frozen=True)
class BrokenRun:
    """A folder in the checkpoint root that is not a loadable run, and why."""

    run_id: str
    path: Path
    reason: str


def default_checkpoint_root() -> Path:
    """`$AECORE_CHECKPOINTS`, else the repository's `checkpoints/` folder (which ships two runs)."""
    env = os.environ.get("AECORE_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


# --- reading -------------------------------------------------------------------------------------


def read_run(path: Path) -> RunInfo:
    """Parse and check `path/run.json`; raise CheckpointError naming what is wrong."""
    path = Path(path)
    run_file = path / RUN_FILE
    if not run_file.exists():
        raise CheckpointError(f"{path.name}: incomplete run (no {RUN_FILE}); delete it or retrain")
    try:
        raw = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path.name}: {RUN_FILE} is not valid JSON ({error})") from None
    try:
        return _parse_run(path, raw)
    except (ConfigError, KeyError, TypeError, ValueError) as error:
        detail = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise CheckpointError(f"{path.name}: {RUN_FILE} is malformed: {detail}") from None


def _parse_run(path: Path, raw: Any) -> RunInfo:
    if not isinstance(raw, dict):
        raise ValueError("top level must be an object")
    if raw.get("format") != FORMAT:
        raise ValueError(f"format must be {FORMAT}, got {raw.get('format')!r}")
    config = RunConfig.from_dict(raw["config"])
    if config.run_id != path.name:
        raise ValueError(f"config hashes to {config.run_id}, not the folder name")
    history = tuple(_parse_epoch(e) for e in _typed(raw, "history", list))
    metrics = _typed(raw, "metrics", dict)
    for part in ("test", "pca"):
        block = _typed(metrics, part, dict)
        _number(block, "mse")
        rows = _typed(block, "per_digit", list)
        if len(rows) != 10 or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"metrics.{part}.per_digit must hold 10 rows")
        for row in rows:
            _number(row, "mse"), _number(row, "n")
    weights_file = _typed(raw, "weights", str)
    if not WEIGHTS_PATTERN.match(weights_file):
        raise ValueError(f"weights must name a file like weights-<12 hex>.pt, got {weights_file!r}")
    return RunInfo(
        run_id=path.name,
        path=path,
        config=config,
        history=history,
        best_epoch=int(_number(raw, "best_epoch")),
        metrics=metrics,
        parameters=int(_number(raw, "parameters")),
        created=_typed(raw, "created", str),
        train_seconds=float(_number(raw, "train_seconds")),
        dataset=_typed(raw, "dataset", dict),
        versions=_typed(raw, "versions", dict),
        weights_file=weights_file,
        weights_sha256=_typed(raw, "weights_sha256", str),
    )


def _typed(block: dict, name: str, kind: type) -> Any:
    value = block[name]
    if not isinstance(value, kind):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _number(block: dict, name: str) -> float:
    value = block[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return value


def _parse_epoch(entry: Any) -> EpochRecord:
    if not isinstance(entry, dict):
        raise TypeError("history entries must be objects")
    return EpochRecord(
        epoch=int(_number(entry, "epoch")),
        train_loss=float(_number(entry, "train_loss")),
        val_loss=float(_number(entry, "val_loss")),
        seconds=float(_number(entry, "seconds")),
        learning_rate=float(_number(entry, "learning_rate")),
    )


def load_model(info: RunInfo, device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild the model from the run's config and load its weights (tensors only, never code)."""
    try:
        blob = info.weights_path.read_bytes()
    except OSError as error:
        raise CheckpointError(f"{info.run_id}: cannot read {info.weights_file} ({error.strerror})") from None
    if hashlib.sha256(blob).hexdigest() != info.weights_sha256:
        raise CheckpointError(f"{info.run_id}: {info.weights_file} is damaged (checksum mismatch); retrain it")
    try:
        state = torch.load(io.BytesIO(blob), map_location=device, weights_only=True)
    except Exception as error:  # weights_only refuses anything but tensors; every failure means unusable
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"{info.run_id}: {info.weights_file} cannot be loaded safely: {first_line}") from None
    model = build_model(info.config.model, info.config.bottleneck)
    if not isinstance(state, dict):
        raise CheckpointError(f"{info.run_id}: {info.weights_file} holds no state_dict")
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{info.run_id}: weights do not fit the config: {_mismatch(error)}") from None
    return model.to(device).eval()


def _mismatch(error: RuntimeError) -> str:
    lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    return "; ".join(lines)[:300] or str(error)[:300]


def list_runs(root: Path | None = None) -> tuple[list[RunInfo], list[BrokenRun]]:
    """All runs under `root`, newest first, and the folders that are not loadable runs (with why).

    Every run is checked as deeply as loading would check it, so a listed run always loads.
    """
    root = Path(root) if root else default_checkpoint_root()
    runs: list[RunInfo] = []
    broken: list[BrokenRun] = []
    if not root.is_dir():
        return runs, broken
    for path in sorted(root.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            info = read_run(path)
            load_model(info)
        except CheckpointError as error:
            broken.append(BrokenRun(path.name, path, str(error)))
        else:
            runs.append(info)
    runs.sort(key=lambda r: r.created, reverse=True)
    return runs, broken


def find_run(run_id: str, root: Path | None = None) -> RunInfo:
    """The run with this id (or a unique prefix of it); CheckpointError when absent or unreadable."""
    root = Path(root) if root else default_checkpoint_root()
    if (root / run_id).is_dir() and not run_id.startswith("."):
        return read_run(root / run_id)
    matches = [p for p in root.glob(f"{glob_escape(run_id)}*") if p.is_dir() and not p.name.startswith(".")]
    if len(matches) == 1:
        return read_run(matches[0])
    if not matches:
        raise CheckpointError(f"no run named {run_id!r} in {root}; `python -m aecore list` shows the runs")
    raise CheckpointError(f"{run_id!r} matches {len(matches)} runs; give more of the name")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def delete_run(run_id: str, root: Path | None = None) -> None:
    root = Path(root) if root else default_checkpoint_root()
    path = root / run_id
    if run_id.startswith(".") or "/" in run_id or not path.is_dir():
        raise CheckpointError(f"no run named {run_id!r} in {root}")
    shutil.rmtree(path)


# --- writing -------------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    import numpy
    import sklearn
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def save_run(
    root: Path,
    config: RunConfig,
    model: Autoencoder,
    *,
    history: list[EpochRecord],
    best_epoch: int,
    metrics: dict[str, Any],
    dataset: dict[str, Any],
    train_seconds: float,
) -> RunInfo:
    """Write a run atomically; on any failure the previous run (if any) is untouched.

    Raises CheckpointError with a one-line reason (read-only folder, disk full, ...).
    """
    root = Path(root)
    folder = root / config.run_id
    created_folder = False
    written: list[Path] = []
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not folder.exists():
            folder.mkdir()
            created_folder = True
        buffer = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
        blob = buffer.getvalue()
        digest = hashlib.sha256(blob).hexdigest()
        weights_file = f"weights-{digest[:12]}.pt"
        record = {
            "format": FORMAT,
            "run_id": config.run_id,
            "config": config.to_dict(),
            "history": [vars(e) for e in history],
            "best_epoch": best_epoch,
            "metrics": metrics,
            "parameters": parameter_count(model),
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "train_seconds": train_seconds,
            "dataset": dataset,
            "versions": library_versions(),
            "weights": weights_file,
            "weights_sha256": digest,
        }
        written.append(folder / weights_file)
        write_atomic(folder / weights_file, blob)
        write_atomic(folder / RUN_FILE, json.dumps(record, indent=1).encode())  # the commit point
    except OSError as error:
        for path in written:
            _unlink_unreferenced(path, folder)
        if created_folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise CheckpointError(_save_failure(root, config.run_id, error)) from None
    _remove_stale_files(folder, keep=weights_file)
    return read_run(folder)


def ensure_writable(root: Path, run_id: str) -> None:
    """Raise CheckpointError now if a run could not be saved under `root` (read-only, full, missing)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=TMP_PREFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CheckpointError(_save_failure(root, run_id, error)) from None


def _save_failure(root: Path, run_id: str, error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return f"disk full while saving {run_id}: nothing was changed; free some space and retrain"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot save {run_id}: the checkpoints folder {root} is read-only"
    return f"cannot save {run_id}: {error.strerror or error}"


def _unlink_unreferenced(path: Path, folder: Path) -> None:
    """Remove a file this save wrote, unless the current run.json still names it."""
    try:
        if path.name not in (folder / RUN_FILE).read_text(encoding="utf-8"):
            path.unlink(missing_ok=True)
    except OSError:
        path.unlink(missing_ok=True)


def _remove_stale_files(folder: Path, keep: str) -> None:
    for path in folder.iterdir():
        stale_weights = WEIGHTS_PATTERN.match(path.name) and path.name != keep
        if stale_weights or path.name.startswith(TMP_PREFIX):
            path.unlink(missing_ok=True)


def write_atomic(target: Path, data: bytes) -> None:
    """Temporary file in the same folder, fsync, rename over the target, fsync the folder."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TMP_PREFIX}{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- load or train -------------------------------------------------------------------------------


def load_or_train(
    config: RunConfig,
    *,
    root: Path | None = None,
    data_root: str | None = None,
    device: str = "auto",
    progress: Callable | None = None,
    should_stop: Callable[[], bool] | None = None,
    retrain: bool = False,
) -> tuple[RunInfo, Autoencoder]:
    """The cached run for `config` when one exists and loads; otherwise train, evaluate and save."""
    from aecore.data import load_dataset
    from aecore.metrics import PCABaseline, evaluate, summary
    from aecore.train import train

    root = Path(root) if root else default_checkpoint_root()
    folder = root / config.run_id
    if folder.is_dir() and not retrain:
        try:
            info = read_run(folder)
            return info, load_model(info)
        except CheckpointError:
            pass  # an unreadable cached run is replaced by a fresh one
    ensure_writable(root, config.run_id)  # fail before a long training run, not after it
    data = load_dataset(config.dataset, data_root)
    started = time.perf_counter()
    result = train(config, data, device=device, progress=progress, should_stop=should_stop)
    train_seconds = time.perf_counter() - started
    model = result.model.cpu()
    pca = PCABaseline.fit(data.train.images, config.latent_dim, seed=config.seed)
    metrics = {
        "test": summary(evaluate(model, data.test.images, data.test.labels)),
        "pca": summary(pca.evaluate(data.test.images, data.test.labels)),
        "val_mse": result.history[result.best_epoch - 1].val_loss,
    }
    dataset = {"name": data.name, "fingerprint": data.fingerprint, "description": data.description}
    info = save_run(
        root,
        config,
        model,
        history=result.history,
        best_epoch=result.best_epoch,
        metrics=metrics,
        dataset=dataset,
        train_seconds=train_seconds,
    )
    return info, model
