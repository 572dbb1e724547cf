"""Run folders on disk: listing, reading (run.json is parsed by aecore.run_schema), loading, saving, deleting.

A run lives in `<root>/<model>-<dataset>-<hash>/`:
- `run.json`: config, history, test metrics (and the PCA baseline's), dataset, versions, and the name,
  size and sha256 of each file below. Replacing run.json is the single commit point of a save.
- `weights-<sha12>.safetensors`: the state_dict (safetensors: tensors only, no code can run on load)
- `evaluation-<sha12>.npz`: per-image test errors and the reconstructions of the display digits
- `timeline-<sha12>.npz`: reconstructions of the probe digits after every epoch (uint8)

A new run is written into a hidden staging folder and renamed into place, so a crash never leaves a visible
half-written run. Format-1 runs (weights in a `.pt` file, no artefacts) are still read, with
`torch.load(weights_only=True)`. Files are read only when they are regular files (no FIFO, device or
symlink) and no larger than their kind can be; reads, writes and the per-run lock go through aecore.safe_io.
Nothing here trains.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import io
import json
import logging
import os
import platform
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from aecore import safe_io
from aecore.architectures import build_model
from aecore.config import ConfigError, RunConfig
from aecore.records import EpochRecord, Timeline
from aecore.run_schema import (
    FILE_PATTERNS,
    FORMAT,
    LEGACY_FORMAT,
    LEGACY_WEIGHTS,
    DatasetRecord,
    RunFieldError,
    RunInfo,
    RunMetrics,
    StoredFile,
    TensorSpec,
    expected_tensors,
    model_tensors,
    parse_run,
    tensor_specs,
    tensors_record,
)
from aecore.safe_io import TMP_PREFIX, fsync_folder, write_atomic, write_synced
from aecore.text import printable, shown

if TYPE_CHECKING:  # torch is imported only where a model is built or loaded: listing runs never needs it
    import torch

    from aecore.models import Autoencoder

RUN_FILE = "run.json"
TRASH_PREFIX = ".trash-"
LOCK_FOLDER = ".locks"
INCOMPLETE_MARKER = ".incomplete"  # left by older versions in a run folder whose first save did not finish
MAX_RUN_JSON_BYTES = 4 * 1024 * 1024  # a real run.json is ~15 kB
EXTENSIONS = {"weights": "safetensors", "evaluation": "npz", "timeline": "npz"}


log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A run cannot be read, written or deleted; the message says which run, why, and what to do."""


class StoredRun(Protocol):
    """What the loaders below read: a RunInfo, or a hashable run key that carries the same facts."""

    run_id: str
    path: Path
    config: RunConfig
    parameters: int
    format: int
    files: Mapping[str, StoredFile]
    n_test: int
    epochs_trained: int


@dataclass(frozen=True)
class BrokenRun:
    """A folder in the checkpoint root that is not a loadable run, and why."""

    run_id: str
    path: Path
    reason: str


def default_checkpoint_root() -> Path:
    """`$AECORE_CHECKPOINTS`, else the repository's `checkpoints/` folder (which ships the default runs)."""
    env = os.environ.get("AECORE_CHECKPOINTS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "checkpoints"


# --- safe reads ----------------------------------------------------------------------------------------


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of `path`, which must be a regular file (not a symlink, FIFO or device) of at most `max_bytes`;
    safe_io's one guarded reader, with its refusal raised as CheckpointError."""
    try:
        return safe_io.read_bytes(path, max_bytes)
    except safe_io.UnsafeFile as error:
        raise CheckpointError(str(error)) from None


def read_run(path: Path) -> RunInfo:
    """Parse and validate `path/run.json`; raise CheckpointError naming the run and what is wrong."""
    path = Path(path)
    name = printable(path.name)
    run_file = path / RUN_FILE
    if not run_file.exists() and not run_file.is_symlink():
        raise CheckpointError(f"{name}: {_missing_run_file(path)}")
    try:
        raw = json.loads(read_regular_file(run_file, MAX_RUN_JSON_BYTES).decode("utf-8"))
    except CheckpointError as error:
        raise CheckpointError(f"{name}: {error}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as error:
        detail = "nested too deeply" if isinstance(error, RecursionError) else printable(error, 100)
        raise CheckpointError(f"{name}: {RUN_FILE} is not valid JSON ({detail})") from None
    try:
        return parse_run(path, raw)
    except (ConfigError, RunFieldError) as error:
        raise CheckpointError(f"{name}: {RUN_FILE} is malformed: {error}") from None
    except RecursionError:
        raise CheckpointError(f"{name}: {RUN_FILE} is malformed: nested too deeply") from None


def _missing_run_file(path: Path) -> str:
    if (path / INCOMPLETE_MARKER).exists() or any(LEGACY_WEIGHTS.match(p.name) for p in _entries(path)):
        return f"incomplete run (no {RUN_FILE}: its first save did not finish); delete it or retrain"
    return f"not a run (no {RUN_FILE}); move it out of the checkpoints folder"


def _entries(path: Path) -> list[Path]:
    try:
        return list(path.iterdir())
    except OSError:
        return []


def record_tensors(info: RunInfo) -> RunInfo:
    """Add the `tensors` and `architecture` fields to the run.json of a run saved before they existed (what
    `migrate` does), after loading the model to check the weights as deeply as a load does; every other field of
    run.json is kept as it was."""
    if (info.tensors is not None and info.architecture is not None) or info.format == LEGACY_FORMAT:
        return info
    from aecore.models import describe

    model = load_model(info)
    tensors = model_tensors(model)
    root, run_file = info.path.parent, info.path / RUN_FILE
    try:
        with run_lock(root, info.run_id):
            raw = json.loads(read_regular_file(run_file, MAX_RUN_JSON_BYTES).decode("utf-8"))
            if raw.get("files", {}).get("weights", {}).get("sha256") != info.weights_sha256:
                raise CheckpointError(f"{info.run_id} changed while being migrated; run migrate again")
            record = {}
            for key, value in raw.items():  # after "parameters", which it accounts for
                record[key] = value
                if key == "parameters":
                    record["tensors"] = tensors_record(tensors)
                    record["architecture"] = describe(model)
            write_atomic(run_file, json.dumps(record, indent=1, allow_nan=False).encode())
    except OSError as error:
        raise CheckpointError(_save_failure(root, info.run_id, error)) from None
    return read_run(info.path)


def _weights_header(info: StoredRun, blob: bytes) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    """{name: (dtype, shape, data)} of a safetensors file, parsed by the safetensors library itself
    (`safetensors.deserialize`: it validates the header and the data offsets, and needs no torch or numpy
    dtype, so a bf16 or int8 file is read and then refused by name). `safe_open(framework="numpy")` would
    need a path and map the file a second time: the bytes checked would not be the bytes hashed."""
    import safetensors

    try:
        flat = safetensors.deserialize(blob)
    except Exception as error:  # safetensors refuses anything malformed: all mean unusable
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        name = info.files["weights"].name
        raise CheckpointError(f"{info.run_id}: {name} cannot be loaded safely: {printable(first_line)}") from None
    return {name: (entry["dtype"], tuple(entry["shape"]), entry["data"]) for name, entry in flat}


def _compare_tensors(info: StoredRun, found: dict[str, tuple[str, tuple]], expected: tuple[TensorSpec, ...]) -> None:
    """CheckpointError when the weights' {name: (dtype, shape)} is not exactly `expected` (names, dtypes, shapes)."""
    want = {t.name: (t.dtype, t.shape) for t in expected}
    if found == want:
        return
    missing = sorted(set(want) - set(found))[:3]
    unexpected = sorted(set(found) - set(want))[:3]
    wrong = [
        f"{n} is {found[n][1]}, not {want[n][1]}" if found[n][0] == want[n][0] else f"{n} is {found[n][0]}, not "
        f"{want[n][0]} (the store checks every tensor's dtype: a cast would hide damage)"
        for n in want if n in found and found[n] != want[n]
    ]  # fmt: skip
    detail = "; ".join([*(f"missing {n}" for n in missing), *(f"unexpected {n}" for n in unexpected), *wrong[:3]])
    raise CheckpointError(f"{info.run_id}: weights do not fit the config: {printable(detail, 300)}")


def check_weights(info: RunInfo) -> None:
    """Everything `load_model` checks (checksum, safetensors format, every tensor's name, dtype and shape, finite
    values), without torch when run.json records the tensors: fast enough to check every run when listing them."""
    if info.format == LEGACY_FORMAT:
        load_model(info)
        return
    blob = _verified(info, "weights", weights_cap(info.parameters, legacy=False))
    header = _weights_header(info, blob)
    expected = info.tensors
    if expected is None:  # run.json of an older version: what a model of this config holds (imports torch)
        expected = expected_tensors(info.config)
    _compare_tensors(info, {name: (dtype, shape) for name, (dtype, shape, _) in header.items()}, expected)
    floats = ((name, data) for name, (dtype, _, data) in header.items() if dtype == "F32")
    bad = [name for name, data in floats if not np.isfinite(np.frombuffer(data, "<f4")).all()]
    if bad:
        raise CheckpointError(f"{info.run_id}: the weights hold NaN or infinite values ({bad[0]}); retrain it")


# --- loading arrays ------------------------------------------------------------------------------------


def _verified(info: StoredRun, kind: str, max_bytes: int) -> bytes:
    stored = info.files[kind]
    try:
        blob = read_regular_file(info.path / stored.name, max_bytes)
    except CheckpointError as error:
        raise CheckpointError(f"{info.run_id}: {error}") from None
    if hashlib.sha256(blob).hexdigest() != stored.sha256:
        raise CheckpointError(f"{info.run_id}: {stored.name} is damaged (checksum mismatch); retrain it")
    return blob


def weights_cap(parameters: int, legacy: bool) -> int:
    """The largest a weights file of this many float32 parameters can be, headers included."""
    return parameters * 4 + (1 << 20 if legacy else 64 << 10)


def load_model(info: StoredRun, device: str | torch.device = "cpu") -> Autoencoder:
    """Rebuild the model from the run's config and load its weights (tensors only, never code).

    Every tensor must have the name, shape and dtype of the model's own: `load_state_dict` would cast int8 or
    bf16 weights to float32 without a word."""
    import torch

    legacy = info.format == LEGACY_FORMAT
    blob = _verified(info, "weights", weights_cap(info.parameters, legacy))
    try:
        if legacy:
            state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        else:
            from safetensors.torch import load as load_safetensors

            state = load_safetensors(blob)
    except Exception as error:  # weights_only / safetensors refuse anything but tensors: all mean unusable
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        name = info.files["weights"].name
        raise CheckpointError(f"{info.run_id}: {name} cannot be loaded safely: {printable(first_line)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{info.run_id}: {info.files['weights'].name} holds no state_dict")
    model = build_model(info.config.model, info.config.bottleneck, dict(info.config.options))
    own = tensor_specs(model.state_dict())
    found = {t.name: (t.dtype, t.shape) for t in tensor_specs(state)}
    if set(found) == {t.name for t in own}:  # other names are load_state_dict's to report, in its own words
        _compare_tensors(info, found, own)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(f"{info.run_id}: weights do not fit the config: {_mismatch(error)}") from None
    # numpy, not torch: torch's threaded kernels cost ~2 ms a tensor on a busy machine, numpy's ~5 µs.
    bad = [name for name, t in state.items() if t.is_floating_point() and not np.isfinite(t.numpy()).all()]
    if bad:
        raise CheckpointError(f"{info.run_id}: the weights hold NaN or infinite values ({bad[0]}); retrain it")
    return model.to(device).eval()


def _mismatch(error: RuntimeError) -> str:
    lines = [line.strip() for line in str(error).splitlines()[1:] if line.strip()]
    return printable("; ".join(lines) or str(error), 300)


@dataclass(frozen=True)
class EvaluationArtefacts:
    """What a run's evaluation stored so pages need not run the model over the test set again.

    test_errors : (N_test,) float32 per-image MSE, row i for test image i
    display_indices : (D,) int64 test positions of the display digits (one per class, chosen by no model)
    display_images : (D, 32, 32) uint8 the display digits themselves, so a page can show them without the data
    display_recon : (D, 32, 32) uint8 their reconstructions
    """

    test_errors: np.ndarray
    display_indices: np.ndarray
    display_images: np.ndarray
    display_recon: np.ndarray


def _npz(info: StoredRun, kind: str, max_bytes: int) -> dict[str, np.ndarray]:
    """The arrays of an artefact file, each checked against the shape the run's config and dataset imply before
    its data is decompressed (a header claiming (10**11, 32, 32), or a compression bomb, is refused unread)."""
    blob = _verified(info, kind, max_bytes)
    expected = _artefact_shapes(info)[kind]
    try:
        return safe_io.load_arrays(blob, expected, max_len=_max_listed(info), name=info.files[kind].name)
    except safe_io.UnsafeFile as error:
        raise CheckpointError(f"{info.run_id}: {error}") from None


def _max_listed(info: StoredRun) -> int:
    """The most display or probe digits an artefact can hold: two probes of each class (the display digits are
    one of each)."""
    from aecore import datasets
    from aecore.records import PROBES_PER_DIGIT

    return PROBES_PER_DIGIT * len(datasets.get(info.config.dataset).class_names)


def load_evaluation(info: StoredRun) -> EvaluationArtefacts | None:
    """The stored evaluation artefacts, or None for a format-1 run (then they are computed, not stored)."""
    if "evaluation" not in info.files:
        return None
    n_test = info.n_test
    arrays = _npz(info, "evaluation", n_test * 4 + 64 * 1024 + (1 << 16))
    errors, indices = arrays["test_errors"], arrays["display_indices"]
    images, recon = arrays["display_images"], arrays["display_recon"]
    ok = (
        bool(np.isfinite(errors).all()) and recon.shape == (len(indices), 32, 32) and images.shape == recon.shape
        and bool(((indices >= 0) & (indices < n_test)).all())
    )  # fmt: skip
    if not ok:
        raise CheckpointError(f"{info.run_id}: evaluation file has arrays of the wrong shape or values")
    return EvaluationArtefacts(errors, indices, images, recon)


def load_timeline(info: StoredRun) -> Timeline | None:
    """The stored training timeline, or None for a format-1 run (trained before timelines existed)."""
    if "timeline" not in info.files:
        return None
    from aecore import datasets
    from aecore.data import VAL_FRACTION

    epochs = info.epochs_trained
    arrays = _npz(info, "timeline", epochs * 200 * 1024 + (1 << 16))
    positions, labels, frames = arrays["probe_positions"], arrays["probe_labels"], arrays["frames"]
    spec = datasets.get(info.config.dataset)
    n_val = round(spec.train_images * VAL_FRACTION / (1 - VAL_FRACTION))  # the validation split the probes are in
    ok = (
        labels.shape == positions.shape and frames.shape == (epochs, len(positions), 32, 32)
        and bool(((labels >= 0) & (labels < len(spec.class_names))).all())
        and bool(((positions >= 0) & (positions < n_val)).all())
    )  # fmt: skip
    if not ok:
        raise CheckpointError(f"{info.run_id}: timeline file has arrays of the wrong shape or values")
    return Timeline(positions, labels, frames)


# --- the registry --------------------------------------------------------------------------------------


def _artefact_shapes(info: RunInfo) -> dict[str, dict[str, tuple[tuple | None, str]]]:
    """The arrays each artefact file must hold: (shape, None where any length goes) and dtype."""
    shapes: dict[str, dict] = {}
    if "evaluation" in info.files:
        shapes["evaluation"] = {
            "test_errors": ((info.n_test,), "float32"), "display_indices": ((None,), "int64"),
            "display_images": ((None, 32, 32), "uint8"), "display_recon": ((None, 32, 32), "uint8"),
        }  # fmt: skip
    if "timeline" in info.files:
        shapes["timeline"] = {
            "probe_positions": ((None,), "int64"), "probe_labels": ((None,), "int64"),
            "frames": ((info.epochs_trained, None, 32, 32), "uint8"),
        }  # fmt: skip
    return shapes


def _check_headers(info: RunInfo, kind: str, expected: dict[str, tuple[tuple | None, str]]) -> None:
    """Checksum and array headers of an artefact file, without decompressing its data: what listing needs
    (loading checks every value)."""
    import zipfile

    blob = _verified(info, kind, 1 << 30)
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            for name, (shape, dtype) in expected.items():
                with archive.open(f"{name}.npy") as member:
                    fmt = np.lib.format
                    major, _ = fmt.read_magic(member)
                    read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
                    found, _, found_dtype = read_header(member)
                longest = _max_listed(info)  # a None length is bounded too: a listed run's arrays all fit memory
                if (
                    str(found_dtype) != dtype
                    or len(found) != len(shape)
                    or any(
                        got > longest if want is None else want != got for want, got in zip(shape, found, strict=True)
                    )
                ):
                    raise ValueError(f"{name} is {found_dtype} {found}")
    except (KeyError, ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        detail = printable(error, 80)
        raise CheckpointError(f"{info.run_id}: {info.files[kind].name} has unexpected arrays ({detail})") from None


def list_runs(root: Path | None = None) -> tuple[list[RunInfo], list[BrokenRun]]:
    """All runs under `root`, newest first, and the folders that are not loadable runs (with why).

    Every run is checked as deeply as loading would check it (fields, checksums, weights), so a listed
    run always loads. Hidden entries (staging, trash, locks) and plain files are skipped.
    """
    root = Path(root) if root else default_checkpoint_root()
    runs: list[RunInfo] = []
    broken: list[BrokenRun] = []
    if not root.is_dir():
        return runs, broken
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or path.is_symlink() or not path.is_dir():
            continue
        try:
            info = read_run(path)
            check_weights(info)
            for kind, expected in _artefact_shapes(info).items():
                _check_headers(info, kind, expected)
        except CheckpointError as error:
            broken.append(BrokenRun(printable(path.name), path, printable(error, 500)))  # one line, bounded
        else:
            runs.append(info)
    runs.sort(key=lambda r: r.created_at, reverse=True)
    return runs, broken


def find_run(run_id: str, root: Path | None = None) -> RunInfo:
    """The run with this id (or a unique prefix of it); CheckpointError when absent or unreadable."""
    root = Path(root) if root else default_checkpoint_root()
    if not run_id or run_id != run_id.strip() or "/" in run_id or run_id.startswith("."):
        raise CheckpointError(f"no run named {shown(run_id)} in {root}; `python -m aecore list` shows the runs")
    if (root / run_id).is_dir():
        return read_run(root / run_id)
    matches = [p for p in root.glob(f"{glob_escape(run_id)}*") if p.is_dir() and not p.name.startswith(".")]
    if len(matches) == 1:
        return read_run(matches[0])
    if not matches:
        raise CheckpointError(f"no run named {shown(run_id)} in {root}; `python -m aecore list` shows the runs")
    raise CheckpointError(f"{shown(run_id)} matches {len(matches)} runs; give more of the name")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


# --- locks ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def run_lock(root: Path, run_id: str) -> Iterator[None]:
    """Hold an exclusive lock on `run_id` under `root`: other processes and threads wait; the same thread may
    take it again (load-or-train holds it around the save, which takes it too). A dead process's lock is
    released by the system."""
    folder = Path(root) / LOCK_FOLDER
    waiting = functools.partial(log.info, "waiting: another thread or process is training or saving %s", run_id)
    with contextlib.ExitStack() as stack:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if safe_io.is_link(folder):
                raise CheckpointError(f"{folder} is a symbolic link; remove it (nothing is created through it)")
            stack.enter_context(safe_io.file_lock(folder / f"{run_id}.lock", on_wait=waiting))
        except OSError as error:
            raise CheckpointError(_save_failure(Path(root), run_id, error)) from None
        except safe_io.UnsafeFile as error:
            raise CheckpointError(f"cannot save {run_id}: {error}") from None
        yield


# --- writing -------------------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    import numpy
    import safetensors
    import sklearn
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,  # a run is only saved from a model, so torch is loaded already
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "safetensors": safetensors.__version__,
    }


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def _weights_bytes(model: Autoencoder) -> bytes:
    from safetensors.torch import save as save_safetensors

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    return save_safetensors(state)


def save_run(
    root: Path,
    config: RunConfig,
    model: Autoencoder,
    *,
    history: list[EpochRecord] | tuple[EpochRecord, ...],
    best_epoch: int,
    metrics: RunMetrics,
    dataset: DatasetRecord,
    train_seconds: float,
    evaluation: EvaluationArtefacts,
    timeline: Timeline | None,
    created: str | None = None,
) -> RunInfo:
    """Write a run atomically; on any failure the previous run (if any) is untouched.

    A new run is staged in a hidden folder and renamed into place; an existing one gets its new files first
    and run.json last (the commit point), then loses the files no longer named. Saves of one run id are
    serialised by a lock, so two processes saving the same config both end with a valid run. Leftovers of
    an earlier interrupted save of this run (staging folders, temp files, orphan files) are removed.
    Raises CheckpointError with a one-line reason (read-only folder, disk full, ...).
    """
    from aecore.models import describe

    root = Path(root)
    tensors = model_tensors(model)
    blobs = {
        "weights": _weights_bytes(model),
        "evaluation": _npz_bytes(
            test_errors=evaluation.test_errors.astype(np.float32),
            display_indices=evaluation.display_indices.astype(np.int64),
            display_images=evaluation.display_images.astype(np.uint8),
            display_recon=evaluation.display_recon.astype(np.uint8),
        ),
    }
    if timeline is not None:
        blobs["timeline"] = _npz_bytes(
            probe_positions=timeline.probe_positions.astype(np.int64),
            probe_labels=timeline.probe_labels.astype(np.int64),
            frames=timeline.frames.astype(np.uint8),
        )
    files = {}
    for kind, blob in blobs.items():
        digest = hashlib.sha256(blob).hexdigest()
        files[kind] = {"name": f"{kind}-{digest[:12]}.{EXTENSIONS[kind]}", "sha256": digest, "size": len(blob)}
    record = {
        "format": FORMAT,
        "run_id": config.run_id,
        "config": config.to_dict(),
        "history": [vars(e) for e in history],
        "best_epoch": best_epoch,
        "metrics": metrics.to_json(),
        "parameters": sum(t.numel for t in tensors if t.parameter),
        "tensors": tensors_record(tensors),
        "architecture": describe(model),
        "created": created or datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": train_seconds,
        "dataset": dataset.to_json(),
        "versions": library_versions(),
        "files": files,
    }
    run_json = json.dumps(record, indent=1, allow_nan=False).encode()
    folder = root / config.run_id
    try:
        root.mkdir(parents=True, exist_ok=True)
        with run_lock(root, config.run_id):
            refuse_linked_folder(root, config.run_id)
            _remove_leftovers(root, config.run_id)
            if not folder.exists():
                _stage_and_rename(root, folder, blobs, files, run_json)
            else:
                _save_in_place(folder, blobs, files, run_json)
    except OSError as error:
        raise CheckpointError(_save_failure(root, config.run_id, error)) from None
    return read_run(folder)


def refuse_linked_folder(root: Path, name: str) -> None:
    """Raise CheckpointError when `root/name` is a symbolic link: saving through it would write into (and
    remove files from) the link's target, outside the checkpoints folder."""
    if safe_io.is_link(Path(root) / name):
        raise CheckpointError(
            f"{shown(name)} in {root} is a symbolic link, not a run folder; nothing was written (remove the link)"
        )


def _stage_and_rename(root: Path, folder: Path, blobs: dict, files: dict, run_json: bytes) -> None:
    stage = Path(tempfile.mkdtemp(dir=root, prefix=f"{TMP_PREFIX}{folder.name}-"))
    try:
        os.chmod(stage, safe_io.folder_mode())  # mkdtemp makes it private; a run folder gets what mkdir gives
        for kind, blob in blobs.items():
            write_synced(stage / files[kind]["name"], blob)
        write_synced(stage / RUN_FILE, run_json)
        fsync_folder(stage)
        os.rename(stage, folder)  # atomic: the run appears whole or not at all
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    fsync_folder(root)


def _save_in_place(folder: Path, blobs: dict, files: dict, run_json: bytes) -> None:
    """New files first, run.json last (the commit point), then the files no longer named. A failure before the
    commit removes the new files again, so the folder is left as it was."""
    new = [folder / files[kind]["name"] for kind in blobs if not (folder / files[kind]["name"]).exists()]
    try:
        for kind, blob in blobs.items():
            write_atomic(folder / files[kind]["name"], blob)
        write_atomic(folder / RUN_FILE, run_json)  # the commit point
    except BaseException:
        with contextlib.suppress(OSError):
            if (folder / RUN_FILE).read_bytes() != run_json:  # not committed: run.json names none of them
                for path in new:
                    path.unlink(missing_ok=True)
        raise
    _remove_unreferenced(folder, keep={f["name"] for f in files.values()})


def _remove_leftovers(root: Path, run_id: str) -> None:
    """Staging and trash folders of `run_id` left by a save or delete that was killed."""
    for prefix in (TMP_PREFIX, TRASH_PREFIX):
        for path in root.glob(f"{glob_escape(prefix + run_id)}-*"):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)


def _remove_unreferenced(folder: Path, keep: set[str]) -> None:
    """Earlier weights and artefact files, an old-format weights file, temp files and a stale marker."""
    for path in folder.iterdir():
        ours = any(p.match(path.name) for p in FILE_PATTERNS.values()) or LEGACY_WEIGHTS.match(path.name)
        if (ours and path.name not in keep) or path.name.startswith(TMP_PREFIX) or path.name == INCOMPLETE_MARKER:
            path.unlink(missing_ok=True)


STALE_PROBE_SECONDS = 3600


def ensure_writable(root: Path, run_id: str = "runs") -> None:
    """Raise CheckpointError now if a run could not be saved under `root` (read-only, full, missing).

    Also removes write probes older than an hour that a killed process left in the root."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_probes(root)
        fd, probe = tempfile.mkstemp(dir=root, prefix=TMP_PREFIX)
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CheckpointError(_save_failure(root, run_id, error)) from None


def _remove_stale_probes(root: Path) -> None:
    import time

    for path in root.glob(f"{TMP_PREFIX}*"):
        try:
            if path.is_file() and not path.is_symlink() and time.time() - path.stat().st_mtime > STALE_PROBE_SECONDS:
                path.unlink()
        except OSError:
            continue  # another process removed it, or it is not ours to remove


def _save_failure(root: Path, run_id: str, error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        return f"disk full while saving {run_id}: nothing was changed; free some space and retrain"
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot save {run_id}: the checkpoints folder {root} is read-only"
    return f"cannot save {run_id}: {error.strerror or error}"


# --- deleting ------------------------------------------------------------------------------------------


def delete_run(name: str, root: Path | None = None) -> Path:
    """Delete the run folder `name` directly inside `root`; return the path it had.

    Only a folder that is a run (holds run.json, or an older version's incomplete-save marker) is deleted:
    never the root, never anything through a symlink, never a path. The folder is first renamed to a hidden
    trash name (one atomic step: the run is listed whole until then and gone after), then removed.
    Raises CheckpointError with a one-line reason otherwise.
    """
    if root is not None and not str(root).strip():
        raise CheckpointError("the checkpoints folder is empty; give the folder that holds the runs")
    root = Path(root) if root is not None else default_checkpoint_root()
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise CheckpointError(f"give the name of a run to delete; got {shown(name)}")
    if name in (".", "..") or "/" in name or os.sep in name or "\\" in name or "\0" in name or name.startswith("."):
        raise CheckpointError(f"{shown(name)} is not a run name (give a folder name from `python -m aecore list`)")
    try:
        root_stat = os.stat(root)
    except OSError:
        raise CheckpointError(f"the checkpoints folder {root} does not exist") from None
    if not stat.S_ISDIR(root_stat.st_mode):
        raise CheckpointError(f"the checkpoints folder {root} is not a folder")
    path = root / name
    try:
        own = os.lstat(path)
    except OSError:
        raise CheckpointError(f"no run named {shown(name)} in {root}") from None
    if stat.S_ISLNK(own.st_mode):
        raise CheckpointError(f"{shown(name)} is a symbolic link, not a run folder; nothing was deleted")
    if not stat.S_ISDIR(own.st_mode):
        raise CheckpointError(f"{shown(name)} is not a run folder; nothing was deleted")
    run_file = path / RUN_FILE
    if not (run_file.is_file() and not run_file.is_symlink()) and not (path / INCOMPLETE_MARKER).exists():
        raise CheckpointError(f"{shown(name)} is not a run (no {RUN_FILE}); nothing was deleted")
    blocked = _undeletable(path)
    if blocked is not None:
        raise CheckpointError(f"cannot delete {shown(name)}: {blocked} is read-only; nothing was deleted")
    trash = root / f"{TRASH_PREFIX}{name}-{secrets.token_hex(4)}"
    try:
        os.rename(path, trash)
    except OSError as error:
        raise CheckpointError(f"cannot delete {shown(name)}: {error.strerror or error}; nothing was deleted") from None
    try:
        shutil.rmtree(trash)
    except OSError as error:
        raise CheckpointError(
            f"{shown(name)} is no longer listed, but removing its files failed ({error.strerror or error}); "
            f"{trash.name} is removed on the next save of that run"
        ) from None
    return path


def _undeletable(path: Path) -> str | None:
    """The first folder whose entries cannot be removed (the root included), or None when all can."""
    for folder in [path.parent, path, *(p for p in path.rglob("*") if p.is_dir() and not p.is_symlink())]:
        if not os.access(folder, os.W_OK | os.X_OK) or _immutable(folder):
            return str(folder)
    return None


def _immutable(folder: Path) -> bool:
    # Root ignores permission bits, so a read-only mount or an immutable folder is found by trying.
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=TMP_PREFIX)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False
